# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Staged unfreezing: the papers' schedules (epochs, learning rates) are data in
``mammo_tf/experiments/*.json``, read here. Which layers a stage trains, its L2 and dropout are
set by the shared helpers of ``mammo_tf.models.trainability`` (re-exported here).

Keras 3 difference from the paper's Keras 2.0.8: a BatchNormalization layer with
``trainable=False`` runs in INFERENCE mode (moving statistics, no updates). In Keras 2.0.8 a
frozen BN layer still normalised with batch statistics. So frozen ResNet50 stages here use the
(ImageNet / previous-stage) moving averages, which is the behaviour fine-tuning guides recommend.
Changing ``trainable`` only takes effect after ``model.compile`` is called again: the training
layer (``mammo_tf.training``) recompiles with a fresh optimizer at every stage.
"""
from mammo_tf.models.backbones import check_backbone_name
from mammo_tf.models.trainability import (  # noqa: F401  (re-exported: the shen API)
    ALL,
    HEAD,
    added_layer_names,
    feature_layer_name,
    head_start_layer,
    set_dropout,
    set_l2,
    set_trainable,
)
from mammo_tf.training.schedule import Stage, experiment_stages  # noqa: F401  Stage re-exported

PATCH_VARIANTS = ("s10", "s30", "s1")


def patch_stages(backbone, variant="s10", pretrained=True):
    """The paper's patch schedule for ``backbone`` on patch set ``variant``.

    Pretrained (ImageNet or given weights): the 3 stages of
    ``mammo_tf/experiments/patch_<variant>_<backbone>.json``: head (lr 1e-3, 3 ep) -> from the
    boundary (1e-4, 10) -> all layers (1e-5, 37); s1 trains 12 / 40 / 148 epochs.
    Random init (``pretrained=False``): ``patch_<variant>_random.json``, one stage training all
    layers at 1e-3 ("For randomly initialized networks, we use a learning rate of 1e-3") for the
    same total, 50 epochs (s1: 200): freezing a random backbone would train a head on noise."""
    backbone = check_backbone_name(backbone)
    if variant not in PATCH_VARIANTS:
        raise ValueError(f"Unknown patch-set variant {variant!r}; valid: {', '.join(PATCH_VARIANTS)}.")
    return experiment_stages(f"patch_{variant}_{backbone}" if pretrained else f"patch_{variant}_random")


def whole_image_stages():
    """Whole-image training (``whole_resnet.json``; the same for every top): stage 1 the new
    top blocks + head, stage 2 everything."""
    return experiment_stages("whole_resnet")


def transfer_stages():
    """INbreast transfer (``transfer_inbreast.json``): all layers, lr 1e-6, L2 0.01, up to 200
    epochs with early stopping."""
    return experiment_stages("transfer_inbreast")


def __getattr__(name):
    # The old constants, now read from the experiment files on first use.
    if name == "WHOLE_IMAGE_STAGES":
        return tuple(whole_image_stages())
    if name == "TRANSFER_STAGES":
        return tuple(transfer_stages())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
