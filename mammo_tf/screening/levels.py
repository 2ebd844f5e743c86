# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Image -> breast -> exam predictions, with an explicit missing-view policy.

A :class:`Units` table holds one row per unit of one level (image, breast or exam): its id,
patient, exam, side, view, score (probability of malignancy), 0/1 label (-1 = unknown) and
any further manifest columns. Breast level groups images by (exam, side) and reduces their
scores with one of :data:`REDUCERS`:

- ``mean``: mean over the breast's images (the default);
- ``max``: the most suspicious image;
- ``nyu``: the NYU view-wise rule (Wu et al. 2019: "the prediction for each breast is computed
  as an average of predictions for both views of that breast"): mean over the CC images, mean
  over the MLO images, then the mean of the two view scores (ML counts as MLO; other views
  join neither and are ignored unless the breast has no CC and no MLO image).

Exam level is the max over the exam's breasts (label: max over the breasts' labels, i.e. the
exam is positive when a breast is). Missing views (``missing_views``): ``"use"`` reduces over
the views that exist; ``"drop"`` leaves out breasts that lack a CC or an MLO image. Either way
:func:`breast_level` counts how many breasts lacked which view.
"""
import dataclasses

import numpy as np

from mammo_tf.errors import DataError

REDUCERS = ("mean", "max", "nyu")
MISSING_VIEW_POLICIES = ("use", "drop")
_VIEW_KIND = {"CC": "CC", "MLO": "MLO", "ML": "MLO", "XCCL": "CC"}


@dataclasses.dataclass
class Units:
    """One level's rows: parallel arrays (``columns``: name -> object array)."""

    level: str
    ids: np.ndarray
    patient: np.ndarray
    exam: np.ndarray
    side: np.ndarray
    view: np.ndarray
    score: np.ndarray
    label: np.ndarray  # int, -1 where unknown
    columns: dict = dataclasses.field(default_factory=dict)

    def __len__(self):
        return len(self.ids)

    @property
    def labelled(self):
        return len(self) > 0 and bool(np.all(self.label >= 0))

    def subset(self, mask):
        mask = np.asarray(mask)
        return Units(self.level, self.ids[mask], self.patient[mask], self.exam[mask], self.side[mask],
                     self.view[mask], self.score[mask], self.label[mask],
                     {k: v[mask] for k, v in self.columns.items()})

    def with_scores(self, score):
        return dataclasses.replace(self, score=np.asarray(score, dtype=np.float64))


def make_units(level, ids, score, label=None, patient=None, exam=None, side=None, view=None,
               columns=None):
    """Build a :class:`Units` table; missing patient / exam default to the unit id, a missing
    label to -1 (unknown)."""
    ids = np.asarray(ids, dtype=object)
    n = len(ids)

    def column(values, default):
        if values is None:
            return np.array(default, dtype=object) if not np.isscalar(default) else np.full(n, default, dtype=object)
        values = np.asarray(values, dtype=object)
        if len(values) != n:
            raise ValueError(f"a column has {len(values)} values for {n} units")
        return values

    score = np.asarray(score, dtype=np.float64).ravel()
    if len(score) != n:
        raise ValueError(f"{len(score)} scores for {n} units")
    if label is None:
        label = np.full(n, -1, dtype=np.int64)
    label = np.asarray(label, dtype=np.int64).ravel()
    patient = column(patient, ids)
    return Units(level, ids, patient, column(exam, patient), column(side, ""), column(view, ""),
                 score, label, {k: column(v, "") for k, v in (columns or {}).items()})


def _groups(keys):
    """Unique keys in first-seen order and, for each, the row indices."""
    order, where = [], {}
    for i, key in enumerate(keys):
        if key not in where:
            where[key] = []
            order.append(key)
        where[key].append(i)
    return order, [np.asarray(where[k]) for k in order]


def reduce_breast(scores, views, reducer="mean"):
    """One breast's score from its images' ``scores`` and ``views`` (see module doc)."""
    scores = np.asarray(scores, dtype=np.float64)
    if reducer == "mean":
        return float(scores.mean())
    if reducer == "max":
        return float(scores.max())
    if reducer == "nyu":
        kinds = np.array([_VIEW_KIND.get(str(v).upper(), "") for v in views])
        per_view = [scores[kinds == k].mean() for k in ("CC", "MLO") if np.any(kinds == k)]
        return float(np.mean(per_view)) if per_view else float(scores.mean())
    raise ValueError(f"unknown reducer {reducer!r} (choose from {', '.join(REDUCERS)})")


