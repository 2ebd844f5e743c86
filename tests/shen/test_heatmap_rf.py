"""Tests for the heatmap + random-forest baseline (mammo_tf.shen.heatmap_rf)."""
import csv
import json

import numpy as np
import pytest

from mammo_tf.shen import heatmap_rf as hrf
from mammo_tf.constants import PATCH_CLASSES


def test_region_features_of_known_regions():
    prob = np.zeros((20, 20), np.float32)
    prob[2:6, 2:6] = 0.8  # 4x4 square, peak 0.95
    prob[3, 3] = 0.95
    prob[15, 15] = 0.6  # single pixel
    f = hrf.region_features(prob, 0.5)
    assert f["n_regions"] == 2
    assert f["total_area"] == pytest.approx(17 / 400)
    assert f["largest_area"] == pytest.approx(16 / 400)
    assert f["largest_max"] == pytest.approx(0.95)
    assert f["largest_mean"] == pytest.approx((15 * 0.8 + 0.95) / 16)
    assert f["largest_extent"] == pytest.approx(1.0)
    assert f["largest_solidity"] == pytest.approx(1.0)
    assert f["largest_eccentricity"] == pytest.approx(0.0, abs=1e-6)  # a square is isotropic
    assert hrf.region_features(prob, 0.7)["n_regions"] == 1
    assert hrf.region_features(prob, 0.99) == dict.fromkeys(hrf.REGION_FEATURES, 0.0)


def test_region_shape_features_line_and_l_shape():
    line = np.zeros((10, 12), np.float32)
    line[4, 1:9] = 0.9
    f = hrf.region_features(line, 0.5)
    assert f["largest_eccentricity"] == pytest.approx(1.0)
    assert f["largest_extent"] == pytest.approx(1.0)
    # Major axis of 8 collinear pixels: 4 * sqrt(var) = 4 * sqrt((8**2 - 1) / 12).
    assert f["largest_major_axis"] * 12 == pytest.approx(4 * np.sqrt(63 / 12))
    l_shape = np.zeros((10, 10), np.float32)
    l_shape[1:8, 1:3] = 0.9
    l_shape[6:8, 1:8] = 0.9
    f = hrf.region_features(l_shape, 0.5)
    area = 7 * 2 + 2 * 5
    assert f["largest_extent"] == pytest.approx(area / 49)
    assert 0.4 < f["largest_solidity"] < 0.9
    assert 0.0 < f["largest_eccentricity"] < 1.0
    # Diagonal neighbours are connected (8-connectivity).
    diagonal = np.eye(5, dtype=np.float32)
    assert hrf.region_features(diagonal, 0.5)["n_regions"] == 1


def test_lesion_maps_and_feature_vector_layout():
    rng = np.random.default_rng(0)
    heatmap = rng.dirichlet(np.ones(5), size=(6, 7)).astype(np.float32)
    maps = hrf.lesion_maps(heatmap)
    idx = {n: i for i, n in enumerate(PATCH_CLASSES)}
    np.testing.assert_allclose(
        maps["malignant"], heatmap[..., idx["calc_malignant"]] + heatmap[..., idx["mass_malignant"]])
    np.testing.assert_allclose(
        maps["benign"], heatmap[..., idx["calc_benign"]] + heatmap[..., idx["mass_benign"]])
    vector = hrf.heatmap_features(heatmap)
    names = hrf.feature_names()
    assert vector.shape == (len(names),) == (2 * (3 + 4 * len(hrf.REGION_FEATURES)),)
    assert names[0] == "malignant_max" and vector[0] == pytest.approx(maps["malignant"].max())
    assert "benign_t0.9_largest_solidity" in names
    with pytest.raises(ValueError, match="heatmap must be"):
        hrf.heatmap_features(heatmap[..., :3])
    with pytest.raises(ValueError, match="unknown classes"):
        hrf.lesion_maps(heatmap, {"x": ("tumour",)})


def synthetic_heatmaps(n, positive, rng, shape=(16, 12)):
    """Background-dominated heatmaps; positives get a malignant blob of random size."""
    out = np.zeros((n, *shape, 5), np.float32)
    for k in range(n):
        logits = rng.normal(0, 0.5, (*shape, 5))
        logits[..., 0] += 2.0
        if positive:
            y, x = rng.integers(2, shape[0] - 5), rng.integers(2, shape[1] - 5)
            size = rng.integers(2, 4)
            logits[y : y + size, x : x + size, 4] += 5.0
        e = np.exp(logits)
        out[k] = e / e.sum(axis=-1, keepdims=True)
    return out


