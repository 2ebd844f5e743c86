# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""ResNet-22 column of the NYU multi-view model (Wu et al., IEEE TMI 2019).

Stem: 7x7/2 convolution (16 filters, no bias, no padding), 3x3/2 max pooling (no padding);
then five layers of two pre-activation basic blocks (strides 1, 2, 2, 2, 2; 16 ... 256
channels), final BN-ReLU and global average pooling to 256 features.

Every 3x3 convolution pads 1 pixel on every side (``ZeroPadding2D(1)`` + 'valid'): Keras
'same' pads stride-2 convolutions asymmetrically (more at the bottom/right) and would not
reproduce PyTorch outputs with imported weights. BatchNorm uses PyTorch's defaults
(epsilon 1e-5, momentum 0.1, i.e. Keras momentum 0.9).

Layer names (used by the weight import; never index layers):
``stem_conv``, ``stem_pool``, ``layer{i}_block{j}_{bn1,conv1,bn2,conv2,downsample}``,
``final_bn``, ``global_pool`` (i = 1..5, j = 0..1).
"""
from mammo_tf.backend import require_keras3

require_keras3()
import keras  # noqa: E402

NUM_FILTERS = 16
BLOCK_STRIDES = (1, 2, 2, 2, 2)
BLOCKS_PER_LAYER = (2, 2, 2, 2, 2)
FEATURES = NUM_FILTERS * 2 ** (len(BLOCK_STRIDES) - 1)  # 256
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9  # PyTorch momentum 0.1 (weight of the new batch) = Keras momentum 0.9


def _regularizer(l2):
    return keras.regularizers.L2(l2) if l2 else None


def _bn(name):
    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)


def _conv3x3(x, filters, stride, name, l2):
    x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return keras.layers.Conv2D(
        filters, 3, strides=stride, padding="valid", use_bias=False,
        kernel_regularizer=_regularizer(l2), name=name,
    )(x)


def _basic_block_v2(x, filters, stride, prefix, projection, l2):
    """Pre-activation block: BN-ReLU-conv3x3(stride)-BN-ReLU-conv3x3 + shortcut.

    The projection shortcut (1x1 conv, no bias) takes the pre-activated input, as in the
    released code; the identity shortcut takes the raw input.
    """
    preact = keras.layers.ReLU(name=f"{prefix}_relu1")(_bn(f"{prefix}_bn1")(x))
    if projection:
        shortcut = keras.layers.Conv2D(
            filters, 1, strides=stride, padding="valid", use_bias=False,
            kernel_regularizer=_regularizer(l2), name=f"{prefix}_downsample",
        )(preact)
    else:
        shortcut = x
    h = _conv3x3(preact, filters, stride, f"{prefix}_conv1", l2)
    h = keras.layers.ReLU(name=f"{prefix}_relu2")(_bn(f"{prefix}_bn2")(h))
    h = _conv3x3(h, filters, 1, f"{prefix}_conv2", l2)
    return keras.layers.Add(name=f"{prefix}_add")([h, shortcut])


def resnet22_feature_map(inputs, l2=0.0):
    """Apply the ResNet-22 layers to a tensor; returns the final BN-ReLU feature map."""
    x = keras.layers.Conv2D(
        NUM_FILTERS, 7, strides=2, padding="valid", use_bias=False,
        kernel_regularizer=_regularizer(l2), name="stem_conv",
    )(inputs)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="valid", name="stem_pool")(x)
    filters = NUM_FILTERS
    for i, (stride, blocks) in enumerate(zip(BLOCK_STRIDES, BLOCKS_PER_LAYER), start=1):
        for j in range(blocks):
            x = _basic_block_v2(
                x, filters, stride if j == 0 else 1, f"layer{i}_block{j}",
                projection=(j == 0), l2=l2,
            )
        filters *= 2
    x = _bn("final_bn")(x)
    return keras.layers.ReLU(name="final_relu")(x)


def build_resnet22(input_shape=(None, None, 1), channels=None, l2=0.0, pooled=True, name="resnet22"):
    """Build one ResNet-22 column as a Keras model.

    Args:
        input_shape: (height, width) or (height, width, channels); None sizes allowed.
        channels: 1 (image only) or 3 (image, malignant heatmap, benign heatmap). Overrides
            the channel entry of ``input_shape``; default 1 when ``input_shape`` has none.
        l2: L2 kernel-regularizer coefficient for every convolution (paper: 10**-4.5).
        pooled: True -> output (N, 256) after global average pooling; False -> the final
            feature map (N, h, w, 256).
        name: model name (the four-view models use ``cc_column`` / ``mlo_column``).

    Returns:
        ``keras.Model``; 2,799,536 parameters with one input channel (2,801,104 with three).
    """
    shape = tuple(input_shape)
    if len(shape) == 2:
        shape = shape + (channels or 1,)
    elif channels is not None:
        shape = shape[:2] + (channels,)
    if shape[-1] not in (1, 3):
        raise ValueError(f"ResNet-22 takes 1 or 3 input channels, got input_shape {shape}")
    inputs = keras.Input(shape=shape, name="image")
    x = resnet22_feature_map(inputs, l2=l2)
    if pooled:
        x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    return keras.Model(inputs, x, name=name)


def feature_map_shape(image_size, channels=1):
    """Final feature-map shape (h, w, 256) for an input of ``image_size`` = (H, W).

    Computed symbolically (no convolution is run), so it is cheap at full resolution:
    ``feature_map_shape((2677, 1942)) == (42, 31, 256)``.
    """
    column = build_resnet22(tuple(image_size), channels=channels, pooled=False)
    return tuple(column.output.shape[1:])
