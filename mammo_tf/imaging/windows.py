# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Where the sliding windows of an image lie (numpy only): valid windows only,
``range(0, length - window + 1, stride)`` per axis. The patch baseline
(``mammo_tf.shen.sliding``) and the converted heatmap classifier's ``SlidingWindows`` layer
(``mammo_tf.models.layers``) both use these functions, so their heatmaps agree window for window.
"""
import numpy as np


def window_starts(length, window, stride):
    """Start offsets of the valid windows along one axis."""
    length, window, stride = int(length), int(window), int(stride)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if window > length:
        raise ValueError(f"window {window} is larger than the image ({length} px)")
    return np.arange(0, length - window + 1, stride)


def heatmap_shape(image_shape, window, stride):
    """(rows, cols) of the sliding-window heatmap of an (H, W) image."""
    wy, wx = window_pair(window)
    return (len(window_starts(image_shape[0], wy, stride)),
            len(window_starts(image_shape[1], wx, stride)))


def window_indices(image_shape, window, stride):
    """Flat pixel indices (rows*cols, wy*wx) of every window of an (H, W) image, row-major."""
    height, width = int(image_shape[0]), int(image_shape[1])
    wy, wx = window_pair(window)
    ys, xs = window_starts(height, wy, stride), window_starts(width, wx, stride)
    dy, dx = np.meshgrid(np.arange(wy), np.arange(wx), indexing="ij")
    offsets = (dy * width + dx).ravel()
    starts = (ys[:, None] * width + xs[None, :]).ravel()
    return starts[:, None] + offsets[None, :]


def window_pair(window):
    """(wy, wx) of a window given as one int or a pair."""
    if np.ndim(window) == 0:
        return int(window), int(window)
    return int(window[0]), int(window[1])
