# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Heatmaps as channels: sliding patch classifier, averaging, class sums, HDF5 cache."""
import os

import h5py
import keras
import numpy as np
import pytest

from mammo_tf.constants import PATCH_CLASSES
from mammo_tf.nyu import crop as C
from mammo_tf.nyu import heatmaps as H
from mammo_tf.preprocess import to_network_input

PROBS = {"background": 0.1, "calc_benign": 0.2, "calc_malignant": 0.3, "mass_benign": 0.15,
         "mass_malignant": 0.25}


def constant_classifier(size=32):
    """Patch classifier whose softmax is PROBS whatever the patch."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    out = keras.layers.Dense(len(PATCH_CLASSES), activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, out)
    logits = np.log([PROBS[c] for c in PATCH_CLASSES]).astype("float32")
    model.get_layer("predictions").set_weights([np.zeros((3, 5), "float32"), logits])
    return model


def brightness_classifier(size=32):
    """Malignant probability rises with patch brightness (mass_malignant logit = mean)."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    out = keras.layers.Dense(len(PATCH_CLASSES), activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, out)
    kernel = np.zeros((3, 5), "float32")
    kernel[0, PATCH_CLASSES.index("mass_malignant")] = 0.05
    model.get_layer("predictions").set_weights([kernel, np.zeros(5, "float32")])
    return model


def test_positions_cover_the_whole_image():
    from mammo_tf.imaging.windows import window_starts  # the one window grid, cover mode

    assert window_starts(100, 32, 30, cover=True).tolist() == [0, 30, 60, 68]
    assert window_starts(20, 32, 30, cover=True).tolist() == [0]


def test_constant_classifier_gives_class_sums_everywhere():
    image = np.random.default_rng(0).integers(0, 60000, size=(70, 50)).astype(np.uint16)
    maps = H.compute_pixel_heatmaps(image, constant_classifier(), pixel_mean=0.0, patch_size=32,
                              stride=12, batch_size=7, progress=False)
    assert maps.shape == (70, 50, 2)
    np.testing.assert_allclose(maps[..., 0], 0.55, atol=1e-5)  # malignant = calc + mass
    np.testing.assert_allclose(maps[..., 1], 0.35, atol=1e-5)  # benign


def test_overlapping_patches_are_averaged():
    image = np.zeros((64, 64), np.uint16)
    image[:16, :16] = 65535  # bright corner
    classifier = brightness_classifier(size=16)
    # patch 32 resized to the classifier's 16 px input; stride 16 -> 3 x 3 patches
    maps = H.compute_pixel_heatmaps(image, classifier, 0.0, patch_size=32, stride=16, progress=False)
    patch_p = {}
    for y in (0, 16, 32):
        for x in (0, 16, 32):
            patch = C.resize(image[y:y + 32, x:x + 32].astype(np.float32), (16, 16))
            p = np.asarray(classifier(to_network_input(patch[None], 0.0)))[0]
            patch_p[(y, x)] = p[PATCH_CLASSES.index("calc_malignant")] + p[PATCH_CLASSES.index("mass_malignant")]
    # pixel (20, 20) is covered by the four patches with origins in {0, 16}^2
    expected = np.mean([patch_p[(y, x)] for y in (0, 16) for x in (0, 16)])
    assert maps[20, 20, 0] == pytest.approx(expected, abs=1e-5)
    # pixel (5, 5) only by the patch at the origin
    assert maps[5, 5, 0] == pytest.approx(patch_p[(0, 0)], abs=1e-5)
    assert maps[5, 5, 0] > maps[60, 60, 0]


def test_cache_next_to_image_is_reused_and_invalidated(tmp_path):
    image_path = str(tmp_path / "view.png")
    image = np.full((60, 40), 1000, np.uint16)
    crop = C.Box(5, 55, 0, 40)
    maps = H.heatmaps_for_image(image_path, image, crop, constant_classifier(), 0.0, "const",
                                patch_size=32, stride=8, progress=False)
    assert maps.shape == (50, 40, 2)
    cache = H.cache_path(image_path)
    assert os.path.exists(cache)
    with h5py.File(cache, "r") as f:
        assert set(f) == {"malignant", "benign"} and f.attrs["stride"] == 8

    class Exploding:
        input_shape = (None, 32, 32, 3)

        def predict_on_batch(self, x):
            raise AssertionError("cache not used")

    again = H.heatmaps_for_image(image_path, image, crop, Exploding(), 0.0, "const",
                                 patch_size=32, stride=8, progress=False)
    np.testing.assert_array_equal(again, maps)
    assert H.read_cached_heatmaps(image_path, crop, 32, 8) is not None  # any classifier
    assert H.read_cached_heatmaps(image_path, crop, 32, 16) is None  # other stride
    assert H.read_cached_heatmaps(image_path, C.Box(0, 60, 0, 40), 32, 8) is None  # other crop
    with pytest.raises(AssertionError, match="cache not used"):
        H.heatmaps_for_image(image_path, image, crop, Exploding(), 0.0, "other-model",
                             patch_size=32, stride=8, progress=False)
