# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The whole-image pipeline (paper section 2.3): a trained patch classifier -> whole-image
classifier (resnet / vgg / hybrid top, or the heatmap + FC alternative) -> 2-stage training
-> test AUC (with and without 4-flip TTA); optionally the heatmap + random-forest baseline."""
import dataclasses
import functools
import logging

import numpy as np

from mammo_tf.constants import WHOLE_IMAGE_CLASSES
from mammo_tf.runs import load_keras_model
from mammo_tf.training.config import REQUIRED, CommonConfig, option
from mammo_tf.errors import UsageError
from mammo_tf.utils import lazy_module

# Keras-heavy modules load on first use: the command line imports this module for its config
# class, and --help / argument errors must not wait for TensorFlow.
data = lazy_module("mammo_tf.shen.data")
common = lazy_module("mammo_tf.training.common")

TOPS = ("resnet", "vgg", "hybrid", "heatmap")

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class WholeConfig(CommonConfig):
    """Configuration of ``train_whole.py``; defaults are the paper's."""

    patch_model: str = option(REQUIRED, "trained patch classifier (.keras, e.g. "
                              "runs/<patch run>/checkpoints/best.keras)")
    manifest: str = option(REQUIRED, "whole-image manifest CSV with train/val/test splits")
    top: str = option("resnet", "top blocks: resnet ([512-512-1024]x2), vgg (512x1 with "
                      "--repetitions 1 1), hybrid (resnet top on a VGG patch model) or heatmap "
                      "(probabilistic heatmap + FC layers)", choices=TOPS)
    depths: list = option([512, 512], "top-block depths", nargs="+", type=int)
    repetitions: list = option([2, 2], "units (resnet) / conv layers (vgg) per top block",
                               nargs="+", type=int)
    image_size: list = option([1152, 896], "whole-image input size: height width", nargs=2, type=int)
    learning_rates: list | None = option(None, "learning rates of stage 1 (top) and 2 (all) "
                                         "(default: the schedule's, experiments/whole_resnet.json: "
                                         "1e-4 1e-6)", nargs=2, type=float)
    epochs: list | None = option(None, "epochs of stage 1 and 2 (default: the schedule's, 30 20)",
                                 nargs=2, type=int)
    l2: list | None = option(None, "L2 weight decay of stage 1 and 2, applied for real "
                             "(default: the schedule's, 1e-3 1e-2)", nargs=2, type=float)
    dropout: float = option(0.0, "dropout rate before the output layer")
    batch_size: int = option(2, "batch size")
    augment: bool = option(True, "random flips/rotation/shear/zoom/channel shift while training")
    class_balanced: bool = option(True, "per-batch class-balancing sample weights")
    bn_momentum: float | None = option(None, "BatchNormalization moving-average momentum "
                                       "(default: Keras' 0.99; 0.9 suits short runs)")
    tta: bool = option(True, "also report the test AUC with 4-flip test-time augmentation")
    heatmap_pool: int = option(1, "--top heatmap: max-pooling size of the heatmap (default: "
                               "the best row of Tables 2-3, 1x1 with FC 2048-1024)")
    heatmap_hidden: list = option([2048, 1024], "--top heatmap: FC layer sizes", nargs="+",
                                  type=int)
    heatmap_shortcut: bool = option(True, "--top heatmap: shortcut Dense from the pooled heatmap "
                                    "to the output (the paper: 'we also add a shortcut')")
    heatmap_mode: str = option("sliding", "--top heatmap: 'sliding' (the patch classifier on every "
                               "window: the untrained model reproduces the patch baseline) or "
                               "'fcn' (the paper's input-size change; cells see context the "
                               "patches never had)", choices=("sliding", "fcn"))
    heatmap_stride: int = option(32, "--top heatmap --heatmap-mode sliding: window stride in "
                                 "pixels (32: the paper's 30x22 heatmap at 1152x896)")
    heatmap_init_baseline: bool = option(False, "--top heatmap with --heatmap-shortcut: start "
                                         "the shortcut at the patch baseline (max P(malignant)) "
                                         "and the FC path at zero")
    validate_initial: bool = option(True, "validate the converted model before training; it "
                                    "competes for the best checkpoint as epoch 0")
    patch_baseline: bool = option(True, "report the patch baseline (the patch classifier slid "
                                  "over the val/test images, max P(malignant)) beside the model")
    baseline_stride: int | None = option(None, "window stride of the patch baseline in pixels "
                                         "(default: a quarter of the patch size)")
    rf_baseline: bool = option(False, "also run the heatmap + random-forest baseline "
                               "(cutoffs 0.3/0.5/0.7/0.9, 500 trees) on the patch model")
    rf_trees: int = option(500, "random-forest size for --rf-baseline")


# Per-stage flags -> the Stage field each overrides (one value per stage, length-checked).
STAGE_FLAGS = {"learning_rates": "learning_rate", "epochs": "epochs", "l2": "l2"}


def whole_stages(config):
    """The run's 2 stages (top blocks; all layers): the config's ``stages`` (default: the
    ``whole_resnet`` experiment file, the paper's schedule for every top), then the flags."""
    from mammo_tf.shen.stages import whole_image_stages
    from mammo_tf.training.schedule import resolve_stages

    return resolve_stages(config, None if config.stages else whole_image_stages(), STAGE_FLAGS,
                          n_stages=2)


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
    from mammo_tf.shen import build_heatmap_classifier, build_whole_image_classifier

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
    from mammo_tf.shen.sliding import baseline_on_dataset, patch_window_size

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
    from mammo_tf.inference.tta import tta_predict

    from mammo_tf.training.metrics import predict_padded

    forward = functools.partial(predict_padded, model, batch_size=4 * getattr(dataset, "batch_size", 1))
    return np.concatenate([tta_predict(forward, dataset[i][0]) for i in range(len(dataset))])


