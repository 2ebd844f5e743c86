# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The screening report: ``report.json`` + ``report.html`` (with PNG plots next to them) from
one or more prediction CSVs of the same test cases (several = a model comparison).

Inputs: :mod:`.inputs` (:func:`load_predictions`); the page: :mod:`.html` (:func:`render_html`).

What it reports, per model and level (image, breast, exam; :mod:`.levels`): AUC with a
cluster-bootstrap CI over patients; calibration (fitted on the validation predictions only,
:mod:`.calibration`): ECE and Brier score before / after, reliability diagram; operating
points with CIs (:mod:`.operating`), and, with validation predictions, thresholds chosen on
validation and applied unchanged to test with their confusion matrices; subgroups by manifest
columns; for two or more models DeLong's paired test of each against the first
(:mod:`.delong`) with a paired cluster-bootstrap CI of the difference.
"""
import json
import logging
import os
import re

import numpy as np

from mammo_tf import evaluate
from mammo_tf.screening import calibration as C
from mammo_tf.screening import operating as O
from mammo_tf.screening.delong import delong_test, paired_bootstrap
from mammo_tf.screening.html import render_html
from mammo_tf.screening.inputs import ReportError, load_predictions
from mammo_tf.screening.levels import all_levels
from mammo_tf.utils import write_json_atomic, write_text_atomic

__all__ = ["CALIBRATIONS", "LEVELS", "ReportError", "auc_entry", "load_predictions", "load_report",
           "plot_subgroups", "render_html", "subgroup_table", "write_report"]

log = logging.getLogger(__name__)

LEVELS = ("image", "breast", "exam")
CALIBRATIONS = ("temperature", "isotonic", "none")


# --------------------------------------------------------------------------- metrics


def _both_classes(units):
    return len(units) > 0 and 0 < int(units.label.sum()) < len(units)


def auc_entry(units, n_boot=1000, seed=0):
    """AUC with a cluster-bootstrap 95% CI over patients (JSON-ready)."""
    entry = {"n": int(len(units)), "n_positive": int(units.label.sum()),
             "n_patients": int(len(set(units.patient.tolist())))}
    if not _both_classes(units):
        return dict(entry, auc=None, auc_ci95=None, note="one class only: AUC undefined")
    if entry["n_patients"] < 2:
        return dict(entry, auc=evaluate.roc_auc(units.label, units.score), auc_ci95=None,
                    note="one patient: no bootstrap CI")
    auc, lo, hi = evaluate.bootstrap_auc_ci(units.label, units.score, n_boot=n_boot, seed=seed,
                                            groups=units.patient)
    return dict(entry, auc=auc, auc_ci95=[lo, hi])


def subgroup_table(units, column, n_boot=1000, seed=0):
    """AUC with CI for every value of ``column`` (a manifest column, or ``side`` / ``view``).
    Returns ``None`` when the column varies within this level's units (e.g. view per breast)."""
    if column in ("side", "view"):
        values = getattr(units, column)
    elif column in units.columns:
        values = units.columns[column]
    else:
        raise ReportError(f"subgroup column {column!r} is not in the manifest "
                          f"(columns: {', '.join(sorted(units.columns)) or 'none'})")
    if any(v == "mixed" for v in values.tolist()) or (column == "view" and units.level != "image"):
        return None
    rows = []
    for value in sorted(set(values.tolist()), key=str):
        rows.append(dict(auc_entry(units.subset(values == value), n_boot, seed), value=value or "(empty)"))
    return rows


# --------------------------------------------------------------------------- plots


def _slug(text):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "model"


