# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Exam prediction with the NYU four-view models: the exams' probabilities (best window, or
the mean over random window draws), the exam prediction CSV, the views' crop geometry and
heatmap channels, and ``train_multiview.py --predict`` (``predict_to_csv``) with its report.
"""
import csv
import io
import logging
import os

import keras
import numpy as np
from tqdm.auto import tqdm

from mammo_tf.errors import RunError, UsageError
from mammo_tf.io import prediction_csv
from mammo_tf.nyu import four_view as F
from mammo_tf.nyu import heatmaps as H
from mammo_tf.nyu.config import MultiviewConfig, check_prediction
from mammo_tf.nyu.data import ExamDataset, read_view_image
from mammo_tf.nyu.exams import ExamManifestError, exams_from_dicom, read_exam_manifest
from mammo_tf.nyu.metrics import breast_level_report, finite, mean_auc, task_labels, task_names
from mammo_tf.nyu.views import view_geometry
from mammo_tf.runs import load_keras_model, load_run
from mammo_tf.utils import write_json_atomic, write_text_atomic

logger = logging.getLogger(__name__)

PREDICTION_COLUMNS = ("exam_id",) + F.OUTPUT_NAMES


def task_losses(task):
    """The loss of each head (their sum is the training loss)."""
    if task == "birads":
        return {"cc": keras.losses.SparseCategoricalCrossentropy(),
                "mlo": keras.losses.SparseCategoricalCrossentropy()}
    return {"cc": F.SummedBinaryCrossentropy(), "mlo": F.SummedBinaryCrossentropy()}


def compile_model(model, learning_rate, run_eagerly=False, task="cancer"):
    """Adam + the task's loss on both heads, for using a model outside the runner."""
    # jit_compile=False: XLA compilation of the two-column graph costs more than it saves
    # at the sizes this runs on CPU; GPU users can recompile with jit_compile=True.
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), jit_compile=False,
                  run_eagerly=run_eagerly, loss=task_losses(task))
    return model


def head_mean(outputs, task):
    """Exam prediction from the two heads: (N, 4) positive-class or (N, 3) class probabilities."""
    if task == "birads":
        return (np.asarray(outputs["cc"]) + np.asarray(outputs["mlo"])) / 2.0
    return F.exam_probabilities(outputs)


def predict_exams(model, rows, config, tta=0, seed=0, batch_size=4, progress=False,
                  geometry_cache=None):
    """(N, 4) exam probabilities in ``OUTPUT_NAMES`` order ((N, 3) for ``task="birads"``).

    ``tta=0``: the best window of every view; ``tta=n``: mean over n seeded random window
    draws (paper: 10). ``geometry_cache``: dict reused across calls (crop boxes, windows).
    """
    draws = [None] if tta <= 0 else list(range(tta))
    geometry_cache = {} if geometry_cache is None else geometry_cache
    total = np.zeros((len(rows), len(task_names(config.task))), np.float64)
    for draw in tqdm(draws, desc="TTA draws", disable=not progress or tta <= 0):
        data = ExamDataset(rows, config.preprocess(), batch_size=batch_size,
                           channels=config.channels, augment=draw is not None, seed=seed,
                           draw=draw or 0, heatmap_patch_size=config.heatmap_patch_size,
                           heatmap_stride=config.heatmap_stride, cache_images=config.cache_images,
                           geometry_cache=geometry_cache, task=config.task,
                           require_labels=False)
        parts = [head_mean(model.predict_on_batch(data[i][0]), config.task) for i in range(len(data))]
        total += np.concatenate(parts)
    return total / len(draws)


