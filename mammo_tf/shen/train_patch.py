# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The patch-classifier pipeline (paper section 2.2): patch HDF5 sets -> 3-stage training of
VGG16 / VGG19 / ResNet50 (also MobileNet, DeepMiner's ResNet152, the NYU heatmap DenseNet-121)
-> test accuracy on the files' classes (Shen's 5, or DeepMiner's 3 of a sliding set),
confusion matrix, ROC curves."""
import dataclasses
import logging

import numpy as np

from mammo_tf import evaluate
from mammo_tf.constants import PATCH_CLASSES
from mammo_tf.errors import UsageError
from mammo_tf.models.trainability import float32_output, set_bn_momentum, set_l2_every_kernel
from mammo_tf.shen import UNFREEZE_FROM, build_patch_classifier, data, patch_stages
from mammo_tf.shen.config import DEEPMINER_STAGE, PATCH_STAGE_FLAGS, check_patch
from mammo_tf.training import common
from mammo_tf.training.metrics import classification_auc, predict_dataset
from mammo_tf.training.pipeline import Pipeline, run_pipeline
from mammo_tf.training.runner import Monitor
from mammo_tf.training.schedule import resolve_stages, stages_from_records

logger = logging.getLogger(__name__)


def build_stages(config):
    """The run's stages: the config's ``stages`` (default: ``patch_stages``: the 3-stage
    ``patch_<variant>_<backbone>`` file with pretrained ``--weights``, the one-stage
    ``patch_<variant>_random`` file with random init), then ``--learning-rates`` /
    ``--epochs`` (one value per stage) / ``--unfreeze-from`` (3-stage schedules)."""
    pretrained = bool(config.weights)
    frozen = pretrained if config.schedule == "auto" else config.schedule == "pretrained"
    if config.stages:
        default = None
    elif config.backbone == "resnet152" and frozen:
        default = stages_from_records([DEEPMINER_STAGE], "DeepMiner's schedule")
    elif config.backbone == "densenet121" and frozen:
        # The NYU paper gives no patch schedule: Shen's 3 stages, stage 2 from pool4_bn.
        default = patch_stages("resnet50", config.variant, pretrained=True)
        default[1] = dataclasses.replace(default[1], trainable_from=UNFREEZE_FROM["densenet121"])
    else:
        default = patch_stages(config.backbone, config.variant, pretrained=frozen)
    stages = resolve_stages(config, default, PATCH_STAGE_FLAGS)
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
    check_patch(config)
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


class PatchPipeline(Pipeline):
    """Section 2.2: patch HDF5 sets -> the patch classifier, trained in stages, evaluated on
    the test patches (validation without ``--test-h5``)."""

    name = "patch"
    headline = ("test_accuracy", "test_auc_ovr_macro", "best_epoch")

    def validate(self):
        self.stages = validate(self.config)
        config = self.config
        self.class_names = patch_class_names(list(config.train_h5) + list(config.val_h5)
                                             + list(config.test_h5 or []))
        return self.stages

    def pixel_mean(self, ctx):
        compute, source = pixel_mean_source_of(self.config)
        return common.resolve_pixel_mean(run=ctx.run, resume=ctx.resumed,
                                         given=self.config.pixel_mean, compute=compute,
                                         compute_source=source)

    def datasets(self, ctx):
        config = self.config
        train = data.patch_dataset(config.train_h5, ctx.pixel_mean, config.batch_size,
                                   training=True, seed=config.seed, augment=config.augment,
                                   class_balanced=config.class_balanced, workers=config.workers)
        val = data.patch_dataset(config.val_h5, ctx.pixel_mean, config.batch_size,
                                 training=False, workers=config.workers)
        return train, val

    def build_model(self, ctx):
        config = self.config
        height, width = data.patch_input_size(config.train_h5[0])
        try:
            model = build_patch_classifier(config.backbone, num_classes=len(self.class_names),
                                           weights=config.weights, input_shape=(height, width, 3),
                                           dropout=config.dropout, l2=config.l2)
        except (ValueError, OSError, RuntimeError) as exc:
            raise UsageError(str(exc).splitlines()[0]) from None
        if getattr(config, "weight_decay", None):
            # PyTorch's weight decay wd adds wd * w to the gradient: Keras' L2(wd / 2) does
            set_l2_every_kernel(model, config.weight_decay / 2)
        return set_bn_momentum(float32_output(model), config.bn_momentum)

    def run_info(self, ctx, model):
        config = self.config
        return dict(kind="patch", classes=self.class_names, pixel_mean=ctx.pixel_mean,
                    pixel_mean_source=ctx.pixel_mean_source, backbone=config.backbone,
                    training_data={"train": list(config.train_h5), "val": list(config.val_h5),
                                   "test": list(config.test_h5 or [])},
                    details={"variant": config.variant, "weights": config.weights,
                             "pixel_spacing_mm": config.pixel_spacing
                             or patch_pixel_spacing(config.train_h5)})

    def training_options(self, ctx):
        return training_options(self.config)

    def evaluate(self, ctx, best):
        config, result = self.config, ctx.result
        test = data.patch_dataset(config.test_h5 or config.val_h5, ctx.pixel_mean,
                                  config.batch_size, training=False, workers=config.workers)
        metrics = {"pipeline": "patch", "backbone": config.backbone,
                   "evaluated_on": "test" if config.test_h5 else "val",
                   "pixel_mean": ctx.pixel_mean, "best_epoch": result.best_epoch,
                   "monitor": config.monitor, f"best_val_{config.monitor}": result.best_value,
                   "completed_epochs": result.completed_epochs}
        metrics.update({f"test_{k}": v for k, v in
                        evaluate_patches(best, test, ctx.run, self.class_names).items()})
        return metrics

    def report(self, ctx, metrics):
        logger.info("%s", metrics["test_confusion_matrix_text"])
        super().report(ctx, metrics)


def train_patch_classifier(config, resume=None, callbacks=()):
    """Run the whole patch pipeline; returns the metrics dict (also in ``metrics.json``)."""
    return run_pipeline(PatchPipeline(config), resume, callbacks)
