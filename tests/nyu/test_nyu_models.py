# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""NYU multi-view model: parameter counts, shapes, weight tying, flips, column transfer."""
import keras
import numpy as np
import pytest
from harness import check_model

from mammo_tf.nyu import (
    CC_INPUT_SIZE,
    MLO_INPUT_SIZE,
    SummedBinaryCrossentropy,
    build_birads_model,
    build_image_wise_model,
    build_resnet22,
    build_view_wise_model,
    exam_probabilities,
    feature_map_shape,
    get_column,
    transfer_columns,
)

TOY_CC, TOY_MLO = (72, 56), (80, 48)


def trainable_count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def test_column_parameter_count_matches_paper():
    column = build_resnet22((None, None, 1))
    assert trainable_count(column) == 2_799_536
    # BN moving statistics (non-trainable) add 2 x 2,000 values.
    assert column.count_params() == 2_799_536 + 4_000


@pytest.mark.parametrize("channels, expected", [(1, 6_132_592), (3, 6_135_728)])
def test_view_wise_parameter_count_matches_paper(channels, expected):
    model = build_view_wise_model(CC_INPUT_SIZE, MLO_INPUT_SIZE, channels=channels)
    assert trainable_count(model) == expected
    assert tuple(model.outputs[0].shape) == (None, 4, 2)


# Trainable parameters, counted from the paper's architecture: two ResNet-22 columns
# (2 x 2,799,536) plus the heads. View-wise: per view type Dense 512->512 (262,656) and 512->8
# (4,104); image-wise: per view Dense 256->256 (65,792) and 256->4 (1,028); BI-RADS: per view
# type Dense 512->512 and 512->3 (1,539). (The 3-channel view-wise count is pinned above.)
COLUMNS = 2 * 2_799_536
HARNESS_CASES = {
    "view_wise": (build_view_wise_model, {"cc": (4, 2), "mlo": (4, 2)}, COLUMNS + 2 * (262_656 + 4_104)),
    "image_wise": (build_image_wise_model, {"cc": (4, 2), "mlo": (4, 2)}, COLUMNS + 4 * (65_792 + 1_028)),
    "birads": (build_birads_model, {"cc": (3,), "mlo": (3,)}, COLUMNS + 2 * (262_656 + 1_539)),
}


@pytest.mark.parametrize("case", sorted(HARNESS_CASES))
def test_model_harness(case, tmp_path):
    builder, output_shapes, trainable = HARNESS_CASES[case]
    model = builder(TOY_CC, TOY_MLO)
    # BN moving statistics (non-trainable): 4,000 values per column (test above), two columns
    check_model(model, _random_exam(np.random.default_rng(7)), output_shapes, tmp_path,
                trainable_params=trainable, params=trainable + 8_000)


def test_harness_fails_on_wrong_shapes_and_non_probabilities(tmp_path):
    """The harness itself can fail: wrong per-output shape, missing output, unnormalised head."""
    x = keras.Input((3,), name="x")
    probs = keras.layers.Dense(2, activation="softmax", name="p")(x)
    logits = keras.layers.Dense(4, name="q")(x)
    model = keras.Model({"x": x}, {"p": probs, "q": logits})
    batch = {"x": np.ones((2, 3), "float32")}
    with pytest.raises(AssertionError):
        check_model(model, batch, {"p": (2,), "q": (4,)}, tmp_path)  # q is no softmax
    with pytest.raises(AssertionError):
        check_model(model, batch, {"p": (3,), "q": (4,)}, tmp_path, probabilities=None)
    with pytest.raises(AssertionError):
        check_model(model, batch, {"p": (2,)}, tmp_path, probabilities=None)
    with pytest.raises(AssertionError):
        check_model(model, batch, {"p": (2,), "q": (4,)}, tmp_path, probabilities=None, params=1)
    check_model(model, batch, {"p": (2,), "q": (4,)}, tmp_path, probabilities=None, params=8 + 16)


def test_final_feature_maps_match_paper():
    assert feature_map_shape((2677, 1942)) == (42, 31, 256)
    assert feature_map_shape((2974, 1748)) == (47, 28, 256)
    # the released code has no stem padding: 1336x968 after the 7x7/2 convolution
    column = build_resnet22((2677, 1942, 1), pooled=False)
    assert tuple(column.get_layer("stem_conv").output.shape[1:3]) == (1336, 968)


def _random_exam(rng, n=2, channels=1):
    return {
        "l_cc": rng.normal(size=(n,) + TOY_CC + (channels,)).astype("float32"),
        "r_cc": rng.normal(size=(n,) + TOY_CC + (channels,)).astype("float32"),
        "l_mlo": rng.normal(size=(n,) + TOY_MLO + (channels,)).astype("float32"),
        "r_mlo": rng.normal(size=(n,) + TOY_MLO + (channels,)).astype("float32"),
    }


