# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The whole-image pipeline (paper section 2.3): a trained patch classifier -> whole-image
classifier (resnet / vgg / hybrid top, or the heatmap + FC alternative) -> 2-stage training
-> test AUC (with and without 4-flip TTA); optionally the heatmap + random-forest baseline."""
import dataclasses
import functools
import logging

import numpy as np

from mammo_tf import evaluate
from mammo_tf.constants import WHOLE_IMAGE_CLASSES
from mammo_tf.errors import UsageError
from mammo_tf.screening.runs import image_prediction_rows, write_run_report
from mammo_tf.models.trainability import float32_output, set_bn_momentum
from mammo_tf.shen import build_heatmap_classifier, build_whole_image_classifier, data
from mammo_tf.shen.config import WHOLE_STAGE_FLAGS, check_whole
from mammo_tf.shen.heatmap_rf import run_heatmap_rf_from_manifest
from mammo_tf.shen.sliding import baseline_on_dataset, patch_window_size
from mammo_tf.shen.stages import whole_image_stages
from mammo_tf.training import common
from mammo_tf.training.metrics import predict_dataset, predict_padded
from mammo_tf.training.pipeline import Pipeline, run_pipeline
from mammo_tf.training.schedule import resolve_stages
from mammo_tf.inference.tta import tta_predict

logger = logging.getLogger(__name__)


def whole_stages(config):
    """The run's 2 stages (top blocks; all layers): the config's ``stages`` (default: the
    ``whole_resnet`` experiment file, the paper's schedule for every top), then the flags."""
    return resolve_stages(config, None if config.stages else whole_image_stages(),
                          WHOLE_STAGE_FLAGS, n_stages=2)


def check_patch_model(patch_run, top):
    """UsageError unless ``patch_run`` (a ``LoadedRun``) records kind "patch" and a backbone
    usable with ``top``; returns the backbone (from its run.json)."""
    whole = patch_run.info.kind in ("whole_top", "whole_heatmap")
    common.require_kind(patch_run, ("patch",), "--patch-model",
                        f"{'a whole-image classifier, ' if whole else ''}not a patch classifier "
                        "(train_patch.py's run folder or its checkpoints/best.keras)")
    backbone = patch_run.info.backbone
    if top == "hybrid" and backbone == "resnet50":
        raise UsageError(f"{patch_run.model_path}: --top hybrid needs a VGG16/VGG19 patch model, "
                         "got resnet50")
    return backbone


def build_whole_model(patch_model, config, stages=None):
    """The whole-image classifier of ``config.top``; its new layers start with stage 1's L2."""
    shape = (*config.image_size, 3)
    l2 = (stages or whole_stages(config))[0].l2
    if config.top == "heatmap":
        return build_heatmap_classifier(patch_model, input_shape=shape, pool_size=config.heatmap_pool,
                                        hidden=tuple(config.heatmap_hidden),
                                        shortcut=config.heatmap_shortcut, dropout=config.dropout,
                                        l2=l2, mode=config.heatmap_mode,
                                        stride=config.heatmap_stride,
                                        init_from_baseline=config.heatmap_init_baseline)
    return build_whole_image_classifier(
        patch_model, top="resnet" if config.top == "hybrid" else config.top,
        depths=tuple(config.depths), repetitions=tuple(config.repetitions), input_shape=shape,
        dropout=config.dropout, l2=l2)


def patient_ids(dataset):
    """Patient id of every image of an unshuffled ``WholeImageDataset`` (for cluster CIs)."""
    return [row.get("patient_id") or row["image_id"] for row in dataset.rows]


def patch_baseline(patch_model, class_names, datasets, stride=None, seed=0):
    """The patch baseline (``mammo_tf.shen.sliding``) on each of ``datasets`` ({split: an
    unshuffled whole-image dataset preprocessed with the PATCH run's pixel mean}):
    {split: {"window", "stride", "max_malignant": {"auc", "auc_ci95"}, "max_lesion": ...}},
    CIs resampling patients."""
    stride = stride or max(1, patch_window_size(patch_model)[0] // 4)
    out = {}
    for split, dataset in datasets.items():
        report = baseline_on_dataset(patch_model, dataset, stride, class_names,
                                     groups=patient_ids(dataset), seed=seed)
        for key in ("max_malignant", "max_lesion"):
            report[key].pop("scores", None)
        out[split] = report
        logger.info("patch baseline (%s, %s px windows, stride %d): max P(malignant) AUC %s, "
                    "max P(lesion) AUC %s", split, "x".join(map(str, report["window"])), stride,
                    _fmt(report["max_malignant"]["auc"]), _fmt(report["max_lesion"]["auc"]))
    return out


def compare_with_baseline(metrics, baseline):
    """Add ``beats_patch_baseline`` (best validation AUC >= the validation baseline's max
    P(malignant) AUC) and say clearly when the model did not."""
    val = (baseline.get("val") or {}).get("max_malignant", {}).get("auc")
    model_val = metrics.get("best_val_auc")
    if val is None or model_val is None:
        metrics["beats_patch_baseline"] = None
        return metrics
    metrics["beats_patch_baseline"] = bool(model_val >= val)
    if not metrics["beats_patch_baseline"]:
        logger.warning("the whole-image model did NOT reach its patch baseline on validation: "
                       "best val AUC %.3f < baseline %.3f (the patch classifier slid over the "
                       "images knows more than the trained model)", model_val, val)
    else:
        logger.info("the whole-image model reached its patch baseline on validation: "
                    "best val AUC %.3f >= %.3f", model_val, val)
    return metrics


def _fmt(value):
    return "n/a" if value is None else f"{value:.3f}"


def baseline_datasets(patch_run, manifest, splits, image_size, batch_size, workers=1):
    """{metrics prefix: whole-image dataset of ``splits`` ({prefix: manifest split}) with the
    patch run's own pixel mean, the input its patches were trained on}."""
    return {prefix: data.whole_image_dataset(manifest, split, patch_run.info.pixel_mean,
                                             batch_size, image_size, training=False,
                                             workers=workers)
            for prefix, split in splits.items()}


def find_patch_run(run_info, what="--model"):
    """The patch classifier run a whole-image run was converted from, following transfers
    (run.json ``training_data``: ``patch_run`` or ``finetuned_from``); None when unrecorded."""
    seen = 0
    while run_info is not None and seen < 16:
        training = run_info.info.training_data if hasattr(run_info, "info") else {}
        if training.get("patch_run"):
            return common.load_run(training["patch_run"], what)
        parent = training.get("finetuned_from")
        if not parent:
            return None
        run_info = common.load_run(parent, what)
        seen += 1
    return None


def tta_probabilities(model, dataset):
    """Softmax averaged over the 4 flips (``mammo_tf.inference.tta``) of every image of ``dataset``."""
    forward = functools.partial(predict_padded, model, batch_size=4 * getattr(dataset, "batch_size", 1))
    return np.concatenate([tta_predict(forward, dataset[i][0]) for i in range(len(dataset))])


def evaluate_whole(model, dataset, run, tta=True, n_boot=1000, seed=0, prefix="test", predictions=None):
    """AUC (+95% cluster-bootstrap CI over patients) of the positive class, with and without
    TTA; ROC PNG. ``predictions`` (a dict) receives the labels and probabilities (``model``,
    ``model + TTA``) for :func:`test_split_report`."""
    y, probs = predict_dataset(model, dataset)
    if predictions is not None:
        predictions.update(labels=y, model=probs)
    groups = patient_ids(dataset) if hasattr(dataset, "rows") else None
    out = {f"{prefix}_n": int(len(y)), f"{prefix}_n_positive": int(np.sum(y == 1)),
           f"{prefix}_accuracy": evaluate.accuracy(y, probs.argmax(axis=1))}
    curves = {"model": (y, probs[:, 1])}
    if 0 < np.sum(y == 1) < len(y):
        auc, lo, hi = evaluate.bootstrap_auc_ci(y, probs[:, 1], n_boot=n_boot, seed=seed,
                                                 groups=groups)
        out.update({f"{prefix}_auc": auc, f"{prefix}_auc_ci95": [lo, hi]})
        if tta:
            tta_probs = tta_probabilities(model, dataset)
            if predictions is not None:
                predictions["model + TTA"] = tta_probs
            auc, lo, hi = evaluate.bootstrap_auc_ci(y, tta_probs[:, 1], n_boot=n_boot,
                                                     seed=seed, groups=groups)
            out.update({f"{prefix}_auc_tta": auc, f"{prefix}_auc_tta_ci95": [lo, hi]})
            curves["model + TTA"] = (y, tta_probs[:, 1])
        evaluate.plot_roc(run.roc_png, curves, title=f"whole-image classifier ({prefix})")
    else:
        out[f"{prefix}_auc"] = None  # undefined: one class only
    return out


def test_split_report(model, run, val, test, test_predictions, manifest, tta=True, seed=0, n_boot=1000):
    """The screening report of the test split (``<run>/report/``, ``mammo_tf.screening``): the
    model (and with ``tta`` the model + TTA, compared by DeLong's test), calibrated and
    thresholded on the validation split ``val`` (``None``: neither). Returns its summary for
    metrics.json."""
    names = [n for n in ("model", "model + TTA") if n in test_predictions]
    rows = {n: image_prediction_rows(test.image_ids, test_predictions["labels"], test_predictions[n])
            for n in names}
    val_rows = None
    if val is not None:
        y_val, p_val = predict_dataset(model, val)
        val_probs = {"model": p_val}
        if "model + TTA" in names:
            val_probs["model + TTA"] = tta_probabilities(model, val)
        val_rows = {n: image_prediction_rows(val.image_ids, y_val, val_probs[n]) for n in names}
    return write_run_report(run.path, rows, val_rows, manifest=manifest, n_boot=n_boot, seed=seed)


def evaluate_test_split(model, run, val, test, manifest, tta=True, seed=0):
    """``evaluate_whole`` of the test split and its screening report (``screening_report``,
    :func:`test_split_report`: calibrated and thresholded on ``val``; ``None``: neither), the
    evaluation the whole-image and transfer pipelines share."""
    predictions = {}
    metrics = evaluate_whole(model, test, run, tta=tta, seed=seed, predictions=predictions)
    if predictions:
        metrics["screening_report"] = test_split_report(model, run, val, test, predictions,
                                                        manifest, tta=tta, seed=seed)
    return metrics


def add_patch_baseline(metrics, patch_run, manifest, splits, image_size, config):
    """``metrics["patch_baseline"]``: ``patch_run``'s classifier slid over ``splits`` ({metrics
    prefix: manifest split}) at ``image_size``, and the model compared with it
    (:func:`compare_with_baseline`)."""
    metrics["patch_baseline"] = patch_baseline(
        patch_run.model, patch_run.info.classes,
        baseline_datasets(patch_run, manifest, splits, image_size, config.batch_size,
                          config.workers),
        stride=config.baseline_stride, seed=config.seed)
    return compare_with_baseline(metrics, metrics["patch_baseline"])


class WholePipeline(Pipeline):
    """Section 2.3: a trained patch classifier -> the whole-image classifier, trained in 2
    stages, evaluated on the test split (AUC, with and without TTA), its screening report and
    the patch baseline beside it."""

    name = "whole"
    headline = ("test_auc", "test_auc_ci95", "test_auc_tta", "best_epoch", "beats_patch_baseline")

    def validate(self):
        config = self.config
        check_whole(config)
        stages = whole_stages(config)  # schedule errors before any file is read
        data.check_manifest(config.manifest)
        self.patch_run = common.load_run(config.patch_model, "--patch-model")
        self.backbone = check_patch_model(self.patch_run, config.top)
        return stages

    def pixel_mean(self, ctx):
        config = self.config
        return common.resolve_pixel_mean(
            run=ctx.run, resume=ctx.resumed, given=config.pixel_mean, parent=self.patch_run,
            compute=lambda: data.pixel_mean_of(config.manifest, "train", config.image_size),
            compute_source=f"compute_pixel_mean({config.manifest}, train)")

    def datasets(self, ctx):
        config = self.config
        train = data.whole_image_dataset(config.manifest, "train", ctx.pixel_mean,
                                         config.batch_size, config.image_size, training=True,
                                         seed=config.seed, augment=config.augment,
                                         class_balanced=config.class_balanced,
                                         workers=config.workers)
        val = data.whole_image_dataset(config.manifest, "val", ctx.pixel_mean, config.batch_size,
                                       config.image_size, training=False, workers=config.workers)
        return train, val

    def build_model(self, ctx):
        try:
            model = build_whole_model(self.patch_run.model, self.config, ctx.stages)
        except ValueError as exc:
            raise UsageError(str(exc).splitlines()[0]) from None
        return set_bn_momentum(float32_output(model), self.config.bn_momentum)

    def run_info(self, ctx, model):
        config, patch_run = self.config, self.patch_run
        return dict(
            kind="whole_heatmap" if config.top == "heatmap" else "whole_top",
            classes=list(WHOLE_IMAGE_CLASSES), pixel_mean=ctx.pixel_mean,
            pixel_mean_source=ctx.pixel_mean_source, backbone=self.backbone,
            training_data={"manifest": config.manifest, "patch_run": patch_run.model_path},
            details={"top": config.top, "depths": list(config.depths),
                     "patch_classes": list(patch_run.info.classes),
                     "repetitions": list(config.repetitions),
                     **({"heatmap_pool": config.heatmap_pool,
                         "heatmap_hidden": list(config.heatmap_hidden),
                         "heatmap_shortcut": config.heatmap_shortcut,
                         "heatmap_mode": config.heatmap_mode,
                         "heatmap_stride": config.heatmap_stride,
                         "heatmap_init_baseline": config.heatmap_init_baseline}
                        if config.top == "heatmap" else {})})

    def training_options(self, ctx):
        return dataclasses.replace(common.training_options(self.config),
                                   validate_initial=self.config.validate_initial)

    def evaluate(self, ctx, best):
        config, result, patch_run = self.config, ctx.result, self.patch_run
        test = data.whole_image_dataset(config.manifest, "test", ctx.pixel_mean,
                                        config.batch_size, config.image_size, training=False,
                                        workers=config.workers)
        metrics = {"pipeline": "whole", "backbone": self.backbone, "top": config.top,
                   "image_size": list(config.image_size), "pixel_mean": ctx.pixel_mean,
                   "best_epoch": result.best_epoch, "best_val_auc": result.best_val_auc,
                   "completed_epochs": result.completed_epochs,
                   "initial_val_auc": (result.initial_val or {}).get("auc")}
        metrics.update(evaluate_test_split(best, ctx.run, ctx.val, test, config.manifest,
                                           tta=config.tta, seed=config.seed))
        if config.patch_baseline:
            add_patch_baseline(metrics, patch_run, config.manifest, {"val": "val", "test": "test"},
                               config.image_size, config)
        if config.rf_baseline:
            metrics["heatmap_rf"] = heatmap_rf_baseline(patch_run.model, config, ctx.pixel_mean,
                                                        ctx.run)
        return metrics


def train_whole_image_classifier(config, resume=None, callbacks=()):
    """Run the whole-image pipeline; returns the metrics dict (also in ``metrics.json``)."""
    return run_pipeline(WholePipeline(config), resume, callbacks)


def heatmap_rf_baseline(patch_model, config, pixel_mean, run):
    """The paper's heatmap + random-forest baseline on the same manifest (train -> test)."""
    try:
        result = run_heatmap_rf_from_manifest(patch_model, config.manifest, pixel_mean,
                                              image_size=tuple(config.image_size),
                                              n_estimators=config.rf_trees, seed=config.seed,
                                              batch_size=config.batch_size, out_dir=run.path,
                                              progress=bool(config.verbose))
    except ValueError as exc:
        return {"error": str(exc)}
    result.pop("test_scores", None)
    logger.info("heatmap + random forest: test AUC %.3f (95%% CI %.3f-%.3f)", result["auc"],
                *result["auc_ci95"])
    return result
