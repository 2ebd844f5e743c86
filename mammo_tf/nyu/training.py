# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Training and exam prediction for the NYU four-view models (``model.fit`` + callbacks).

Paper settings (Wu et al. 2019, section IV): Adam, learning rate 1e-5, batch 4, L2 10**-4.5
on the kernels, each epoch all positive (biopsied) exams plus as many random negatives, early
stopping when the mean validation AUC of the four tasks has not improved for 20 epochs, the
best model by that AUC kept. Loss: the summed binary cross-entropies of the CC and MLO heads.

``task="birads"`` trains the BI-RADS pretraining model instead (3 classes per head, sparse
categorical cross-entropy on both heads, selection by the mean of the one-vs-rest AUCs; the
paper used batch 24 there); its columns initialise a cancer model via ``init_columns``.

Run folder ``runs/<name>/``: ``config.json`` (resolved), ``log.csv`` (per epoch),
``checkpoints/best.keras`` (atomic), ``metrics.json``, ``predictions_<split>.csv``.
"""
import csv
import dataclasses
import io
import math
import os

import keras
import numpy as np
from tqdm.auto import tqdm

from mammo_tf.nyu import four_view as F
from mammo_tf.nyu.weights import load_pytorch_arrays
from mammo_tf.nyu import heatmaps as H
from mammo_tf.nyu.data import ExamDataset, read_view_image
from mammo_tf.nyu.exams import ExamManifestError, exam_labels, read_exam_manifest
from mammo_tf.nyu.views import PreprocessConfig, view_geometry
from mammo_tf.utils import atomic_path, write_json_atomic, write_text_atomic

PREDICTION_COLUMNS = ("exam_id",) + F.OUTPUT_NAMES
PAPER_L2 = 10 ** -4.5


@dataclasses.dataclass
class MultiviewConfig:
    """Everything a training run needs; defaults are the paper's settings."""

    manifest: str
    task: str = "cancer"  # or "birads" (pretraining)
    name: str = "multiview"
    runs_dir: str = "runs"
    model: str = "view-wise"  # or "image-wise"
    channels: int = 1  # 3 = image + malignant + benign heatmaps
    cc_size: tuple = F.CC_INPUT_SIZE
    mlo_size: tuple = F.MLO_INPUT_SIZE
    epochs: int = 500
    batch_size: int = 4
    learning_rate: float = 1e-5
    l2: float = PAPER_L2
    patience: int = 20
    augment: bool = True
    tta: int = 10
    seed: int = 0
    init_columns: str | None = None  # .keras model (e.g. BI-RADS) whose columns initialise ours
    pytorch_weights: str | None = None  # .npz converted from the authors' state dict
    heatmap_model: str | None = None  # patch classifier .keras for heatmap channels
    heatmap_pixel_mean: float | None = None
    heatmap_patch_size: int = H.DEFAULT_PATCH_SIZE
    heatmap_stride: int = H.DEFAULT_STRIDE
    erosion_iterations: int | None = None
    max_shift: float | None = None
    max_size_noise: float | None = None
    cache_images: bool = False
    run_eagerly: bool = False  # skips graph tracing: faster for tiny inputs / debugging
    workers: int = 1
    verbose: int = 1

    def preprocess(self):
        return PreprocessConfig(cc_size=tuple(self.cc_size), mlo_size=tuple(self.mlo_size),
                                erosion_iterations=self.erosion_iterations,
                                max_shift=self.max_shift, max_size_noise=self.max_size_noise)


def build_model(config):
    if config.task == "birads":
        return F.build_birads_model(tuple(config.cc_size), tuple(config.mlo_size),
                                    channels=config.channels, l2=config.l2)
    if config.task != "cancer":
        raise ValueError(f"task must be 'cancer' or 'birads', got {config.task!r}")
    builder = {"view-wise": F.build_view_wise_model, "image-wise": F.build_image_wise_model}
    if config.model not in builder:
        raise ValueError(f"model must be one of {sorted(builder)}, got {config.model!r}")
    return builder[config.model](tuple(config.cc_size), tuple(config.mlo_size),
                                 channels=config.channels, l2=config.l2)


