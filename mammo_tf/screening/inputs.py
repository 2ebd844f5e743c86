# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The screening report's inputs: prediction CSVs (or rows, or a ``PredictionResult``) joined to
their manifest, read into base :class:`~mammo_tf.screening.levels.Units`.

Inputs (:func:`load_predictions`):

- image predictions (``predict.py`` / ``mammo-tf predict``): ``image_id`` and
  ``prob_positive`` (or a ``score`` column; with exactly two ``prob_`` columns the second),
  optional ``label``; joined by ``image_id`` to an image manifest (docs/DESIGN.md columns:
  ``patient_id``, ``side``, ``view``, ``label``, and any further column, e.g. density or
  vendor, for subgroups). A ``study_id`` column, where present, separates a patient's exams.
- NYU exam predictions (``train_multiview.py --predict``): ``exam_id`` and
  ``left_malignant`` / ``right_malignant`` (``task="benign"``: the benign columns), joined
  by ``exam_id`` to the exam manifest, which gives ``patient_id`` and the breast labels:
  breast units directly.
"""
import csv
import logging
import os

import numpy as np

from mammo_tf.errors import DataError
from mammo_tf.io import prediction_csv
from mammo_tf.screening.levels import make_units

log = logging.getLogger(__name__)

_SKIP_COLUMNS = {"image_path", "roi_mask_paths", "roi_classes", "image_id", "patient_id", "label",
                 "l_cc", "r_cc", "l_mlo", "r_mlo", "exam_id", "left_benign", "right_benign",
                 "left_malignant", "right_malignant", "path"}
_EXAM_KEYS = ("study_id", "study", "exam_id")


class ReportError(DataError):
    """A prediction CSV or manifest that cannot be evaluated (the message names the file)."""


def _read_csv(path, what):
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = list(reader.fieldnames or ())
    except FileNotFoundError:
        raise ReportError(f"{what} {path!r} does not exist") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ReportError(f"{path}: not a readable CSV ({exc})") from None
    if not columns:
        raise ReportError(f"{path}: empty {what} (no header)")
    return rows, columns


def _rows_of(source):
    """(rows, columns, description) of a CSV path, a list of row dicts or a PredictionResult."""
    if isinstance(source, (str, os.PathLike)):
        rows, columns = _read_csv(os.fspath(source), "prediction CSV")
        return rows, columns, os.fspath(source)
    if hasattr(source, "items") and hasattr(source, "probabilities"):  # mammo_tf.inference.predict.PredictionResult
        names = [prediction_csv.prob_column(c) for c in source.class_names]
        info = list(dict.fromkeys(k for it in source.items for k in (getattr(it, "info", None) or {})))
        rows = [dict({"image_id": it.image_id, "label": "" if it.label is None else it.label},
                     **{n: float(p) for n, p in zip(names, probs)},
                     **{k: (getattr(it, "info", None) or {}).get(k, "") for k in info})
                for it, probs in zip(source.items, source.probabilities)]
        return rows, ["image_id", "label"] + names + info, "predictions in memory"
    rows = [dict(r) for r in source]
    return rows, list(rows[0]) if rows else [], "predictions in memory"


def _label(value, where):
    value = "" if value is None else str(value).strip()
    if value == "":
        return -1
    try:
        label = int(float(value))
    except ValueError:
        raise ReportError(f"{where}: label {value!r} is not 0/1") from None
    if label not in (0, 1):
        raise ReportError(f"{where}: label {value!r} is not 0/1")
    return label


def _float(value, where):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ReportError(f"{where}: probability {value!r} is not a number") from None
    if not np.isfinite(v) or v < 0 or v > 1:
        raise ReportError(f"{where}: probability {value!r} is not in [0, 1]")
    return v


def _score_column(columns, where):
    if prediction_csv.POSITIVE in columns:
        return prediction_csv.POSITIVE
    if prediction_csv.SCORE in columns:
        return prediction_csv.SCORE
    probs = [c for c in columns if prediction_csv.is_prob_column(c)]
    if len(probs) == 2:
        return probs[1]
    raise ReportError(f"{where}: no 'prob_positive' (or 'score') column; a screening report needs "
                      f"a binary whole-image model (columns: {', '.join(columns[:8])})")


def _read_manifest(manifest):
    if manifest is None:
        return None, None
    if isinstance(manifest, (str, os.PathLike)):
        rows, columns = _read_csv(os.fspath(manifest), "manifest")
        return rows, columns
    rows = [dict(r) for r in manifest]
    return rows, list(rows[0]) if rows else []


def load_predictions(source, manifest=None, task="malignant"):
    """Prediction rows + manifest -> base :class:`~mammo_tf.screening.levels.Units` (image
    units for image predictions, breast units for NYU exam predictions)."""
    rows, columns, where = _rows_of(source)
    m_rows, m_columns = _read_manifest(manifest)
    m_where = os.fspath(manifest) if isinstance(manifest, (str, os.PathLike)) else "manifest"
    if not rows:
        raise ReportError(f"{where}: no predictions")
    if prediction_csv.EXAM_ID in columns and prediction_csv.breast_column("left", task) in columns:
        return _nyu_units(rows, where, m_rows, m_columns, m_where, task)
    if "image_id" not in columns:
        raise ReportError(f"{where}: needs an 'image_id' column (image predictions) or 'exam_id' "
                          f"with left_{task}/right_{task} (NYU exam predictions)")
    score_column = _score_column(columns, where)
    by_id = {}
    if m_rows is not None:
        if "image_id" not in m_columns:
            raise ReportError(f"{m_where}: an image manifest needs an 'image_id' column")
        by_id = {r["image_id"]: r for r in m_rows}
        missing = [r["image_id"] for r in rows if r["image_id"] not in by_id]
        if missing:
            raise ReportError(f"{where}: {len(missing)} image(s) not in the manifest {m_where} "
                              f"(first: {missing[0]!r})")
    extra = [c for c in (m_columns or columns) if c not in _SKIP_COLUMNS and c not in _EXAM_KEYS
             and not prediction_csv.is_prob_column(c) and c not in prediction_csv.BOOKKEEPING]
    ids, scores, labels, patient, exam, side, view = [], [], [], [], [], [], []
    cols = {c: [] for c in extra}
    for number, row in enumerate(rows, start=2):
        info = by_id.get(row["image_id"], row)
        line = f"{where}, line {number}"
        ids.append(row["image_id"])
        scores.append(_float(row.get(score_column), line))
        label = _label(row.get("label"), line)
        if label < 0 and info is not row:
            label = _label(info.get("label"), f"{m_where} (image {row['image_id']!r})")
        labels.append(label)
        pid = (info.get("patient_id") or "").strip() or row["image_id"]
        patient.append(pid)
        study = next((info[k] for k in _EXAM_KEYS if (info.get(k) or "").strip()), "")
        exam.append(f"{pid}/{study}" if study else pid)
        side.append((info.get("side") or "").strip().upper())
        view.append((info.get("view") or "").strip().upper())
        for c in extra:
            cols[c].append(str(info.get(c, "") or "").strip())
    if "patient_id" not in (m_columns or columns):
        log.warning("%s: no patient_id known (give the manifest): every image counts as its own "
                    "patient, so CIs are too narrow where patients have several images", where)
    return make_units("image", ids, scores, labels, patient=patient, exam=exam, side=side, view=view,
                      columns=cols)


def _nyu_units(rows, where, m_rows, m_columns, m_where, task):
    by_id = {}
    if m_rows is not None:
        if "exam_id" not in m_columns:
            raise ReportError(f"{m_where}: NYU predictions need the exam manifest (column 'exam_id')")
        by_id = {r["exam_id"]: r for r in m_rows}
        missing = [r["exam_id"] for r in rows if r["exam_id"] not in by_id]
        if missing:
            raise ReportError(f"{where}: {len(missing)} exam(s) not in the manifest {m_where} "
                              f"(first: {missing[0]!r})")
    extra = [c for c in (m_columns or []) if c not in _SKIP_COLUMNS and c not in ("split", "birads")]
    ids, scores, labels, patient, exam, side = [], [], [], [], [], []
    cols = {c: [] for c in extra}
    for number, row in enumerate(rows, start=2):
        info = by_id.get(row["exam_id"], {})
        for s, name in (("L", prediction_csv.breast_column("left", task)),
                        ("R", prediction_csv.breast_column("right", task))):
            ids.append(f"{row['exam_id']}/{s}")
            scores.append(_float(row.get(name), f"{where}, line {number}"))
            labels.append(_label(info.get(name, ""), f"{m_where} (exam {row['exam_id']!r})"))
            patient.append((info.get("patient_id") or "").strip() or row["exam_id"])
            exam.append(row["exam_id"])
            side.append(s)
            for c in extra:
                cols[c].append(str(info.get(c, "") or "").strip())
    return make_units("breast", ids, scores, labels, patient=patient, exam=exam, side=side,
                      columns=cols)
