# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Operating points: sensitivity at a fixed specificity, specificity at a fixed sensitivity,
and a threshold chosen on validation and applied unchanged to test.

A case is called positive when its score is ``>= threshold``. The ROC points are those of
every distinct score as threshold (plus "nobody positive"). Sensitivity at specificity
``s`` is the highest sensitivity among thresholds whose specificity is ``>= s``; specificity
at sensitivity ``t`` likewise. CIs are percentile intervals over the resamples of
``mammo_tf.evaluate.bootstrap_weights`` (a cluster bootstrap over patients when ``groups``
is given), computed from weighted counts, so 1000 resamples take milliseconds.
"""
import numpy as np

from mammo_tf.evaluate import binary_inputs, bootstrap_weights, weighted_score_counts

SPECIFICITIES = (0.90, 0.95)
SENSITIVITIES = (0.90, 0.95)


def _codes(scores):
    """Distinct scores in DEcreasing order and each score's index into them."""
    distinct, code = np.unique(scores, return_inverse=True)
    return distinct[::-1], (len(distinct) - 1 - code.ravel())


def _weighted_roc(code, y, weights, k):
    """(tpr, fpr) for thresholds = distinct scores in decreasing order, with a leading (0, 0)."""
    pos, neg = weighted_score_counts(code, y, weights, k)
    tpr = np.concatenate([[0.0], np.cumsum(pos) / pos.sum()])
    fpr = np.concatenate([[0.0], np.cumsum(neg) / neg.sum()])
    return tpr, fpr


def _sens_at_spec(tpr, fpr, specificity):
    ok = (1.0 - fpr) >= specificity - 1e-12
    return float(tpr[ok].max())


def _spec_at_sens(tpr, fpr, sensitivity):
    ok = tpr >= sensitivity - 1e-12
    return float((1.0 - fpr[ok]).max())


def sensitivity_at_specificity(y, scores, specificity):
    """Highest sensitivity at a threshold with specificity >= ``specificity``."""
    y, s = binary_inputs(y, scores)
    _, code = _codes(s)
    tpr, fpr = _weighted_roc(code, y, np.ones(len(y)), code.max() + 1)
    return _sens_at_spec(tpr, fpr, specificity)


def specificity_at_sensitivity(y, scores, sensitivity):
    """Highest specificity at a threshold with sensitivity >= ``sensitivity``."""
    y, s = binary_inputs(y, scores)
    _, code = _codes(s)
    tpr, fpr = _weighted_roc(code, y, np.ones(len(y)), code.max() + 1)
    return _spec_at_sens(tpr, fpr, sensitivity)


def _ci(values, alpha):
    lo, hi = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0])
    return [float(lo), float(hi)]


def operating_points(y, scores, groups=None, specificities=SPECIFICITIES, sensitivities=SENSITIVITIES,
                     n_boot=1000, seed=0, alpha=0.05):
    """Sensitivity at each specificity and specificity at each sensitivity, with bootstrap
    CIs: ``{"sensitivity_at_specificity": {"0.90": {"value", "ci95"}}, ...}``."""
    y, s = binary_inputs(y, scores)
    _, code = _codes(s)
    k = int(code.max()) + 1
    tpr, fpr = _weighted_roc(code, y, np.ones(len(y)), k)
    point = {f"sens@{v:.2f}": _sens_at_spec(tpr, fpr, v) for v in specificities}
    point.update({f"spec@{v:.2f}": _spec_at_sens(tpr, fpr, v) for v in sensitivities})
    boot = {key: [] for key in point}
    for w in bootstrap_weights(y, n_boot, seed, groups=groups):
        t, f = _weighted_roc(code, y, w, k)
        for v in specificities:
            boot[f"sens@{v:.2f}"].append(_sens_at_spec(t, f, v))
        for v in sensitivities:
            boot[f"spec@{v:.2f}"].append(_spec_at_sens(t, f, v))
    return {
        "sensitivity_at_specificity": {f"{v:.2f}": {"value": point[f"sens@{v:.2f}"],
                                                    "ci95": _ci(boot[f"sens@{v:.2f}"], alpha)}
                                       for v in specificities},
        "specificity_at_sensitivity": {f"{v:.2f}": {"value": point[f"spec@{v:.2f}"],
                                                    "ci95": _ci(boot[f"spec@{v:.2f}"], alpha)}
                                       for v in sensitivities},
    }


