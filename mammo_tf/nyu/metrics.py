# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The NYU four-view model's metrics (Wu et al. 2019): labels of a task, the mean AUC over the
four breast labels (or the three BI-RADS classes), and the breast-level AUCs of Table III with
confidence intervals that resample patients. Keras-free (numpy and ``mammo_tf.evaluate``)."""
import logging
import math

import numpy as np

from mammo_tf.evaluate import bootstrap_auc_ci, column_aucs, roc_auc
from mammo_tf.nyu.constants import BIRADS_CLASSES, OUTPUT_NAMES
from mammo_tf.nyu.exams import exam_labels

logger = logging.getLogger(__name__)

BREAST_LABELS = ("malignant", "benign")


def task_names(task):
    """Prediction columns of a task: the four breast labels or the three BI-RADS classes."""
    return BIRADS_CLASSES if task == "birads" else OUTPUT_NAMES


def task_labels(rows, task):
    """(N, 4) breast labels, or (N, 3) one-hot BI-RADS classes."""
    if task == "birads":
        return np.eye(len(BIRADS_CLASSES), dtype=np.int64)[[r["birads"] for r in rows]]
    return np.stack([exam_labels(r) for r in rows])


def mean_auc(labels, probabilities, names=OUTPUT_NAMES):
    """Mean AUC over the columns (tasks, or one-vs-rest classes) that have both classes;
    returns (mean or NaN, {name: auc})."""
    return column_aucs(labels, probabilities, names)


def _breast_pool(labels, probabilities, label, names=OUTPUT_NAMES):
    """(2N labels, 2N scores): the left then the right breast of every exam for ``label``."""
    names = list(names)
    labels, probabilities = np.asarray(labels), np.asarray(probabilities)
    columns = [names.index(f"{side}_{label}") for side in ("left", "right")]
    return labels[:, columns].T.ravel(), probabilities[:, columns].T.ravel()


def breast_level_aucs(labels, probabilities, names=OUTPUT_NAMES):
    """Wu et al. (Table III): "AUC ... on the breast level": for malignant and for benign, the
    left and right breasts of all exams pooled into one set of 2N breasts and one AUC each
    ({"malignant": auc, "benign": auc}; NaN where the pooled breasts hold one class only).
    ``labels`` / ``probabilities``: (N, 4) in ``names`` order (``OUTPUT_NAMES``)."""
    out = {}
    for label in BREAST_LABELS:
        y, s = _breast_pool(labels, probabilities, label, names)
        out[label] = roc_auc(y, s) if 0 < y.sum() < len(y) else float("nan")
    return out


def breast_level_report(labels, probabilities, patients, n_boot=1000, seed=0,
                        names=OUTPUT_NAMES):
    """``breast_level_aucs`` with 95% bootstrap CIs that resample patients (both breasts and
    every exam of a patient stay together): {"malignant": {"auc", "auc_ci95"}, "benign": ...};
    ``patients``: one patient id per exam."""
    patients = list(patients)
    groups = np.array(patients + patients)  # left breasts, then right: the _breast_pool order
    out = {}
    for label in BREAST_LABELS:
        y, s = _breast_pool(labels, probabilities, label, names)
        if not 0 < y.sum() < len(y):
            out[label] = {"auc": float("nan"), "auc_ci95": None}
            continue
        try:
            auc, lo, hi = bootstrap_auc_ci(y, s, n_boot=n_boot, seed=seed, groups=groups)
            ci = [lo, hi]
        except ValueError as exc:  # one patient, or resamples keep lacking a class
            logger.warning("breast-level %s AUC: no cluster-bootstrap CI (%s)", label, exc)
            auc, ci = breast_level_aucs(labels, probabilities, names)[label], None
        out[label] = {"auc": auc, "auc_ci95": ci}
    return out


def finite(value):
    """NaN (undefined AUC) -> None, so the JSON stays standard."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
