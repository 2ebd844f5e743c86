"""mammo_tf.training.metrics: the per-epoch validation loss against values worked by hand."""
import math
import warnings

import numpy as np
import pytest

from mammo_tf.training.metrics import cross_entropy, evaluate_probabilities


def test_cross_entropy_by_hand():
    p = np.array([[0.5, 0.5], [0.2, 0.8], [0.9, 0.1]])
    assert cross_entropy([0, 1, 1], p) == pytest.approx(-(math.log(0.5) + math.log(0.8) + math.log(0.1)) / 3)
    # three columns, labels naming only two of them (a small validation set): still 3 classes
    p3 = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
    assert cross_entropy([0, 0], p3) == pytest.approx(-(math.log(0.7) + math.log(0.1)) / 2)
    assert cross_entropy(np.array([[1], [2]]), p3[[0, 1]]) == pytest.approx(-(math.log(0.2) + math.log(0.3)) / 2)


def test_cross_entropy_clips_zero_probability_at_eps():
    # a float32 softmax saturates to exact 0 / 1: the true class at 0 costs -log(1e-7), one at 1 costs 0
    p = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    assert cross_entropy([1, 1], p) == pytest.approx(-math.log(1e-7) / 2)
    assert cross_entropy([1, 1], p, eps=1e-3) == pytest.approx(-math.log(1e-3) / 2)
    assert cross_entropy([0, 1], p) == pytest.approx(0.0, abs=1e-12)


def test_cross_entropy_of_float32_softmax_is_quiet():
    logits = np.random.default_rng(0).normal(size=(64, 3)) * 10
    p = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(np.float32)
    y = np.arange(64) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rows summing to 1 +- 1e-7 in float64 warn in scikit-learn
        loss = cross_entropy(y, p)
    expected = -np.mean(np.log(np.clip(p.astype(np.float64)[np.arange(64), y], 1e-7, 1.0)))
    assert loss == pytest.approx(expected, rel=1e-12)
    assert evaluate_probabilities(y, p)["loss"] == loss
