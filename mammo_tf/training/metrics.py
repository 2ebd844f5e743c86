# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Validation metrics computed once per epoch: cross-entropy, accuracy and AUC."""
import numpy as np

from mammo_tf.evaluate import multiclass_auc, roc_auc


def classification_auc(y_true, probabilities):
    """AUC of class probabilities ``(N, C)`` against integer labels ``(N,)``.

    Two classes: AUC of the positive class (index 1). More classes: one-vs-rest AUC averaged
    over the classes present in ``y_true`` (macro). NaN when fewer than two classes are present.
    """
    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(probabilities, dtype=np.float64)
    try:
        if p.shape[1] == 2:
            return float(roc_auc(y, p[:, 1]))
        return float(multiclass_auc(y, p))
    except ValueError:  # a single class present: undefined
        return float("nan")


def cross_entropy(y_true, probabilities, eps=1e-7):
    """Mean categorical cross-entropy (no regularisation term)."""
    y = np.asarray(y_true).astype(int).ravel()
    p = np.clip(np.asarray(probabilities, dtype=np.float64), eps, 1.0)
    return float(-np.mean(np.log(p[np.arange(y.size), y])))


def accuracy(y_true, probabilities):
    y = np.asarray(y_true).astype(int).ravel()
    return float(np.mean(np.argmax(probabilities, axis=1) == y))


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
        "accuracy": accuracy(y_true, probabilities),
        "auc": classification_auc(y_true, probabilities),
    }
