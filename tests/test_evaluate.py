"""Tests for mammo_tf.evaluate: AUC / CI against scikit-learn and known cases, plots."""
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import roc_auc_score

from mammo_tf import evaluate


def test_roc_auc_known_cases():
    assert evaluate.roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert evaluate.roc_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert evaluate.roc_auc([0, 1], [0.5, 0.5]) == 0.5  # a tie counts half
    # 3 of the 4 (pos, neg) pairs ordered correctly.
    assert evaluate.roc_auc([0, 1, 0, 1], [0.1, 0.4, 0.5, 0.8]) == 0.75


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    scores = np.round(rng.normal(size=200) + 0.7 * y, 1)  # rounding creates many ties
    assert evaluate.roc_auc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)


def test_roc_auc_rejects_one_class_and_bad_labels():
    with pytest.raises(ValueError, match="one class"):
        evaluate.roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="0/1"):
        evaluate.roc_auc([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="labels but"):
        evaluate.roc_auc([0, 1], [0.1, 0.2, 0.3])


def test_multiclass_auc_matches_sklearn_ovr_macro():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 5, 300)
    logits = rng.normal(size=(300, 5))
    logits[np.arange(300), y] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = roc_auc_score(y, probs, multi_class="ovr", average="macro")
    assert evaluate.multiclass_auc(y, probs) == pytest.approx(expected, abs=1e-12)
    per_class = evaluate.multiclass_auc(y, probs, average=False)
    for c in range(5):
        assert per_class[c] == pytest.approx(roc_auc_score(y == c, probs[:, c]), abs=1e-12)


def test_multiclass_auc_skips_absent_class():
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = np.eye(5)[[0, 0, 1, 1, 2, 2]] * 0.8 + 0.04
    per_class = evaluate.multiclass_auc(y, probs, average=False)
    assert np.isnan(per_class[3]) and np.isnan(per_class[4])
    assert evaluate.multiclass_auc(y, probs) == 1.0


def test_bootstrap_ci_brackets_auc_and_is_deterministic():
    rng = np.random.default_rng(0)
    y = np.array([0] * 60 + [1] * 20)
    scores = rng.normal(size=80) + 1.0 * y
    auc, lo, hi = evaluate.bootstrap_auc_ci(y, scores, n_boot=300, seed=7)
    assert auc == pytest.approx(roc_auc_score(y, scores))
    assert 0.0 <= lo < auc < hi <= 1.0
    assert evaluate.bootstrap_auc_ci(y, scores, n_boot=300, seed=7) == (auc, lo, hi)
    # Width shrinks with a larger sample of the same distribution.
    y4 = np.tile(y, 4)
    s4 = rng.normal(size=320) + 1.0 * y4
    _, lo4, hi4 = evaluate.bootstrap_auc_ci(y4, s4, n_boot=300, seed=7)
    assert hi4 - lo4 < hi - lo


def test_bootstrap_ci_perfect_separation_and_single_class():
    auc, lo, hi = evaluate.bootstrap_auc_ci([0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.9], n_boot=50)
    assert (auc, lo, hi) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        evaluate.bootstrap_auc_ci([0, 0, 0], [0.1, 0.2, 0.3])


def test_accuracy_and_confusion_report(tmp_path):
    y = [0, 1, 2, 2, 1, 0, 4]
    pred = [0, 2, 2, 2, 1, 1, 4]
    assert evaluate.accuracy(y, pred) == pytest.approx(5 / 7)
    names = ["a", "b", "c", "d", "e"]
    png = tmp_path / "cm.png"
    report = evaluate.confusion_matrix_report(y, pred, names, png_path=png)
    np.testing.assert_array_equal(report["matrix"], sk_confusion_matrix(y, pred, labels=range(5)))
    assert report["accuracy"] == pytest.approx(5 / 7)
    assert report["per_class"]["b"] == {"precision": 0.5, "recall": 0.5, "support": 2}
    assert report["per_class"]["d"]["recall"] is None  # no true 'd'
    assert "true \\ pred" in report["text"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_roc_writes_png_with_aucs(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 50)
    curves = {"model A": (y, rng.normal(size=50) + y), "model B": (y, rng.normal(size=50))}
    path = tmp_path / "sub" / "roc.png"
    aucs = evaluate.plot_roc(path, curves)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert aucs["model A"] == pytest.approx(roc_auc_score(*curves["model A"]))
    assert [p.name for p in path.parent.iterdir()] == ["roc.png"]  # no temp file left
    with pytest.raises(ValueError):
        evaluate.plot_roc(tmp_path / "x.png", {})
