# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Evaluation metrics: ROC AUC (binary and one-vs-rest), bootstrap CIs, ROC and confusion plots.

AUC is computed from ranks (Mann-Whitney U with average ranks for ties), which equals
scikit-learn's ``roc_auc_score`` and lets the bootstrap run without per-resample overhead.
Plots use matplotlib's Agg backend and are written atomically.
"""
import numpy as np

from mammo_tf.utils import atomic_path


def _binary_labels(y_true):
    y = np.asarray(y_true).ravel()
    values = np.unique(y)
    if not np.all(np.isin(values, [0, 1])):
        raise ValueError(f"binary labels must be 0/1, got values {values.tolist()[:10]}")
    return y.astype(np.int64)


def _rank_auc(y, scores):
    """AUC from average ranks; ``y`` 0/1 int array with both classes present."""
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # Average ranks over runs of tied scores.
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(scores)]])
    avg = (starts + ends + 1) / 2.0  # 1-based average rank of each run
    ranks[order] = np.repeat(avg, ends - starts)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_auc(y_true, scores):
    """Area under the ROC curve for 0/1 labels and real-valued scores (higher = positive).

    Raises ``ValueError`` when only one class is present (the AUC is undefined).
    """
    y = _binary_labels(y_true)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if len(s) != len(y):
        raise ValueError(f"{len(y)} labels but {len(s)} scores")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or infinity")
    if y.min() == y.max():
        raise ValueError("AUC is undefined: only one class present in the labels")
    return _rank_auc(y, s)


def multiclass_auc(y_true, probs, average=True):
    """One-vs-rest ROC AUC for integer labels and (N, C) class probabilities.

    Classes absent from ``y_true`` (or the only class present) have no defined AUC and are
    left out of the macro average (their per-class value is NaN). Returns the macro average,
    or with ``average=False`` the per-class array. Equals scikit-learn's
    ``roc_auc_score(y, probs, multi_class="ovr", average="macro")`` when every class occurs.
    """
    y = np.asarray(y_true).ravel().astype(np.int64)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or len(p) != len(y):
        raise ValueError(f"probs must be (N, C) with N={len(y)}, got shape {p.shape}")
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(f"labels must be in [0, {p.shape[1] - 1}], got {y.min()}..{y.max()}")
    per_class = np.full(p.shape[1], np.nan)
    for c in range(p.shape[1]):
        yc = (y == c).astype(np.int64)
        if 0 < yc.sum() < len(yc):
            per_class[c] = _rank_auc(yc, p[:, c])
    if not average:
        return per_class
    if np.all(np.isnan(per_class)):
        raise ValueError("AUC is undefined: fewer than two classes present in the labels")
    return float(np.nanmean(per_class))


def bootstrap_auc_ci(y_true, scores, n_boot=1000, seed=0, alpha=0.05):
    """AUC with a percentile bootstrap (1 - alpha) confidence interval: ``(auc, lo, hi)``.

    Resampling is stratified (positives and negatives are resampled separately, keeping their
    counts), so every resample contains both classes. Deterministic for a given ``seed``.
    """
    y = _binary_labels(y_true)
    s = np.asarray(scores, dtype=np.float64).ravel()
    auc = roc_auc(y, s)
    pos = np.flatnonzero(y == 1)
    neg = np.flatnonzero(y == 0)
    rng = np.random.default_rng(seed)
    y_boot = np.concatenate([np.ones(len(pos), np.int64), np.zeros(len(neg), np.int64)])
    aucs = np.empty(n_boot)
    for b in range(n_boot):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        aucs[b] = _rank_auc(y_boot, s[idx])
    lo, hi = np.quantile(aucs, [alpha / 2.0, 1.0 - alpha / 2.0])
    return auc, float(lo), float(hi)


def accuracy(y_true, pred):
    """Fraction of ``pred`` equal to ``y_true`` (integer class labels)."""
    y = np.asarray(y_true).ravel()
    p = np.asarray(pred).ravel()
    if len(y) != len(p) or len(y) == 0:
        raise ValueError(f"need equal, non-zero lengths, got {len(y)} labels and {len(p)} predictions")
    return float(np.mean(y == p))


def confusion_matrix(y_true, pred, num_classes):
    """(num_classes, num_classes) counts; rows = true class, columns = predicted class."""
    y = np.asarray(y_true).ravel().astype(np.int64)
    p = np.asarray(pred).ravel().astype(np.int64)
    if len(y) != len(p):
        raise ValueError(f"{len(y)} labels but {len(p)} predictions")
    for name, v in (("labels", y), ("predictions", p)):
        if len(v) and (v.min() < 0 or v.max() >= num_classes):
            raise ValueError(f"{name} must be in [0, {num_classes - 1}]")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y, p), 1)
    return matrix


def confusion_matrix_report(y_true, pred, class_names, png_path=None):
    """Confusion matrix, accuracy and per-class precision / recall as a JSON-ready dict.

    With ``png_path`` the matrix is also drawn to a PNG. The dict has ``matrix`` (rows = true
    class), ``accuracy``, ``per_class`` (name -> precision, recall, support) and ``text``
    (a printable table).
    """
    names = [str(n) for n in class_names]
    matrix = confusion_matrix(y_true, pred, len(names))
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    diag = np.diag(matrix)
    per_class = {}
    for i, name in enumerate(names):
        per_class[name] = {
            "precision": float(diag[i] / predicted[i]) if predicted[i] else None,
            "recall": float(diag[i] / support[i]) if support[i] else None,
            "support": int(support[i]),
        }
    width = max(len(n) for n in names) + 2
    header = "true \\ pred".ljust(width) + "".join(n[:12].rjust(14) for n in names)
    rows = [header] + [
        names[i].ljust(width) + "".join(str(v).rjust(14) for v in matrix[i]) for i in range(len(names))
    ]
    report = {
        "class_names": names,
        "matrix": matrix.tolist(),
        "accuracy": float(diag.sum() / matrix.sum()) if matrix.sum() else None,
        "per_class": per_class,
        "text": "\n".join(rows),
    }
    if png_path is not None:
        plot_confusion_matrix(png_path, matrix, names)
    return report


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig, path):
    plt = _pyplot()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)


def plot_confusion_matrix(path, matrix, class_names):
    """Draw a confusion matrix (counts annotated in each cell) to a PNG file."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.2 * n + 2.5, 1.1 * n + 2))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2.0 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if matrix[i, j] > threshold else "black")
    _save_figure(fig, path)


def plot_roc(path, curves, title="ROC curve"):
    """Draw ROC curves to a PNG file.

    ``curves``: dict name -> (y_true 0/1, scores). The legend shows each curve's AUC.
    Returns dict name -> AUC.
    """
    from sklearn.metrics import roc_curve

    if not curves:
        raise ValueError("plot_roc needs at least one curve")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    aucs = {}
    try:
        for name, (y, s) in curves.items():
            y = _binary_labels(y)
            s = np.asarray(s, dtype=np.float64).ravel()
            aucs[name] = roc_auc(y, s)
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, lw=1.8, label=f"{name} (AUC = {aucs[name]:.3f})")
    except Exception:
        plt.close(fig)
        raise
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    _save_figure(fig, path)
    return aucs
