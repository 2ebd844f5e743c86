"""Screening evaluation: breast / exam levels, calibration, operating points, DeLong, subgroups,
the report and the ``evaluate`` command (all Keras-free, fast)."""
import csv
import json
import os

import numpy as np
import pytest

from mammo_tf import evaluate
from mammo_tf.screening import calibration as C
from mammo_tf.screening import operating as O
from mammo_tf.screening.delong import delong_covariance, delong_test, paired_bootstrap
from mammo_tf.screening.levels import all_levels, breast_level, exam_level, make_units, reduce_breast
from mammo_tf.screening.inputs import ReportError, load_predictions
from mammo_tf.screening.report import subgroup_table, write_report

# --------------------------------------------------------------------------- levels


def _images():
    """Patient A: left breast CC 0.2, CC 0.4, MLO 0.9 (malignant); right breast CC 0.1 only.
    Patient B: left CC 0.3 / MLO 0.5, right CC 0.6 / ML 0.8 (all benign)."""
    rows = [("a1", "A", "L", "CC", 0.2, 1), ("a2", "A", "L", "CC", 0.4, 1), ("a3", "A", "L", "MLO", 0.9, 1),
            ("a4", "A", "R", "CC", 0.1, 0),
            ("b1", "B", "L", "CC", 0.3, 0), ("b2", "B", "L", "MLO", 0.5, 0),
            ("b3", "B", "R", "CC", 0.6, 0), ("b4", "B", "R", "ML", 0.8, 0)]
    ids, patient, side, view, score, label = map(list, zip(*rows))
    density = ["2", "2", "2", "2", "3", "3", "3", "3"]
    return make_units("image", ids, score, label, patient=patient, side=side, view=view,
                      columns={"density": density, "vendor": ["X", "X", "Y", "X", "X", "X", "X", "X"]})


@pytest.mark.parametrize("reducer, left_a, right_b", [
    ("mean", (0.2 + 0.4 + 0.9) / 3, (0.6 + 0.8) / 2),
    ("max", 0.9, 0.8),
    ("nyu", ((0.2 + 0.4) / 2 + 0.9) / 2, (0.6 + 0.8) / 2),  # mean(CC mean, MLO mean); ML = MLO
])
def test_breast_level_reducers_by_hand(reducer, left_a, right_b):
    breasts, counts = breast_level(_images(), reducer)
    score = dict(zip(breasts.ids, breasts.score))
    assert list(breasts.ids) == ["A/L", "A/R", "B/L", "B/R"]
    assert score["A/L"] == pytest.approx(left_a)
    assert score["A/R"] == pytest.approx(0.1)  # one view: every reducer gives its score
    assert score["B/R"] == pytest.approx(right_b)
    assert list(breasts.label) == [1, 0, 0, 0]
    assert counts == {"breasts": 4, "both_views": 3, "missing_cc": 0, "missing_mlo": 1, "dropped": 0,
                      "policy": "use", "reducer": reducer}
    exams = exam_level(breasts)
    assert list(exams.ids) == ["A", "B"] and list(exams.label) == [1, 0]
    assert exams.score[0] == pytest.approx(max(left_a, 0.1))
    assert exams.score[1] == pytest.approx(max(right_b, (0.3 + 0.5) / 2 if reducer != "max" else 0.5))


def test_nyu_rule_differs_from_mean_only_with_unequal_view_counts():
    assert reduce_breast([0.2, 0.4, 0.9], ["CC", "CC", "MLO"], "nyu") == pytest.approx(0.6)
    assert reduce_breast([0.2, 0.4, 0.9], ["CC", "CC", "MLO"], "mean") == pytest.approx(0.5)
    assert reduce_breast([0.3, 0.5], ["CC", "MLO"], "nyu") == reduce_breast([0.3, 0.5], ["CC", "MLO"], "mean")
    assert reduce_breast([0.3, 0.7], ["XX", "YY"], "nyu") == pytest.approx(0.5)  # no CC/MLO: plain mean
    with pytest.raises(ValueError, match="unknown reducer"):
        reduce_breast([0.3], ["CC"], "median")


