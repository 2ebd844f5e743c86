"""examples/mini_mias_check.py: its pieces (fast), and a tiny end-to-end smoke run on the 32
real mini-MIAS images of ../shared/data/mini_mias (slow)."""
import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
import mini_mias_check as check  # noqa: E402

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")


def test_experiment_files_hold_the_random_init_schedule():
    """Paper: "For randomly initialized networks, we use a learning rate of 1e-3" (all layers
    trained); the whole-image stages are top blocks then all layers, L2 1e-3 / 1e-2."""
    options, stages = check.experiment(check.PATCH_EXPERIMENT)
    assert [(s.trainable_from, s.learning_rate) for s in stages] == [("all", 1e-3)]
    options, stages = check.experiment(check.WHOLE_EXPERIMENT)
    assert [(s.trainable_from, s.l2) for s in stages] == [("head", 1e-3), ("all", 1e-2)]
    assert options["image_size"] == list(check.IMAGE_SIZE)


def test_pretrained_stages_are_the_frozen_three_stage_schedule():
    stages = check.pretrained_stages(12)
    assert [s.trainable_from for s in stages] == ["head", "conv_dw_6", "all"]
    assert [s.learning_rate for s in stages][:2] == [1e-3, 1e-4]
    assert sum(s.epochs for s in stages) == 12


def test_augment_keeps_content_and_shape():
    x = np.arange(2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3)
    out = check._augment(x, np.random.default_rng(0))
    assert out.shape == x.shape
    for a, b in zip(out, x):
        np.testing.assert_array_equal(np.sort(a.ravel()), np.sort(b.ravel()))


def test_class_weights_balance_the_classes():
    y = np.array([0, 0, 0, 1])
    w = check._class_weights(y, 2)
    assert w[y == 0].sum() == pytest.approx(w[y == 1].sum())


def test_mean_with_ci_brackets_the_mean_and_uses_patient_groups():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    groups = np.repeat(np.arange(20), 2)
    scores = [y + rng.normal(0, s, 40) for s in (0.5, 0.8, 1.0)]
    m = check.mean_with_ci(y, scores, groups)
    assert m["min"] <= m["mean"] <= m["max"] and len(m["per_seed"]) == 3
    assert m["ci95"][0] < m["mean"] < m["ci95"][1]
    table = {"random": {k: m for k in ("patch_lesion_vs_normal", "whole_abnormal_vs_normal",
                                       "baseline_max_lesion", "baseline_max_malignant")}}
    table["random"]["seconds_per_run"] = [60.0]
    assert f"{m['mean']:.3f}" in check.format_table(table)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED, "mini_mias")),
                    reason="../shared/data/mini_mias absent")
def test_smoke_on_the_32_real_images(tmp_path, monkeypatch):
    """The whole check at toy size (128 px images, 32 px patches, 1 epoch per stage)."""
    monkeypatch.setattr(check, "IMAGE_SIZE", (128, 128))
    monkeypatch.setattr(check, "PATCH_SIZE", 32)
    monkeypatch.setattr(check, "PATCH_SET", "s2")
    monkeypatch.setattr(check, "N_BOOT", 20)
    argv = ["--src", os.path.join(SHARED, "mini_mias"), "--out", str(tmp_path), "--seeds", "0",
            "--epochs-scale", "0.01", "--init", "random"]
    weights = os.path.join(SHARED, "pretrained", "mobilenet_2_5_224_tf_no_top.h5")
    if os.path.isfile(weights):
        argv += ["pretrained", "--weights", weights]
    assert check.main(argv) == 0
    report = json.load(open(tmp_path / "mini_mias_report.json"))
    for row in report["table"].values():
        for key in ("patch_lesion_vs_normal", "whole_abnormal_vs_normal", "baseline_max_lesion"):
            assert 0.0 <= row[key]["mean"] <= 1.0
    run = report["runs"][0]
    assert run["patch"]["curve"] and run["whole"]["curve"] and run["seconds"] > 0
    assert set(run["whole"]["baseline"]) == {"val", "test"}