def test_columns_are_shared_and_right_views_are_flipped():
    model = build_view_wise_model(TOY_CC, TOY_MLO)
    # one column object per view type, its variables counted once
    ids = [id(v) for v in model.weights]
    assert len(ids) == len(set(ids))
    cc, mlo = get_column(model, "cc"), get_column(model, "mlo")
    assert cc is not mlo
    features = keras.Model(model.inputs, model.get_layer("concat_cc").output)
    rng = np.random.default_rng(0)
    x = _random_exam(rng)
    x["r_cc"] = x["l_cc"][:, :, ::-1].copy()  # mirror image of the left view
    f = np.asarray(features(x))
    np.testing.assert_allclose(f[:, :256], f[:, 256:], atol=1e-5)
    # without the mirror the two halves differ: the flip is really applied
    x_unflipped = dict(x, r_cc=x["l_cc"])
    g = np.asarray(features(x_unflipped))
    assert np.abs(g[:, :256] - g[:, 256:]).max() > 1e-4
    # updating the shared column's variable changes both views' features identically
    stem = cc.get_layer("stem_conv").kernel
    stem.assign(stem.numpy() * 1.5 + 0.01)
    h = np.asarray(features(x))
    assert np.abs(h - f).max() > 1e-4
    np.testing.assert_allclose(h[:, :256], h[:, 256:], atol=1e-5)


def test_view_wise_outputs_are_probabilities_and_average():
    model = build_view_wise_model(TOY_CC, TOY_MLO)
    out = model(_random_exam(np.random.default_rng(1)), training=False)
    for head in ("cc", "mlo"):
        np.testing.assert_allclose(np.asarray(out[head]).sum(-1), 1.0, atol=1e-5)
    p = exam_probabilities(out)
    assert p.shape == (2, 4)
    expected = (np.asarray(out["cc"])[..., 1] + np.asarray(out["mlo"])[..., 1]) / 2
    np.testing.assert_allclose(p, expected, atol=1e-7)


def test_image_wise_model_is_per_view():
    model = build_image_wise_model(TOY_CC, TOY_MLO)
    assert tuple(model.outputs[0].shape) == (None, 4, 2)
    rng = np.random.default_rng(2)
    x = _random_exam(rng)
    out = np.asarray(model(x)["cc"])
    # the left-breast rows depend on L-CC only
    y = dict(x, r_cc=rng.normal(size=x["r_cc"].shape).astype("float32"))
    out2 = np.asarray(model(y)["cc"])
    np.testing.assert_allclose(out[:, [0, 2]], out2[:, [0, 2]], atol=1e-6)
    assert np.abs(out[:, [1, 3]] - out2[:, [1, 3]]).max() > 1e-6


def test_summed_bce_is_sum_over_tasks():
    y_true = np.array([[1, 0, 0, 1]], dtype="float32")
    p1 = np.array([[0.9, 0.2, 0.3, 0.6]], dtype="float32")
    y_pred = np.stack([1 - p1, p1], axis=-1)
    loss = float(SummedBinaryCrossentropy()(y_true, y_pred))
    expected = -(np.log(0.9) + np.log(0.8) + np.log(0.7) + np.log(0.6))
    assert loss == pytest.approx(expected, rel=1e-5)


def test_birads_columns_transfer_to_three_channel_cancer_model():
    birads = build_birads_model(TOY_CC, TOY_MLO, channels=1)
    assert tuple(birads.outputs[0].shape) == (None, 3)
    cancer = build_view_wise_model(TOY_CC, TOY_MLO, channels=3)
    transfer_columns(birads, cancer)
    src = get_column(birads, "mlo").get_layer("layer3_block1_conv2").kernel.numpy()
    dst = get_column(cancer, "mlo").get_layer("layer3_block1_conv2").kernel.numpy()
    np.testing.assert_array_equal(src, dst)
    stem_src = get_column(birads, "cc").get_layer("stem_conv").kernel.numpy()
    stem_dst = get_column(cancer, "cc").get_layer("stem_conv").kernel.numpy()
    assert stem_dst.shape == (7, 7, 3, 16)
    for c in range(3):
        np.testing.assert_array_equal(stem_dst[:, :, c], stem_src[:, :, 0])
    bn_src = get_column(birads, "cc").get_layer("final_bn").moving_variance.numpy()
    bn_dst = get_column(cancer, "cc").get_layer("final_bn").moving_variance.numpy()
    np.testing.assert_array_equal(bn_src, bn_dst)


def test_custom_layers_and_loss_serialise():
    # the full .keras round trip of each NYU model is in test_model_harness
    model = build_image_wise_model(TOY_CC, TOY_MLO)
    for name in ("cc", "flip_r_mlo"):
        layer = model.get_layer(name)
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert type(clone) is type(layer)
    left = np.arange(8, dtype="float32").reshape(1, 2, 2, 2)
    right = left + 100
    out = np.asarray(clone_interleave(model)([left, right]))
    np.testing.assert_array_equal(out[0], [left[0, 0], right[0, 0], left[0, 1], right[0, 1]])
    loss = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(SummedBinaryCrossentropy()))
    assert isinstance(loss, SummedBinaryCrossentropy)


def clone_interleave(model):
    layer = model.get_layer("cc")
    return keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
