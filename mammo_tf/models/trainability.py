# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Shared model helpers of every method: which layers train, L2, dropout, BatchNormalization
freezing and momentum, float32 outputs under mixed precision, the feature-layer lookup.

Trainability: ``set_trainable(model, trainable_from)`` with ``"head"`` (everything after the
backbone cut: ``mammo_tf.models.backbones.CUT_LAYER``, or after the ``heatmap`` layer of a
heatmap classifier), ``"all"``, or a layer name (that layer and all after it in
``model.layers`` order). Changing ``trainable`` only takes effect after ``model.compile`` is
called again; the training layer recompiles with a fresh optimizer at every stage.

Keras 3 difference from Keras 2.0.8: a BatchNormalization layer with ``trainable=False`` runs
in INFERENCE mode (moving statistics, no updates).
"""
from mammo_tf.backend import require_keras3

require_keras3()
import keras  # noqa: E402

from mammo_tf.models.backbones import CUT_LAYER, UNFREEZE_FROM, backbone_of  # noqa: E402

HEAD = "head"
ALL = "all"


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


def set_l2_every_kernel(model, l2):
    """An L2 kernel regularizer of ``l2`` on every layer with a ``kernel`` (or
    ``depthwise_kernel``): weight decay on all weights, not only on the added layers
    (``set_l2``). Returns the names of the regularised layers. Recompile afterwards."""
    names = []
    for layer in model.layers:
        for attr in ("kernel", "depthwise_kernel"):
            variable = getattr(layer, attr, None)
            if variable is None or not hasattr(variable, "regularizer"):
                continue
            regularizer = keras.regularizers.L2(l2)
            setattr(layer, f"{attr}_regularizer", regularizer)
            variable.regularizer = regularizer
            names.append(layer.name)
    return names


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


def freeze_batchnorm(model, backbone_only=False):
    """Freeze the BatchNormalization layers of ``model`` (Keras 3: a frozen BN layer runs in
    inference mode, moving statistics fixed): every one, or with ``backbone_only`` those up to
    the backbone cut (``head_start_layer``: the BN layers of added top blocks keep training).
    Returns their names. Recompile afterwards."""
    layers = model.layers
    if backbone_only:
        layers = layers[:[layer.name for layer in layers].index(head_start_layer(model)) + 1]
    frozen = []
    for layer in layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            frozen.append(layer.name)
    return frozen


def float32_output(model):
    """Under mixed precision make sure the probabilities come out in float32."""
    if keras.mixed_precision.global_policy().name != "mixed_float16":
        return model
    try:
        ensure_float32_output(model)
        return model
    except ValueError:
        # The builder's softmax ran in float16: cast once at the end (name kept for the API).
        out = keras.layers.Activation("linear", dtype="float32", name="predictions_float32")(
            model.output)
        return keras.Model(model.inputs, out, name=model.name)


def set_bn_momentum(model, momentum):
    """Set the moving-average momentum of every BatchNormalization layer (None: keep).

    Keras' default 0.99 needs hundreds of steps before the moving statistics used at inference
    match the data; short runs (the demo, small datasets) need a lower value such as 0.9.
    """
    if momentum is None:
        return model
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(momentum)
    return model


def ensure_float32_output(model):
    """Raise if a mixed-precision model's output is not float32 (softmax in float16 loses
    precision near 0/1 and breaks the loss)."""
    dtype = keras.backend.standardize_dtype(model.outputs[0].dtype)
    if dtype != "float32":
        raise ValueError(f"model output dtype is {dtype}; the 'predictions' layer must use "
                         "dtype='float32' under mixed precision")
