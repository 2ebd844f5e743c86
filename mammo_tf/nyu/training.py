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

Training goes through the one pipeline skeleton (``mammo_tf.training.pipeline``; the stage
runner with one stage, all layers): the run folder is the one format of every pipeline (``mammo_tf.runs``: run.json, config.json,
state.json, log.csv, checkpoints/best.keras + last.keras, metrics.json,
``predictions_<split>.csv``, saved_model/), resumable after ``kill -9`` with ``--resume``.
Prediction: ``mammo_tf.nyu.predict``; metrics: ``mammo_tf.nyu.metrics``.
"""
import logging
import math

import keras

from mammo_tf.nyu import four_view as F
from mammo_tf.nyu.config import STAGE_FLAGS, check_training, default_experiment
from mammo_tf.nyu.data import ExamDataset
from mammo_tf.nyu.exams import ExamManifestError, read_exam_manifest
from mammo_tf.nyu.metrics import (breast_level_aucs, breast_level_report, finite, mean_auc,
                                  task_labels, task_names)
from mammo_tf.nyu.predict import (compile_model, predict_exams, scan_views, task_losses,
                                  write_predictions)
from mammo_tf.nyu.weights import load_pytorch_arrays
from mammo_tf.runs import load_keras_model
from mammo_tf.screening.runs import write_run_report
from mammo_tf.models.trainability import set_trainable
from mammo_tf.training.environment import process_shard
from mammo_tf.training.pipeline import Pipeline, run_pipeline
from mammo_tf.training.runner import Monitor, TrainingOptions
from mammo_tf.training.schedule import experiment_stages, resolve_stages

logger = logging.getLogger(__name__)

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


def training_stages(config):
    """The run's one stage: ``config.stages`` or the shipped experiment's, with the flags."""
    default = None if config.stages else experiment_stages(default_experiment(config.task))
    return resolve_stages(config, default, STAGE_FLAGS, n_stages=1)


def apply_stage(model, stage):
    """Trainability and L2 of ``stage`` on a four-view model (every conv/dense kernel, inside
    the ResNet-22 columns too); the runner recompiles afterwards."""
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
            "heatmap_stride": config.heatmap_stride,
            "heatmap_pixel_spacing": config.heatmap_pixel_spacing}


class MultiviewPipeline(Pipeline):
    """Wu et al. 2019: the four-view model (or the BI-RADS pretraining model) trained in one
    stage on the exams' train split, selected by the mean validation AUC, evaluated on val and
    test with test-time augmentation (exam predictions, breast-level AUCs, screening report)."""

    name = "multiview"

    def validate(self):
        check_training(self.config)
        return training_stages(self.config)

    def pixel_mean(self, ctx):
        return None, PIXEL_MEAN_SOURCE

    def datasets(self, ctx):
        config = self.config
        self.splits, self.geometry, self.skipped = _split_rows(config, config.strict)
        train = ExamDataset(self.splits["train"], config.preprocess(),
                            batch_size=config.batch_size, channels=config.channels,
                            augment=config.augment, balanced=True, shuffle=True, seed=config.seed,
                            heatmap_patch_size=config.heatmap_patch_size,
                            heatmap_stride=config.heatmap_stride,
                            cache_images=config.cache_images, task=config.task,
                            geometry_cache=self.geometry, workers=config.workers,
                            shard=process_shard())
        return train, self.splits["val"]

    def build_model(self, ctx):
        config = self.config
        model = build_model(config, l2=ctx.stages[0].l2)
        if config.pytorch_weights:
            load_pytorch_arrays(model, config.pytorch_weights)
        if config.init_columns:
            F.transfer_columns(load_keras_model(config.init_columns), model)
        return model

    def run_info(self, ctx, model):
        config = self.config
        return dict(kind=model_kind(config), classes=list(task_names(config.task)),
                    pixel_mean=None, pixel_mean_source=PIXEL_MEAN_SOURCE, backbone="resnet22",
                    training_data={"manifest": config.manifest,
                                   "exams": {s: len(r) for s, r in self.splits.items()},
                                   "init_columns": config.init_columns,
                                   "pytorch_weights": config.pytorch_weights},
                    details=run_details(config))

    def training_options(self, ctx):
        return training_options(self.config)

    def evaluator(self, ctx):
        return exam_evaluator(self.config, self.geometry)

    def evaluate(self, ctx, best):
        config, result, splits, run = self.config, ctx.result, self.splits, ctx.run
        if config.run_eagerly:
            compile_model(best, ctx.stages[0].learning_rate, run_eagerly=True, task=config.task)
        best_value = None if math.isnan(result.best_value) else result.best_value
        metrics = {"pipeline": "multiview", "kind": model_kind(config), "task": config.task,
                   "best_epoch": result.best_epoch, "epochs_run": result.completed_epochs,
                   "completed_epochs": result.completed_epochs, "best_val_mean_auc": best_value,
                   "tta": config.tta,
                   "skipped_images": [{"path": p, "error": e} for p, e in self.skipped]}
        names = task_names(config.task)
        for split in ("val", "test"):
            if not splits[split]:
                continue
            probs = predict_exams(best, splits[split], config, tta=config.tta, seed=config.seed,
                                  batch_size=config.batch_size, progress=config.verbose > 0,
                                  geometry_cache=self.geometry)
            labels = task_labels(splits[split], config.task)
            mean, per_task = mean_auc(labels, probs, names)
            # per-side AUCs ("auc") and their mean stay as extra fields; the breast-level AUCs
            # are the paper's (Table III), CIs resampling patients
            metrics[split] = {"mean_auc": mean, "auc": per_task, "exams": len(splits[split])}
            if config.task != "birads":
                report = breast_level_report(labels, probs,
                                             [r.get("patient_id") or r["exam_id"]
                                              for r in splits[split]], seed=config.seed)
                metrics[split].update(
                    breast_auc={k: v["auc"] for k, v in report.items()},
                    breast_auc_ci95={k: v["auc_ci95"] for k, v in report.items()},
                    ci_resamples="patients")
            write_predictions(run.file(f"predictions_{split}.csv"), splits[split], probs, names)
        if config.task != "birads" and splits["test"]:
            # breast-level malignancy, calibrated and thresholded on validation: <run>/report/
            metrics["screening_report"] = write_run_report(
                run.path, {"model": run.file("predictions_test.csv")},
                {"model": run.file("predictions_val.csv")}, manifest=config.manifest,
                seed=config.seed)
        return finite(metrics)


def train(config, resume=None, callbacks=()):
    """Train a four-view model on the manifest's train split through the pipeline skeleton
    (select by the mean validation AUC), evaluate val/test with TTA and write the run folder;
    resume an interrupted run with ``resume=RUN_DIR``. Returns the metrics dict."""
    return run_pipeline(MultiviewPipeline(config), resume, callbacks)
