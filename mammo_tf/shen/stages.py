# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Staged unfreezing: which layers a stage trains, its L2 and dropout; the papers' schedules
(epochs, learning rates) are data in ``mammo_tf/experiments/*.json``, read here.

Keras 3 difference from the paper's Keras 2.0.8: a BatchNormalization layer with
``trainable=False`` runs in INFERENCE mode (moving statistics, no updates). In Keras 2.0.8 a
frozen BN layer still normalised with batch statistics. So frozen ResNet50 stages here use the
(ImageNet / previous-stage) moving averages, which is the behaviour fine-tuning guides recommend.
Changing ``trainable`` only takes effect after ``model.compile`` is called again: the training
layer (``mammo_tf.training``) recompiles with a fresh optimizer at every stage.
"""
import keras

from mammo_tf.shen.backbones import CUT_LAYER, UNFREEZE_FROM, backbone_of, check_backbone_name
from mammo_tf.training.schedule import Stage, experiment_stages  # noqa: F401  Stage re-exported

HEAD = "head"
ALL = "all"

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


def head_start_layer(model):
    """Name of the first layer after which layers count as "head" (the backbone cut).

    For the heatmap classifier the fixed patch heatmap belongs to the body, so the head starts
    after the ``heatmap`` layer.
    """
    names = [layer.name for layer in model.layers]
    if "heatmap" in names:
        return "heatmap"
    return CUT_LAYER[backbone_of(model)]


def set_trainable(model, trainable_from):
    """Freeze every layer before ``trainable_from``, open it and all later ones.

    ``trainable_from``: "all", "head" (after the backbone cut) or a layer name. Layers are taken
    in ``model.layers`` order, which is topological for functional models. Returns the names of
    the layers left trainable. Recompile afterwards.
    """
    names = [layer.name for layer in model.layers]
    if trainable_from == ALL:
        first = 0
    elif trainable_from == HEAD:
        first = names.index(head_start_layer(model)) + 1
    elif trainable_from in names:
        first = names.index(trainable_from)
    else:
        raise ValueError(
            f"Layer {trainable_from!r} not found in model {model.name!r}; use 'head', 'all' or a "
            "layer name such as " + ", ".join(sorted(set(UNFREEZE_FROM.values()))) + "."
        )
    model.trainable = True
    opened = []
    for index, layer in enumerate(model.layers):
        layer.trainable = index >= first
        if layer.trainable and layer.weights:
            opened.append(layer.name)
    return opened


def added_layer_names(model):
    """Kernel layers mammo_tf added after the backbone (head / top blocks / FC layers)."""
    names = [layer.name for layer in model.layers]
    start = names.index(head_start_layer(model)) + 1
    return [
        layer.name
        for layer in model.layers[start:]
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
    ]


def set_l2(model, l2, layer_names=None):
    """Set the L2 kernel regularizer of ``layer_names`` (default: ``added_layer_names``).

    Reassigns both the layer attribute (saved in its config) and the kernel variable's
    regularizer (what ``model.losses`` reads), so the change is real once the model is
    recompiled — the original code baked the value in at build time and silently ignored it.
    """
    regularizer = keras.regularizers.L2(l2) if l2 else None
    for name in layer_names if layer_names is not None else added_layer_names(model):
        layer = model.get_layer(name)
        layer.kernel_regularizer = regularizer
        layer.kernel.regularizer = regularizer


def set_dropout(model, rate):
    """Set the rate of every dropout layer of the head (effective after recompiling)."""
    changed = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = float(rate)
            changed.append(layer.name)
    return changed


def feature_layer_name(model):
    """The layer feeding global pooling: the last convolutional feature map (for CAMs, export)."""
    names = [layer.name for layer in model.layers]
    if "global_pool" in names:
        node = model.get_layer("global_pool")._inbound_nodes[0]
        return node.input_tensors[0]._keras_history[0].name
    if "heatmap" in names:
        return "heatmap"
    raise ValueError(f"Model {model.name!r} has no 'global_pool' layer to find its feature map.")