def test_random_forest_separates_synthetic_heatmaps():
    rng = np.random.default_rng(1)
    heatmaps = np.concatenate([synthetic_heatmaps(20, False, rng), synthetic_heatmaps(20, True, rng)])
    labels = np.array([0] * 20 + [1] * 20)
    features = np.stack([hrf.heatmap_features(h) for h in heatmaps])
    order = rng.permutation(40)
    train, test = order[:24], order[24:]
    # 24 training images: the paper's min_samples_split=300 would leave one leaf per tree
    result, scores, forest = hrf.evaluate_features(
        features[train], labels[train], features[test], labels[test], n_boot=100,
        min_samples_split=2)
    assert forest.n_estimators == 500 and forest.max_depth == 9
    assert result["auc"] > 0.9
    assert result["auc_ci95"][0] <= result["auc"] <= result["auc_ci95"][1]
    assert scores.shape == (16,)


def test_the_forest_defaults_are_the_papers():
    """Shen, Table 2, row 'Probabilistic heatmap + random forest classifier': "#trees=500, max
    depth=9, min samples split=300" (test AUC 0.73)."""
    rng = np.random.default_rng(3)
    features = rng.normal(size=(40, 4))
    labels = np.array([0, 1] * 20)
    forest = hrf.fit_random_forest(features, labels, n_estimators=5)
    assert (forest.max_depth, forest.min_samples_split) == (9, 300)
    assert (hrf.RF_TREES, hrf.RF_MAX_DEPTH, hrf.RF_MIN_SAMPLES_SPLIT) == (500, 9, 300)
    # 40 < 300 images: every tree is a single leaf, the scores are constant
    assert all(tree.tree_.node_count == 1 for tree in forest.estimators_)
    result, _, _ = hrf.evaluate_features(features, labels, features, labels, n_estimators=5,
                                         n_boot=20, test_groups=[i // 2 for i in range(40)])
    assert (result["max_depth"], result["min_samples_split"], result["ci_resamples"]) == (
        9, 300, "patients")


def _bright_patch_detector(patch_model, pixel_mean, rng):
    """Set the (untrained) patch classifier's Dense so that it calls a uniformly bright 32 px
    patch mass_malignant (P ~ 1) and a noise patch not (P ~ 0): the backbone's pooled features
    are projected on the bright-minus-noise direction (noise at 0, bright at 1, logit 20 x - 10).
    Untrained, its heatmaps are ~uniform and the planted lesion does not change them."""
    import keras

    from mammo_tf.preprocess import to_network_input

    dense = patch_model.get_layer("predictions")
    features = keras.Model(patch_model.inputs, dense.input)
    bright = np.asarray(features.predict_on_batch(
        to_network_input(np.full((1, 32, 32), 65000, np.uint16), pixel_mean)))[0]
    noise = np.asarray(features.predict_on_batch(to_network_input(
        rng.integers(0, 65535, (16, 32, 32)).astype(np.uint16), pixel_mean))).mean(axis=0)
    direction = (bright - noise) / np.sum((bright - noise) ** 2)
    kernel, bias = (np.zeros_like(w) for w in dense.get_weights())
    malignant = PATCH_CLASSES.index("mass_malignant")
    kernel[:, malignant] = 20.0 * direction
    bias[malignant] = -20.0 * float(noise @ direction) - 10.0
    dense.set_weights([kernel, bias])
    return patch_model


def test_tiny_end_to_end_baseline(tmp_path):
    from mammo_tf.io import write_png16
    from mammo_tf.shen import build_patch_classifier

    rng = np.random.default_rng(0)
    patch_model = _bright_patch_detector(
        build_patch_classifier("vgg16", input_shape=(32, 32, 3), weights=None), 50.0, rng)
    images = rng.integers(0, 65535, (8, 96, 64)).astype(np.uint16)
    labels = np.array([0, 1] * 4)
    images[labels == 1, 28:68, 28:64] = 65000  # a bright "lesion" in positives, covering window (1, 1)
    # sliding windows: the synthetic bright-patch detector is only exact on isolated windows
    # (in the paper's fcn conversion every cell of a 32 px VGG16 sees the whole 96x64 image)
    result = hrf.run_heatmap_rf_baseline(
        patch_model, images[:4], labels[:4], images[4:], labels[4:], pixel_mean=50.0,
        n_estimators=20, n_boot=50, out_dir=tmp_path, progress=False, min_samples_split=2,
        mode="sliding")
    assert result["heatmap_shape"] == [3, 2, 5]  # 96x64 image, 32 px patches: one cell per patch
    assert result["heatmap_mode"] == "sliding"
    assert result["n_train"] == 4 and result["n_test"] == 4
    assert len(result["test_scores"]) == 4
    # the heatmap shows the lesion, so the forest ranks both test positives above both negatives
    scores = np.array(result["test_scores"])
    assert scores[labels[4:] == 1].min() > scores[labels[4:] == 0].max()
    assert result["auc"] == 1.0
    saved = json.loads((tmp_path / "heatmap_rf_metrics.json").read_text())
    assert saved["auc"] == result["auc"] and saved["cutoffs"] == [0.3, 0.5, 0.7, 0.9]
    assert (tmp_path / "heatmap_rf_roc.png").read_bytes()[:4] == b"\x89PNG"

    # The same run from a manifest (image files resized to the requested size).
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image_id", "label", "image_path", "split"])
        for i, (image, label) in enumerate(zip(images, labels)):
            write_png16(tmp_path / f"im{i}.png", image)
            writer.writerow([f"im{i}", label, f"im{i}.png", "train" if i < 4 else "test"])
    again = hrf.run_heatmap_rf_from_manifest(
        patch_model, manifest, pixel_mean=50.0, image_size=(96, 64), n_estimators=20, n_boot=50,
        progress=False, min_samples_split=2, mode="sliding")
    assert again["test_scores"] == result["test_scores"]


def test_module_cli_runs_and_rejects_a_model_of_the_wrong_kind(tmp_path, capsys):
    import keras

    from mammo_tf.commands.heatmap_rf import main

    from mammo_tf.io import write_png16
    from mammo_tf.shen import build_patch_classifier, build_whole_image_classifier

    from mammo_tf.runs import RunFolder, RunInfo

    patch_model = build_patch_classifier("vgg16", input_shape=(32, 32, 3), weights=None)
    patch_run = RunFolder(tmp_path / "runs" / "patch")
    patch_model.save(patch_run.best_model)
    patch_run.write_info(RunInfo.for_model("patch", patch_model, classes=list("abcde"),
                                           pixel_mean=50.0, backbone="vgg16"))
    run = tmp_path / "runs" / "patch"
    rng = np.random.default_rng(2)
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image_id", "label", "image_path", "split"])
        for i in range(6):
            write_png16(tmp_path / f"im{i}.png", rng.integers(0, 65535, (70, 60)).astype(np.uint16))
            writer.writerow([f"im{i}", i % 2, f"im{i}.png", "train" if i < 4 else "test"])
    out = tmp_path / "rf"
    argv = ["--manifest", str(manifest), "--out", str(out), "--image-size", "64", "64",
            "--trees", "10"]
    assert main(argv + ["--patch-model", str(run / "checkpoints" / "best.keras")]) == 0
    assert "test AUC" in capsys.readouterr().out
    metrics = json.loads((out / "heatmap_rf_metrics.json").read_text())
    assert metrics["n_train"] == 4 and metrics["n_test"] == 2 and metrics["n_trees"] == 10

    whole = build_whole_image_classifier(patch_model, top="vgg", depths=(8,), repetitions=(1,),
                                         input_shape=(64, 64, 3))
    whole_run = RunFolder(tmp_path / "runs" / "whole")  # its run.json records the kind
    whole.save(whole_run.best_model)
    whole_run.write_info(RunInfo.for_model("whole_top", whole, classes=["negative", "positive"],
                                           pixel_mean=50.0, backbone="vgg16"))
    whole_path = whole_run.best_model
    with pytest.raises(SystemExit) as info:
        main(argv + ["--patch-model", str(whole_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "patch classifier" in err
    keras.backend.clear_session()
