# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The patch baseline (sliding window) and the conversion that reproduces it."""
import numpy as np
import pytest

from mammo_tf.constants import PATCH_CLASSES
from mammo_tf.shen import sliding


def test_window_indices_cut_the_windows_row_major():
    image = np.arange(6 * 5).reshape(6, 5)
    index = sliding.window_indices((6, 5), (3, 2), 2)
    assert sliding.heatmap_shape((6, 5), (3, 2), 2) == (2, 2)
    windows = image.ravel()[index].reshape(4, 3, 2)
    np.testing.assert_array_equal(windows[0], image[0:3, 0:2])
    np.testing.assert_array_equal(windows[1], image[0:3, 2:4])
    np.testing.assert_array_equal(windows[2], image[2:5, 0:2])
    np.testing.assert_array_equal(windows[3], image[2:5, 2:4])
    with pytest.raises(ValueError, match="larger than the image"):
        sliding.window_starts(4, 5, 1)


def test_heatmap_scores_by_hand():
    heat = np.zeros((1, 2, 1, 5))
    heat[0, 0, 0] = [0.5, 0.1, 0.2, 0.1, 0.1]  # malignant 0.3, lesion 0.5
    heat[0, 1, 0] = [0.2, 0.6, 0.05, 0.1, 0.05]  # malignant 0.1, lesion 0.8
    scores = sliding.heatmap_scores(heat, PATCH_CLASSES)
    assert scores["max_malignant"][0] == pytest.approx(0.3)
    assert scores["max_lesion"][0] == pytest.approx(0.8)


def _random_bn(model, seed=0):
    """Non-trivial BatchNormalization statistics, so inference mode matters."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma * rng.uniform(0.5, 1.5, gamma.shape).astype(gamma.dtype),
                               beta + rng.normal(0, 0.1, beta.shape).astype(beta.dtype),
                               mean + rng.normal(0, 0.1, mean.shape).astype(mean.dtype),
                               var * rng.uniform(0.5, 1.5, var.shape).astype(var.dtype)])


@pytest.mark.parametrize("backbone", ["vgg16", "resnet50"])
def test_converted_heatmap_classifier_reproduces_the_sliding_window_baseline(backbone):
    """Issue 12, item 2: before any training, the heatmap classifier converted from a patch
    classifier reproduces the sliding-window heatmap at the same stride (atol 1e-4), and its
    image scores give the baseline's AUC."""
    import keras

    from mammo_tf.evaluate import roc_auc
    from mammo_tf.shen import build_heatmap_classifier, build_patch_classifier

    keras.utils.set_random_seed(1)
    patch = build_patch_classifier(backbone, input_shape=(32, 32, 3))
    _random_bn(patch)
    whole = build_heatmap_classifier(patch, input_shape=(64, 56, 3), pool_size=2, hidden=(4,),
                                     shortcut=True, mode="sliding", stride=8)
    rng = np.random.default_rng(0)
    images = rng.normal(0, 40, (3, 64, 56, 3)).astype(np.float32)
    expected = sliding.sliding_window_heatmap(patch, images, stride=8)
    assert expected.shape == (3, 5, 4, 5)
    heat_model = keras.Model(whole.input, whole.get_layer("heatmap_grid").output)
    got = np.asarray(heat_model(images, training=False))
    np.testing.assert_allclose(got, expected, atol=1e-4)
    labels = [0, 1, 1]
    base = sliding.heatmap_scores(expected, PATCH_CLASSES)["max_malignant"]
    conv = sliding.heatmap_scores(got, PATCH_CLASSES)["max_malignant"]
    assert roc_auc(labels, conv) == roc_auc(labels, base)


def test_fcn_conversion_does_not_reproduce_isolated_patches():
    """The paper's literal FCN conversion sees context and padding the patches never had:
    on the same windows its heatmap differs from the patch classifier's (why 'sliding' is
    the default)."""
    import keras

    from mammo_tf.shen import build_heatmap_classifier, build_patch_classifier

    keras.utils.set_random_seed(2)
    patch = build_patch_classifier("vgg16", input_shape=(64, 64, 3))
    _random_bn(patch)
    fcn = build_heatmap_classifier(patch, input_shape=(128, 128, 3), pool_size=1, hidden=(4,),
                                   mode="fcn")
    images = np.random.default_rng(3).normal(0, 40, (2, 128, 128, 3)).astype(np.float32)
    got = np.asarray(keras.Model(fcn.input, fcn.get_layer("heatmap").output)(images))
    expected = sliding.sliding_window_heatmap(patch, images, stride=32)
    assert got.shape == expected.shape == (2, 3, 3, 5)
    assert np.abs(got - expected).max() > 1e-3