def write_predictions(path, rows, probabilities, names=F.OUTPUT_NAMES):
    """Exam prediction CSV: ``exam_id,left_benign,right_benign,left_malignant,right_malignant``
    (``exam_id,birads_0,birads_1,birads_2`` for the BI-RADS task)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(prediction_csv.exam_header(names))
    for row, p in zip(rows, probabilities):
        writer.writerow([row["exam_id"]] + [f"{v:.6f}" for v in p])
    write_text_atomic(path, buffer.getvalue())


def scan_views(rows, config, strict=False, heatmaps=False):
    """Read every view once: its crop geometry (returned as a cache for the data pipeline)
    and, with ``heatmaps``, its cached or freshly computed heatmaps.

    Unreadable images are skipped and returned as ``(path, error)`` (``strict``: raised).
    """
    classifier = classifier_id = None
    if heatmaps:
        classifier = load_keras_model(config.heatmap_model)
        classifier_id = os.path.abspath(config.heatmap_model)
        # an unknown spacing is an error in check_scale (naming the flag that states it)
        trained_at = getattr(config, "heatmap_pixel_spacing", None) or \
            H.classifier_pixel_spacing(config.heatmap_model)
    pre = config.preprocess()
    paths = sorted({(row[v], v.split("_")[1].upper()) for row in rows for v in F.VIEWS})
    geometry, skipped = {}, []
    for path, view in tqdm(paths, desc="heatmaps" if heatmaps else "checking images", unit="image",
                           disable=config.verbose == 0):
        try:
            image = read_view_image(path)
            geometry[path] = view_geometry(image, view, pre)
            if heatmaps:
                check_scale(path, trained_at, config)
                H.heatmaps_for_image(path, image, geometry[path].crop, classifier,
                                     config.heatmap_pixel_mean, classifier_id,
                                     config.heatmap_patch_size, config.heatmap_stride,
                                     progress=False)
        except (OSError, ValueError) as exc:
            if strict:
                raise
            skipped.append((path, str(exc)))
    return geometry, skipped


def check_scale(path, trained_at, config):
    """``heatmaps.check_heatmap_scale`` for one view: the classifier's training spacing
    against the image's (``--image-pixel-spacing``, else its DICOM header); a mismatch is a
    UsageError (exit 2) unless ``--allow-scale-mismatch``."""
    spacing = getattr(config, "image_pixel_spacing", None) or H.image_pixel_spacing(path)
    try:
        H.check_heatmap_scale(trained_at, spacing, image=path, classifier=config.heatmap_model,
                              allow_mismatch=getattr(config, "allow_scale_mismatch", False))
    except H.HeatmapScaleError as exc:
        raise UsageError(str(exc)) from None


def ensure_heatmaps(rows, config, strict=False):
    """Compute (or reuse cached) heatmaps for every view; returns the skipped (path, error)."""
    return scan_views(rows, config, strict=strict, heatmaps=True)[1]


def prediction_config(config, info):
    """A MultiviewConfig for predicting with a run: task, sizes, channels, crop and heatmap
    settings from its ``RunInfo``; a flag of ``config`` (a PredictConfig) that disagrees with
    the recorded value is a UsageError."""
    if not info.is_nyu:
        raise UsageError(f"--predict {config.predict}: a {info.kind!r} model, not an NYU "
                         "four-view model")
    details = info.details
    recorded = {"task": details.get("task", "birads" if info.kind == "nyu_birads" else "cancer"),
                "channels": info.channels, "cc_size": list(info.input_size["cc"]),
                "mlo_size": list(info.input_size["mlo"]),
                "heatmap_pixel_mean": details.get("heatmap_pixel_mean"),
                "heatmap_patch_size": details.get("heatmap_patch_size", H.HEATMAP_PATCH_SIZE),
                "heatmap_stride": details.get("heatmap_stride", H.HEATMAP_STRIDE)}
    for name, value in recorded.items():
        given = getattr(config, name)
        if given is not None and given != value:
            raise UsageError(f"--{name.replace('_', '-')} {given} disagrees with the run's "
                             f"recorded {value} ({config.predict})")
    heatmap_model = config.heatmap_model or details.get("heatmap_model")
    if recorded["channels"] == 3 and heatmap_model and not os.path.isfile(heatmap_model):
        raise UsageError(f"the run's heatmap model {heatmap_model} is not there; pass "
                         "--heatmap-model")
    model = "image-wise" if info.kind == "nyu_image_wise" else "view-wise"
    return MultiviewConfig(
        manifest=config.manifest, model=model, heatmap_model=heatmap_model, tta=config.tta,
        seed=config.seed, batch_size=config.batch_size, cache_images=config.cache_images,
        run_eagerly=config.run_eagerly, workers=config.workers, verbose=config.verbose,
        erosion_iterations=details.get("erosion_iterations"), max_shift=details.get("max_shift"),
        max_size_noise=details.get("max_size_noise"), image_pixel_spacing=config.image_pixel_spacing,
        heatmap_pixel_spacing=config.heatmap_pixel_spacing or details.get("heatmap_pixel_spacing"),
        allow_scale_mismatch=config.allow_scale_mismatch, **recorded)


def predict_to_csv(config):
    """Predict the manifest's exams (one split or ``"all"``) with a trained four-view model
    (``config``: a PredictConfig) and write the exam prediction CSV. Returns the predicted
    rows."""
    check_prediction(config)
    try:
        loaded = load_run(config.predict)
    except RunError as exc:
        raise UsageError(f"--predict: {exc}") from None
    settings = prediction_config(config, loaded.info)
    rows = exam_rows(config)
    if config.split != "all" and not is_dicom_source(config.manifest):
        rows = [r for r in rows if r["split"] == config.split]
    if not rows:
        raise ExamManifestError(f"{config.manifest}: no exams in split {config.split!r}")
    if settings.channels == 3:
        if not settings.heatmap_model:
            raise UsageError("the run has heatmap channels but recorded no heatmap model; pass "
                             "--heatmap-model")
        ensure_heatmaps(rows, settings, strict=config.strict)
    model = loaded.model
    if config.run_eagerly:
        compile_model(model, 1e-5, run_eagerly=True, task=settings.task)
    probs = predict_exams(model, rows, settings, tta=settings.tta, seed=settings.seed,
                          batch_size=settings.batch_size, progress=settings.verbose > 0)
    write_predictions(config.output, rows, probs, task_names(settings.task))
    if settings.task != "birads" and all(r.get("labelled", True) for r in rows):
        write_prediction_report(prediction_report_path(config.output), rows, probs, settings.seed)
    return rows


def is_dicom_source(path):
    """True when ``--manifest`` names DICOM input (a folder, or a DICOM file) instead of a CSV."""
    from mammo_tf.io.dicom_study import is_dicom_file

    path = os.fspath(path)
    return os.path.isdir(path) or (os.path.isfile(path) and not path.lower().endswith(".csv")
                                   and is_dicom_file(path))


def exam_rows(config):
    """The exams to predict: the exam manifest's rows, or exams built from DICOM
    (``exams_from_dicom``; refused instances and incomplete exams are logged, never stop the
    others, and raise with ``--strict``)."""
    if not is_dicom_source(config.manifest):
        return read_exam_manifest(config.manifest)
    rows, problems = exams_from_dicom([config.manifest], strict=config.strict,
                                      allow_for_processing=getattr(config, "allow_for_processing", False))
    for problem in problems:
        logger.warning("%s", problem)
    if not rows:
        raise ExamManifestError(f"{config.manifest}: no exam with the four standard views "
                                f"({len(problems)} problem(s); first: {problems[0] if problems else 'no DICOM files'})")
    logger.info("%d four-view exam(s) from DICOM %s", len(rows), config.manifest)
    return rows


def prediction_report_path(output):
    """``<output without .csv>.metrics.json``: the AUCs of a --predict run."""
    root, ext = os.path.splitext(os.fspath(output))
    return (root if ext.lower() == ".csv" else os.fspath(output)) + ".metrics.json"


def write_prediction_report(path, rows, probabilities, seed=0):
    """The prediction report of a cancer model on labelled exams: breast-level AUCs (Table
    III) with patient-level CIs, plus the per-side AUCs and their mean; written as JSON."""
    labels = task_labels(rows, "cancer")
    mean, per_side = mean_auc(labels, probabilities)
    report = breast_level_report(labels, probabilities,
                                 [r.get("patient_id") or r["exam_id"] for r in rows], seed=seed)
    record = finite({"exams": len(rows), "breast_auc": {k: v["auc"] for k, v in report.items()},
                      "breast_auc_ci95": {k: v["auc_ci95"] for k, v in report.items()},
                      "ci_resamples": "patients", "auc": per_side, "mean_auc": mean})
    write_json_atomic(path, record)
    logger.info("breast-level AUCs: malignant %s, benign %s (%s)", record["breast_auc"]["malignant"],
                record["breast_auc"]["benign"], path)
    return record