def test_missing_view_policy_drop_leaves_out_and_counts_incomplete_breasts():
    breasts, counts = breast_level(_images(), "mean", missing_views="drop")
    assert list(breasts.ids) == ["A/L", "B/L", "B/R"]
    assert counts["dropped"] == 1 and counts["missing_mlo"] == 1 and counts["policy"] == "drop"


def test_columns_carried_up_where_constant_and_marked_mixed_otherwise():
    levels, _ = all_levels(_images())
    assert list(levels["breast"].columns["density"]) == ["2", "2", "3", "3"]
    assert list(levels["breast"].columns["vendor"]) == ["mixed", "X", "X", "X"]
    assert list(levels["exam"].columns["density"]) == ["2", "3"]
    assert subgroup_table(levels["breast"], "vendor") is None  # varies within a breast
    assert subgroup_table(levels["breast"], "view") is None


# --------------------------------------------------------------------------- calibration


def _overconfident(n, seed):
    """Labels drawn from p = sigmoid(z); the 'model' reports sigmoid(3 z): overconfident."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return y, 1 / (1 + np.exp(-3 * z))


def test_temperature_scaling_lowers_ece_and_keeps_the_auc():
    """Guo et al. 2017: temperature scaling "does not affect the model's accuracy"; here the AUC."""
    y_val, p_val = _overconfident(2000, 0)
    y_test, p_test = _overconfident(2000, 1)
    cal = C.fit_calibration(y_val, p_val, "temperature", fitted_on={"split": "validation"})
    assert cal.temperature == pytest.approx(3.0, rel=0.15)
    q = cal(p_test)
    before, after = C.expected_calibration_error(y_test, p_test), C.expected_calibration_error(y_test, q)
    assert after < 0.5 * before
    assert C.brier_score(y_test, q) < C.brier_score(y_test, p_test)
    assert evaluate.roc_auc(y_test, q) == pytest.approx(evaluate.roc_auc(y_test, p_test), abs=1e-12)
    assert cal.fitted_on == {"split": "validation", "n": 2000, "n_positive": int(y_val.sum())}


def test_isotonic_stored_form_equals_scikit_learn_and_round_trips(tmp_path):
    from sklearn.isotonic import IsotonicRegression

    y, p = _overconfident(500, 2)
    cal = C.fit_calibration(y, p, "isotonic")
    grid = np.linspace(-0.1, 1.1, 301).clip(0, 1)
    reference = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p, y).predict(grid)
    np.testing.assert_allclose(cal(grid), reference, atol=1e-12)
    assert C.expected_calibration_error(y, cal(p)) < C.expected_calibration_error(y, p)
    path = C.save_calibration(str(tmp_path), cal)
    assert path.endswith("calibration.json")
    np.testing.assert_allclose(C.load_calibration(str(tmp_path))(grid), cal(grid))
    (tmp_path / "bad.json").write_text('{"method": "temperature", "temperature": -1}')
    with pytest.raises(ValueError, match="bad.json.*positive"):
        C.load_calibration(str(tmp_path / "bad.json"))


def test_ece_by_hand():
    # bins of width 0.5: [0.1, 0.2] -> observed 0 vs mean 0.15; [0.8, 0.9] -> observed 1/2 vs 0.85
    y, p = [0, 0, 1, 0], [0.1, 0.2, 0.8, 0.9]
    assert C.expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.5 * 0.15 + 0.5 * 0.35)
    assert C.brier_score(y, p) == pytest.approx((0.01 + 0.04 + 0.04 + 0.81) / 4)


# --------------------------------------------------------------------------- operating points


def test_operating_points_by_hand():
    y = [0] * 10 + [1] * 4
    s = [0.05 * i for i in range(10)] + [0.42, 0.6, 0.7, 0.8]  # negatives 0.0 ... 0.45
    # spec >= 0.9: threshold above the 9th negative (0.4): positives >= 0.42 all called -> sens 1
    assert O.sensitivity_at_specificity(y, s, 0.90) == 1.0
    # spec >= 0.95 needs all 10 negatives below: threshold 0.6 -> sens 3/4
    assert O.sensitivity_at_specificity(y, s, 0.95) == 0.75
    assert O.specificity_at_sensitivity(y, s, 0.90) == 0.9  # all 4 positives: threshold 0.42
    assert O.choose_threshold(y, s, "specificity", 0.90) == pytest.approx(0.42)
    assert O.choose_threshold(y, s, "specificity", 0.95) == pytest.approx(0.6)
    assert O.choose_threshold(y, s, "sensitivity", 0.75) == pytest.approx(0.6)
    result = O.at_threshold(y, s, 0.6, n_boot=20)
    assert result["confusion_matrix"]["matrix"] == [[10, 0], [1, 3]]
    assert result["sensitivity"] == 0.75 and result["specificity"] == 1.0


def test_operating_points_match_scikit_learn_roc_and_have_cis():
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(y, 1.0), 1)  # ties
    fpr, tpr, _ = roc_curve(y, s)
    for spec in (0.9, 0.95):
        assert O.sensitivity_at_specificity(y, s, spec) == pytest.approx(tpr[1 - fpr >= spec].max())
        assert O.specificity_at_sensitivity(y, s, spec) == pytest.approx((1 - fpr[tpr >= spec]).max())
    ops = O.operating_points(y, s, groups=np.arange(300) // 3, n_boot=200)
    entry = ops["sensitivity_at_specificity"]["0.90"]
    assert entry["ci95"][0] <= entry["value"] <= entry["ci95"][1]


def test_weighted_roc_is_scikit_learns_roc_with_sample_weights():
    """The one ROC counting (evaluate.weighted_score_counts) on bootstrap resamples, with the
    images left out (weight 0) and ties: the same points as roc_curve(sample_weight=...)."""
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 120)
    s = np.round(rng.normal(y, 1.0), 1)
    thresholds, code = O._codes(s)
    for w in evaluate.bootstrap_weights(y, 5, seed=2, groups=np.arange(120) // 4):
        assert (w == 0).any()
        tpr, fpr = O._weighted_roc(code, y, w, len(thresholds))
        sk_fpr, sk_tpr, sk_thr = roc_curve(y, s, sample_weight=w, drop_intermediate=False)
        # scikit-learn drops weight-0 images, hence their thresholds: compare at the ones it keeps
        at = 1 + np.searchsorted(-thresholds, -sk_thr[1:])
        np.testing.assert_array_equal(thresholds[at - 1], sk_thr[1:])
        np.testing.assert_allclose(tpr[at], sk_tpr[1:], atol=1e-12)
        np.testing.assert_allclose(fpr[at], sk_fpr[1:], atol=1e-12)


def test_threshold_is_chosen_on_validation_only():
    rng = np.random.default_rng(4)
    y_val = rng.integers(0, 2, 200)
    s_val = rng.normal(y_val, 1.0)
    y_test = rng.integers(0, 2, 150)
    chosen = [r["threshold"] for r in O.validation_thresholds(y_val, s_val, y_test, rng.normal(y_test, 1.0), n_boot=10)]
    other = O.validation_thresholds(y_val, s_val, y_test, rng.normal(2 * y_test, 0.3), n_boot=10)
    assert [r["threshold"] for r in other] == chosen  # test scores changed, thresholds did not
    assert chosen[0] == O.choose_threshold(y_val, s_val, "specificity", 0.90)
    assert all(r["chosen_on"] == "validation" for r in other)


def test_cluster_bootstrap_weights_keep_patients_together():
    y = np.array([0, 1, 0, 1, 0, 0, 1, 1])
    groups = np.array(["p", "p", "q", "q", "r", "r", "s", "s"])
    for w in evaluate.bootstrap_weights(y, 20, 0, groups=groups):
        for g in "pqrs":
            assert len(set(w[groups == g])) == 1
        assert w[y == 1].sum() > 0 and w[y == 0].sum() > 0


# --------------------------------------------------------------------------- DeLong

# pROC's aSAH data (Turck et al. 2010, 113 patients): outcome (G good / P poor), WFNS score, S100B.
ASAH = """G,1,0.13 G,1,0.14 G,1,0.1 G,1,0.04 P,3,0.13 P,2,0.1 G,5,0.47 P,4,0.16 G,1,0.18 G,2,0.1 P,5,0.12
G,2,0.1 P,5,0.44 P,5,0.71 G,1,0.04 G,2,0.08 P,5,0.49 G,2,0.04 P,2,0.07 P,5,0.33 P,2,0.09
G,1,0.09 P,1,0.07 G,1,0.11 G,1,0.07 G,2,0.17 G,1,0.07 G,2,0.11 G,1,0.13 G,1,0.19 G,3,0.05
G,4,0.16 P,2,0.41 G,1,0.14 G,4,0.34 P,5,0.35 P,4,0.48 G,1,0.09 P,4,0.96 P,2,0.25 G,5,0.5
G,5,0.46 G,1,0.16 G,1,0.07 G,2,0.43 G,4,0.45 G,1,0.11 G,1,0.08 G,2,0.09 P,5,0.86 P,5,0.52
G,2,0.08 G,1,0.06 G,2,0.13 P,5,2.07 G,1,0.1 G,2,0.14 G,2,0.15 P,2,0.07 G,1,0.06 P,5,0.77
G,1,0.05 G,1,0.09 P,2,0.3 P,5,0.03 P,2,0.09 G,1,0.04 P,4,0.23 P,5,0.7 G,2,0.09 P,4,0.27 P,4,0.71
P,1,0.08 P,4,0.26 G,1,0.08 G,2,0.16 G,1,0.09 P,4,0.13 P,2,0.1 G,1,0.08 P,2,0.11 G,3,0.33
G,2,0.11 G,4,0.28 G,2,0.07 G,1,0.1 G,4,0.32 P,5,0.22 G,1,0.07 G,1,0.05 G,5,0.24 G,4,0.38 G,2,0.1
G,2,0.15 G,1,0.08 G,1,0.14 G,1,0.1 G,3,0.07 G,1,0.04 G,2,0.19 P,5,0.56 P,2,0.14 P,2,0.58
P,5,0.32 P,5,0.82 P,5,0.74 G,2,0.15 G,4,0.47 G,4,0.17 P,5,0.44 G,1,0.15 G,1,0.5 G,1,0.48"""


def test_delong_reproduces_proc_published_asah_example():
    """pROC's documented roc.test example (Robin et al. 2011, aSAH data): "DeLong's test for two
    correlated ROC curves ... Z = 2.209, p-value = 0.02718", AUC of WFNS 0.8237, of S100B 0.7314."""
    rows = [r.split(",") for r in ASAH.split()]
    assert len(rows) == 113
    y = np.array([r[0] == "P" for r in rows], dtype=int)
    wfns = np.array([float(r[1]) for r in rows])
    s100b = np.array([float(r[2]) for r in rows])
    assert (y.sum(), len(y) - y.sum()) == (41, 72)
    result = delong_test(y, wfns, s100b)
    assert result["auc_1"] == pytest.approx(0.8237, abs=5e-5)
    assert result["auc_2"] == pytest.approx(0.7314, abs=5e-5)
    assert result["z"] == pytest.approx(2.209, abs=5e-4)
    assert result["p_value"] == pytest.approx(0.02718, abs=5e-6)


