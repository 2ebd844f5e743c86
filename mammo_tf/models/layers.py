# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Every custom Keras layer and loss that mammo_tf's saved models use, in one module.

Importing this module registers them (``keras.saving.register_keras_serializable``, package
``mammo_tf``), so the one model loader (``mammo_tf.runs.load_keras_model``) needs no method
package. The registered names are the class names, as before the move: models saved by older
versions load unchanged. ``RawImagePreprocessing`` lives in ``mammo_tf.preprocess``.
"""
from mammo_tf.backend import require_keras3

require_keras3()
import keras  # noqa: E402
import numpy as np  # noqa: E402

from mammo_tf.imaging.windows import grid_shape, window_starts  # noqa: E402

# ----------------------------------------------------------------- Shen: classifier heads


@keras.saving.register_keras_serializable(package="mammo_tf")
class AdjustableDropout(keras.layers.Dropout):
    """Dropout whose rate may be changed after the model is built (stage-wise dropout).

    Keras' Dropout creates its random-seed state only when built with a rate > 0, so a layer
    built with rate 0 could never be switched on later.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        # A positive placeholder rate makes Dropout create its seed state (it cannot be added
        # once the layer counts as built); the real rate, possibly 0, is set right after.
        super().__init__(rate if rate > 0 else 0.5, noise_shape=noise_shape, seed=seed, **kwargs)
        self.rate = float(rate)


@keras.saving.register_keras_serializable(package="mammo_tf")
class SlidingWindows(keras.layers.Layer):
    """(B, H, W, C) images -> (B * rows * cols, wy, wx, C) windows, row-major per image.

    The windows of ``mammo_tf.imaging.windows.window_indices`` (valid windows only), so a patch
    classifier applied to them gives exactly the sliding-window patch baseline.
    """

    def __init__(self, image_size, window, stride, **kwargs):
        super().__init__(**kwargs)
        self.image_size = tuple(int(s) for s in image_size)
        self.window = tuple(int(s) for s in window)
        self.stride = int(stride)
        self.grid = grid_shape(self.image_size, self.window, self.stride)
        # rows then columns of every window (small index arrays, not one per pixel)
        ys = window_starts(self.image_size[0], self.window[0], self.stride)
        xs = window_starts(self.image_size[1], self.window[1], self.stride)
        self._rows = (ys[:, None] + np.arange(self.window[0])[None, :]).ravel()
        self._cols = (xs[:, None] + np.arange(self.window[1])[None, :]).ravel()

    def call(self, images):
        (rows, cols), (wy, wx) = self.grid, self.window
        channels = images.shape[-1]
        x = keras.ops.take(images, keras.ops.convert_to_tensor(self._rows, "int32"), axis=1)
        x = keras.ops.take(x, keras.ops.convert_to_tensor(self._cols, "int32"), axis=2)
        x = keras.ops.reshape(x, (-1, rows, wy, cols, wx, channels))
        x = keras.ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return keras.ops.reshape(x, (-1, wy, wx, channels))

    def compute_output_shape(self, input_shape):
        return (None, *self.window, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"image_size": list(self.image_size), "window": list(self.window),
                       "stride": self.stride})
        return config


@keras.saving.register_keras_serializable(package="mammo_tf")
class WindowGrid(keras.layers.Layer):
    """(B * rows * cols, K) per-window outputs -> (B, rows, cols, K) heatmap."""

    def __init__(self, grid, **kwargs):
        super().__init__(**kwargs)
        self.grid = tuple(int(s) for s in grid)

    def call(self, values):
        return keras.ops.reshape(values, (-1, *self.grid, values.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (None, *self.grid, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"grid": list(self.grid)})
        return config


@keras.saving.register_keras_serializable(package="mammo_tf")
class AppendChannelSum(keras.layers.Layer):
    """Append the sum of ``channels`` as one more channel (e.g. P(malignant) = the sum of the
    malignant patch classes of a probabilistic heatmap)."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = [int(c) for c in channels]

    def call(self, x):
        picked = keras.ops.take(x, keras.ops.convert_to_tensor(self.channels, "int32"), axis=-1)
        return keras.ops.concatenate([x, keras.ops.sum(picked, axis=-1, keepdims=True)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

    def get_config(self):
        config = super().get_config()
        config.update({"channels": self.channels})
        return config


# ----------------------------------------------------------------- NYU: four-view models


@keras.saving.register_keras_serializable(package="mammo_tf")
class HorizontalFlip(keras.layers.Layer):
    """Mirror an (N, H, W, C) batch on the width axis (right views -> left orientation)."""

    def call(self, x):
        return keras.ops.flip(x, axis=2)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="mammo_tf")
class InterleaveBreasts(keras.layers.Layer):
    """[left (N,2,2), right (N,2,2)] with rows (benign, malignant) -> (N, 4, 2) in the
    order of ``mammo_tf.nyu.constants.OUTPUT_NAMES``."""

    def call(self, inputs):
        return _interleave_breasts(inputs)

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], 4, 2)


def _interleave_breasts(inputs):
    left, right = inputs
    return keras.ops.stack([left[:, 0], right[:, 0], left[:, 1], right[:, 1]], axis=1)


@keras.saving.register_keras_serializable(package="mammo_tf")
class SummedBinaryCrossentropy(keras.losses.Loss):
    """Sum over the four tasks of the binary cross-entropy of one (N, 4, 2) softmax head.

    ``y_true``: (N, 4) in {0, 1} (``OUTPUT_NAMES`` order). Summed over tasks (the paper's
    loss), averaged over the batch; put one on each head so the total is the sum of both heads.
    """

    def __init__(self, name="summed_bce", reduction="sum_over_batch_size", **kwargs):
        super().__init__(name=name, reduction=reduction, **kwargs)

    def call(self, y_true, y_pred):
        y = keras.ops.cast(y_true, y_pred.dtype)
        eps = keras.config.epsilon()
        p = keras.ops.clip(y_pred, eps, 1.0 - eps)
        ll = y * keras.ops.log(p[..., 1]) + (1.0 - y) * keras.ops.log(p[..., 0])
        return -keras.ops.sum(ll, axis=-1)


# ----------------------------------------------------------------- remat (training.perf)


@keras.saving.register_keras_serializable(package="mammo_tf")
class RematSegment(keras.layers.Layer):
    """Runs a sub-model whose forward pass is recomputed during backprop (gradient checkpointing).

    Only the segment's input is kept for the backward pass; its inner activations are
    recomputed. ``training`` is bound in a closure because TensorFlow's ``recompute_grad``
    rejects keyword arguments in graph mode (which is why ``keras.RematScope`` fails on any
    model with BatchNormalization under the TensorFlow backend).
    """

    def __init__(self, segment, **kwargs):
        kwargs.setdefault("name", segment.name)
        super().__init__(**kwargs)
        self.segment = segment

    def call(self, inputs, training=None):
        return keras.remat(lambda x: self.segment(x, training=training))(inputs)
