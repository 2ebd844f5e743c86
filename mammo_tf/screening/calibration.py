# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Calibration of the probability of malignancy: temperature scaling or isotonic regression,
fitted on the validation split only; ECE, Brier score and reliability diagrams.

- Temperature scaling (Guo et al. 2017) divides the logit by one positive number ``T``:
  ``q = sigmoid(logit(p) / T)``; for a two-class softmax this is the softmax of the logits
  divided by ``T``. ``T`` minimises the validation log-loss. It is strictly monotone, so every
  AUC is unchanged.
- Isotonic regression (scikit-learn ``IsotonicRegression(out_of_bounds="clip")``) fits a
  non-decreasing step map; it is stored as its thresholds and applied by linear interpolation
  between them (what scikit-learn's ``predict`` does), so the stored form needs no pickle.

A calibration is a JSON-ready dict (``Calibration.to_dict``) saved as ``calibration.json``
in the run folder (:func:`save_calibration`); ``mammo_tf.serving.savedmodel.export_saved_model(...,
calibration=...)`` embeds it as the optional ``serve_calibrated`` endpoint.

ECE here is the binary expected calibration error of the positive-class probability:
``sum_b (n_b / N) |mean(y in b) - mean(p in b)|`` over ``n_bins`` equal-width bins of [0, 1].
"""
import dataclasses
import json
import os

import numpy as np

from mammo_tf.errors import DataError
from mammo_tf.utils import write_json_atomic

METHODS = ("temperature", "isotonic")
CALIBRATION_FILE = "calibration.json"
FORMAT = "mammo_tf.calibration/1"
# Probabilities are clipped only where float64 runs out (not at e.g. 1e-7): a float32 model's
# probabilities within 1e-7 of 0 or 1 are still distinct, and clipping them would tie cases
# (and change the AUC) that the uncalibrated model ranks apart.
_LOW, _HIGH = 1e-300, 1.0 - 2.0 ** -53


def _logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), _LOW, _HIGH)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z):
    from scipy.special import expit  # no overflow for large |z|

    return expit(z)


def _check(y, p):
    y = np.asarray(y).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if len(y) != len(p) or len(y) == 0:
        raise ValueError(f"need equal, non-zero numbers of labels and probabilities, got {len(y)} and {len(p)}")
    if not np.all(np.isin(y, [0, 1])):
        raise ValueError("calibration needs 0/1 labels")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise ValueError("probabilities must be finite and in [0, 1]")
    return y.astype(np.int64), p


@dataclasses.dataclass
class Calibration:
    """A fitted calibration map of the positive-class probability."""

    method: str
    temperature: float | None = None
    x_thresholds: list | None = None  # isotonic
    y_thresholds: list | None = None
    fitted_on: dict = dataclasses.field(default_factory=dict)  # split, level, n, n_positive
    at_bound: bool = False  # temperature: the fit stopped at TEMPERATURE_BOUNDS

    def __call__(self, p):
        p = np.asarray(p, dtype=np.float64)
        if self.method == "temperature":
            return _sigmoid(_logit(p) / self.temperature)
        if self.method == "isotonic":
            return np.interp(p, self.x_thresholds, self.y_thresholds)
        raise ValueError(f"unknown calibration method {self.method!r}")

    def to_dict(self):
        record = {"format": FORMAT, "method": self.method, "fitted_on": self.fitted_on}
        if self.method == "temperature":
            record["temperature"] = self.temperature
            record["at_bound"] = self.at_bound
        else:
            record["x_thresholds"] = list(map(float, self.x_thresholds))
            record["y_thresholds"] = list(map(float, self.y_thresholds))
        return record

    @classmethod
    def from_dict(cls, record, source="calibration"):
        if not isinstance(record, dict) or record.get("method") not in METHODS:
            raise DataError(f"{source}: not a mammo_tf calibration (method must be one of {', '.join(METHODS)})")
        if record["method"] == "temperature":
            t = record.get("temperature")
            if not isinstance(t, (int, float)) or not t > 0:
                raise DataError(f"{source}: temperature must be a positive number, got {t!r}")
            return cls("temperature", temperature=float(t), fitted_on=record.get("fitted_on", {}),
                       at_bound=bool(record.get("at_bound", False)))
        xs, ys = record.get("x_thresholds"), record.get("y_thresholds")
        if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys) or not xs:
            raise DataError(f"{source}: isotonic calibration needs equal, non-empty x_thresholds / y_thresholds")
        if np.any(np.diff(xs) < 0) or np.any(np.diff(ys) < 0):
            raise DataError(f"{source}: isotonic thresholds must be non-decreasing")
        return cls("isotonic", x_thresholds=[float(v) for v in xs], y_thresholds=[float(v) for v in ys],
                   fitted_on=record.get("fitted_on", {}))


# Bounds of T. Below 0.5 a sharpened probability saturates to exactly 0 or 1 in float64 (a
# float32 probability's logit reaches ~17 below 1, and the sigmoid is 1.0 beyond ~37): cases
# would tie and the AUC change. A small validation split that its model separates asks for
# T -> 0 (the log-loss keeps falling); the fit then stops at the bound and says so.
TEMPERATURE_BOUNDS = (0.5, 20.0)


def fit_temperature(y, p, bounds=TEMPERATURE_BOUNDS):
    """Temperature ``T`` in ``bounds`` minimising the log-loss of ``sigmoid(logit(p) / T)``."""
    import logging

    from scipy.optimize import minimize_scalar

    y, p = _check(y, p)
    z = _logit(p)

    def nll(log_t):
        q = np.clip(_sigmoid(z / np.exp(log_t)), 1e-12, 1 - 1e-12)
        return -float(np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))

    low, high = np.log(bounds[0]), np.log(bounds[1])
    best = minimize_scalar(nll, bounds=(low, high), method="bounded", options={"xatol": 1e-6})
    t = float(np.exp(best.x))
    at_bound = bool(min(best.x - low, high - best.x) < 1e-3)
    if at_bound:
        logging.getLogger(__name__).warning(
            "temperature fit stopped at its bound T=%.3g (allowed %g-%g): the validation split "
            "(%d cases) asks for a more extreme temperature", t, bounds[0], bounds[1], len(y))
    return Calibration("temperature", temperature=t, at_bound=at_bound)


def fit_isotonic(y, p):
    """Isotonic regression of y on p (scikit-learn), stored as its thresholds."""
    from sklearn.isotonic import IsotonicRegression

    y, p = _check(y, p)
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
    return Calibration("isotonic", x_thresholds=model.X_thresholds_.tolist(),
                       y_thresholds=model.y_thresholds_.tolist())


def fit_calibration(y, p, method="temperature", fitted_on=None):
    """Fit ``method`` (``temperature`` or ``isotonic``) on validation labels / probabilities."""
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r} (choose from {', '.join(METHODS)})")
    y, p = _check(y, p)
    if y.min() == y.max():
        raise DataError("calibration needs both classes in the validation labels")
    calibration = fit_temperature(y, p) if method == "temperature" else fit_isotonic(y, p)
    calibration.fitted_on = dict(fitted_on or {}, n=int(len(y)), n_positive=int(y.sum()))
    return calibration


def reliability_bins(y, p, n_bins=15):
    """Per equal-width bin of [0, 1]: count, mean probability, observed positive fraction
    (``None`` for empty bins)."""
    y, p = _check(y, p)
    which = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    bins = []
    for b in range(n_bins):
        inside = which == b
        n = int(inside.sum())
        bins.append({"lo": b / n_bins, "hi": (b + 1) / n_bins, "n": n,
                     "mean_probability": float(p[inside].mean()) if n else None,
                     "observed": float(y[inside].mean()) if n else None})
    return bins


def expected_calibration_error(y, p, n_bins=15):
    """Binary ECE over ``n_bins`` equal-width bins (module doc)."""
    y, p = _check(y, p)
    total = 0.0
    for b in reliability_bins(y, p, n_bins):
        if b["n"]:
            total += b["n"] * abs(b["observed"] - b["mean_probability"])
    return total / len(y)


def brier_score(y, p):
    """Mean squared difference between the probability and the 0/1 label (scikit-learn's
    ``brier_score_loss`` of the positive class)."""
    from sklearn.metrics import brier_score_loss

    y, p = _check(y, p)
    return float(brier_score_loss(y, p, pos_label=1))


def calibration_metrics(y, p, n_bins=15):
    return {"ece": expected_calibration_error(y, p, n_bins), "brier": brier_score(y, p), "n_bins": n_bins}


def plot_reliability(path, y, curves, n_bins=15, title="Reliability diagram"):
    """Reliability diagram PNG: observed positive fraction against mean probability per bin,
    one line per entry of ``curves`` (name -> probabilities), with the ECE in the legend."""
    from mammo_tf.evaluate import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect calibration")
    for name, p in curves.items():
        bins = [b for b in reliability_bins(y, p, n_bins) if b["n"]]
        ece = expected_calibration_error(y, p, n_bins)
        ax.plot([b["mean_probability"] for b in bins], [b["observed"] for b in bins], marker="o",
                lw=1.5, label=f"{name} (ECE = {ece:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed fraction positive")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    save_figure(fig, path)
    return path


def save_calibration(path, calibration):
    """Write a calibration atomically; ``path`` may be a run folder (-> calibration.json)."""
    if os.path.isdir(path):
        path = os.path.join(path, CALIBRATION_FILE)
    write_json_atomic(path, calibration.to_dict())
    return path


def load_calibration(path):
    """Read a calibration JSON (a file or a run folder holding calibration.json)."""
    if os.path.isdir(path):
        path = os.path.join(path, CALIBRATION_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    return Calibration.from_dict(record, source=path)