def compile_model(model, learning_rate, run_eagerly=False, task="cancer"):
    """Adam + the task's loss on both heads (their sum is the training loss)."""
    if task == "birads":
        losses = {"cc": keras.losses.SparseCategoricalCrossentropy(),
                  "mlo": keras.losses.SparseCategoricalCrossentropy()}
    else:
        losses = {"cc": F.SummedBinaryCrossentropy(), "mlo": F.SummedBinaryCrossentropy()}
    # jit_compile=False: XLA compilation of the two-column graph costs more than it saves
    # at the sizes this runs on CPU; GPU users can recompile with jit_compile=True.
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), jit_compile=False,
                  run_eagerly=run_eagerly, loss=losses)
    return model


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
    from mammo_tf.evaluate import roc_auc

    per_task = {}
    for k, name in enumerate(names):
        try:
            per_task[name] = float(roc_auc(labels[:, k], probabilities[:, k]))
        except ValueError:  # one class only: undefined
            per_task[name] = float("nan")
    defined = [v for v in per_task.values() if not math.isnan(v)]
    return (float(np.mean(defined)) if defined else float("nan")), per_task


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
    writer.writerow(("exam_id",) + tuple(names))
    for row, p in zip(rows, probabilities):
        writer.writerow([row["exam_id"]] + [f"{v:.6f}" for v in p])
    write_text_atomic(path, buffer.getvalue())


class ValidationAUC(keras.callbacks.Callback):
    """Adds ``val_mean_auc`` and ``val_auc_<task>`` to the epoch logs (best window, no TTA)."""

    def __init__(self, rows, config, geometry_cache=None):
        super().__init__()
        self.rows, self.config = rows, config
        self.labels = task_labels(rows, config.task)
        self.geometry = {} if geometry_cache is None else geometry_cache

    def on_epoch_end(self, epoch, logs=None):
        probs = predict_exams(self.model, self.rows, self.config, batch_size=self.config.batch_size,
                              geometry_cache=self.geometry)
        mean, per_task = mean_auc(self.labels, probs, task_names(self.config.task))
        if logs is not None:
            logs["val_mean_auc"] = mean
            logs.update({f"val_auc_{k}": v for k, v in per_task.items()})


class BestCheckpoint(keras.callbacks.Callback):
    """Save the model atomically whenever ``val_mean_auc`` improves (first epoch always)."""

    def __init__(self, path):
        super().__init__()
        self.path, self.best, self.best_epoch = path, -math.inf, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_mean_auc", float("nan"))
        score = -math.inf if math.isnan(value) else value
        if self.best_epoch is None or score > self.best:
            self.best, self.best_epoch = score, epoch + 1
            with atomic_path(self.path) as tmp:
                self.model.save(tmp)


def scan_views(rows, config, strict=False, heatmaps=False):
    """Read every view once: its crop geometry (returned as a cache for the data pipeline)
    and, with ``heatmaps``, its cached or freshly computed heatmaps.

    Unreadable images are skipped and returned as ``(path, error)`` (``strict``: raised).
    """
    classifier = classifier_id = None
    if heatmaps:
        classifier = keras.saving.load_model(config.heatmap_model, compile=False, safe_mode=True)
        classifier_id = os.path.abspath(config.heatmap_model)
    pre = config.preprocess()
    paths = sorted({(row[v], v.split("_")[1].upper()) for row in rows for v in F.VIEWS})
    geometry, skipped = {}, []
    for path, view in tqdm(paths, desc="heatmaps" if heatmaps else "checking images", unit="image",
                           disable=config.verbose == 0):
        try:
            image = read_view_image(path)
            geometry[path] = view_geometry(image, view, pre)
            if heatmaps:
                H.heatmaps_for_image(path, image, geometry[path].crop, classifier,
                                     config.heatmap_pixel_mean, classifier_id,
                                     config.heatmap_patch_size, config.heatmap_stride,
                                     progress=False)
        except (OSError, ValueError) as exc:
            if strict:
                raise
            skipped.append((path, str(exc)))
    return geometry, skipped


def ensure_heatmaps(rows, config, strict=False):
    """Compute (or reuse cached) heatmaps for every view; returns the skipped (path, error)."""
    return scan_views(rows, config, strict=strict, heatmaps=True)[1]


