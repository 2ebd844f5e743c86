# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DeLong's test for two correlated ROC curves (DeLong, DeLong & Clarke-Pearson 1988), in the
fast midrank form of Sun & Xu (2014).

For scores of K models on the same cases, the AUC of model k is the Mann-Whitney statistic
``mean over (positive i, negative j) of psi(X_i, Y_j)`` with ``psi = 1`` (X > Y), 1/2 (tie),
0. Its structural components ``V10_i = mean_j psi(X_i, Y_j)`` and ``V01_j = mean_i psi(X_i,
Y_j)`` give the covariance ``S = S10 / m + S01 / n`` of the K AUCs (``S10``, ``S01``: sample
covariances of the components over positives / negatives; m positives, n negatives). The
paired test of ``AUC_1 - AUC_2`` uses ``var = S11 + S22 - 2 S12``, ``z = diff / sqrt(var)``,
two-sided p-value ``2 (1 - Phi(|z|))``.

DeLong's variance treats the cases as independent; with several images per patient, report
it at the exam level (one case per exam) or use the cluster-bootstrap CI of the difference
(``paired_bootstrap``) that the report gives next to it.
"""
import numpy as np

from mammo_tf.evaluate import binary_inputs, weighted_auc, bootstrap_weights


def _midrank(x):
    from scipy.stats import rankdata

    return rankdata(x, method="average")


def delong_covariance(y, scores):
    """``(aucs (K,), covariance (K, K))`` for ``scores`` of shape (K, N) against 0/1 ``y``."""
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    y, _ = binary_inputs(y, scores[0])
    for row in scores[1:]:
        binary_inputs(y, row)
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    k = len(scores)
    v10, v01, aucs = np.empty((k, m)), np.empty((k, n)), np.empty(k)
    for r in range(k):
        tx, ty = _midrank(pos[r]), _midrank(neg[r])
        tz = _midrank(np.concatenate([pos[r], neg[r]]))
        aucs[r] = (tz[:m].sum() - m * (m + 1) / 2.0) / (m * n)
        v10[r] = (tz[:m] - tx) / n
        v01[r] = 1.0 - (tz[m:] - ty) / m
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((k, k))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((k, k))
    return aucs, s10 / m + s01 / n


def delong_test(y, scores_1, scores_2, alpha=0.05):
    """Paired DeLong test of AUC(scores_1) - AUC(scores_2) on the same cases.

    Returns ``{"auc_1", "auc_2", "difference", "se", "ci95", "z", "p_value"}``; ``z`` and
    ``p_value`` are ``None`` when the variance is 0 (identical rankings).
    """
    from scipy.stats import norm

    aucs, cov = delong_covariance(y, np.stack([np.ravel(scores_1), np.ravel(scores_2)]))
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    se = float(np.sqrt(max(var, 0.0)))
    q = float(norm.ppf(1.0 - alpha / 2.0))
    z = diff / se if se > 0 else None
    return {"auc_1": float(aucs[0]), "auc_2": float(aucs[1]), "difference": diff, "se": se,
            "ci95": [diff - q * se, diff + q * se], "z": None if z is None else float(z),
            "p_value": None if z is None else float(2.0 * norm.sf(abs(z))),
            "method": "DeLong et al. 1988 (cases independent)"}


def paired_bootstrap(y, scores_1, scores_2, groups=None, n_boot=1000, seed=0, alpha=0.05):
    """Percentile bootstrap CI of AUC_1 - AUC_2, both curves on the same resamples (whole
    patients with ``groups``)."""
    y, s1 = binary_inputs(y, scores_1)
    _, s2 = binary_inputs(y, scores_2)
    d1, c1 = np.unique(s1, return_inverse=True)
    d2, c2 = np.unique(s2, return_inverse=True)
    c1, c2 = c1.ravel(), c2.ravel()
    diffs = np.array([weighted_auc(c1, y, w, len(d1)) - weighted_auc(c2, y, w, len(d2))
                      for w in bootstrap_weights(y, n_boot, seed, groups=groups)])
    lo, hi = np.quantile(diffs, [alpha / 2.0, 1.0 - alpha / 2.0])
    return {"difference_ci95": [float(lo), float(hi)], "n_boot": int(n_boot),
            "resampled": "patients" if groups is not None else "cases (stratified)"}
