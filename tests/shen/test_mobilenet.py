"""The "mobilenet" backbone (Keras Applications MobileNet v1, alpha 0.25) and its real ImageNet
weights: the Keras 2.0.4 file ../shared/data/pretrained/mobilenet_2_5_224_tf_no_top.h5, loaded
layer by layer by name."""
import os

import h5py
import keras
import numpy as np
import pytest

from mammo_tf import shen as models
from mammo_tf.models import backbones

WEIGHTS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "pretrained",
                       "mobilenet_2_5_224_tf_no_top.h5")
needs_weights = pytest.mark.skipif(
    not os.path.isfile(WEIGHTS),
    reason=f"real MobileNet weights not found at {WEIGHTS} (../shared/data absent)")


def _file_arrays(path):
    """{layer: [arrays in the file's weight_names order]} of a Keras 2 HDF5 weights file."""
    arrays = {}
    with h5py.File(path, "r") as f:
        for name in f.attrs["layer_names"]:
            group = f[name.decode()]
            names = [w.decode() for w in group.attrs["weight_names"]]
            if names:
                arrays[name.decode()] = [np.asarray(group[w]) for w in names]
    return arrays


def test_backbone_parameter_count():
    """Keras Applications' MobileNet v1, alpha 0.25, no top: 218,544 parameters (the count
    ../shared/data/README.md gives for the weights file)."""
    base = backbones.build_backbone("mobilenet", keras.Input((224, 224, 3)))
    assert base.count_params() == 218_544
    assert tuple(base.get_layer(backbones.CUT_LAYER["mobilenet"]).output.shape[1:]) == (7, 7, 256)
    assert base.layers[1].name == backbones.MOBILENET_RESCALE_LAYER


def test_input_is_rescaled_to_the_imagenet_range():
    """The network input (0-255 minus the pixel mean) is divided by 127.5 before conv1, the
    [-1, 1] scale MobileNet's ImageNet weights were trained on."""
    model = models.build_patch_classifier("mobilenet", input_shape=(32, 32, 3))
    probe = keras.Model(model.inputs, model.get_layer(backbones.MOBILENET_RESCALE_LAYER).output)
    x = np.full((1, 32, 32, 3), 127.5, "float32")
    np.testing.assert_allclose(np.asarray(probe(x)), 1.0, rtol=1e-6)


@needs_weights
def test_real_weights_load_by_name_and_equal_the_file():
    model = models.build_patch_classifier("mobilenet", weights=WEIGHTS, input_shape=(64, 64, 3))
    arrays = _file_arrays(WEIGHTS)
    assert len(arrays) == len([layer for layer in model.layers if layer.weights]) - 1  # + predictions
    for name, expected in arrays.items():
        got = model.get_layer(name).get_weights()
        assert len(got) == len(expected), name
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b, err_msg=name)
    random = models.build_patch_classifier("mobilenet", weights=None, input_shape=(64, 64, 3))
    assert not np.allclose(random.get_layer("conv1").get_weights()[0], arrays["conv1"][0])
    x = np.random.default_rng(0).normal(0, 40, (2, 64, 64, 3)).astype("float32")
    feature = backbones.CUT_LAYER["mobilenet"]
    pretrained_features = keras.Model(model.inputs, model.get_layer(feature).output)(x)
    random_features = keras.Model(random.inputs, random.get_layer(feature).output)(x)
    assert not np.allclose(np.asarray(pretrained_features), np.asarray(random_features), atol=1e-3)


@needs_weights
def test_imagenet_uses_the_cached_file(tmp_path, monkeypatch):
    """weights="imagenet" finds Keras' own file name in the Keras cache (offline route)."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    os.makedirs(tmp_path / "models")
    os.symlink(os.path.abspath(WEIGHTS), tmp_path / "models" / backbones.IMAGENET_NOTOP_FILES["mobilenet"])
    model = models.build_patch_classifier("mobilenet", weights="imagenet", input_shape=(32, 32, 3))
    np.testing.assert_array_equal(model.get_layer("conv_pw_13").get_weights()[0],
                                  _file_arrays(WEIGHTS)["conv_pw_13"][0])


def test_mismatched_legacy_file_names_the_layer(tmp_path):
    path = str(tmp_path / "bad.h5")
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.0.4"
        f.attrs["layer_names"] = np.array([b"conv1"])
        group = f.create_group("conv1")
        group.attrs["weight_names"] = np.array([b"conv1/kernel:0"])
        group["conv1/kernel:0"] = np.zeros((3, 3, 3, 8), "float32")
    with pytest.raises(ValueError, match="bad.h5.*not in the file"):
        models.build_patch_classifier("mobilenet", weights=path, input_shape=(32, 32, 3))
    with h5py.File(path, "a") as f:
        del f["conv1/conv1/kernel:0"]
        f["conv1/conv1/kernel:0"] = np.zeros((3, 3, 3, 9), "float32")
    base = backbones.build_backbone("mobilenet", keras.Input((32, 32, 3)))
    only_conv1 = keras.Model(base.inputs, base.get_layer("conv1").output)
    with pytest.raises(ValueError, match=r"'conv1' weight 'kernel' has shape \(3, 3, 3, 9\)"):
        backbones.load_legacy_h5_by_name(only_conv1, path)


def test_whole_image_and_heatmap_conversion(tmp_path):
    """The whole-image and heatmap builders accept a MobileNet patch classifier; the backbone
    is told from layer names; the whole-image cut is the 1/32 feature map."""
    patch = models.build_patch_classifier("mobilenet", input_shape=(32, 32, 3))
    assert models.backbone_of(patch) == "mobilenet"
    whole = models.build_whole_image_classifier(patch, depths=(8, 8), repetitions=(1, 1),
                                                input_shape=(128, 128, 3))
    assert tuple(whole.get_layer("conv_pw_13_relu").output.shape[1:]) == (4, 4, 256)
    for layer in patch.layers:
        if layer.weights and layer.name != "predictions":
            for a, b in zip(layer.get_weights(), whole.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(a, b)
    heat = models.build_heatmap_classifier(patch, input_shape=(64, 64, 3), mode="sliding", stride=16,
                                           hidden=(4,))
    assert tuple(heat.get_layer("heatmap_grid").output.shape[1:]) == (3, 3, 5)
    models.set_trainable(patch, backbones.UNFREEZE_FROM["mobilenet"])
    assert not patch.get_layer("conv_pw_5").trainable and patch.get_layer("conv_dw_6").trainable