def plot_subgroups(path, tables, title):
    """Forest plot: AUC and 95% CI per subgroup (``tables``: column -> rows)."""
    plt = evaluate.pyplot()
    entries = [(f"{col} = {r['value']} (n={r['n']})", r) for col, rows in tables.items() if rows
               for r in rows if r["auc"] is not None]
    fig, ax = plt.subplots(figsize=(6.5, 0.4 * max(len(entries), 1) + 1.5))
    for i, (name, r) in enumerate(entries):
        lo, hi = r["auc_ci95"] or (r["auc"], r["auc"])
        ax.plot([lo, hi], [i, i], color="tab:blue", lw=2)
        ax.plot([r["auc"]], [i], "o", color="tab:blue")
    ax.set_yticks(range(len(entries)), [e[0] for e in entries])
    ax.axvline(0.5, color="grey", ls="--", lw=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("AUC (95% CI, patients resampled)")
    ax.set_title(title)
    ax.invert_yaxis()
    evaluate.save_figure(fig, path)
    return path


# --------------------------------------------------------------------------- the report


def _as_list(value, n, what):
    if value is None:
        return [None] * n
    if (isinstance(value, (str, os.PathLike)) or not isinstance(value, (list, tuple))
            or (value and isinstance(value[0], dict))):  # one path, result or list of rows
        value = [value]
    value = list(value)
    if len(value) != n:
        raise ReportError(f"{len(value)} {what} for {n} prediction sets (give one per model, same order)")
    return value


def _default_name(source, i):
    if isinstance(source, (str, os.PathLike)):
        return os.path.splitext(os.path.basename(os.fspath(source)))[0]
    return f"model_{i + 1}"


def write_report(predictions, out_dir, val=None, manifest=None, names=None, reducer="mean",
                 missing_views="use", calibration="temperature", subgroups=(), task="malignant",
                 n_boot=1000, seed=0, run_dir=None, n_bins=10, title="Screening evaluation"):
    """Evaluate one or more prediction sets of the same test cases and write
    ``out_dir/report.json`` + ``out_dir/report.html`` (+ PNGs). Returns the report dict.

    ``predictions``: a prediction CSV path, a list of rows (dicts) or a
    ``mammo_tf.inference.predict.PredictionResult``, or a list of those (one per model). ``val``: the
    same for the validation split, one per model (calibration and thresholds are fitted on it
    only; without it neither is fitted). ``manifest``: the image or exam manifest (patients,
    sides, views, labels, subgroup columns). ``reducer``: breast-level rule (mean, max, nyu);
    ``missing_views``: use / drop; ``calibration``: temperature, isotonic or none;
    ``subgroups``: manifest columns (also ``side``, ``view``); ``run_dir``: run folder(s) to
    store each model's calibration.json in.
    """
    if calibration not in CALIBRATIONS:
        raise ReportError(f"unknown calibration {calibration!r} (choose from {', '.join(CALIBRATIONS)})")
    sources = list(predictions) if isinstance(predictions, (list, tuple)) and predictions and not isinstance(
        predictions[0], dict) else [predictions]
    n = len(sources)
    vals = _as_list(val, n, "validation sets")
    run_dirs = _as_list(run_dir, n, "run folders")
    if not names:
        names = [_default_name(s, i) for i, s in enumerate(sources)]
        if len(set(names)) < n:  # e.g. runs/a/test.csv and runs/b/test.csv
            names = [f"{os.path.basename(os.path.dirname(os.path.abspath(s)))}/{nm}"
                     if isinstance(s, (str, os.PathLike)) else nm for s, nm in zip(sources, names)]
    names = list(names)
    if len(names) != n or len(set(names)) != n:
        raise ReportError(f"need {n} distinct model names, got {names}")
    os.makedirs(out_dir, exist_ok=True)
    report = {"format": "mammo_tf.screening_report/1", "title": title, "reducer": reducer,
              "missing_views": missing_views, "calibration_method": calibration, "task": task,
              "n_boot": int(n_boot), "seed": int(seed),
              "ci": "95% percentile bootstrap, patients resampled (cluster bootstrap)",
              "models": {}, "comparisons": [], "images": {}}
    finals = {}
    for i, (source, val_source, name) in enumerate(zip(sources, vals, names)):
        model, levels = _evaluate_model(source, val_source, manifest, name, reducer, missing_views,
                                        calibration, subgroups, task, n_boot, seed, n_bins, out_dir,
                                        run_dirs[i], report["images"])
        report["models"][name] = model
        finals[name] = levels
    for level in LEVELS:
        curves = {name: (lv[level].label, lv[level].score) for name, lv in finals.items()
                  if level in lv and _both_classes(lv[level])}
        if curves:
            png = f"roc_{level}.png"
            evaluate.plot_roc(os.path.join(out_dir, png), curves, title=f"ROC, {level} level")
            report["images"][f"roc_{level}"] = png
    first = names[0]
    for other in names[1:]:
        for level in LEVELS:
            if level in finals[first] and level in finals[other]:
                report["comparisons"].append(_compare(finals[first][level], finals[other][level],
                                                      first, other, level, n_boot, seed))
    json_path = os.path.join(out_dir, "report.json")
    html_path = os.path.join(out_dir, "report.html")
    report["files"] = {"json": json_path, "html": html_path}
    write_json_atomic(json_path, report)
    write_text_atomic(html_path, render_html(report))
    log.info("screening report: %s", html_path)
    return report


def _evaluate_model(source, val_source, manifest, name, reducer, missing_views, calibration,
                    subgroups, task, n_boot, seed, n_bins, out_dir, run_dir, images):
    base = load_predictions(source, manifest, task)
    if not base.labelled:
        raise ReportError(f"{name}: every test case needs a label (CSV 'label' column or the manifest)")
    val_base = None
    if val_source is not None:
        val_base = load_predictions(val_source, manifest, task)
        if not val_base.labelled:
            raise ReportError(f"{name}: every validation case needs a label")
        overlap = set(val_base.ids.tolist()) & set(base.ids.tolist())
        if overlap:
            raise ReportError(f"{name}: {len(overlap)} case(s) are in both the validation and the "
                              f"test predictions (first: {sorted(overlap)[0]!r})")
    cal = None
    model = {"base_level": base.level}
    if val_base is not None and calibration != "none":
        cal = C.fit_calibration(val_base.label, val_base.score, calibration,
                                fitted_on={"split": "validation", "level": base.level})
        model["calibration"] = cal.to_dict()
        if run_dir is not None:
            model["calibration_file"] = C.save_calibration(run_dir, cal)
    elif calibration != "none":
        model["calibration"] = None
        model["calibration_note"] = "no validation predictions: not calibrated"
    raw_levels, counts = all_levels(base, reducer, missing_views)
    final_levels = all_levels(base.with_scores(cal(base.score)), reducer, missing_views)[0] if cal else raw_levels
    val_levels = None
    if val_base is not None:
        val_final = val_base.with_scores(cal(val_base.score)) if cal else val_base
        val_levels = all_levels(val_final, reducer, missing_views)[0]
    model["missing_views"] = counts
    model["levels"] = {}
    for level, units in final_levels.items():
        raw = raw_levels[level]
        entry = auc_entry(units, n_boot, seed)
        entry["probabilities"] = "calibrated" if cal else "as predicted"
        if cal:
            entry["auc_uncalibrated"] = evaluate.roc_auc(raw.label, raw.score) if _both_classes(raw) else None
            entry["calibration"] = {"before": C.calibration_metrics(raw.label, raw.score, n_bins),
                                    "after": C.calibration_metrics(units.label, units.score, n_bins)}
            curves = {"before": raw.score, "after": units.score}
        else:
            entry["calibration"] = {"before": C.calibration_metrics(raw.label, raw.score, n_bins)}
            curves = {"as predicted": raw.score}
        png = f"reliability_{_slug(name)}_{level}.png"
        C.plot_reliability(os.path.join(out_dir, png), raw.label, curves, n_bins,
                           title=f"Reliability, {name}, {level} level")
        images[f"reliability_{name}_{level}"] = png
        groups = units.patient if entry["n_patients"] >= 2 else None
        if _both_classes(units):
            entry["operating_points"] = O.operating_points(units.label, units.score, groups,
                                                           n_boot=n_boot, seed=seed)
            v = val_levels.get(level) if val_levels else None
            if v is not None and _both_classes(v):
                entry["validation_thresholds"] = O.validation_thresholds(
                    v.label, v.score, units.label, units.score, groups, n_boot=n_boot, seed=seed)
            else:
                entry["validation_thresholds"] = None
                entry["threshold_note"] = ("no validation predictions: no threshold chosen (a threshold is "
                                           "never chosen on test)")
        tables = {}
        for column in subgroups or ():
            table = subgroup_table(units, column, n_boot, seed)
            if table is not None:
                tables[column] = table
        if subgroups:
            entry["subgroups"] = tables
            if any(tables.values()):
                png = f"subgroups_{_slug(name)}_{level}.png"
                plot_subgroups(os.path.join(out_dir, png), tables, f"Subgroups, {name}, {level} level")
                images[f"subgroups_{name}_{level}"] = png
        model["levels"][level] = entry
    return model, final_levels


def _compare(a, b, name_a, name_b, level, n_boot, seed):
    where = {k: i for i, k in enumerate(b.ids.tolist())}
    common = [i for i, k in enumerate(a.ids.tolist()) if k in where]
    record = {"level": level, "model_1": name_a, "model_2": name_b, "n": len(common)}
    if not common:
        return dict(record, note="no cases in common")
    ia = np.asarray(common)
    ib = np.asarray([where[k] for k in a.ids[ia].tolist()])
    if not np.array_equal(a.label[ia], b.label[ib]):
        raise ReportError(f"{name_a} and {name_b} disagree on the labels of the same {level}s")
    y = a.label[ia]
    if not 0 < y.sum() < len(y):
        return dict(record, note="one class only")
    record["delong"] = delong_test(y, a.score[ia], b.score[ib])
    patients = a.patient[ia]
    if len(set(patients.tolist())) >= 2:
        record["bootstrap"] = paired_bootstrap(y, a.score[ia], b.score[ib], groups=patients,
                                               n_boot=n_boot, seed=seed)
    return record


def load_report(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
