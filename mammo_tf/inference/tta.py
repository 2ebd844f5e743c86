# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Flip test-time augmentation (Shen, section 2.4): the mean softmax over an image and its
horizontal, vertical and double flips, computed in one batched forward pass."""
import numpy as np


def flip_batch(x):
    """Stack [x, horizontal flip, vertical flip, both flips] of an NHWC batch along axis 0."""
    x = np.asarray(x)
    return np.concatenate([x, x[:, :, ::-1], x[:, ::-1, :], x[:, ::-1, ::-1]], axis=0)


def tta_predict(forward, x):
    """4-flip test-time augmentation: mean softmax over the flips, from ONE call of ``forward``."""
    n = len(x)
    probs = np.asarray(forward(flip_batch(x)), dtype=np.float64)
    return probs.reshape(4, n, -1).mean(axis=0)
