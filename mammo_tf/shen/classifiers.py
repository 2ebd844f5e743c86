# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Patch and whole-image classifiers of Shen's all-convolutional design.

Layer names are part of the API: the backbone keeps keras.applications' names
(``block4_conv1``, ``conv4_block6_1_conv``...), the head is ``global_pool`` ->
``head_dropout`` -> ``predictions``, and the whole-image top blocks are ``top1_*``, ``top2_*``.
"""
import keras

from mammo_tf.models.backbones import (
    CUT_LAYER,
    backbone_of,
    build_backbone,
    check_backbone_name,
    check_input_shape,
)
from mammo_tf.models.layers import AdjustableDropout

TOPS = ("resnet", "vgg")


def _regularizer(l2):
    return keras.regularizers.L2(l2) if l2 else None


def _classification_head(x, num_classes, dropout, l2):
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = AdjustableDropout(dropout, name="head_dropout")(x)
    # float32 even under a mixed-precision policy: probabilities and the loss stay stable.
    return keras.layers.Dense(
        num_classes,
        activation="softmax",
        kernel_regularizer=_regularizer(l2),
        dtype="float32",
        name="predictions",
    )(x)


def build_patch_classifier(
    backbone, num_classes=5, weights=None, input_shape=(224, 224, 3), dropout=0.0, l2=0.0
):
    """Patch classifier: keras.applications backbone (no top) -> GAP -> dropout -> softmax Dense.

    Args:
      backbone: "vgg16", "vgg19" or "resnet50".
      num_classes: 5 for the paper's patch classes (`mammo_tf.constants.PATCH_CLASSES`).
      weights: None (random), "imagenet" (cached or downloaded; a clear error offline) or the
        path of a legacy `.h5` / `.weights.h5` file of backbone weights without the top.
      input_shape: (height, width, 3); height/width may be None.
      dropout: rate of `head_dropout` (changeable later with `set_dropout`).
      l2: L2 factor of the Dense kernel regularizer (the paper's "weight decay").

    The backbone's layers are flattened into the model, so `model.get_layer("block4_conv1")`
    works. Inputs are 0-255 grey-as-RGB minus the training pixel mean (`mammo_tf.preprocess`).
    """
    backbone = check_backbone_name(backbone)
    check_input_shape(input_shape)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    base = build_backbone(backbone, inputs, weights=weights)
    outputs = _classification_head(base.output, num_classes, dropout, l2)
    return keras.Model(inputs, outputs, name=f"{backbone}_patch_classifier")


def _check_patch_classifier(patch_model):
    backbone = backbone_of(patch_model)
    names = {layer.name for layer in patch_model.layers}
    if any(name.startswith("top1_") for name in names) or "heatmap" in names:
        raise ValueError(
            f"Model {patch_model.name!r} is already a whole-image classifier; pass the patch classifier."
        )
    if "predictions" not in names or "global_pool" not in names:
        raise ValueError(
            f"Model {patch_model.name!r} is not a mammo_tf patch classifier (no 'global_pool' / "
            "'predictions' layers); build it with build_patch_classifier()."
        )
    return backbone


def _rebuild_backbone(patch_model, input_shape):
    """The patch model's backbone rebuilt at ``input_shape``, all weights carried over."""
    backbone = _check_patch_classifier(patch_model)
    check_input_shape(input_shape)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    base = build_backbone(backbone, inputs, weights=None)
    for layer in base.layers:
        if layer.weights:
            layer.set_weights(patch_model.get_layer(layer.name).get_weights())
    return backbone, inputs, base.get_layer(CUT_LAYER[backbone]).output


def _conv_bn(x, filters, kernel_size, strides, l2, name, relu=True):
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        kernel_initializer="he_normal",
        kernel_regularizer=_regularizer(l2),
        name=f"{name}_conv",
    )(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    if relu:
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def _bottleneck_unit(x, depth, strides, project, l2, name):
    """1x1 d -> 3x3 d -> 1x1 2d, BN after each conv, identity or projection shortcut."""
    shortcut = x
    if project:
        shortcut = _conv_bn(x, 2 * depth, 1, strides, l2, f"{name}_proj", relu=False)
    y = _conv_bn(x, depth, 1, strides, l2, f"{name}_1")
    y = _conv_bn(y, depth, 3, 1, l2, f"{name}_2")
    y = _conv_bn(y, 2 * depth, 1, 1, l2, f"{name}_3", relu=False)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def _resnet_top_block(x, depth, units, l2, name):
    """"[d-d-2d] x units": the first unit has stride 2 and a projection shortcut."""
    for unit in range(1, units + 1):
        x = _bottleneck_unit(x, depth, 2 if unit == 1 else 1, unit == 1, l2, f"{name}_unit{unit}")
    return x


def _vgg_top_block(x, depth, repetitions, l2, name):
    """"d x repetitions": 3x3 conv-BN-ReLU layers, then 2x2 max pooling."""
    for rep in range(1, repetitions + 1):
        x = _conv_bn(x, depth, 3, 1, l2, f"{name}_{rep}")
    return keras.layers.MaxPooling2D(2, name=f"{name}_pool")(x)


def build_whole_image_classifier(
    patch_model,
    top="resnet",
    depths=(512, 512),
    repetitions=(2, 2),
    num_classes=2,
    input_shape=(1152, 896, 3),
    dropout=0.0,
    l2=0.0,
):
    """Whole-image classifier: the patch classifier cut at its last conv output, + 2 top blocks.

    The backbone is rebuilt at ``input_shape`` (use (None, None, 3) to serve any size) with all
    weights of ``patch_model`` carried over; the patch head is dropped. Top blocks:

    - ``top="resnet"``: bottleneck residual blocks "[512-512-1024] x 2" (``depths`` d per block,
      ``repetitions`` units per block; first unit stride 2 + projection shortcut).
    - ``top="vgg"``: ``repetitions`` 3x3 conv-BN-ReLU layers then 2x2 max pooling ("512 x 1" is
      ``repetitions=(1, 1)``).

    Then global average pooling, dropout and a softmax Dense (classes [negative, positive]). At
    1152x896 the cut gives 36x28 and the top blocks 9x7. A VGG patch model with the resnet top
    is the paper's "hybrid". ``l2`` regularises the top-block and Dense kernels.
    """
    if top not in TOPS:
        raise ValueError(f"Unknown top {top!r}; valid tops are: {', '.join(TOPS)}.")
    if len(depths) != len(repetitions):
        raise ValueError(f"depths {depths} and repetitions {repetitions} must have the same length.")
    backbone, inputs, x = _rebuild_backbone(patch_model, input_shape)
    for block, (depth, reps) in enumerate(zip(depths, repetitions), start=1):
        if top == "resnet":
            x = _resnet_top_block(x, depth, reps, l2, f"top{block}")
        else:
            x = _vgg_top_block(x, depth, reps, l2, f"top{block}")
    outputs = _classification_head(x, num_classes, dropout, l2)
    return keras.Model(inputs, outputs, name=f"{backbone}_{top}_top_whole_image_classifier")


HEATMAP_MODES = ("sliding", "fcn")


def _patch_heatmap_sliding(patch_model, input_shape, stride):
    """The patch classifier applied to every window of the image (exactly the patch baseline):
    image -> ``windows`` -> the patch backbone -> ``patch_pool`` -> ``heatmap`` (the patch
    softmax Dense) -> ``heatmap_grid`` (B, rows, cols, classes)."""
    from mammo_tf.models.layers import SlidingWindows, WindowGrid
    from mammo_tf.shen.sliding import patch_window_size

    backbone = _check_patch_classifier(patch_model)
    check_input_shape(input_shape)
    window = patch_window_size(patch_model)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    windows_layer = SlidingWindows(input_shape[:2], window, stride, name="windows")
    windows = windows_layer(inputs)
    base = build_backbone(backbone, windows, weights=None)
    for layer in base.layers:
        if layer.weights:
            layer.set_weights(patch_model.get_layer(layer.name).get_weights())
    x = base.get_layer(CUT_LAYER[backbone]).output
    x = keras.layers.GlobalAveragePooling2D(name="patch_pool")(x)
    patch_dense = patch_model.get_layer("predictions")
    heatmap_dense = keras.layers.Dense(patch_dense.units, activation="softmax", dtype="float32",
                                       name="heatmap")
    x = heatmap_dense(x)
    heatmap_dense.set_weights(patch_dense.get_weights())
    return backbone, inputs, WindowGrid(windows_layer.grid, name="heatmap_grid")(x)


def _patch_heatmap_fcn(patch_model, input_shape):
    """The paper's conversion: the backbone at the whole-image size, the patch's feature-map
    window average-pooled with stride 1 (32 px), the patch Dense as a 1x1 softmax conv."""
    backbone, inputs, x = _rebuild_backbone(patch_model, input_shape)
    window = tuple(int(s) for s in patch_model.get_layer(CUT_LAYER[backbone]).output.shape[1:3])
    if None in window:
        raise ValueError("The patch classifier must have a fixed input size to define its window.")
    patch_dense = patch_model.get_layer("predictions")
    kernel, bias = patch_dense.get_weights()
    x = keras.layers.AveragePooling2D(window, strides=1, name="patch_window_pool")(x)
    heatmap_conv = keras.layers.Conv2D(kernel.shape[1], 1, activation="softmax", name="heatmap")
    heatmap = heatmap_conv(x)
    heatmap_conv.set_weights([kernel.reshape(1, 1, *kernel.shape), bias])
    return backbone, inputs, heatmap


def _init_shortcut_as_baseline(shortcut_dense, pooled_shape, scale):
    """Start the shortcut at the patch baseline: logit(positive) - logit(negative) =
    ``scale`` x (pooled P(malignant), the heatmap's last channel) - ``scale`` / 2, summed over
    the pooled cells; with one global pooling cell a monotone function of the image's max
    P(malignant), so the untrained model ranks images exactly as the patch baseline does."""
    import numpy as np

    kernel, bias = shortcut_dense.get_weights()
    kernel[:] = 0.0
    cells = int(np.prod(pooled_shape[:-1]))
    per_cell = np.zeros(pooled_shape[-1], kernel.dtype)
    per_cell[-1] = scale
    kernel[:, 1] = np.tile(per_cell, cells)
    bias[:] = 0.0
    bias[1] = -0.5 * scale
    shortcut_dense.set_weights([kernel, bias])


def build_heatmap_classifier(
    patch_model,
    input_shape=(1152, 896, 3),
    pool_size=1,
    hidden=(2048, 1024),
    shortcut=True,
    num_classes=2,
    dropout=0.0,
    l2=0.0,
    mode="fcn",
    stride=32,
    init_from_baseline=False,
    class_names=None,
    baseline_scale=8.0,
):
    """The paper's heatmap alternative (Tables 2-3): patch softmax at every location -> FC layers.

    The probabilistic heatmap (layer ``heatmap``, one channel per patch class), two ways:

    - ``mode="fcn"`` (default, the paper's conversion, section 2.3): "first altering the input
      size from 224x224 to 1152x896 ... If we take 7x7 average pooling, we will have a feature
      map of 30x22. We can then copy the softmax output layer from the patch classifier": the
      backbone at the whole-image size, the patch's feature-map window (7x7 for 224 px patches)
      average-pooled with stride 1, the patch Dense as a 1x1 softmax convolution. Every cell
      sees the backbone's whole receptive field (context and zero padding the isolated
      training patches never had), so its outputs are not exactly the patch classifier's.
    - ``mode="sliding"`` (an addition, opt-in): the patch classifier on every window of its
      own input size at ``stride`` pixels (``mammo_tf.shen.sliding``), so the untrained
      model's heatmap IS the patch baseline's. With 224 px patches at 1152x896 and stride 32
      it has the same 30x22 cells. Cost: one patch forward pass per window.

    Then ``pool_size`` max pooling, flatten, the ``hidden`` fully
    connected ReLU layers and a softmax output; ``shortcut`` adds a Dense from the pooled
    heatmap straight to the output logits. ``init_from_baseline`` (needs ``shortcut``) starts
    the model AT the patch baseline: the heatmap gets one more channel, P(malignant) (the sum
    of the malignant classes of ``class_names``, default the patch classes; layer
    ``heatmap_malignancy``), the shortcut reads only that channel and the FC path's last layer
    starts at zero, so with global pooling the untrained model ranks images exactly as the
    baseline's max P(malignant) does and training begins from what the patch classifier
    knows. Needs a fixed ``input_shape``.
    """
    from mammo_tf.constants import PATCH_CLASSES

    if None in tuple(input_shape[:2]):
        raise ValueError("build_heatmap_classifier needs a fixed input_shape (it flattens the heatmap).")
    if mode not in HEATMAP_MODES:
        raise ValueError(f"Unknown heatmap mode {mode!r}; valid modes are: {', '.join(HEATMAP_MODES)}.")
    if init_from_baseline and not shortcut:
        raise ValueError("init_from_baseline needs shortcut=True (the shortcut carries the baseline).")
    if mode == "sliding":
        backbone, inputs, heatmap = _patch_heatmap_sliding(patch_model, input_shape, stride)
    else:
        backbone, inputs, heatmap = _patch_heatmap_fcn(patch_model, input_shape)
    if init_from_baseline:
        from mammo_tf.models.layers import AppendChannelSum
        from mammo_tf.shen.sliding import class_groups

        malignant, _, _ = class_groups(class_names or PATCH_CLASSES)
        heatmap = AppendChannelSum(malignant, name="heatmap_malignancy")(heatmap)
    if heatmap.shape[1] < pool_size or heatmap.shape[2] < pool_size:
        raise ValueError(
            f"Heatmap {tuple(heatmap.shape[1:3])} is smaller than pool_size {pool_size}; "
            "use a larger input or a smaller pool."
        )
    pooled = keras.layers.MaxPooling2D(pool_size, name="heatmap_pool")(heatmap)
    flat = keras.layers.Flatten(name="heatmap_flatten")(pooled)
    x = flat
    for i, units in enumerate(hidden, start=1):
        x = keras.layers.Dense(
            units, activation="relu", kernel_regularizer=_regularizer(l2), name=f"fc{i}"
        )(x)
        x = AdjustableDropout(dropout, name=f"fc{i}_dropout")(x)
    logits_dense = keras.layers.Dense(num_classes, kernel_regularizer=_regularizer(l2),
                                      kernel_initializer="zeros" if init_from_baseline else "glorot_uniform",
                                      name="logits")
    logits = logits_dense(x)
    if shortcut:
        shortcut_dense = keras.layers.Dense(num_classes, kernel_regularizer=_regularizer(l2),
                                            name="shortcut")
        skip = shortcut_dense(flat)
        logits = keras.layers.Add(name="logits_add")([logits, skip])
        if init_from_baseline:
            if num_classes != 2:
                raise ValueError("init_from_baseline needs num_classes=2 (negative, positive).")
            _init_shortcut_as_baseline(shortcut_dense, tuple(pooled.shape[1:]), baseline_scale)
    outputs = keras.layers.Softmax(dtype="float32", name="predictions")(logits)
    return keras.Model(inputs, outputs, name=f"{backbone}_heatmap_classifier")
