# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Validation metrics computed once per epoch: cross-entropy, accuracy and AUC."""
import warnings

import numpy as np

# The metric functions live in mammo_tf.evaluate (scikit-learn); classification_auc is
# imported here too because the pipelines import it from this module.
from mammo_tf.evaluate import accuracy, classification_auc

__all__ = ["classification_auc", "cross_entropy", "evaluate_probabilities", "predict_dataset",
           "predict_padded"]


def cross_entropy(y_true, probabilities, eps=1e-7):
    """Mean categorical cross-entropy (no regularisation term): scikit-learn's ``log_loss``.

    ``probabilities`` is ``(N, C)``; every one of the C columns is a class even when the
    labels lack some (a small validation set). Probabilities below ``eps`` count as ``eps``: a
    float32 softmax gives exact zeros, and one such case then adds -log(1e-7) = 16.1, not
    scikit-learn's own floor -log(2.2e-16) = 36.0. scikit-learn's warning that float32 rows
    do not sum to one in float64 is silenced.
    """
    from sklearn.metrics import log_loss

    y = np.asarray(y_true).astype(int).ravel()
    p = np.clip(np.asarray(probabilities, dtype=np.float64), eps, 1.0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The y_(prob|pred) values do not sum to one")
        return float(log_loss(y, p, labels=np.arange(p.shape[1])))


def predict_dataset(model, dataset):
    """Run ``model`` over every batch of a PyDataset-like object -> (labels, probabilities).

    Batches are ``(x, y)`` or ``(x, y, sample_weight)``; sample weights are ignored.
    """
    labels, probs = [], []
    for i in range(len(dataset)):
        batch = dataset[i]
        x, y = batch[0], batch[1]
        probs.append(predict_padded(model, x, getattr(dataset, "batch_size", None)))
        labels.append(np.asarray(y).ravel())
    if not labels:
        raise ValueError("the validation/test dataset is empty")
    return np.concatenate(labels), np.concatenate(probs)


def predict_padded(model, x, batch_size=None):
    """``model.predict_on_batch`` with a short last batch padded to the dataset's batch size,
    so the predict function is traced once instead of once per batch shape."""
    x = np.asarray(x)
    n = len(x)
    batch_size = batch_size or n
    if n < batch_size:
        x = np.concatenate([x, np.repeat(x[-1:], batch_size - n, axis=0)])
    return np.asarray(model.predict_on_batch(x), dtype=np.float64)[:n]


def evaluate_probabilities(y_true, probabilities):
    """Dict of loss, accuracy and AUC for labels and class probabilities."""
    return {
        "loss": cross_entropy(y_true, probabilities),
        "accuracy": accuracy(y_true, np.argmax(probabilities, axis=1)),
        "auc": classification_auc(y_true, probabilities),
    }