def _constant_columns(units, rows_per_group):
    """Manifest columns carried up a level: the value where all rows of the group agree,
    otherwise ``"mixed"``."""
    out = {}
    for name, values in units.columns.items():
        merged = []
        for rows in rows_per_group:
            distinct = set(values[rows].tolist())
            merged.append(distinct.pop() if len(distinct) == 1 else "mixed")
        out[name] = np.asarray(merged, dtype=object)
    return out


def breast_level(images, reducer="mean", missing_views="use"):
    """Image units -> ``(breast units, counts)``; ``counts`` says how many breasts had both
    views, lacked CC, lacked MLO (and how many were dropped under ``missing_views="drop"``)."""
    if reducer not in REDUCERS:
        raise ValueError(f"unknown reducer {reducer!r} (choose from {', '.join(REDUCERS)})")
    if missing_views not in MISSING_VIEW_POLICIES:
        raise ValueError(f"unknown missing-view policy {missing_views!r} "
                         f"(choose from {', '.join(MISSING_VIEW_POLICIES)})")
    if images.level != "image":
        raise ValueError(f"breast_level needs image units, got {images.level!r} units")
    if np.any(images.side == ""):
        raise DataError("breast level needs the side (L/R) of every image: give a manifest "
                         "with a 'side' column")
    keys, rows_per_breast = _groups(list(zip(images.exam.tolist(), images.side.tolist())))
    counts = {"breasts": len(keys), "both_views": 0, "missing_cc": 0, "missing_mlo": 0,
              "dropped": 0, "policy": missing_views, "reducer": reducer}
    kept, scores, labels = [], [], []
    for key, rows in zip(keys, rows_per_breast):
        kinds = {_VIEW_KIND.get(str(v).upper(), "") for v in images.view[rows]}
        has_cc, has_mlo = "CC" in kinds, "MLO" in kinds
        counts["both_views"] += has_cc and has_mlo
        counts["missing_cc"] += not has_cc
        counts["missing_mlo"] += not has_mlo
        if missing_views == "drop" and not (has_cc and has_mlo):
            counts["dropped"] += 1
            continue
        kept.append((key, rows))
        scores.append(reduce_breast(images.score[rows], images.view[rows], reducer))
        labels.append(int(images.label[rows].max()) if np.all(images.label[rows] >= 0) else -1)
    counts = {k: (int(v) if isinstance(v, (bool, np.bool_, int, np.integer)) else v) for k, v in counts.items()}
    rows_kept = [rows for _, rows in kept]
    first = np.asarray([rows[0] for rows in rows_kept], dtype=np.int64)
    breasts = make_units(
        "breast", [f"{exam}/{side}" for (exam, side), _ in kept], scores, labels,
        patient=images.patient[first], exam=images.exam[first], side=images.side[first],
        view=np.full(len(kept), "", dtype=object))
    breasts.columns = _constant_columns(images, rows_kept) if kept else {k: np.asarray([], dtype=object) for k in images.columns}
    return breasts, counts


def exam_level(breasts):
    """Breast units -> exam units: max score and max label over each exam's breasts."""
    if breasts.level != "breast":
        raise ValueError(f"exam_level needs breast units, got {breasts.level!r} units")
    keys, rows_per_exam = _groups(breasts.exam.tolist())
    first = np.asarray([rows[0] for rows in rows_per_exam], dtype=np.int64)
    scores = [float(breasts.score[rows].max()) for rows in rows_per_exam]
    labels = [int(breasts.label[rows].max()) if np.all(breasts.label[rows] >= 0) else -1
              for rows in rows_per_exam]
    exams = make_units("exam", keys, scores, labels, patient=breasts.patient[first] if keys else [],
                       exam=keys, side=np.full(len(keys), "", dtype=object),
                       view=np.full(len(keys), "", dtype=object))
    exams.columns = _constant_columns(breasts, rows_per_exam) if keys else {}
    return exams


def all_levels(base, reducer="mean", missing_views="use"):
    """``({level: units}, breast counts or None)`` from image units (image, breast, exam) or
    breast units (breast, exam: the NYU model's output)."""
    if base.level == "image":
        if np.any(base.side == ""):
            return {"image": base}, None
        breasts, counts = breast_level(base, reducer, missing_views)
        return {"image": base, "breast": breasts, "exam": exam_level(breasts)}, counts
    if base.level == "breast":
        return {"breast": base, "exam": exam_level(base)}, None
    raise ValueError(f"units of level {base.level!r} cannot be aggregated")
