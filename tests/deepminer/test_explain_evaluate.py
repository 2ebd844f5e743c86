# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Class-map evaluation on phantom mammograms with known lesion locations."""
import json

import numpy as np
import pytest

from explain_fixtures import BLOB_PIXEL_MEAN, blob_detector_model, write_phantom_manifest
from mammo_tf.commands.explain import main
from mammo_tf.deepminer.evaluation import deletion_curve, energy_share, evaluate_maps, pointing_game, spearman
from mammo_tf.deepminer.graph import split_model
from mammo_tf.deepminer.probe import open_probe


def test_metric_definitions():
    roi = np.zeros((4, 4), bool)
    roi[1:3, 1:3] = True
    saliency = np.zeros((4, 4))
    saliency[1, 2] = 3.0
    saliency[0, 0] = 1.0
    saliency[3, 3] = -5.0
    assert pointing_game(saliency, roi) and not pointing_game(-saliency, roi)
    assert energy_share(saliency, roi) == pytest.approx(0.75)
    # deletion: a "model" whose probability is the mean of the remaining input
    x = np.ones((2, 2, 1), np.float32)
    predict = lambda batch: np.stack([1 - batch.mean(axis=(1, 2, 3)), batch.mean(axis=(1, 2, 3))], axis=1)
    fractions, probs, auc = deletion_curve(predict, x, np.arange(4), 1, step_pixels=1)
    np.testing.assert_allclose(fractions, [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(probs, [1, 0.75, 0.5, 0.25, 0])
    assert auc == pytest.approx(0.5)
    # Spearman: one swapped neighbour pair in five ranks: 1 - 6 * 2 / (5 * 24) = 0.9; constant: 0
    assert spearman([1, 2, 3, 4, 5], [1, 3, 2, 4, 5]) == pytest.approx(0.9)
    assert spearman(np.arange(6.0), -np.exp(np.arange(6.0))) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [4, 4, 4]) == 0.0


def test_pointing_game_beats_random_map_on_phantom_lesions(tmp_path):
    manifest = write_phantom_manifest(str(tmp_path), n=10, lesions=("calc_malignant",), seed=100)
    split = split_model(blob_detector_model())
    summary = evaluate_maps(split, open_probe(manifest), BLOB_PIXEL_MEAN, step=0.05, progress=False)
    assert summary["num_images"] == 10 and summary["method"] == "cam"
    assert summary["pointing_game"] >= 0.7 > summary["pointing_game_random"] + 0.3
    assert summary["energy_share"] > 3 * summary["energy_share_random"]
    assert summary["deletion_auc"] < summary["deletion_auc_random"]
    assert summary["randomized_layers"] == ["predictions"]
    # One feature channel: the CAM is (class weight) x (feature map), so after the Dense layer is
    # randomised the map is the old one times a number, and its rank correlation with the old
    # map is exactly the sign of the new class-1 weight: +1 or -1 per image. _randomize draws
    # it as N(0, std of the kernel [[-1, 1]] = 1) from default_rng(seed 0 + image index).
    rows = summary["images"]
    signs = [float(np.sign(np.random.default_rng(r["index"]).normal(0.0, 1.0, (1, 2))[0, 1])) for r in rows]
    assert {-1.0, 1.0} <= set(signs)  # both outcomes occur, so the check can tell them apart
    assert [r["randomized_spearman"] for r in rows] == pytest.approx(signs, abs=1e-9)
    assert summary["randomized_spearman"] == pytest.approx(np.mean(signs))
    # the sanity check restored the weights
    np.testing.assert_allclose(split.kernel, [[-1.0, 1.0]])


def test_evaluate_cli_writes_summary(tmp_path):
    manifest = write_phantom_manifest(str(tmp_path / "d"), n=3, lesions=("mass_benign",), seed=7)
    model_path = str(tmp_path / "blob.keras")
    blob_detector_model().save(model_path)
    out = str(tmp_path / "evaluation.json")
    assert main(["evaluate", "--model", model_path, "--pixel-mean", str(BLOB_PIXEL_MEAN), "--scale", "native", "--probe", manifest,
                 "--no-deletion", "--out", out, "--quiet"]) == 0
    summary = json.load(open(out))
    assert summary["num_images"] == 3 and summary["deletion_auc"] is None
    assert len(summary["images"]) == 3 and all("pointing" in r for r in summary["images"])