def test_init_from_baseline_starts_at_the_baseline_ranking():
    """The untrained converted model IS the patch baseline: its P(positive) is a monotone
    function of the max P(malignant) over the windows, so its AUC equals the baseline's."""
    import keras

    from mammo_tf.evaluate import roc_auc
    from mammo_tf.shen import build_heatmap_classifier, build_patch_classifier
    from scipy.stats import spearmanr

    keras.utils.set_random_seed(4)
    patch = build_patch_classifier("vgg16", input_shape=(32, 32, 3))
    _random_bn(patch)
    whole = build_heatmap_classifier(patch, input_shape=(64, 64, 3), pool_size=5, hidden=(8,),
                                     shortcut=True, mode="sliding", stride=8,
                                     init_from_baseline=True)
    images = np.random.default_rng(5).normal(0, 60, (8, 64, 64, 3)).astype(np.float32)
    baseline = sliding.patch_baseline_scores(patch, images, 8, PATCH_CLASSES)["max_malignant"]
    p = np.asarray(whole(images, training=False))[:, 1]
    assert spearmanr(p, baseline).statistic == pytest.approx(1.0)
    labels = [0, 1, 0, 1, 1, 0, 0, 1]
    assert roc_auc(labels, p) == pytest.approx(roc_auc(labels, baseline))
    with pytest.raises(ValueError, match="shortcut"):
        build_heatmap_classifier(patch, input_shape=(64, 64, 3), pool_size=5, shortcut=False,
                                 stride=8, init_from_baseline=True)


def test_sliding_heatmap_classifier_saves_and_loads(tmp_path):
    import keras

    from mammo_tf.runs import load_keras_model
    from mammo_tf.shen import build_heatmap_classifier, build_patch_classifier

    patch = build_patch_classifier("vgg16", input_shape=(32, 32, 3))
    whole = build_heatmap_classifier(patch, input_shape=(48, 40, 3), pool_size=2, hidden=(4,),
                                     mode="sliding", stride=8)
    path = str(tmp_path / "m.keras")
    whole.save(path)
    again = load_keras_model(path)
    x = np.random.default_rng(0).normal(0, 30, (2, 48, 40, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(whole(x)), atol=1e-6)
    assert isinstance(again.get_layer("windows"), keras.layers.Layer)


def test_heatmap_to_pixels_averages_overlapping_windows():
    heat = np.array([[1.0, 3.0]])
    pixels = sliding.heatmap_to_pixels(heat, (2, 4), (2, 3), 1)
    # columns 0: window 0 only; 1-2: both; 3: window 1 only
    np.testing.assert_allclose(pixels, [[1, 2, 2, 3], [1, 2, 2, 3]])
    with pytest.raises(ValueError, match="does not match"):
        sliding.heatmap_to_pixels(np.zeros((2, 2)), (2, 4), (2, 3), 1)


def test_most_probable_window_centre_points_at_the_window_not_the_border():
    """The pixel map averages fewer windows at the borders; the window centre has no such bias."""
    from mammo_tf.shen.sliding import heatmap_to_pixels, most_probable_window_centre

    cells = np.full((5, 4), 0.1)
    cells[0, 0] = 0.6   # a corner window, seen alone by the corner pixels
    cells[2, 2] = 0.9   # the most probable window: rows 24..55, cols 24..55 at stride 12
    pixels = heatmap_to_pixels(cells, (80, 68), 32, 12)
    assert np.unravel_index(np.argmax(pixels), pixels.shape) == (0, 0)  # the border bias
    assert most_probable_window_centre(cells, (80, 68), 32, 12) == (24 + 16, 24 + 16)
    with pytest.raises(ValueError, match="does not match"):
        most_probable_window_centre(cells[:4], (80, 68), 32, 12)
