# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Influence, CAM / Grad-CAM / HiResCAM identities and model splitting (nested backbones included)."""
import numpy as np
import pytest

from explain_fixtures import gap_dense_model, nested_model, top_block_model
from mammo_tf.deepminer import maps
from mammo_tf.deepminer.gradients import feature_gradients
from mammo_tf.deepminer.graph import feature_layer_name, split_model
from mammo_tf.deepminer.units import canonical_unit_id, unit_channel, unit_id


def _x(n=3, size=(32, 32), seed=0):
    return np.random.default_rng(seed).normal(0, 1, (n, *size, 3)).astype("float32")


@pytest.mark.parametrize("builder", [gap_dense_model, nested_model])
def test_influence_equals_max_activation_times_weight_and_gradient_form_agrees(builder):
    model = builder()
    split = split_model(model)
    assert split.gap_dense
    x = _x()
    features, influence, probs = maps.compute_influence(split, x)
    # DeepMiner's definition, by hand: max over locations of A_k times w_ck.
    w = model.get_layer("predictions").get_weights()[0]
    by_hand = features.reshape(3, -1, features.shape[-1]).max(axis=1)[:, :, None] * w[None]
    np.testing.assert_allclose(influence, by_hand, rtol=1e-6, atol=1e-7)
    _, grad_influence, grad_probs = maps.compute_influence(split, x, force_gradient=True)
    np.testing.assert_allclose(grad_influence, influence, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(probs, model.predict_on_batch(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad_probs, probs, rtol=1e-4, atol=1e-6)


def test_cam_equals_grad_cam_times_z_up_to_relu_and_hires_cam():
    split = split_model(nested_model())
    x = _x()
    for c in range(split.num_classes):
        features, grads, _ = feature_gradients(split, x, [c])
        z = features.shape[1] * features.shape[2]
        cam = maps.cam(features, split.kernel, c)
        np.testing.assert_allclose(np.maximum(cam, 0), maps.grad_cam(features, grads[0]) * z, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(cam, maps.hires_cam(features, grads[0]) * z, rtol=1e-4, atol=1e-6)
        # CAM's mean plus the bias is the pre-softmax score.
        _, _, scores = feature_gradients(split, x, [c])
        np.testing.assert_allclose(cam.mean(axis=(1, 2)) + split.bias[c], scores[:, c], rtol=1e-4, atol=1e-5)


def test_split_reassembles_the_model_nested_paths_included():
    model = nested_model()
    x = _x()
    for layer in (None, "backbone", "backbone/conv_a"):
        split = split_model(model, layer)
        out = np.asarray(split.head(split.features(x)))
        np.testing.assert_allclose(out, model.predict_on_batch(x), rtol=1e-5, atol=1e-6)
    assert split_model(model).layer_name == "backbone"
    assert not split_model(model, "backbone/conv_a").gap_dense
    with pytest.raises(ValueError, match="no layer"):
        split_model(model, "backbone/nope")


def test_top_blocks_use_gradient_form_and_maps_work():
    model = top_block_model()
    assert feature_layer_name(model) == "top2_conv"
    split = split_model(model, "cut")
    assert not split.gap_dense
    x = _x(2)
    features, influence, probs = maps.compute_influence(split, x)
    assert influence.shape == (2, split.num_units, 2)
    np.testing.assert_allclose(probs, model.predict_on_batch(x), rtol=1e-4, atol=1e-6)
    # Gradient influence = max(A) x mean(dy/dA) x Z: check the mean gradient by a finite difference
    # of a uniform shift of one channel (d score / d shift = sum over locations of dy/dA).
    _, grads, scores = feature_gradients(split, x, [1])
    k, eps = 2, 1e-2
    shifted = features.copy()
    shifted[..., k] += eps
    with split.pre_activation():
        s2 = np.asarray(split.head(shifted))
    fd = (s2[:, 1] - scores[:, 1]) / eps
    np.testing.assert_allclose(fd, grads[0][..., k].sum(axis=(1, 2)), rtol=0.05, atol=1e-3)
    class_maps, _, _ = maps.class_maps(split, x, 1)
    assert set(class_maps) == {"grad_cam", "hires_cam"}
    assert class_maps["grad_cam"].min() >= 0


def test_mammo_tf_patch_classifier_builder_is_supported():
    from mammo_tf import shen as models

    model = models.build_patch_classifier("vgg16", num_classes=3, weights=None, input_shape=(32, 32, 3))
    split = split_model(model)
    assert split.gap_dense and split.layer_name == models.feature_layer_name(model)
    x = _x(2)
    _, influence, _ = maps.compute_influence(split, x)
    _, grad_influence, _ = maps.compute_influence(split, x, force_gradient=True)
    np.testing.assert_allclose(grad_influence, influence, rtol=1e-3, atol=1e-5)


def test_unit_ids_are_canonical_and_one_based():
    assert unit_id(0) == "unit_0001"
    assert unit_id(1999) == "unit_2000"
    for form in ("unit_0003", "unit_3", "3", "UNIT_003", 3):
        assert canonical_unit_id(form) == "unit_0003"
    assert unit_channel("unit_0003") == 2
    for bad in ("unit_0000", "neuron_3", "", "unit_-1"):
        with pytest.raises(ValueError):
            canonical_unit_id(bad)


def test_whole_image_classifier_top_blocks():
    from mammo_tf import shen as models

    patch = models.build_patch_classifier("vgg16", num_classes=3, weights=None, input_shape=(32, 32, 3))
    model = models.build_whole_image_classifier(patch, top="vgg", depths=(8, 8), repetitions=(1, 1),
                                                input_shape=(128, 128, 3))
    x = _x(1, (128, 128))
    split = split_model(model)  # the layer feeding global_pool: a GAP+Dense head -> CAM
    assert split.layer_name.startswith("top2") and split.gap_dense
    cut = split_model(model, models.CUT_LAYER["vgg16"])  # backbone units behind the top blocks
    assert not cut.gap_dense and cut.num_units == 512
    maps_, features, probs = maps.class_maps(cut, x, 1)
    assert set(maps_) == {"grad_cam", "hires_cam"} and maps_["grad_cam"].shape == features.shape[:3]
    np.testing.assert_allclose(probs, model.predict_on_batch(x), rtol=1e-4, atol=1e-6)
