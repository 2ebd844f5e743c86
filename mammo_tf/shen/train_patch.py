# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The patch-classifier pipeline (paper section 2.2): patch HDF5 sets -> 3-stage training of
VGG16 / VGG19 / ResNet50 -> test accuracy on the 5 classes, confusion matrix, ROC curves."""
import dataclasses

import numpy as np

from mammo_tf.constants import PATCH_CLASSES
from mammo_tf.shen import data
from mammo_tf.training import common
from mammo_tf.training.config import REQUIRED, CommonConfig, UsageError, option
from mammo_tf.training.metrics import classification_auc, predict_dataset
from mammo_tf.training.runner import StageRunner

BACKBONES = ("vgg16", "vgg19", "resnet50")


@dataclasses.dataclass
class PatchConfig(CommonConfig):
    """Configuration of ``train_patch.py``; defaults are the paper's."""

    train_h5: list = option(REQUIRED, "training patch HDF5 file(s) (python -m mammo_tf.shen.patches)",
                            nargs="+", type=str)
    val_h5: list = option(REQUIRED, "validation patch HDF5 file(s)", nargs="+", type=str)
    test_h5: list | None = option(None, "test patch HDF5 file(s) (default: report on validation)",
                                  nargs="+", type=str)
    backbone: str = option("resnet50", "patch classifier backbone", choices=BACKBONES)
    weights: str | None = option(None, "initial backbone weights: 'imagenet' or a .h5/.weights.h5 "
                                 "file (default: random init)")
    variant: str = option("s10", "patch-set variant: s10/s30 train 3+10+37 epochs, s1 12+40+148",
                          choices=("s1", "s10", "s30"))
    learning_rates: list | None = option(None, "learning rates of the 3 stages "
                                         "(default 1e-3 1e-4 1e-5)", nargs=3, type=float)
    epochs: list | None = option(None, "epochs of the 3 stages (default from --variant)",
                                 nargs=3, type=int)
    unfreeze_from: str | None = option(None, "first layer trained in stage 2 (default: the paper's "
                                       "boundary, block4_conv1 / conv4_block6_1_conv)")
    batch_size: int = option(32, "batch size")
    l2: float = option(1e-4, "L2 factor of the output layer's kernel (the paper's weight decay)")
    dropout: float = option(0.0, "dropout rate before the output layer")
    augment: bool = option(True, "random flips/rotation/shear/zoom/channel shift while training")
    class_balanced: bool = option(True, "per-batch class-balancing sample weights")
    bn_momentum: float | None = option(None, "BatchNormalization moving-average momentum "
                                       "(default: Keras' 0.99; 0.9 suits short runs)")


def build_stages(config):
    from mammo_tf.shen import patch_stages

    stages = patch_stages(config.backbone, config.variant)
    if config.learning_rates:
        stages = [dataclasses.replace(s, learning_rate=lr) for s, lr in zip(stages, config.learning_rates)]
    if config.epochs:
        stages = [dataclasses.replace(s, epochs=e) for s, e in zip(stages, config.epochs)]
    if config.unfreeze_from:
        stages[1] = dataclasses.replace(stages[1], trainable_from=config.unfreeze_from)
    return stages


def validate(config):
    if config.backbone not in BACKBONES:
        raise UsageError(f"unknown backbone {config.backbone!r}; choose one of {', '.join(BACKBONES)}")
    for path in list(config.train_h5) + list(config.val_h5) + list(config.test_h5 or []):
        data.patch_input_size(path)


def evaluate_patches(model, dataset, run, class_names=PATCH_CLASSES):
    """Accuracy, one-vs-rest AUCs, confusion matrix (+PNG) and per-class ROC PNG."""
    from mammo_tf import evaluate

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

    validate(config)
    stages = build_stages(config)
    run = common.open_run(config, "patch", resume, stages)
    if run.is_finished():
        print(f"{run.path}: run already finished; nothing to do")
        return run.read_metrics()
    strategy = common.prepare_environment(config)

    if resume:
        pixel_mean = run.read_pixel_mean()
    else:
        pixel_mean = config.pixel_mean
        source = "--pixel-mean"
        if pixel_mean is None:
            pixel_mean = float(np.mean([data.pixel_mean_of(p) for p in config.train_h5]))
            source = f"compute_pixel_mean({', '.join(config.train_h5)})"
        run.write_pixel_mean(pixel_mean, source)

    train = data.patch_dataset(config.train_h5, pixel_mean, config.batch_size, training=True,
                               seed=config.seed, augment=config.augment,
                               class_balanced=config.class_balanced, workers=config.workers)
    val = data.patch_dataset(config.val_h5, pixel_mean, config.batch_size, training=False,
                             workers=config.workers)
    model = None
    if not resume:
        height, width = data.patch_input_size(config.train_h5[0])
        with common.scope(strategy):
            try:
                model = build_patch_classifier(config.backbone, num_classes=len(PATCH_CLASSES),
                                               weights=config.weights, input_shape=(height, width, 3),
                                               dropout=config.dropout, l2=config.l2)
            except (ValueError, OSError, RuntimeError) as exc:
                raise UsageError(str(exc).splitlines()[0]) from None
            model = common.set_bn_momentum(common.float32_output(model), config.bn_momentum)
    result = StageRunner(run, stages, train, val, common.training_options(config), strategy,
                         callbacks).train(model)

    best = common.load_model_file(run.best_model, "best checkpoint")
    test = data.patch_dataset(config.test_h5 or config.val_h5, pixel_mean, config.batch_size,
                              training=False, workers=config.workers)
    metrics = {"pipeline": "patch", "backbone": config.backbone,
               "evaluated_on": "test" if config.test_h5 else "val",
               "pixel_mean": pixel_mean, "best_epoch": result.best_epoch,
               "best_val_auc": result.best_val_auc, "completed_epochs": result.completed_epochs}
    metrics.update({f"test_{k}": v for k, v in evaluate_patches(best, test, run).items()})
    if config.export:
        common.export_model(run, run.best_model, pixel_mean)
    run.write_metrics(metrics)
    print(metrics["test_confusion_matrix_text"])
    common.print_report(run, metrics, ("test_accuracy", "test_auc_ovr_macro", "best_epoch"))
    return metrics

