# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The screening report of a training run's test split (``train_whole``, ``transfer``, the NYU
multi-view training): :func:`write_run_report` writes ``<run>/report/report.json`` +
``report.html`` with :func:`mammo_tf.screening.report.write_report` (the code behind
``mammo-tf evaluate``), the calibration fitted on the validation split only (stored as
``<run>/calibration.json``) and the thresholds chosen on validation and applied unchanged to
test. The prediction CSVs it evaluated are kept next to the report, so ``mammo-tf evaluate``
can redo it with other options. Keras-free: the scripts pass their predictions in.
"""
import csv
import logging
import os

import numpy as np

from mammo_tf.datasets.manifest import SUBGROUP_COLUMNS
from mammo_tf.io.prediction_csv import IMAGE_ID, LABEL, POSITIVE
from mammo_tf.screening.inputs import ReportError
from mammo_tf.screening.report import _slug, write_report
from mammo_tf.utils import atomic_path

log = logging.getLogger(__name__)

REPORT_DIR = "report"


def image_prediction_rows(image_ids, labels, probabilities):
    """Prediction rows (``image_id``, ``label``, ``prob_positive``) of a whole-image model:
    ``probabilities`` (N, 2) softmax or (N,) positive-class probabilities."""
    p = np.asarray(probabilities, dtype=np.float64)
    p = p[:, 1] if p.ndim == 2 else p.ravel()
    labels = np.asarray(labels).ravel()
    if not len(image_ids) == len(labels) == len(p):
        raise ValueError(f"{len(image_ids)} image ids, {len(labels)} labels and {len(p)} probabilities")
    return [{IMAGE_ID: i, LABEL: int(y), POSITIVE: float(v)} for i, y, v in zip(image_ids, labels, p)]


def auto_subgroups(manifest):
    """Subgroup columns worth a table: ``view`` (image manifests) and each of
    :data:`~mammo_tf.datasets.manifest.SUBGROUP_COLUMNS` the manifest fills with two or more
    values (``age_band``, not the age in years)."""
    if manifest is None or not os.path.isfile(manifest):
        return []
    with open(manifest, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = list(reader.fieldnames or ())
        values = {c: set() for c in SUBGROUP_COLUMNS if c in columns}
        for row in reader:
            for c in values:
                if (row.get(c) or "").strip():
                    values[c].add(row[c].strip())
    chosen = ["view"] if "image_id" in columns and "view" in columns else []
    return chosen + [c for c in SUBGROUP_COLUMNS if c != "age" and len(values.get(c, ())) >= 2]


def _write_rows(path, rows):
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _ids(source):
    if isinstance(source, (str, os.PathLike)):
        with open(source, newline="", encoding="utf-8") as f:
            return {r.get("image_id") or r.get("exam_id") for r in csv.DictReader(f)}
    return {r.get("image_id") or r.get("exam_id") for r in source}


def write_run_report(run_dir, test, val=None, manifest=None, subgroups="auto", n_boot=1000, seed=0,
                     title="Screening evaluation of the test split", reducer="mean"):
    """Write the run's screening report; returns a JSON-ready summary for ``metrics.json``.

    ``test``: {model name: prediction rows or CSV path} (several = compared with DeLong's
    test, each against the first); ``val``: the same names on the validation split (or
    ``None``: no calibration, no thresholds). Only the first model's calibration is stored in
    the run folder (``calibration.json``: the run's exported model is that model).
    ``subgroups="auto"``: :func:`auto_subgroups` of the manifest. A report that cannot be
    made (e.g. a test split with one class) is logged and recorded as ``{"error": ...}``:
    the run itself is kept.
    """
    out = os.path.join(os.fspath(run_dir), REPORT_DIR)
    os.makedirs(out, exist_ok=True)
    names = list(test)
    summary = {"html": os.path.join(REPORT_DIR, "report.html"), "json": os.path.join(REPORT_DIR, "report.json")}
    sources, vals = [], []
    for name in names:
        src = test[name]
        if not isinstance(src, (str, os.PathLike)):
            src = _write_rows(os.path.join(out, f"test_{_slug(name)}.csv"), list(src))
        sources.append(src)
        if val is not None:
            v = val[name]
            if not isinstance(v, (str, os.PathLike)):
                v = _write_rows(os.path.join(out, f"val_{_slug(name)}.csv"), list(v))
            vals.append(v)
    if vals and _ids(vals[0]) & _ids(sources[0]):
        summary["note"] = ("the validation split is the test split (no separate validation split): "
                           "no calibration, no thresholds")
        vals = []
    if subgroups == "auto":
        subgroups = auto_subgroups(manifest)
    try:
        report = write_report(sources, out, val=vals or None, manifest=manifest, names=names,
                              reducer=reducer, subgroups=subgroups, n_boot=n_boot, seed=seed,
                              run_dir=[os.fspath(run_dir)] + [None] * (len(names) - 1) if vals else None,
                              title=title)
    except (ReportError, ValueError) as exc:
        log.warning("%s: no screening report (%s)", run_dir, exc)
        return dict(summary, error=str(exc))
    summary["levels"] = {}
    for name, model in report["models"].items():
        summary["levels"][name] = {
            level: {"auc": e["auc"], "auc_ci95": e["auc_ci95"], "n": e["n"],
                    "ece": e["calibration"].get("after", e["calibration"]["before"])["ece"],
                    "probabilities": e["probabilities"]}
            for level, e in model["levels"].items()}
    cal = report["models"][names[0]].get("calibration")
    if cal:
        summary["calibration"] = {k: v for k, v in cal.items() if k in ("method", "temperature", "fitted_on")}
        stored = report["models"][names[0]].get("calibration_file")
        summary["calibration_file"] = os.path.relpath(stored, os.fspath(run_dir)) if stored else None
    summary["subgroups"] = list(subgroups or ())
    for c in report["comparisons"]:
        if c.get("delong") and c["level"] == "exam":
            summary.setdefault("comparisons", []).append(
                {"models": [c["model_1"], c["model_2"]], "level": "exam",
                 "auc_difference": c["delong"]["difference"], "p_value": c["delong"]["p_value"]})
    log.info("screening report of the test split: %s", os.path.join(out, "report.html"))
    return summary
