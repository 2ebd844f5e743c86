# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The one window grid: where sliding windows lie on an image.

Every sliding-window computation takes its positions from here: the Shen patch baseline and
the converted heatmap classifier (``mammo_tf.shen.sliding``, ``mammo_tf.models.layers``; valid
windows only), DeepMiner's sliding patch set (``mammo_tf.shen.patches.sliding_set``; valid
windows of a padded image) and the NYU patch heatmaps (``mammo_tf.nyu.heatmaps``; ``cover``:
one more window flush with the far edge so every pixel is covered).
"""
import numpy as np


def window_starts(length, window, stride, cover=False):
    """Start offsets (int array) of the windows along one axis: every ``stride`` from 0 while
    the window fits (``range(0, length - window + 1, stride)``).

    ``cover=True``: one more window flush with the end when the last one falls short of it, so
    the windows cover ``[0, length)``; a window larger than the image gives one window at 0 (the
    caller pads). Without ``cover`` a window larger than the image raises ``ValueError``.
    """
    length, window, stride = int(length), int(window), int(stride)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if window > length:
        if cover:
            return np.zeros(1, np.int64)
        raise ValueError(f"window {window} is larger than the image ({length} px)")
    starts = np.arange(0, length - window + 1, stride, dtype=np.int64)
    if cover and starts[-1] != length - window:
        starts = np.append(starts, length - window)
    return starts


def pair(window):
    """(height, width) of a window given as one int (square) or a pair."""
    if np.ndim(window) == 0:
        return int(window), int(window)
    return int(window[0]), int(window[1])


def window_grid(image_shape, window, stride, cover=False):
    """Top-left corners (y0, x0) (flat int64 arrays, row-major) of every window of an (H, W)
    image; ``window`` an int or (height, width), ``cover`` as in :func:`window_starts`."""
    wy, wx = pair(window)
    ys = window_starts(image_shape[0], wy, stride, cover)
    xs = window_starts(image_shape[1], wx, stride, cover)
    y0, x0 = np.meshgrid(ys, xs, indexing="ij")
    return y0.ravel(), x0.ravel()


def grid_shape(image_shape, window, stride):
    """(rows, cols) of the valid-window grid of an (H, W) image."""
    wy, wx = pair(window)
    return (len(window_starts(image_shape[0], wy, stride)),
            len(window_starts(image_shape[1], wx, stride)))


def window_indices(image_shape, window, stride):
    """Flat pixel indices (rows*cols, wy*wx) of every valid window of an (H, W) image,
    row-major."""
    height, width = int(image_shape[0]), int(image_shape[1])
    wy, wx = pair(window)
    ys, xs = window_starts(height, wy, stride), window_starts(width, wx, stride)
    dy, dx = np.meshgrid(np.arange(wy), np.arange(wx), indexing="ij")
    offsets = (dy * width + dx).ravel()
    starts = (ys[:, None] * width + xs[None, :]).ravel()
    return starts[:, None] + offsets[None, :]