def choose_threshold(y_val, scores_val, target="specificity", value=0.90):
    """Threshold meeting ``target`` (``specificity`` or ``sensitivity``) >= ``value`` on the
    VALIDATION data: the lowest one with specificity >= value (most sensitive), or the highest
    one with sensitivity >= value (most specific). Test data never enter."""
    if target not in ("specificity", "sensitivity"):
        raise ValueError(f"target must be 'specificity' or 'sensitivity', got {target!r}")
    y, s = binary_inputs(y_val, scores_val)
    thresholds, code = _codes(s)
    tpr, fpr = _weighted_roc(code, y, np.ones(len(y)), len(thresholds))
    # point j >= 1 calls positive every score >= thresholds[j - 1]; point 0 calls nobody positive
    candidates = np.concatenate([[np.inf], thresholds])
    if target == "specificity":
        ok = np.flatnonzero((1.0 - fpr) >= value - 1e-12)
        return float(candidates[ok.max()])
    ok = np.flatnonzero(tpr >= value - 1e-12)
    return float(candidates[ok.min()])


def _sens_spec(y, positive, weights):
    tp = weights[(y == 1) & positive].sum()
    tn = weights[(y == 0) & ~positive].sum()
    return tp / weights[y == 1].sum(), tn / weights[y == 0].sum()


def at_threshold(y, scores, threshold, groups=None, n_boot=1000, seed=0, alpha=0.05):
    """Sensitivity, specificity (with bootstrap CIs) and the confusion matrix at a fixed
    threshold (positive: score >= threshold)."""
    y, s = binary_inputs(y, scores)
    positive = s >= threshold
    sens, spec = _sens_spec(y, positive, np.ones(len(y)))
    boot = np.array([_sens_spec(y, positive, w) for w in bootstrap_weights(y, n_boot, seed, groups=groups)])
    tp = int(np.sum(positive & (y == 1)))
    fn = int(np.sum(~positive & (y == 1)))
    fp = int(np.sum(positive & (y == 0)))
    tn = int(np.sum(~positive & (y == 0)))
    return {"threshold": float(threshold) if np.isfinite(threshold) else None,  # None: nobody positive
            "sensitivity": float(sens), "sensitivity_ci95": _ci(boot[:, 0], alpha),
            "specificity": float(spec), "specificity_ci95": _ci(boot[:, 1], alpha),
            "confusion_matrix": {"rows": "true [negative, positive]", "columns": "predicted [negative, positive]",
                                 "matrix": [[tn, fp], [fn, tp]]},
            "tp": tp, "fn": fn, "fp": fp, "tn": tn}


def validation_thresholds(y_val, scores_val, y_test, scores_test, groups_test=None,
                          specificities=SPECIFICITIES, sensitivities=SENSITIVITIES, n_boot=1000, seed=0):
    """For each target: the threshold chosen on validation, and what it gives on test
    (applied unchanged). Returns a list of dicts with ``target``, ``chosen_on`` and the test
    sensitivity / specificity / confusion matrix."""
    out = []
    for target, values in (("specificity", specificities), ("sensitivity", sensitivities)):
        for value in values:
            threshold = choose_threshold(y_val, scores_val, target, value)
            record = {"target": f"{target} >= {value:.2f}", "chosen_on": "validation",
                      "applied_to": "test, unchanged"}
            record.update(at_threshold(y_test, scores_test, threshold, groups_test, n_boot, seed))
            out.append(record)
    return out
