# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Issue 24, items 2-3: DeepMiner at the training scale (the same mammogram at 1x and 2.5x gives
the same explanation; an unknown scale is refused), and explanations that explain the decision
of the model given (its P(malignant), calibrated; the class map's maximum; units ranked by
their influence on it, not by a saturated maximum)."""
import json
import os

import keras
import numpy as np
import pytest

from explain_fixtures import BLOB_PIXEL_MEAN, SIZE, blob_detector_model, gap_dense_model

DEEPMINER_WIDTH = "The dimensions of each image patch are 25% of the width of the original mammogram"


def _phantom(seed=0, size=SIZE):
    from mammo_tf.datasets.phantom import render_view

    image, rois = render_view(seed, "L", "CC", lesions=["mass_malignant"], size=size)
    return image, rois[0][0]


def _relu6_model(size=(None, None)):
    """Two units behind a ReLU6 (MobileNet's ceiling): unit_0001 is saturated (6) everywhere and
    weighs the same for both classes; unit_0002 is the blob detector (lesions), weighing for
    class 1 only. DeepMiner's max(A_k) x w_kc ranks the saturated unit first."""
    x = keras.Input((*size, 3))
    blob = blob_detector_model(SIZE)
    k = blob.get_layer("feat").get_weights()[0]
    kernel = np.zeros(k.shape[:3] + (2,), np.float32)
    kernel[..., 1:2] = 0.1 * k  # below the ceiling at the phantom's lesions
    h = keras.layers.Conv2D(2, k.shape[0], padding="same", name="conv")(x)
    h = keras.layers.ReLU(max_value=6.0, name="feat_relu6")(h)
    g = keras.layers.GlobalAveragePooling2D(name="global_pool")(h)
    out = keras.layers.Dense(2, activation="softmax", name="predictions")(g)
    model = keras.Model(x, out)
    bias = blob.get_layer("feat").get_weights()[1]
    model.get_layer("conv").set_weights([kernel, np.array([10.0, 0.1 * bias[0]], np.float32)])
    model.get_layer("predictions").set_weights([np.array([[1.5, 1.5], [-1.0, 1.0]], np.float32),
                                                np.zeros(2, np.float32)])
    return model


def test_units_are_ranked_by_their_influence_on_the_decision_not_a_saturated_maximum():
    from mammo_tf.deepminer.evaluation import pointing_hit
    from mammo_tf.deepminer.explanation import explain
    from mammo_tf.deepminer.graph import split_model

    image, roi = _phantom()
    record = explain(split_model(_relu6_model()), image, BLOB_PIXEL_MEAN, top_n=2, max_units=2)["record"]
    saturated, blob = (next(u for u in record["top_units"] if u["channel"] == c) for c in (0, 1))
    assert record["activation_ceiling"] == 6.0 and saturated["saturated"] and saturated["max_activation"] == 6.0
    # the paper's image-level max(A_k) x w_kc puts the saturated unit first ...
    assert saturated["deepminer_influence"] > blob["deepminer_influence"]
    # ... its share of the decision's logit margin is nil: the lesion unit explains the decision
    assert [u["unit"] for u in record["units"]] == ["unit_0002", "unit_0001"]
    assert saturated["influence"] == pytest.approx(0.0, abs=1e-9) and blob["influence"] > 0
    margin_shares = sum(u["influence"] for u in record["top_units"]) + record["bias_share"]
    assert margin_shares == pytest.approx(record["margin"], rel=1e-6)
    # the class map's maximum (the decision) lies on the lesion; the record leads with it
    assert next(iter(record)) == "decision" and record["explained_classes"] == ["positive"]
    assert pointing_hit(record["decision_point"], roi, tolerance=2)
    assert record["decision"]["probability"] == pytest.approx(record["class_map_max"])


def test_the_same_mammogram_at_1x_and_2_5x_gives_the_same_explanation():
    """DeepMiner, section 2.1: "%s"; the scale step brings every mammogram to the training scale
    (pixel spacing, the paper's rule, the run's input size), so the ranked units and the class
    map do not depend on the file's resolution.""" % DEEPMINER_WIDTH
    import cv2

    from mammo_tf.deepminer.explanation import explain
    from mammo_tf.deepminer.graph import split_model
    from mammo_tf.deepminer.scale import Scale, resolve_scale
    from mammo_tf.runs import RunInfo

    splits = [split_model(_relu6_model()), split_model(gap_dense_model(size=(32, 32), units=12, classes=2))]
    image, _ = _phantom(1)
    big = cv2.resize(image, (int(SIZE[1] * 2.5), int(SIZE[0] * 2.5)), interpolation=cv2.INTER_CUBIC)
    patch = RunInfo("patch", ["negative", "positive"], [16, 16], 3, 100.0,
                    details={"pixel_spacing_mm": 0.2})
    whole = RunInfo("whole_top", ["negative", "positive"], list(SIZE), 3, 100.0)
    rules = [(resolve_scale(patch, 16, pixel_spacing=0.2), resolve_scale(patch, 16, pixel_spacing=0.08)),
             (resolve_scale(None, 12, "paper"),) * 2, (resolve_scale(whole),) * 2]
    for (small_rule, big_rule), split in ((r, s) for r in rules for s in splits):
        one = explain(split, image, BLOB_PIXEL_MEAN, top_n=5, scale=small_rule)
        two = explain(split, big, BLOB_PIXEL_MEAN, top_n=5, scale=big_rule)
        assert one["record"]["input_size"] == two["record"]["input_size"], small_rule.rule
        assert [u["unit"] for u in one["record"]["top_units"]] == [u["unit"] for u in two["record"]["top_units"]]
        a, b = one["maps"]["class_map"], two["maps"]["class_map"]
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.95, small_rule.rule
        # the decision point is the same place of the breast (in each file's own pixels)
        np.testing.assert_allclose(np.asarray(two["record"]["decision_point"]) / 2.5,
                                   one["record"]["decision_point"], atol=3)
    # the paper's rule: short side = 4 x the patch size
    assert Scale("paper", patch_size=12).target_size(big.shape) == (64, 48)
    # without the scale the file's resolution changes the explanation (the old behaviour)
    native = explain(splits[0], big, BLOB_PIXEL_MEAN, top_n=2)["record"]
    assert native["input_size"] == list(big.shape)


def test_an_unknown_scale_is_refused_unless_stated(tmp_path, capsys):
    from mammo_tf.commands.explain import main
    from mammo_tf.deepminer.scale import resolve_scale
    from mammo_tf.errors import UsageError
    from mammo_tf.io import write_png16
    from mammo_tf.runs import RunInfo

    with pytest.raises(UsageError, match="records no pixel spacing.*--scale paper"):
        resolve_scale(RunInfo("patch", ["a", "b"], [16, 16], 3, 1.0))
    with pytest.raises(UsageError, match="no pixel spacing in the file"):
        resolve_scale(RunInfo("patch", ["a", "b"], [16, 16], 3, 1.0,
                              details={"pixel_spacing_mm": 0.1})).target_size((64, 48), "x.png")
    model_path = str(tmp_path / "m.keras")
    _relu6_model().save(model_path)
    image = str(tmp_path / "im.png")
    write_png16(image, _phantom()[0])
    argv = ["image", "--model", model_path, "--pixel-mean", str(BLOB_PIXEL_MEAN), image, "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "scale" in err and "--scale native" in err and len(err.strip().splitlines()) == 1
    assert main(argv + ["--scale", "2"]) == 0
    record = json.load(open(tmp_path / "o" / "im.json"))
    assert record["scale"]["rule"] == "factor" and record["input_size"] == [2 * SIZE[0], 2 * SIZE[1]]
    assert "decision: P(positive)" in capsys.readouterr().out


def test_the_decision_is_the_whole_image_models_calibrated_probability(tmp_path):
    from mammo_tf.deepminer.pipeline import explain_file, load_explained
    from mammo_tf.runs import RunFolder, RunInfo
    from mammo_tf.screening.calibration import Calibration, save_calibration

    run = RunFolder(tmp_path / "run")
    model = _relu6_model(SIZE)
    model.save(run.best_model)
    run.write_info(RunInfo.for_model("whole_top", model, classes=["negative", "positive"],
                                     pixel_mean=BLOB_PIXEL_MEAN, pixel_mean_source="test"))
    image, _ = _phantom(2)
    loaded = load_explained(run.path)
    raw = explain_file(*loaded, image, out_dir=str(tmp_path / "a"))["decision"]
    assert not raw["calibrated"] and raw["model"].startswith("whole_top run")
    save_calibration(run.path, Calibration("temperature", temperature=2.0, fitted_on={"split": "validation"}))
    record = explain_file(*loaded, image, out_dir=str(tmp_path / "b"))
    d = record["decision"]
    logit = np.log(raw["probability"] / (1 - raw["probability"]))
    assert d["calibrated"] and d["probability"] == pytest.approx(1 / (1 + np.exp(-logit / 2)), rel=1e-6)
    assert d["uncalibrated_probability"] == pytest.approx(raw["probability"])
    page = open(record["html"], encoding="utf-8").read()
    lead = page.split("<body>")[1]
    assert lead.index("Decision: <b>P(positive) = %.4f</b>" % d["probability"]) < lead.index("<img")
    assert "temperature T=2" in lead and os.path.isfile(record["figure"])


def test_a_heatmap_classifier_in_fcn_mode_is_explained_through_its_own_heatmap():
    """Shen's conversion ("If we take 7x7 average pooling ... copy the softmax output layer"):
    the explanation's class map of an fcn-mode heatmap classifier is its own heatmap."""
    from mammo_tf.deepminer.explanation import explain
    from mammo_tf.deepminer.graph import split_model
    from mammo_tf.deepminer.pipeline import class_map_pool, class_map_settings
    from mammo_tf.preprocess import to_network_input
    from mammo_tf.shen import build_heatmap_classifier, build_patch_classifier

    patch = build_patch_classifier("vgg16", input_shape=(64, 64, 3), weights=None)
    whole = build_heatmap_classifier(patch, input_shape=(128, 96, 3), pool_size=1, hidden=(4,), mode="fcn")
    assert class_map_settings(whole, None)[0] == "fcn" and class_map_pool(whole) == (2, 2)
    image = np.random.default_rng(7).integers(0, 65535, (128, 96)).astype(np.uint16)
    result = explain(split_model(whole), image, 50.0, top_n=3, pool=class_map_pool(whole))
    heat = np.asarray(keras.Model(whole.input, whole.get_layer("heatmap").output)(
        to_network_input(image[None], 50.0)))[0]
    malignant = heat[..., 2] + heat[..., 4]  # calc_malignant + mass_malignant
    record = result["record"]
    assert record["class_map_size"] == list(malignant.shape) == [3, 2]
    assert record["class_map_max"] == pytest.approx(malignant.max(), rel=1e-4)
    i, j = record["decision_location"]
    np.testing.assert_allclose(list(record["probabilities"].values()), heat[i, j], rtol=1e-4, atol=1e-6)