def train(config, strict=False):
    """Train a four-view model on the manifest's train split, select by validation AUC,
    evaluate and write the run folder. Returns the metrics dict."""
    rows = read_exam_manifest(config.manifest)
    if config.task == "birads":
        rows = [r for r in rows if r["birads"] is not None]
    splits = {s: [r for r in rows if r["split"] == s] for s in ("train", "val", "test")}
    keras.utils.set_random_seed(config.seed)
    geometry, skipped = scan_views(rows, config, strict=strict, heatmaps=bool(config.heatmap_model))
    bad = {p for p, _ in skipped}
    for s in splits:  # exams with an unreadable view are left out (listed in metrics.json)
        splits[s] = [r for r in splits[s] if not any(r[v] in bad for v in F.VIEWS)]
    if not splits["train"] or not splits["val"]:
        raise ExamManifestError(f"{config.manifest}: needs exams in the train and val splits "
                                f"(found {len(splits['train'])} train, {len(splits['val'])} val)")
    run_dir = os.path.join(config.runs_dir, config.name)
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    write_json_atomic(os.path.join(run_dir, "config.json"), dataclasses.asdict(config))
    model = build_model(config)
    if config.pytorch_weights:
        load_pytorch_arrays(model, config.pytorch_weights)
    if config.init_columns:
        source = keras.saving.load_model(config.init_columns, compile=False, safe_mode=True)
        F.transfer_columns(source, model)
    compile_model(model, config.learning_rate, config.run_eagerly, config.task)
    train_data = ExamDataset(splits["train"], config.preprocess(), batch_size=config.batch_size,
                             channels=config.channels, augment=config.augment, balanced=True,
                             shuffle=True, seed=config.seed,
                             heatmap_patch_size=config.heatmap_patch_size,
                             heatmap_stride=config.heatmap_stride,
                             cache_images=config.cache_images, task=config.task,
                             geometry_cache=geometry, workers=config.workers)
    best_path = os.path.join(run_dir, "checkpoints", "best.keras")
    checkpoint = BestCheckpoint(best_path)
    callbacks = [ValidationAUC(splits["val"], config, geometry), checkpoint,
                 keras.callbacks.CSVLogger(os.path.join(run_dir, "log.csv"))]
    if config.patience > 0:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_mean_auc", mode="max",
                                                       patience=config.patience))
    history = model.fit(train_data, epochs=config.epochs, callbacks=callbacks, verbose=config.verbose)
    best = keras.saving.load_model(best_path, safe_mode=True, compile=False)
    if config.run_eagerly:
        compile_model(best, config.learning_rate, run_eagerly=True, task=config.task)
    metrics = {"best_epoch": checkpoint.best_epoch, "epochs_run": len(history.history["loss"]),
               "best_val_mean_auc": None if math.isinf(checkpoint.best) else checkpoint.best,
               "tta": config.tta, "skipped_images": [{"path": p, "error": e} for p, e in skipped]}
    for split in ("val", "test"):
        if not splits[split]:
            continue
        probs = predict_exams(best, splits[split], config, tta=config.tta, seed=config.seed,
                              batch_size=config.batch_size, progress=config.verbose > 0,
                              geometry_cache=geometry)
        names = task_names(config.task)
        mean, per_task = mean_auc(task_labels(splits[split], config.task), probs, names)
        metrics[split] = {"mean_auc": mean, "auc": per_task, "exams": len(splits[split])}
        write_predictions(os.path.join(run_dir, f"predictions_{split}.csv"), splits[split], probs,
                          names)
    metrics = _finite(metrics)
    write_json_atomic(os.path.join(run_dir, "metrics.json"), metrics)
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


def predict_to_csv(model_path, config, output, split="all"):
    """Predict the manifest's exams (one split or ``"all"``) with a saved four-view model and
    write the exam prediction CSV. Returns the predicted rows."""
    rows = read_exam_manifest(config.manifest)
    if split != "all":
        rows = [r for r in rows if r["split"] == split]
    if not rows:
        raise ExamManifestError(f"{config.manifest}: no exams in split {split!r}")
    model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    shapes = {v: tuple(model.get_layer(v).output.shape[1:]) for v in ("l_cc", "l_mlo")}
    channels = shapes["l_cc"][-1]
    sizes = {v: s[:2] for v, s in shapes.items()}
    task = "birads" if len(model.get_layer("cc").output.shape) == 2 else "cancer"
    config = dataclasses.replace(config, channels=channels, cc_size=sizes["l_cc"],
                                 mlo_size=sizes["l_mlo"], task=task)
    if config.heatmap_model:
        ensure_heatmaps(rows, config)
    probs = predict_exams(model, rows, config, tta=config.tta, seed=config.seed,
                          batch_size=config.batch_size, progress=config.verbose > 0)
    write_predictions(output, rows, probs, task_names(task))
    return rows
