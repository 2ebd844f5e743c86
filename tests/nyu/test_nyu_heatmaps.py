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
from data_layer_fixtures import make_dicom

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
    classifier = brightness_classifier(size=32)
    # windows of the classifier's own 32 px input (never resized); stride 16 -> 3 x 3 patches
    maps = H.compute_pixel_heatmaps(image, classifier, 0.0, patch_size=32, stride=16, progress=False)
    patch_p = {}
    for y in (0, 16, 32):
        for x in (0, 16, 32):
            patch = image[y:y + 32, x:x + 32].astype(np.float32)
            p = np.asarray(classifier(to_network_input(patch[None], 0.0)))[0]
            patch_p[(y, x)] = p[PATCH_CLASSES.index("calc_malignant")] + p[PATCH_CLASSES.index("mass_malignant")]
    # pixel (20, 20) is covered by the four patches with origins in {0, 16}^2
    expected = np.mean([patch_p[(y, x)] for y in (0, 16) for x in (0, 16)])
    assert maps[20, 20, 0] == pytest.approx(expected, abs=1e-5)
    # pixel (5, 5) only by the patch at the origin
    assert maps[5, 5, 0] == pytest.approx(patch_p[(0, 0)], abs=1e-5)
    assert maps[5, 5, 0] > maps[60, 60, 0]


def test_windows_are_not_resized_to_another_classifier_size():
    """Wu et al.: "an auxiliary model to classify 256×256 -pixel patches". A classifier with
    another fixed input size (a 224 px Shen classifier) is not fed resized 256 px windows
    (a 1.14x scale change): the error names the patch size to use."""
    image = np.zeros((64, 64), np.uint16)
    with pytest.raises(ValueError, match="--heatmap-patch-size 16"):
        H.compute_pixel_heatmaps(image, brightness_classifier(size=16), 0.0, patch_size=32,
                                 stride=16, progress=False)


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


def _write_dicom12(path, image12):
    """A minimal 12-bit MONOCHROME2 MG DICOM file."""
    make_dicom(path, image12, bits_stored=12)


class RecordingShenClassifier:
    """A Shen-style patch classifier (``to_network_input`` patches) that records its inputs;
    its malignant probability rises with patch brightness, so the maps depend on the scale."""

    name = "recording_shen_patch_classifier"
    input_shape = (None, 32, 32, 3)

    def __init__(self):
        self.inputs = []

    def predict_on_batch(self, x):
        self.inputs.append(np.array(x))
        logits = np.zeros((len(x), len(PATCH_CLASSES)), np.float32)
        logits[:, PATCH_CLASSES.index("mass_malignant")] = x.mean(axis=(1, 2, 3)) / 50.0
        return keras.ops.convert_to_numpy(keras.ops.softmax(logits))


def test_12bit_dicom_view_and_its_16bit_png_give_the_same_heatmap_and_nyu_inputs(tmp_path):
    """NYU views are read by the one image reader (``nyu.data.read_view_image`` is
    ``io.images.load_image``): a 12-bit DICOM view and the same image stored as 16-bit PNG (as
    ``mammo-tf convert`` writes it: ``read_mammogram`` + ``to_uint16``) give the same array,
    hence the same Shen heatmap-classifier patches (``to_network_input`` expects the 16-bit
    scale: the DICOM used to arrive about 16x darker), the same heatmaps and the same NYU view
    input (1 and 3 channels, with and without augmentation)."""
    from mammo_tf.datasets.phantom import generate_case
    from mammo_tf.io import read_mammogram, to_uint16, write_png16
    from mammo_tf.nyu.data import ExamDataset, read_view_image
    from mammo_tf.nyu.views import PreprocessConfig, view_geometry

    image12 = generate_case(0, 0, size=(96, 64), profile="inbreast")["views"]["L-CC"]["image"] >> 4
    dcm, png = str(tmp_path / "l_cc.dcm"), str(tmp_path / "l_cc.png")
    _write_dicom12(dcm, image12)
    write_png16(png, to_uint16(*read_mammogram(dcm)))

    from_dcm, from_png = read_view_image(dcm), read_view_image(png)
    assert from_dcm.dtype == np.uint16
    np.testing.assert_array_equal(from_dcm, from_png)
    # the 16-bit scale: 12-bit value v -> v * 65535 / 4095 (not the raw stored values)
    np.testing.assert_allclose(from_dcm, image12 * (65535 / 4095), atol=0.51)
    assert from_dcm.max() > 4096

    config = PreprocessConfig((64, 48), (64, 48))
    geometry = view_geometry(from_dcm, "CC", config)
    assert geometry == view_geometry(from_png, "CC", config)
    recorders, maps = {}, {}
    for path, image in ((dcm, from_dcm), (png, from_png)):
        recorders[path] = RecordingShenClassifier()
        maps[path] = H.heatmaps_for_image(path, image, geometry.crop, recorders[path], 40.0,
                                          "recorder", patch_size=32, stride=16, progress=False)
    dcm_inputs, png_inputs = (np.concatenate(recorders[p].inputs) for p in (dcm, png))
    np.testing.assert_array_equal(dcm_inputs, png_inputs)
    crop = from_png[geometry.crop.slices()]
    np.testing.assert_allclose(dcm_inputs[0], to_network_input(crop[:32, :32], 40.0), rtol=1e-6)
    np.testing.assert_array_equal(maps[dcm], maps[png])

    def view_inputs(path, **kwargs):
        row = {"exam_id": "E1", **{v: path for v in ("l_cc", "r_cc", "l_mlo", "r_mlo")}}
        data = ExamDataset([row], config, batch_size=1, heatmap_patch_size=32,
                           heatmap_stride=16, **kwargs)
        return data.view_input(0, "l_cc")

    for kwargs in ({}, {"augment": True, "seed": 3}, {"channels": 3}):
        x_dcm, x_png = view_inputs(dcm, **kwargs), view_inputs(png, **kwargs)
        assert x_dcm.shape == (64, 48, kwargs.get("channels", 1))
        np.testing.assert_array_equal(x_dcm, x_png)