def evaluate_whole(model, dataset, run, tta=True, n_boot=1000, seed=0, prefix="test", predictions=None):
    """AUC (+95% cluster-bootstrap CI over patients) of the positive class, with and without
    TTA; ROC PNG. ``predictions`` (a dict) receives the labels and probabilities (``model``,
    ``model + TTA``) for :func:`test_split_report`."""
    from mammo_tf import evaluate

    from mammo_tf.training.metrics import predict_dataset

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
    from mammo_tf.screening.runs import image_prediction_rows, write_run_report
    from mammo_tf.training.metrics import predict_dataset

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


def train_whole_image_classifier(config, resume=None, callbacks=()):
    """Run the whole-image pipeline; returns the metrics dict (also in ``metrics.json``)."""
    if config.top not in TOPS:
        raise UsageError(f"unknown top {config.top!r}; choose one of {', '.join(TOPS)}")
    if len(config.depths) != len(config.repetitions):
        raise UsageError(f"--depths {config.depths} and --repetitions {config.repetitions} "
                         "need the same length")
    stages = whole_stages(config)  # schedule errors before any file is read
    data.check_manifest(config.manifest)
    patch_run = common.load_run(config.patch_model, "--patch-model")
    backbone = check_patch_model(patch_run, config.top)
    patch_model = patch_run.model
    run = common.open_run(config, "whole", resume, stages)
    if run.is_finished():
        logger.info("%s: run already finished; nothing to do", run.path)
        return run.read_metrics()
    strategy = common.prepare_environment(config)
    pixel_mean, pixel_mean_source = common.resolve_pixel_mean(
        run=run, resume=resume, given=config.pixel_mean, parent=patch_run,
        compute=lambda: data.pixel_mean_of(config.manifest, "train", config.image_size),
        compute_source=f"compute_pixel_mean({config.manifest}, train)")

    train = data.whole_image_dataset(config.manifest, "train", pixel_mean, config.batch_size,
                                     config.image_size, training=True, seed=config.seed,
                                     augment=config.augment, class_balanced=config.class_balanced,
                                     workers=config.workers)
    val = data.whole_image_dataset(config.manifest, "val", pixel_mean, config.batch_size,
                                   config.image_size, training=False, workers=config.workers)
    model = None
    if not resume:
        with common.scope(strategy):
            try:
                model = common.set_bn_momentum(common.float32_output(
                    build_whole_model(patch_model, config, stages)), config.bn_momentum)
            except ValueError as exc:
                raise UsageError(str(exc).splitlines()[0]) from None
        common.write_run_info(
            run, model, "whole_heatmap" if config.top == "heatmap" else "whole_top",
            classes=list(WHOLE_IMAGE_CLASSES), pixel_mean=pixel_mean,
            pixel_mean_source=pixel_mean_source, backbone=backbone,
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
    from mammo_tf.training.runner import StageRunner

    options = dataclasses.replace(common.training_options(config),
                                  validate_initial=config.validate_initial)
    result = StageRunner(run, stages, train, val, options, strategy, callbacks).train(model)
    from mammo_tf.training.environment import end_processes

    if not end_processes():  # several processes: process 0 evaluates and exports alone
        return None

    best = load_keras_model(run.best_model)
    test = data.whole_image_dataset(config.manifest, "test", pixel_mean, config.batch_size,
                                    config.image_size, training=False, workers=config.workers)
    metrics = {"pipeline": "whole", "backbone": backbone, "top": config.top,
               "image_size": list(config.image_size), "pixel_mean": pixel_mean,
               "best_epoch": result.best_epoch, "best_val_auc": result.best_val_auc,
               "completed_epochs": result.completed_epochs,
               "initial_val_auc": (result.initial_val or {}).get("auc")}
    test_predictions = {}
    metrics.update(evaluate_whole(best, test, run, tta=config.tta, seed=config.seed,
                                  predictions=test_predictions))
    if test_predictions:
        metrics["screening_report"] = test_split_report(best, run, val, test, test_predictions,
                                                        config.manifest, tta=config.tta, seed=config.seed)
    if config.patch_baseline:
        metrics["patch_baseline"] = patch_baseline(
            patch_model, patch_run.info.classes,
            baseline_datasets(patch_run, config.manifest, {"val": "val", "test": "test"},
                              config.image_size, config.batch_size, config.workers),
            stride=config.baseline_stride, seed=config.seed)
        compare_with_baseline(metrics, metrics["patch_baseline"])
    if config.rf_baseline:
        metrics["heatmap_rf"] = heatmap_rf_baseline(patch_model, config, pixel_mean, run)
    if config.export:
        common.export_model(run, run.best_model, pixel_mean)
    run.write_metrics(metrics)
    common.print_report(run, metrics, ("test_auc", "test_auc_ci95", "test_auc_tta", "best_epoch",
                                       "beats_patch_baseline"))
    return metrics


def heatmap_rf_baseline(patch_model, config, pixel_mean, run):
    """The paper's heatmap + random-forest baseline on the same manifest (train -> test)."""
    from mammo_tf.shen.heatmap_rf import run_heatmap_rf_from_manifest

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