def test_delong_covariance_equals_structural_components_by_hand():
    """DeLong et al. 1988: V10(X_i) = 1/n sum_j psi(X_i, Y_j), V01(Y_j) = 1/m sum_i psi(X_i, Y_j),
    S = S10 / m + S01 / n; computed here with explicit pair loops, ties counted 1/2."""
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 40)
    scores = np.stack([np.round(rng.normal(y, 1.0), 1), np.round(rng.normal(y, 2.0), 1),
                       rng.integers(0, 3, 40).astype(float)])
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    m, n = len(pos), len(neg)

    def psi(a, b):
        return 1.0 if a > b else 0.5 if a == b else 0.0

    v10 = np.array([[sum(psi(s[i], s[j]) for j in neg) / n for i in pos] for s in scores])
    v01 = np.array([[sum(psi(s[i], s[j]) for i in pos) / m for j in neg] for s in scores])
    aucs, cov = delong_covariance(y, scores)
    np.testing.assert_allclose(aucs, v10.mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(aucs, [evaluate.roc_auc(y, s) for s in scores], atol=1e-12)
    expected = np.cov(v10) / m + np.cov(v01) / n
    np.testing.assert_allclose(cov, expected, atol=1e-12)
    test = delong_test(y, scores[0], scores[1])
    var = expected[0, 0] + expected[1, 1] - 2 * expected[0, 1]
    assert test["z"] == pytest.approx((aucs[0] - aucs[1]) / np.sqrt(var))
    boot = paired_bootstrap(y, scores[0], scores[1], groups=np.arange(40) // 2, n_boot=200)
    lo, hi = boot["difference_ci95"]
    assert lo < aucs[0] - aucs[1] < hi


def test_delong_identical_scores_have_no_test():
    y = [0, 1, 0, 1, 1]
    s = [0.1, 0.4, 0.35, 0.8, 0.9]
    result = delong_test(y, s, s)
    assert result["difference"] == 0 and result["z"] is None and result["p_value"] is None


# --------------------------------------------------------------------------- subgroups, report


def test_subgroup_table_on_a_toy_manifest():
    units = make_units("image", list("abcdefgh"), [0.1, 0.9, 0.4, 0.3, 0.2, 0.8, 0.7, 0.6],
                       [0, 1, 0, 1, 0, 1, 1, 0], patient=list("aabbccdd"),
                       columns={"vendor": ["GE", "GE", "GE", "GE", "Hologic", "Hologic", "Hologic", "Hologic"]})
    table = {r["value"]: r for r in subgroup_table(units, "vendor", n_boot=50)}
    assert table["GE"]["auc"] == pytest.approx(0.75)  # pos {0.9, 0.3} vs neg {0.1, 0.4}: 3 of 4 pairs
    assert table["Hologic"]["auc"] == pytest.approx(1.0)  # pos {0.8, 0.7} vs neg {0.2, 0.6}: 4 of 4
    assert (table["GE"]["n"], table["GE"]["n_positive"], table["GE"]["n_patients"]) == (4, 2, 2)
    with pytest.raises(ReportError, match="not in the manifest"):
        subgroup_table(units, "density")


def _write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def _study(tmp_path, n_patients=24, seed=0):
    """Image manifest + validation / test prediction CSVs of an overconfident model and a
    noisier second model; patient 0 of each split lacks its MLO views."""
    rng = np.random.default_rng(seed)
    manifest, preds = [], {("val", 1): [], ("test", 1): [], ("val", 2): [], ("test", 2): []}
    for p in range(n_patients):
        split = "val" if p % 2 else "test"
        for side in "LR":
            label = int(rng.random() < 0.35)
            for view in ("CC", "MLO"):
                if p < 2 and view == "MLO":
                    continue
                image_id = f"P{p}_{side}_{view}"
                manifest.append({"image_id": image_id, "patient_id": f"P{p}", "side": side, "view": view,
                                 "label": label, "density": "AB"[p % 4 // 2], "split": split,
                                 "image_path": image_id + ".png"})
                z = 2.0 * label - 1 + rng.normal()
                for model, scale in ((1, 3.0), (2, 0.7)):
                    prob = 1 / (1 + np.exp(-scale * (z + (model - 1) * rng.normal(0, 1.5))))
                    preds[(split, model)].append({"image_id": image_id, "path": image_id + ".png",
                                                  "prob_negative": f"{1 - prob:.6f}",
                                                  "prob_positive": f"{prob:.6f}", "n_models": 1, "tta": 0})
    files = {"manifest": _write_csv(tmp_path / "manifest.csv", manifest)}
    for (split, model), rows in preds.items():
        files[f"{split}{model}"] = _write_csv(tmp_path / f"{split}{model}.csv", rows)
    return files


def test_write_report_two_models_all_levels(tmp_path):
    f = _study(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    report = write_report([f["test1"], f["test2"]], str(tmp_path / "out"), val=[f["val1"], f["val2"]],
                          manifest=f["manifest"], names=["A", "B"], reducer="nyu", subgroups=["density", "view"],
                          n_boot=50, run_dir=[str(run), None])
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["models"].keys() == {"A", "B"}
    a = saved["models"]["A"]
    assert set(a["levels"]) == {"image", "breast", "exam"}
    assert a["missing_views"]["missing_mlo"] == 2 and a["missing_views"]["breasts"] == 24
    assert a["levels"]["exam"]["n"] == 12 and a["levels"]["image"]["n_patients"] == 12
    assert a["calibration"]["method"] == "temperature" and a["calibration"]["fitted_on"]["split"] == "validation"
    assert C.load_calibration(str(run)).temperature == pytest.approx(a["calibration"]["temperature"])
    image = a["levels"]["image"]
    assert image["auc"] == pytest.approx(image["auc_uncalibrated"])  # temperature keeps the ranking
    lo, hi = image["auc_ci95"]
    assert lo <= image["auc"] <= hi
    thresholds = a["levels"]["breast"]["validation_thresholds"]
    assert [t["target"] for t in thresholds] == ["specificity >= 0.90", "specificity >= 0.95",
                                                 "sensitivity >= 0.90", "sensitivity >= 0.95"]
    assert sum(map(sum, thresholds[0]["confusion_matrix"]["matrix"])) == a["levels"]["breast"]["n"]
    assert set(a["levels"]["image"]["subgroups"]) == {"density", "view"}
    assert set(a["levels"]["breast"]["subgroups"]) == {"density"}  # view varies within a breast
    levels = [c["level"] for c in saved["comparisons"]]
    assert levels == ["image", "breast", "exam"]
    assert all(0 <= c["delong"]["p_value"] <= 1 for c in saved["comparisons"])
    assert saved["comparisons"][0]["bootstrap"]["resampled"] == "patients"
    page = (tmp_path / "out" / "report.html").read_text()
    for png in saved["images"].values():
        assert (tmp_path / "out" / png).stat().st_size > 1000
        assert f'src="{png}"' in page
    assert "applied unchanged to test" in page and "DeLong" in page
    assert report["files"]["html"].endswith("report.html")


def test_report_without_validation_chooses_no_threshold_and_no_calibration(tmp_path):
    f = _study(tmp_path)
    report = write_report(f["test1"], str(tmp_path / "out"), manifest=f["manifest"], n_boot=20)
    model = report["models"]["test1"]
    assert model["calibration"] is None
    assert model["levels"]["exam"]["validation_thresholds"] is None
    assert "never chosen on test" in model["levels"]["exam"]["threshold_note"]


def test_report_refuses_bad_inputs(tmp_path):
    f = _study(tmp_path)
    with pytest.raises(ReportError, match="both the validation and the test"):
        write_report(f["test1"], str(tmp_path / "o"), val=f["test1"], manifest=f["manifest"], n_boot=5)
    rows = [{"image_id": "nobody", "prob_positive": 0.5}]
    with pytest.raises(ReportError, match="not in the manifest"):
        load_predictions(rows, f["manifest"])
    bad = _write_csv(tmp_path / "bad.csv", [{"image_id": "P0_L_CC", "prob_positive": "1.5"}])
    with pytest.raises(ReportError, match="bad.csv, line 2.*not in \\[0, 1\\]"):
        load_predictions(bad, f["manifest"])
    five = _write_csv(tmp_path / "five.csv", [{"image_id": "x", **{f"prob_{k}": 0.2 for k in "abcde"}}])
    with pytest.raises(ReportError, match="binary whole-image model"):
        load_predictions(five)


def test_nyu_exam_predictions_give_breast_and_exam_levels(tmp_path):
    exams, preds = [], []
    rng = np.random.default_rng(6)
    for e in range(16):
        labels = {"left_malignant": int(e % 3 == 0), "right_malignant": int(e % 5 == 1)}
        exams.append({"exam_id": f"E{e}", "patient_id": f"P{e // 2}", "study_id": "", "split": "test",
                      "l_cc": "a.png", "r_cc": "b.png", "l_mlo": "c.png", "r_mlo": "d.png",
                      "left_benign": 0, "right_benign": 0, **labels, "acr": "ABCD"[e % 4]})
        preds.append({"exam_id": f"E{e}", "left_benign": 0.1, "right_benign": 0.1,
                      "left_malignant": f"{0.6 * labels['left_malignant'] + 0.4 * rng.random():.4f}",
                      "right_malignant": f"{0.6 * labels['right_malignant'] + 0.4 * rng.random():.4f}"})
    manifest = _write_csv(tmp_path / "exams.csv", exams)
    test = _write_csv(tmp_path / "nyu.csv", preds)
    report = write_report(test, str(tmp_path / "out"), manifest=manifest, subgroups=["acr"], n_boot=20)
    model = report["models"]["nyu"]
    assert model["base_level"] == "breast" and set(model["levels"]) == {"breast", "exam"}
    assert model["levels"]["breast"]["n"] == 32 and model["levels"]["exam"]["n"] == 16
    assert model["levels"]["breast"]["n_patients"] == 8
    units = load_predictions(test, manifest)
    exam = exam_level(units)
    assert exam.score[0] == max(float(preds[0]["left_malignant"]), float(preds[0]["right_malignant"]))


# --------------------------------------------------------------------------- the command


def test_evaluate_command_writes_the_report_and_refuses_missing_files(tmp_path, capsys):
    from mammo_tf.commands import main

    f = _study(tmp_path)
    out = tmp_path / "cmd"
    code = main(["evaluate", f["test1"], f["test2"], "--val", f["val1"], "--val", f["val2"],
                 "--manifest", f["manifest"], "--calibration", "isotonic", "--n-boot", "20",
                 "--subgroup", "density", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "test1 exam: AUC" in printed and "DeLong p" in printed
    saved = json.loads((out / "report.json").read_text())
    assert saved["models"]["test1"]["calibration"]["method"] == "isotonic"
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(tmp_path / "missing.csv")])
    assert exit_info.value.code == 2
    assert main(["evaluate", f["test1"], "--val", f["val1"], "--val", f["val2"],
                 "--manifest", f["manifest"], "--out", str(out)]) == 2  # 2 val sets for 1 model
    assert "2 validation sets for 1 prediction sets" in capsys.readouterr().err
    assert os.path.isfile(out / "report.html")


def test_prediction_result_in_memory_and_duplicate_file_names(tmp_path):
    """write_report takes mammo_tf.inference.predict's PredictionResult as it is (the demo's path)."""
    import dataclasses
    import types

    from mammo_tf.datasets.manifest import ImageItem

    f = _study(tmp_path)
    with open(f["test1"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    result = types.SimpleNamespace(
        items=[ImageItem(r["image_id"], r["path"], None) for r in rows],
        probabilities=np.array([[float(r["prob_negative"]), float(r["prob_positive"])] for r in rows]),
        class_names=["negative", "positive"])
    report = write_report(result, str(tmp_path / "mem"), manifest=f["manifest"], n_boot=10)
    from_csv = write_report(f["test1"], str(tmp_path / "csv"), manifest=f["manifest"], n_boot=10)
    assert report["models"]["model_1"]["levels"]["exam"]["auc"] == pytest.approx(
        from_csv["models"]["test1"]["levels"]["exam"]["auc"], abs=1e-6)
    assert dataclasses.is_dataclass(ImageItem)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    same = [str(tmp_path / d / "test.csv") for d in "ab"]
    for path in same:
        with open(f["test1"]) as src, open(path, "w") as dst:
            dst.write(src.read())
    both = write_report(same, str(tmp_path / "dup"), manifest=f["manifest"], n_boot=10)
    assert list(both["models"]) == ["a/test", "b/test"]


def test_temperature_stops_at_its_bound_on_a_separable_split_and_keeps_the_ranking():
    """A validation split the model separates drives the log-loss optimum to T -> 0; unbounded,
    the sharpened probabilities saturate to exactly 0 / 1, tie, and change the AUC."""
    from mammo_tf import evaluate

    y_val = np.array([0, 0, 0, 1, 1, 1])
    p_val = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8])
    cal = C.fit_calibration(y_val, p_val, "temperature")
    assert cal.temperature == pytest.approx(C.TEMPERATURE_BOUNDS[0], rel=1e-3) and cal.at_bound
    assert C.Calibration.from_dict(cal.to_dict()).at_bound
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = 1.0 / (1.0 + np.exp(-(3.0 * (2 * y - 1) + rng.normal(0, 2.5, 400))))
    q = cal(p)
    assert len(np.unique(q)) == len(np.unique(p))  # no saturation ties
    assert evaluate.roc_auc(y, q) == pytest.approx(evaluate.roc_auc(y, p), abs=1e-12)
