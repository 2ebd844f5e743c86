# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Training and exam prediction for the NYU four-view models, through the shared stage runner.

Paper settings (Wu et al. 2019, section IV): Adam, learning rate 1e-5, batch 4, L2 10**-4.5
on the kernels, each epoch all positive (biopsied) exams plus as many random negatives (a
function of (seed, epoch), so a resumed run sees the same exams), early stopping when the mean
validation AUC of the four tasks has not improved for 20 epochs, the best model by that AUC
kept. Loss: the summed binary cross-entropies of the CC and MLO heads.

``task="birads"`` trains the BI-RADS pretraining model instead (3 classes per head, sparse
categorical cross-entropy on both heads, selection by the mean of the one-vs-rest AUCs; the
paper used batch 24 there); its columns initialise a cancer model via ``init_columns``.

Training goes through ``mammo_tf.training.runner.StageRunner`` (one stage, all layers): the
run folder is the one format of every pipeline (``mammo_tf.runs``: run.json, config.json,
state.json, log.csv, checkpoints/best.keras + last.keras, metrics.json,
``predictions_<split>.csv``, saved_model/), resumable after ``kill -9`` with ``--resume``.
"""
import csv
import io
import logging
import math
import os

import keras
import numpy as np
from tqdm.auto import tqdm

from mammo_tf.nyu import four_view as F
from mammo_tf.nyu import heatmaps as H
from mammo_tf.nyu.config import (  # noqa: F401  (MultiviewConfig re-exported)
    STAGE_FLAGS, MultiviewConfig, PredictConfig, check_prediction, check_training,
    default_experiment)
from mammo_tf.nyu.data import ExamDataset, read_view_image
from mammo_tf.nyu.exams import ExamManifestError, exam_labels, read_exam_manifest
from mammo_tf.nyu.views import view_geometry
from mammo_tf.nyu.weights import load_pytorch_arrays
from mammo_tf.runs import load_keras_model
from mammo_tf.training import common
from mammo_tf.errors import RunError, UsageError
from mammo_tf.io import prediction_csv
from mammo_tf.training.environment import end_processes, process_shard
from mammo_tf.training.runner import Monitor, StageRunner, TrainingOptions
from mammo_tf.utils import write_text_atomic

logger = logging.getLogger(__name__)

PREDICTION_COLUMNS = ("exam_id",) + F.OUTPUT_NAMES
PAPER_L2 = 10 ** -4.5
PIXEL_MEAN_SOURCE = "none: per-image standardisation (mammo_tf.nyu.crop.standardize)"


def model_kind(config):
    """The run.json kind of the model ``config`` trains."""
    if config.task == "birads":
        return "nyu_birads"
    return "nyu_image_wise" if config.model == "image-wise" else "nyu_view_wise"


def build_model(config, l2=None):
    """The four-view model of ``config`` with L2 ``l2`` on every kernel (default: paper's)."""
    l2 = PAPER_L2 if l2 is None else l2
    if config.task == "birads":
        return F.build_birads_model(tuple(config.cc_size), tuple(config.mlo_size),
                                    channels=config.channels, l2=l2)
    if config.task != "cancer":
        raise ValueError(f"task must be 'cancer' or 'birads', got {config.task!r}")
    builder = {"view-wise": F.build_view_wise_model, "image-wise": F.build_image_wise_model}
    if config.model not in builder:
        raise ValueError(f"model must be one of {sorted(builder)}, got {config.model!r}")
    return builder[config.model](tuple(config.cc_size), tuple(config.mlo_size),
                                 channels=config.channels, l2=l2)


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


def training_stages(config):
    """The run's one stage: ``config.stages`` or the shipped experiment's, with the flags."""
    from mammo_tf.training.schedule import experiment_stages, resolve_stages

    default = None if config.stages else experiment_stages(default_experiment(config.task))
    return resolve_stages(config, default, STAGE_FLAGS, n_stages=1)


def apply_stage(model, stage):
    """Trainability and L2 of ``stage`` on a four-view model (every conv/dense kernel, inside
    the ResNet-22 columns too); the runner recompiles afterwards."""
    from mammo_tf.models.trainability import set_trainable

    set_trainable(model, stage.trainable_from)
    if stage.l2 is None:
        return
    regularizer = keras.regularizers.L2(stage.l2) if stage.l2 else None
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            # both: the attribute is saved in the config, the variable's is what the loss reads
            layer.kernel_regularizer = regularizer
            layer.kernel.regularizer = regularizer


def training_options(config):
    """The runner's options for the NYU models: dict losses, no compiled metrics, selection and
    early stopping on the mean validation AUC (max)."""
    mean_auc = Monitor("mean_auc", "max")
    return TrainingOptions(optimizer=config.optimizer, momentum=config.momentum,
                           patience=config.patience or None, seed=config.seed,
                           verbose=config.verbose, loss=task_losses(config.task), metrics=None,
                           run_eagerly=config.run_eagerly, jit_compile=False, monitor=mean_auc,
                           early_stopping=mean_auc, fallback=None, train_log_keys=("loss",),
                           stage_setup=apply_stage)


def exam_evaluator(config, geometry_cache=None):
    """Validation evaluator for the runner: ``{"mean_auc", "auc_<task>"...}`` of the exams
    (best window, no TTA); ``val_data`` is the list of validation exam rows."""
    geometry = {} if geometry_cache is None else geometry_cache

    def evaluate(model, rows):
        probs = predict_exams(model, rows, config, batch_size=config.batch_size,
                              geometry_cache=geometry)
        labels = task_labels(rows, config.task)
        mean, per_task = mean_auc(labels, probs, task_names(config.task))
        out = {"mean_auc": mean, **{f"auc_{k}": v for k, v in per_task.items()}}
        if config.task != "birads":  # Table III's numbers, logged beside the monitored mean
            out.update({f"breast_auc_{k}": v for k, v in breast_level_aucs(labels, probs).items()})
        return out

    return evaluate


def task_names(task):
    """Prediction columns of a task: the four breast labels or the three BI-RADS classes."""
    return F.BIRADS_CLASSES if task == "birads" else F.OUTPUT_NAMES


def task_labels(rows, task):
    """(N, 4) breast labels, or (N, 3) one-hot BI-RADS classes."""
    if task == "birads":
        return np.eye(len(F.BIRADS_CLASSES), dtype=np.int64)[[r["birads"] for r in rows]]
    return np.stack([exam_labels(r) for r in rows])


def head_mean(outputs, task):
    """Exam prediction from the two heads: (N, 4) positive-class or (N, 3) class probabilities."""
    if task == "birads":
        return (np.asarray(outputs["cc"]) + np.asarray(outputs["mlo"])) / 2.0
    return F.exam_probabilities(outputs)


def mean_auc(labels, probabilities, names=F.OUTPUT_NAMES):
    """Mean AUC over the columns (tasks, or one-vs-rest classes) that have both classes;
    returns (mean or NaN, {name: auc})."""
    from mammo_tf.evaluate import column_aucs

    return column_aucs(labels, probabilities, names)


BREAST_LABELS = ("malignant", "benign")


def _breast_pool(labels, probabilities, label, names=F.OUTPUT_NAMES):
    """(2N labels, 2N scores): the left then the right breast of every exam for ``label``."""
    names = list(names)
    labels, probabilities = np.asarray(labels), np.asarray(probabilities)
    columns = [names.index(f"{side}_{label}") for side in ("left", "right")]
    return labels[:, columns].T.ravel(), probabilities[:, columns].T.ravel()


def breast_level_aucs(labels, probabilities, names=F.OUTPUT_NAMES):
    """Wu et al. (Table III): "AUC ... on the breast level": for malignant and for benign, the
    left and right breasts of all exams pooled into one set of 2N breasts and one AUC each
    ({"malignant": auc, "benign": auc}; NaN where the pooled breasts hold one class only).
    ``labels`` / ``probabilities``: (N, 4) in ``names`` order (``OUTPUT_NAMES``)."""
    from mammo_tf.evaluate import roc_auc

    out = {}
    for label in BREAST_LABELS:
        y, s = _breast_pool(labels, probabilities, label, names)
        out[label] = roc_auc(y, s) if 0 < y.sum() < len(y) else float("nan")
    return out


def breast_level_report(labels, probabilities, patients, n_boot=1000, seed=0,
                        names=F.OUTPUT_NAMES):
    """``breast_level_aucs`` with 95% bootstrap CIs that resample patients (both breasts and
    every exam of a patient stay together): {"malignant": {"auc", "auc_ci95"}, "benign": ...};
    ``patients``: one patient id per exam."""
    from mammo_tf.evaluate import bootstrap_auc_ci

    patients = list(patients)
    groups = np.array(patients + patients)  # left breasts, then right: the _breast_pool order
    out = {}
    for label in BREAST_LABELS:
        y, s = _breast_pool(labels, probabilities, label, names)
        if not 0 < y.sum() < len(y):
            out[label] = {"auc": float("nan"), "auc_ci95": None}
            continue
        try:
            auc, lo, hi = bootstrap_auc_ci(y, s, n_boot=n_boot, seed=seed, groups=groups)
            ci = [lo, hi]
        except ValueError as exc:  # one patient, or resamples keep lacking a class
            logger.warning("breast-level %s AUC: no cluster-bootstrap CI (%s)", label, exc)
            auc, ci = breast_level_aucs(labels, probabilities, names)[label], None
        out[label] = {"auc": auc, "auc_ci95": ci}
    return out


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
        trained_at = getattr(config, "heatmap_pixel_spacing", None) or \
            H.classifier_pixel_spacing(config.heatmap_model)
        if trained_at is None:
            logger.warning("%s records no training pixel spacing (train_patch.py "
                           "--pixel-spacing): the heatmap scale cannot be checked",
                           config.heatmap_model)
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


def _split_rows(config, strict):
    """Exams per split (unreadable views' exams left out) and the crop geometry cache."""
    rows = read_exam_manifest(config.manifest)
    if config.task == "birads":
        rows = [r for r in rows if r["birads"] is not None]
    splits = {s: [r for r in rows if r["split"] == s] for s in ("train", "val", "test")}
    geometry, skipped = scan_views(rows, config, strict=strict, heatmaps=bool(config.heatmap_model))
    bad = {p for p, _ in skipped}
    for s in splits:  # exams with an unreadable view are left out (listed in metrics.json)
        splits[s] = [r for r in splits[s] if not any(r[v] in bad for v in F.VIEWS)]
    if not splits["train"] or not splits["val"]:
        raise ExamManifestError(f"{config.manifest}: needs exams in the train and val splits "
                                f"(found {len(splits['train'])} train, {len(splits['val'])} val)")
    return splits, geometry, skipped


def run_details(config):
    """What prediction must reproduce (run.json ``details``): task, variant, crop/window and
    heatmap settings."""
    return {"task": config.task, "model": config.model,
            "erosion_iterations": config.erosion_iterations, "max_shift": config.max_shift,
            "max_size_noise": config.max_size_noise, "heatmap_model": config.heatmap_model,
            "heatmap_pixel_mean": config.heatmap_pixel_mean,
            "heatmap_patch_size": config.heatmap_patch_size,
            "heatmap_stride": config.heatmap_stride}


def _new_model(config, stages, strategy):
    with common.scope(strategy):
        model = build_model(config, l2=stages[0].l2)
        if config.pytorch_weights:
            load_pytorch_arrays(model, config.pytorch_weights)
        if config.init_columns:
            F.transfer_columns(load_keras_model(config.init_columns), model)
    return model


def train(config, resume=None, callbacks=()):
    """Train a four-view model on the manifest's train split through the stage runner (select
    by the mean validation AUC), evaluate val/test with TTA and write the run folder; resume an
    interrupted run with ``resume=RUN_DIR``. Returns the metrics dict."""
    check_training(config)
    stages = training_stages(config)
    run = common.open_run(config, "multiview", resume, stages)
    if run.is_finished():
        logger.info("%s: run already finished; nothing to do", run.path)
        return run.read_metrics()
    strategy = common.prepare_environment(config)
    splits, geometry, skipped = _split_rows(config, config.strict)
    model = None
    if not os.path.exists(run.state):  # fresh, or killed before the first epoch was committed
        model = _new_model(config, stages, strategy)
        common.write_run_info(
            run, model, model_kind(config), classes=list(task_names(config.task)),
            pixel_mean=None, pixel_mean_source=PIXEL_MEAN_SOURCE, backbone="resnet22",
            training_data={"manifest": config.manifest,
                           "exams": {s: len(r) for s, r in splits.items()},
                           "init_columns": config.init_columns,
                           "pytorch_weights": config.pytorch_weights},
            details=run_details(config))
    train_data = ExamDataset(splits["train"], config.preprocess(), batch_size=config.batch_size,
                             channels=config.channels, augment=config.augment, balanced=True,
                             shuffle=True, seed=config.seed,
                             heatmap_patch_size=config.heatmap_patch_size,
                             heatmap_stride=config.heatmap_stride,
                             cache_images=config.cache_images, task=config.task,
                             geometry_cache=geometry, workers=config.workers,
                             shard=process_shard())
    result = StageRunner(run, stages, train_data, splits["val"], training_options(config),
                         strategy, callbacks, exam_evaluator(config, geometry)).train(model)
    if not end_processes():  # several processes: process 0 evaluates and exports alone
        return None

    best = load_keras_model(run.best_model)
    if config.run_eagerly:
        compile_model(best, stages[0].learning_rate, run_eagerly=True, task=config.task)
    best_value = None if math.isnan(result.best_value) else result.best_value
    metrics = {"pipeline": "multiview", "kind": model_kind(config), "task": config.task,
               "best_epoch": result.best_epoch, "epochs_run": result.completed_epochs,
               "completed_epochs": result.completed_epochs, "best_val_mean_auc": best_value,
               "tta": config.tta, "skipped_images": [{"path": p, "error": e} for p, e in skipped]}
    names = task_names(config.task)
    for split in ("val", "test"):
        if not splits[split]:
            continue
        probs = predict_exams(best, splits[split], config, tta=config.tta, seed=config.seed,
                              batch_size=config.batch_size, progress=config.verbose > 0,
                              geometry_cache=geometry)
        labels = task_labels(splits[split], config.task)
        mean, per_task = mean_auc(labels, probs, names)
        # per-side AUCs ("auc") and their mean stay as extra fields; the breast-level AUCs are
        # the paper's (Table III), CIs resampling patients
        metrics[split] = {"mean_auc": mean, "auc": per_task, "exams": len(splits[split])}
        if config.task != "birads":
            report = breast_level_report(labels, probs, [r.get("patient_id") or r["exam_id"]
                                                         for r in splits[split]],
                                         seed=config.seed)
            metrics[split].update(
                breast_auc={k: v["auc"] for k, v in report.items()},
                breast_auc_ci95={k: v["auc_ci95"] for k, v in report.items()},
                ci_resamples="patients")
        write_predictions(run.file(f"predictions_{split}.csv"), splits[split], probs, names)
    if config.task != "birads" and splits["test"]:
        from mammo_tf.screening.runs import write_run_report

        # breast-level malignancy, calibrated and thresholded on validation: <run>/report/
        metrics["screening_report"] = write_run_report(
            run.path, {"model": run.file("predictions_test.csv")},
            {"model": run.file("predictions_val.csv")}, manifest=config.manifest, seed=config.seed)
    if config.export:
        common.export_model(run, run.best_model)
    metrics = _finite(metrics)
    run.write_metrics(metrics)  # last: marks the run finished
    return metrics


def _finite(value):
    """NaN (undefined AUC) -> None, so the JSON stays standard."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


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
        allow_scale_mismatch=config.allow_scale_mismatch, **recorded)


def predict_to_csv(config):
    """Predict the manifest's exams (one split or ``"all"``) with a trained four-view model
    (``config``: a PredictConfig) and write the exam prediction CSV. Returns the predicted
    rows."""
    from mammo_tf.runs import load_run

    check_prediction(config)
    try:
        loaded = load_run(config.predict)
    except RunError as exc:
        raise UsageError(f"--predict: {exc}") from None
    settings = prediction_config(config, loaded.info)
    rows = read_exam_manifest(config.manifest)
    if config.split != "all":
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
    if settings.task != "birads":
        write_prediction_report(prediction_report_path(config.output), rows, probs, settings.seed)
    return rows


def prediction_report_path(output):
    """``<output without .csv>.metrics.json``: the AUCs of a --predict run."""
    root, ext = os.path.splitext(os.fspath(output))
    return (root if ext.lower() == ".csv" else os.fspath(output)) + ".metrics.json"


def write_prediction_report(path, rows, probabilities, seed=0):
    """The prediction report of a cancer model on labelled exams: breast-level AUCs (Table
    III) with patient-level CIs, plus the per-side AUCs and their mean; written as JSON."""
    from mammo_tf.utils import write_json_atomic

    labels = task_labels(rows, "cancer")
    mean, per_side = mean_auc(labels, probabilities)
    report = breast_level_report(labels, probabilities,
                                 [r.get("patient_id") or r["exam_id"] for r in rows], seed=seed)
    record = _finite({"exams": len(rows), "breast_auc": {k: v["auc"] for k, v in report.items()},
                      "breast_auc_ci95": {k: v["auc_ci95"] for k, v in report.items()},
                      "ci_resamples": "patients", "auc": per_side, "mean_auc": mean})
    write_json_atomic(path, record)
    logger.info("breast-level AUCs: malignant %s, benign %s (%s)", record["breast_auc"]["malignant"],
                record["breast_auc"]["benign"], path)
    return record
