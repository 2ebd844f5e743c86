# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The screening report: ``report.json`` + ``report.html`` (with PNG plots next to them) from
one or more prediction CSVs of the same test cases (several = a model comparison).

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

What it reports, per model and level (image, breast, exam; :mod:`.levels`): AUC with a
cluster-bootstrap CI over patients; calibration (fitted on the validation predictions only,
:mod:`.calibration`): ECE and Brier score before / after, reliability diagram; operating
points with CIs (:mod:`.operating`), and, with validation predictions, thresholds chosen on
validation and applied unchanged to test with their confusion matrices; subgroups by manifest
columns; for two or more models DeLong's paired test of each against the first
(:mod:`.delong`) with a paired cluster-bootstrap CI of the difference.
"""
import csv
import html
import json
import logging
import os
import re

import numpy as np

from mammo_tf.errors import DataError
from mammo_tf.io import prediction_csv
from mammo_tf import evaluate
from mammo_tf.screening import calibration as C
from mammo_tf.screening import operating as O
from mammo_tf.screening.delong import delong_test, paired_bootstrap
from mammo_tf.screening.levels import all_levels, make_units
from mammo_tf.utils import write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

LEVELS = ("image", "breast", "exam")
CALIBRATIONS = ("temperature", "isotonic", "none")
_SKIP_COLUMNS = {"image_path", "roi_mask_paths", "roi_classes", "image_id", "patient_id", "label",
                 "l_cc", "r_cc", "l_mlo", "r_mlo", "exam_id", "left_benign", "right_benign",
                 "left_malignant", "right_malignant", "path"}
_EXAM_KEYS = ("study_id", "study", "exam_id")


class ReportError(DataError):
    """A prediction CSV or manifest that cannot be evaluated (the message names the file)."""


# --------------------------------------------------------------------------- inputs


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


# --------------------------------------------------------------------------- HTML


def _fmt(v, digits=3):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def _ci(ci):
    return "–" if not ci else f"{ci[0]:.3f}–{ci[1]:.3f}"


def _table(header, rows):
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(src, alt):
    return f'<figure><img src="{html.escape(src)}" alt="{html.escape(alt)}"><figcaption>{html.escape(alt)}</figcaption></figure>'


def render_html(report):
    """The report as one self-contained HTML page (the PNGs are linked, next to it)."""
    parts = [f"<h1>{html.escape(report['title'])}</h1>",
             f"<p>Breast level: <b>{html.escape(report['reducer'])}</b> over views; exam level: max over "
             f"breasts; missing views: <b>{html.escape(report['missing_views'])}</b>. CIs: "
             f"{html.escape(report['ci'])}, {report['n_boot']} resamples.</p>"]
    images = report["images"]
    parts.append("<h2>Discrimination</h2>")
    rows = []
    for name, model in report["models"].items():
        for level, e in model["levels"].items():
            rows.append([_fmt(name), level, e["n"], e["n_positive"], e["n_patients"], _fmt(e["auc"]),
                         _ci(e["auc_ci95"]), e["probabilities"]])
    parts.append(_table(["model", "level", "n", "positive", "patients", "AUC", "95% CI", "probabilities"], rows))
    parts += [_img(images[k], f"ROC curve, {k[4:]} level") for k in images if k.startswith("roc_")]
    parts.append("<h2>Missing views</h2>")
    rows = [[_fmt(n), *(m["missing_views"][k] for k in ("breasts", "both_views", "missing_cc", "missing_mlo", "dropped"))]
            for n, m in report["models"].items() if m.get("missing_views")]
    parts.append(_table(["model", "breasts", "CC and MLO", "no CC", "no MLO", "dropped"], rows) if rows
                 else "<p>Not applicable (breast-level predictions, or no sides known).</p>")
    parts.append("<h2>Calibration</h2>")
    rows = []
    for name, model in report["models"].items():
        cal = model.get("calibration")
        how = "none" if not cal else (
            f"temperature T = {cal['temperature']:.3f}" + (" (at its bound)" if cal.get("at_bound") else "")
            if cal["method"] == "temperature" else f"isotonic ({len(cal['x_thresholds'])} points)")
        for level, e in model["levels"].items():
            before, after = e["calibration"]["before"], e["calibration"].get("after")
            rows.append([_fmt(name), level, how, _fmt(before["ece"]), _fmt(after and after["ece"]),
                         _fmt(before["brier"]), _fmt(after and after["brier"])])
    parts.append(_table(["model", "level", "fitted on validation", "ECE before", "ECE after",
                         "Brier before", "Brier after"], rows))
    parts += [_img(images[k], f"Reliability diagram, {k[12:]}") for k in images if k.startswith("reliability_")]
    parts.append("<h2>Operating points</h2>")
    rows = []
    for name, model in report["models"].items():
        for level, e in model["levels"].items():
            ops = e.get("operating_points")
            if not ops:
                continue
            for kind, label in (("sensitivity_at_specificity", "sensitivity at specificity"),
                                ("specificity_at_sensitivity", "specificity at sensitivity")):
                for at, v in ops[kind].items():
                    rows.append([_fmt(name), level, f"{label} {at}", _fmt(v["value"]), _ci(v["ci95"])])
    parts.append(_table(["model", "level", "operating point", "value", "95% CI"], rows))
    rows = []
    for name, model in report["models"].items():
        for level, e in model["levels"].items():
            for t in e.get("validation_thresholds") or ():
                (tn, fp), (fn, tp) = t["confusion_matrix"]["matrix"]
                rows.append([_fmt(name), level, t["target"], _fmt(t["threshold"], 4),
                             f"{t['sensitivity']:.3f} ({_ci(t['sensitivity_ci95'])})",
                             f"{t['specificity']:.3f} ({_ci(t['specificity_ci95'])})",
                             f"TP {tp} FN {fn} FP {fp} TN {tn}"])
    parts.append("<h3>Thresholds chosen on validation, applied unchanged to test</h3>")
    parts.append(_table(["model", "level", "target (validation)", "threshold", "test sensitivity",
                         "test specificity", "test confusion matrix"], rows) if rows
                 else "<p>No validation predictions given: no threshold chosen.</p>")
    if report["comparisons"]:
        parts.append("<h2>Paired comparison (DeLong)</h2>")
        rows = []
        for c in report["comparisons"]:
            d = c.get("delong")
            if not d:
                rows.append([_fmt(c["model_1"]), _fmt(c["model_2"]), c["level"], c["n"], _fmt(c.get("note")), "", "", ""])
                continue
            boot = c.get("bootstrap", {}).get("difference_ci95")
            rows.append([_fmt(c["model_1"]), _fmt(c["model_2"]), c["level"], c["n"], _fmt(d["difference"]),
                         _ci(d["ci95"]), _fmt(d["p_value"], 4), _ci(boot)])
        parts.append(_table(["model 1", "model 2", "level", "n", "AUC difference", "DeLong 95% CI",
                             "p (DeLong)", "patient-bootstrap 95% CI"], rows))
    sub_rows = []
    for name, model in report["models"].items():
        for level, e in model["levels"].items():
            for column, table in (e.get("subgroups") or {}).items():
                for r in table:
                    sub_rows.append([_fmt(name), level, _fmt(column), _fmt(r["value"]), r["n"], r["n_positive"],
                                     _fmt(r["auc"]), _ci(r["auc_ci95"])])
    if sub_rows:
        parts.append("<h2>Subgroups</h2>")
        parts.append(_table(["model", "level", "column", "value", "n", "positive", "AUC", "95% CI"], sub_rows))
        parts += [_img(images[k], f"Subgroups, {k[10:]}") for k in images if k.startswith("subgroups_")]
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
             "text-align:left}th{background:#f0f0f0}figure{display:inline-block;margin:0.5em}"
             "img{max-width:480px}")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
            f"{html.escape(report['title'])}</title><style>{style}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def load_report(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
