# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The patch-classifier pipeline (paper section 2.2): patch HDF5 sets -> 3-stage training of
VGG16 / VGG19 / ResNet50 (also MobileNet, DeepMiner's ResNet152, the NYU heatmap DenseNet-121)
-> test accuracy on the files' classes (Shen's 5, or DeepMiner's 3 of a sliding set),
confusion matrix, ROC curves."""
import dataclasses
import logging

import numpy as np

from mammo_tf.constants import PATCH_BACKBONES, PATCH_CLASSES
from mammo_tf.runs import load_keras_model
from mammo_tf.training.config import REQUIRED, CommonConfig, option
from mammo_tf.errors import UsageError
from mammo_tf.utils import lazy_module

# Keras-heavy modules load on first use: the command line imports this module for its config
# class, and --help / argument errors must not wait for TensorFlow.
data = lazy_module("mammo_tf.shen.data")
common = lazy_module("mammo_tf.training.common")

# Shen's backbones and DeepMiner's ResNet-152 (mammo_tf.constants.PATCH_BACKBONES).
BACKBONES = PATCH_BACKBONES

# DeepMiner, section 2.1, for --backbone resnet152 with pretrained --weights: "fine-tuned all
# network weights ... The network was trained for 5 epochs ... a batch size of 32 ... a learning
# rate of 0.0001 ... momentum and weight decay ... 0.9 and 0.0001" (SGD: --optimizer sgd).
DEEPMINER_STAGE = {"name": "all_layers", "trainable_from": "all", "learning_rate": 1e-4, "epochs": 5}

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class PatchConfig(CommonConfig):
    """Configuration of ``train_patch.py``; defaults are the paper's."""

    train_h5: list = option(REQUIRED, "training patch HDF5 file(s) (python -m mammo_tf.shen.patches)",
                            nargs="+", type=str)
    val_h5: list = option(REQUIRED, "validation patch HDF5 file(s)", nargs="+", type=str)
    test_h5: list | None = option(None, "test patch HDF5 file(s) (default: report on validation)",
                                  nargs="+", type=str)
    backbone: str = option("resnet50", "patch classifier backbone (resnet152: DeepMiner's; with "
                           "--weights its default schedule is the paper's one stage, all layers "
                           "at 1e-4 for 5 epochs; add --optimizer sgd for its SGD)",
                           choices=BACKBONES)
    classes: int | None = option(None, "number of classes the patch files must hold: 5 (Shen's "
                                 "sets) or 3 (DeepMiner's normal/benign/malignant, a --set "
                                 "sliding set); default: whatever the files record")
    weights: str | None = option(None, "initial backbone weights: 'imagenet' or a .h5/.weights.h5 "
                                 "file (default: random init, which trains all layers at 1e-3 "
                                 "as the paper does for randomly initialized networks)")
    variant: str = option("s10", "patch-set variant; picks the default schedule when the config "
                          "has no 'stages': with --weights, "
                          "experiments/patch_<variant>_<backbone>.json (s10/s30: 3+10+37 epochs, "
                          "s1: 12+40+148); with random init, experiments/patch_<variant>_random"
                          ".json (one all-layer stage at 1e-3: 50 epochs, s1: 200)",
                          choices=("s1", "s10", "s30"))
    schedule: str = option("auto", "default schedule when the config has no 'stages': auto (by "
                           "--weights: pretrained with weights, random without), pretrained "
                           "(the 3-stage frozen schedule, also for random weights) or random "
                           "(one all-layer stage at 1e-3)", choices=("auto", "pretrained", "random"))
    learning_rates: list | None = option(None, "learning rates, one per stage of the schedule "
                                         "(default: the schedule's, 1e-3 1e-4 1e-5 pretrained, "
                                         "1e-3 random init)", nargs="+", type=float)
    epochs: list | None = option(None, "epochs, one per stage of the schedule (default: the "
                                 "schedule's)", nargs="+", type=int)
    unfreeze_from: str | None = option(None, "first layer trained in stage 2 of a 3-stage schedule "
                                       "(default: the paper's boundary, block4_conv1 / "
                                       "conv4_block6_1_conv)")
    monitor: str = option("accuracy", "validation metric of the best checkpoint: accuracy (the "
                          "paper's 'epoch when the best validation accuracy has been reached') "
                          "or auc (one-vs-rest macro AUC)", choices=("accuracy", "auc"))
    pixel_mean_manifest: str | None = option(
        None, "whole-image manifest CSV: compute the pixel mean over its train-split mammograms "
        "at --pixel-mean-image-size (the paper's 'pixel-wise mean for the mammograms on the "
        "train set'); default: the mean of the training patch files (no manifest needed)")
    pixel_mean_image_size: list = option([1152, 896], "image size (height width) the "
                                         "--pixel-mean-manifest mammograms are resized to",
                                         nargs=2, type=int)
    pixel_spacing: float | None = option(
        None, "pixel spacing (mm) of the images the patches were cut from (e.g. about 0.18 for "
        "DDSM resized to 1152x896), recorded in run.json so that heatmap runs can check their "
        "scale (default: the training patch file's 'pixel_spacing_mm' attribute, if any)")
    batch_size: int = option(32, "batch size")
    l2: float = option(1e-4, "L2 factor of the output layer's kernel (the paper's weight decay)")
    dropout: float = option(0.0, "dropout rate before the output layer")
    augment: bool = option(True, "random flips/rotation/shear/zoom/channel shift while training")
    class_balanced: bool = option(True, "per-batch class-balancing sample weights")
    bn_momentum: float | None = option(None, "BatchNormalization moving-average momentum "
                                       "(default: Keras' 0.99; 0.9 suits short runs)")


# Per-stage flags -> the Stage field each overrides (one value per stage, length-checked).
STAGE_FLAGS = {"learning_rates": "learning_rate", "epochs": "epochs"}


def build_stages(config):
    """The run's stages: the config's ``stages`` (default: ``patch_stages``: the 3-stage
    ``patch_<variant>_<backbone>`` file with pretrained ``--weights``, the one-stage
    ``patch_<variant>_random`` file with random init), then ``--learning-rates`` /
    ``--epochs`` (one value per stage) / ``--unfreeze-from`` (3-stage schedules)."""
    from mammo_tf.shen import UNFREEZE_FROM, patch_stages
    from mammo_tf.training.schedule import resolve_stages

    pretrained = bool(config.weights)
    frozen = pretrained if config.schedule == "auto" else config.schedule == "pretrained"
    if config.stages:
        default = None
    elif config.backbone == "resnet152" and frozen:
        from mammo_tf.training.schedule import stages_from_records

        default = stages_from_records([DEEPMINER_STAGE], "DeepMiner's schedule")
    elif config.backbone == "densenet121" and frozen:
        # The NYU paper gives no patch schedule: Shen's 3 stages, stage 2 from pool4_bn.
        default = patch_stages("resnet50", config.variant, pretrained=True)
        default[1] = dataclasses.replace(default[1], trainable_from=UNFREEZE_FROM["densenet121"])
    else:
        default = patch_stages(config.backbone, config.variant, pretrained=frozen)
    stages = resolve_stages(config, default, STAGE_FLAGS)
    if len(stages) not in (1, 3):
        raise UsageError(f"stages has {len(stages)} stage(s) but this pipeline needs 3 "
                         "(pretrained: head, top layers, all layers) or 1 (random init: all "
                         f"layers): {', '.join(s.name for s in stages)}")
    if config.unfreeze_from:
        if len(stages) != 3:
            raise UsageError(f"--unfreeze-from {config.unfreeze_from}: the schedule has "
                             f"{len(stages)} stage(s) (random init trains all layers from the "
                             "start); it sets stage 2 of a 3-stage schedule")
        stages[1] = dataclasses.replace(stages[1], trainable_from=config.unfreeze_from)
    if not pretrained and any(s.trainable_from != "all" for s in stages):
        logger.warning("random initial weights with a schedule that freezes layers (%s): the "
                       "frozen layers keep their random weights; the paper trains randomly "
                       "initialized networks on all layers at 1e-3 (patch_<variant>_random)",
                       ", ".join(f"{s.name}: from {s.trainable_from}" for s in stages
                                 if s.trainable_from != "all"))
    # A schedule written for another backbone would fail on a missing layer after the model
    # is built; say which file/flag to change instead.
    foreign = {name: b for b, name in UNFREEZE_FROM.items() if name != UNFREEZE_FROM[config.backbone]}
    for stage in stages:
        if stage.trainable_from in foreign:
            raise UsageError(f"stage '{stage.name}' trains from {stage.trainable_from}, a "
                             f"{foreign[stage.trainable_from]} layer, but --backbone is "
                             f"{config.backbone}: use a patch_*_{config.backbone} config or "
                             "--unfreeze-from")
    return stages


def training_options(config):
    """The runner's options; the best checkpoint is chosen on ``config.monitor`` (default the
    validation accuracy, as in the paper's Table 1)."""
    from mammo_tf.training.runner import Monitor

    return dataclasses.replace(common.training_options(config),
                               monitor=Monitor(config.monitor, "max"))


def patch_class_names(paths):
    """``mammo_tf.io.patch_file.patch_class_names``."""
    from mammo_tf.io.patch_file import patch_class_names as names_of

    return names_of(paths)


def patch_pixel_spacing(paths):
    """``mammo_tf.io.patch_file.patch_pixel_spacing``."""
    from mammo_tf.io.patch_file import patch_pixel_spacing as spacing_of

    return spacing_of(paths)


def pixel_mean_source_of(config):
    """(compute(), description) of the pixel mean a new run computes when --pixel-mean is not
    given: the train-split mammograms of ``--pixel-mean-manifest`` (the paper's), else the
    union of the training patch files (the patch pipeline needs no manifest)."""
    if config.pixel_mean_manifest:
        size = tuple(config.pixel_mean_image_size)
        return (lambda: data.pixel_mean_of(config.pixel_mean_manifest, "train", size),
                f"compute_pixel_mean({config.pixel_mean_manifest}, split='train', image_size={size})")
    return (lambda: data.pixel_mean_of(config.train_h5),
            f"compute_pixel_mean({', '.join(config.train_h5)})")


def validate(config):
    """UsageError for a bad backbone, schedule or patch file; returns the run's stages."""
    if config.backbone not in BACKBONES:
        raise UsageError(f"unknown backbone {config.backbone!r}; choose one of {', '.join(BACKBONES)}")
    stages = build_stages(config)  # schedule errors before any file is read
    paths = list(config.train_h5) + list(config.val_h5) + list(config.test_h5 or [])
    for path in paths:
        data.patch_input_size(path)
    names = patch_class_names(paths)
    if config.classes is not None and config.classes != len(names):
        raise UsageError(f"--classes {config.classes}: the patch files hold {len(names)} classes "
                         f"({', '.join(names)}); DeepMiner's 3 classes come from a sliding-window "
                         "set (python -m mammo_tf.shen.patches --set sliding), Shen's 5 from "
                         "--set s1/s10/s30")
    if config.pixel_mean_manifest:
        data.check_manifest(config.pixel_mean_manifest, splits=("train",))
    return stages


def evaluate_patches(model, dataset, run, class_names=PATCH_CLASSES):
    """Accuracy, one-vs-rest AUCs, confusion matrix (+PNG) and per-class ROC PNG."""
    from mammo_tf import evaluate

    from mammo_tf.training.metrics import classification_auc, predict_dataset

    y, probs = predict_dataset(model, dataset)
    names = list(class_names)[: probs.shape[1]]
    report = evaluate.confusion_matrix_report(y, probs.argmax(axis=1), names,
                                              png_path=run.file("confusion_matrix.png"))
    curves = {f"{name} vs rest": (y == c, probs[:, c]) for c, name in enumerate(names)
              if 0 < np.sum(y == c) < len(y)}
    per_class_auc = evaluate.plot_roc(run.roc_png, curves, title="patch classifier, one vs rest") \
        if curves else {}
    return {"n": int(len(y)), "accuracy": report["accuracy"],
            "auc_ovr_macro": classification_auc(y, probs),
            "auc_per_class": per_class_auc, "confusion_matrix": report["matrix"],
            "confusion_matrix_text": report["text"], "class_names": names}


def train_patch_classifier(config, resume=None, callbacks=()):
    """Run the whole patch pipeline; returns the metrics dict (also in ``metrics.json``)."""
    from mammo_tf.shen import build_patch_classifier

    stages = validate(config)
    run = common.open_run(config, "patch", resume, stages)
    if run.is_finished():
        logger.info("%s: run already finished; nothing to do", run.path)
        return run.read_metrics()
    strategy = common.prepare_environment(config)

    compute, source = pixel_mean_source_of(config)
    pixel_mean, pixel_mean_source = common.resolve_pixel_mean(
        run=run, resume=resume, given=config.pixel_mean, compute=compute, compute_source=source)

    train = data.patch_dataset(config.train_h5, pixel_mean, config.batch_size, training=True,
                               seed=config.seed, augment=config.augment,
                               class_balanced=config.class_balanced, workers=config.workers)
    val = data.patch_dataset(config.val_h5, pixel_mean, config.batch_size, training=False,
                             workers=config.workers)
    model = None
    class_names = patch_class_names(list(config.train_h5) + list(config.val_h5)
                                    + list(config.test_h5 or []))
    if not resume:
        height, width = data.patch_input_size(config.train_h5[0])
        with common.scope(strategy):
            try:
                model = build_patch_classifier(config.backbone, num_classes=len(class_names),
                                               weights=config.weights, input_shape=(height, width, 3),
                                               dropout=config.dropout, l2=config.l2)
            except (ValueError, OSError, RuntimeError) as exc:
                raise UsageError(str(exc).splitlines()[0]) from None
            model = common.set_bn_momentum(common.float32_output(model), config.bn_momentum)
        common.write_run_info(
            run, model, "patch", classes=class_names, pixel_mean=pixel_mean,
            pixel_mean_source=pixel_mean_source, backbone=config.backbone,
            training_data={"train": list(config.train_h5), "val": list(config.val_h5),
                           "test": list(config.test_h5 or [])},
            details={"variant": config.variant, "weights": config.weights,
                     "pixel_spacing_mm": config.pixel_spacing or patch_pixel_spacing(config.train_h5)})
    from mammo_tf.training.runner import StageRunner

    result = StageRunner(run, stages, train, val, training_options(config), strategy,
                         callbacks).train(model)
    from mammo_tf.training.environment import end_processes

    if not end_processes():  # several processes: process 0 evaluates and exports alone
        return None

    best = load_keras_model(run.best_model)
    test = data.patch_dataset(config.test_h5 or config.val_h5, pixel_mean, config.batch_size,
                              training=False, workers=config.workers)
    metrics = {"pipeline": "patch", "backbone": config.backbone,
               "evaluated_on": "test" if config.test_h5 else "val",
               "pixel_mean": pixel_mean, "best_epoch": result.best_epoch, "monitor": config.monitor,
               f"best_val_{config.monitor}": result.best_value,
               "completed_epochs": result.completed_epochs}
    metrics.update({f"test_{k}": v for k, v in evaluate_patches(best, test, run, class_names).items()})
    if config.export:
        common.export_model(run, run.best_model, pixel_mean)
    run.write_metrics(metrics)
    logger.info("%s", metrics["test_confusion_matrix_text"])
    common.print_report(run, metrics, ("test_accuracy", "test_auc_ovr_macro", "best_epoch"))
    return metrics

