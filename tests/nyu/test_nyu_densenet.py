# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The NYU heatmap patch classifier: DenseNet-121 with a 4-way softmax (malignant = 0, benign
= 1), its ``.npz`` import of torchvision state dicts, parity with torchvision when torch is
installed, and heatmaps from it (overlapping window probabilities averaged per pixel)."""
import numpy as np
import pytest

from mammo_tf.nyu.densenet import (BENIGN_INDEX, MALIGNANT_INDEX, build_densenet121_patch_classifier,
                                   load_densenet_arrays, standardise_image, to_patch_input)
from mammo_tf.nyu.weights import load_pytorch_arrays

NYU_PATCH_MODEL = (
    "we trained an auxiliary model to classify 256×256 -pixel patches of mammograms, predicting "
    "presence or absence of malignant and benign findings in a given patch")  # Wu et al., III-B
NYU_HEATMAPS = (
    "we apply this auxiliary network to the full resolution mammograms in a sliding window "
    "fashion to create two heatmaps for each image ... one containing an estimated probability "
    "of a malignant finding for each pixel, and the other containing an estimated probability "
    "of a benign finding")  # Wu et al., III-B
# keras.applications.DenseNet121(include_top=False) + Dense(1024 -> 4)
PARAMS = 7_037_504 + 1024 * 4 + 4


def torchvision_state_shapes(num_classes=4, prefix=""):
    """Key -> shape of a torchvision ``densenet121`` state dict, written out from torchvision's
    naming (growth 32, bottleneck 4 x 32, 64 initial features, blocks 6-12-24-16)."""
    shapes = {"features.conv0.weight": (64, 3, 7, 7)}

    def bn(name, c):
        for field in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.{field}"] = (c,)
        shapes[f"{name}.num_batches_tracked"] = ()

    bn("features.norm0", 64)
    c = 64
    for b, layers in enumerate((6, 12, 24, 16), start=1):
        for lyr in range(1, layers + 1):
            base = f"features.denseblock{b}.denselayer{lyr}"
            bn(f"{base}.norm1", c + (lyr - 1) * 32)
            shapes[f"{base}.conv1.weight"] = (128, c + (lyr - 1) * 32, 1, 1)
            bn(f"{base}.norm2", 128)
            shapes[f"{base}.conv2.weight"] = (32, 128, 3, 3)
        c += layers * 32
        if b < 4:
            bn(f"features.transition{b}.norm", c)
            shapes[f"features.transition{b}.conv.weight"] = (c // 2, c, 1, 1)
            c //= 2
    bn("features.norm5", c)
    shapes["classifier.weight"] = (num_classes, c)
    shapes["classifier.bias"] = (num_classes,)
    return {prefix + k: v for k, v in shapes.items()}


def _fake_arrays(prefix="", seed=0):
    rng = np.random.default_rng(seed)
    arrays = {}
    for key, shape in torchvision_state_shapes(prefix=prefix).items():
        if key.endswith("num_batches_tracked"):
            value = np.array(7, np.int64)
        elif key.endswith(("running_var", ".weight")) and len(shape) == 1:  # BN scale, variance
            value = rng.uniform(0.5, 1.5, shape)
        elif len(shape) == 1:  # BN shift and mean, classifier bias
            value = rng.normal(0, 0.1, shape)
        else:  # conv and linear weights, He-scaled so that activations stay alive
            value = rng.normal(0, np.sqrt(2.0 / np.prod(shape[1:])), shape)
        arrays[key] = np.asarray(value, np.int64 if value.dtype == np.int64 else np.float32)
    # a small classifier keeps the softmax away from saturation (outputs that can differ)
    arrays[prefix + "classifier.weight"] *= 0.02
    return arrays


@pytest.fixture(scope="module")
def model():
    """The authors' variant (TF "SAME" stem), any input size; tests load their own weights."""
    return build_densenet121_patch_classifier(input_shape=(None, None, 3))


@pytest.fixture(scope="module")
def symmetric_model():
    """keras.applications' symmetric padding (= torchvision's), any input size."""
    return build_densenet121_patch_classifier(input_shape=(None, None, 3), padding="symmetric")


def test_densenet121_patch_classifier_architecture(model, symmetric_model):
    """Wu et al., section III-B: "an auxiliary model to classify 256×256 -pixel patches of
    mammograms, predicting presence or absence of malignant and benign findings"; the authors'
    code: torchvision densenet121 with 4 classes, every conv and max pool TensorFlow "SAME"."""
    import keras

    assert "256×256" in NYU_PATCH_MODEL
    assert model.count_params() == PARAMS and model.output_shape == (None, 4)
    assert (MALIGNANT_INDEX, BENIGN_INDEX) == (0, 1)
    assert model.get_layer("conv1_conv").padding == "same" and model.get_layer("pool1").padding == "same"
    assert not any(isinstance(l, keras.layers.ZeroPadding2D) for l in model.layers)
    assert model.get_layer("conv1_bn").epsilon == pytest.approx(1e-5)
    plain = symmetric_model
    assert plain.count_params() == PARAMS
    assert sum(isinstance(l, keras.layers.ZeroPadding2D) for l in plain.layers) == 2
    assert tuple(model.get_layer("relu").output.shape[-1:]) == (1024,)
    probs = model.predict(np.zeros((1, 256, 256, 3), np.float32), verbose=0)
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-5)


@pytest.mark.parametrize("prefix, old_keys", [("", False), ("densenet.", False), ("module.", True)])
def test_npz_layout_lands_every_array_in_its_keras_layer(model, tmp_path, prefix, old_keys):
    """A fake ``.npz`` with torchvision's keys and shapes: every array lands transposed in the
    layer of the documented mapping; the pre-0.3 torchvision spelling (``norm.1``) loads too."""
    arrays = _fake_arrays(prefix)
    stored = dict(arrays)
    if old_keys:
        import re

        stored = {re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", k): v
                  for k, v in arrays.items()}
        assert f"{prefix}features.denseblock1.denselayer1.norm.1.weight" in stored
    path = tmp_path / "densenet.npz"
    np.savez(path, **stored)
    result = load_pytorch_arrays(model, path)  # the same route as the ResNet-22 columns
    assert result["unused"] == [] and result["loaded"] == len(arrays)
    p = prefix
    np.testing.assert_array_equal(model.get_layer("conv1_conv").kernel.numpy(),
                                  arrays[p + "features.conv0.weight"].transpose(2, 3, 1, 0))
    bn = model.get_layer("conv3_block7_1_bn")
    for variable, field in zip((bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance),
                               ("weight", "bias", "running_mean", "running_var")):
        np.testing.assert_array_equal(
            variable.numpy(), arrays[f"{p}features.denseblock2.denselayer7.norm2.{field}"])
    np.testing.assert_array_equal(model.get_layer("conv5_block16_2_conv").kernel.numpy(),
                                  arrays[p + "features.denseblock4.denselayer16.conv2.weight"]
                                  .transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(model.get_layer("pool4_conv").kernel.numpy()[0, 0],
                                  arrays[p + "features.transition3.conv.weight"][:, :, 0, 0].T)
    np.testing.assert_array_equal(model.get_layer("bn").moving_variance.numpy(),
                                  arrays[p + "features.norm5.running_var"])
    dense = model.get_layer("predictions")
    np.testing.assert_array_equal(dense.kernel.numpy(), arrays[p + "classifier.weight"].T)
    np.testing.assert_array_equal(dense.bias.numpy(), arrays[p + "classifier.bias"])


def test_npz_errors_name_the_file_and_the_array(model, tmp_path):
    arrays = _fake_arrays()
    missing = dict(arrays)
    del missing["features.denseblock3.denselayer5.conv1.weight"]
    np.savez(tmp_path / "missing.npz", **missing)
    with pytest.raises(ValueError, match=r"missing\.npz: missing array "
                                         r"'features\.denseblock3\.denselayer5\.conv1\.weight'"):
        load_densenet_arrays(model, tmp_path / "missing.npz")
    wrong = dict(arrays, **{"classifier.weight": np.zeros((3, 1024), np.float32),
                            "classifier.bias": np.zeros(3, np.float32)})
    np.savez(tmp_path / "three.npz", **wrong)
    with pytest.raises(ValueError, match=r"three\.npz: arrays for 'classifier' have shapes"):
        load_densenet_arrays(model, tmp_path / "three.npz")
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        load_densenet_arrays(model, tmp_path / "absent.npz")


def _plain_torch_densenet121(num_classes=4):
    """DenseNet-121 in plain torch with torchvision's module names (so its state dict has
    torchvision's keys): torchvision itself needs a build matching the installed torch."""
    import collections

    import torch
    from torch import nn

    class DenseLayer(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.norm1, self.relu1 = nn.BatchNorm2d(c), nn.ReLU()
            self.conv1 = nn.Conv2d(c, 128, 1, bias=False)
            self.norm2, self.relu2 = nn.BatchNorm2d(128), nn.ReLU()
            self.conv2 = nn.Conv2d(128, 32, 3, padding=1, bias=False)

        def forward(self, x):
            y = self.conv1(self.relu1(self.norm1(x)))
            return torch.cat([x, self.conv2(self.relu2(self.norm2(y)))], 1)

    layers = [("conv0", nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)),
              ("norm0", nn.BatchNorm2d(64)), ("relu0", nn.ReLU()),
              ("pool0", nn.MaxPool2d(3, stride=2, padding=1))]
    c = 64
    for b, n in enumerate((6, 12, 24, 16), start=1):
        block = nn.Sequential(collections.OrderedDict(
            (f"denselayer{i}", DenseLayer(c + (i - 1) * 32)) for i in range(1, n + 1)))
        layers.append((f"denseblock{b}", block))
        c += n * 32
        if b < 4:
            layers.append((f"transition{b}", nn.Sequential(collections.OrderedDict([
                ("norm", nn.BatchNorm2d(c)), ("relu", nn.ReLU()),
                ("conv", nn.Conv2d(c, c // 2, 1, bias=False)), ("pool", nn.AvgPool2d(2, 2))]))))
            c //= 2
    layers.append(("norm5", nn.BatchNorm2d(c)))
    net = nn.Module()
    net.features = nn.Sequential(collections.OrderedDict(layers))
    net.classifier = nn.Linear(c, num_classes)
    return net


def _torch_densenet(arrays, tf_same):
    """A torch DenseNet-121 with ``arrays`` loaded, in eval mode: torchvision's densenet121
    when it imports, else the plain-torch one; with ``tf_same`` the stem conv and max pool pad
    as the authors' ``TFSamePadWrapper`` does. Forward as the authors' ModifiedDenseNet121:
    features -> ReLU -> global average pooling -> classifier, then softmax."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    try:
        import torchvision

        net = torchvision.models.densenet121(weights=None, num_classes=4)
    except Exception:  # not installed, or built for another torch
        net = _plain_torch_densenet121()
    net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()})
    net.eval()

    class SamePad(torch.nn.Module):
        def __init__(self, module, kernel, stride):
            super().__init__()
            self.module, self.kernel, self.stride = module, kernel, stride
            module.padding = 0

        def forward(self, x):
            def pad(n):
                return max(0, self.kernel - (self.stride if n % self.stride == 0 else n % self.stride))
            ph, pw = pad(x.shape[2]), pad(x.shape[3])
            return self.module(F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2]))

    if tf_same:
        net.features.conv0 = SamePad(net.features.conv0, 7, 2)
        net.features.pool0 = SamePad(net.features.pool0, 3, 2)

    def forward(x_nhwc):
        """-> (last feature maps after the ReLU, NHWC; softmax probabilities)."""
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))
            f = F.relu(net.features(x))
            logits = net.classifier(F.adaptive_avg_pool2d(f, (1, 1)).flatten(1))
            return f.numpy().transpose(0, 2, 3, 1), torch.softmax(logits, dim=1).numpy()

    return forward


def _parity_inputs(shape=(67, 80)):
    """A noise image and a structured one (gradient and a bright disc), 3 channels; the odd
    height exercises TF "SAME"'s odd-size rule (small: the model is fully convolutional)."""
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[:shape[0], :shape[1]] / np.array(shape, float)[:, None, None]
    disc = ((yy - 0.3) ** 2 + (xx - 0.6) ** 2 < 0.05) * 3.0
    grey = np.stack([rng.normal(0, 1, shape), 2 * yy - 1 + disc])
    return np.repeat(grey[..., None], 3, axis=-1).astype(np.float32)


def test_plain_torch_reference_has_torchvisions_state_dict_keys():
    pytest.importorskip("torch")
    keys = set(_plain_torch_densenet121().state_dict())
    assert keys == set(torchvision_state_shapes())
    try:
        import torchvision
    except Exception:
        pytest.skip("torchvision is not importable: keys checked against the written-out layout")
    assert keys == set(torchvision.models.densenet121(weights=None, num_classes=4).state_dict())


@pytest.mark.parametrize("padding", ["tf_same", "symmetric"])
def test_parity_with_torch_densenet121(tmp_path, padding, model, symmetric_model):
    """The ``.npz`` route reproduces a torch DenseNet-121 (symmetric padding, torchvision's)
    and the authors' TF-"SAME" variant of it, feature maps and probabilities; skipped without
    torch."""
    import keras

    pytest.importorskip("torch")
    arrays = _fake_arrays(seed=3)
    np.savez(tmp_path / "w.npz", **arrays)
    keras_model = model if padding == "tf_same" else symmetric_model
    load_pytorch_arrays(keras_model, tmp_path / "w.npz")
    both = keras.Model(keras_model.inputs, [keras_model.get_layer("relu").output, keras_model.output])
    x = _parity_inputs()
    want_maps, want = _torch_densenet(arrays, tf_same=padding == "tf_same")(x)
    got_maps, got = (np.asarray(v) for v in both.predict(x, verbose=0))
    assert got_maps.shape == want_maps.shape == (2, 2, 2, 1024)
    assert np.abs(want[0] - want[1]).max() > 1e-3 and want_maps.std() > 0.1  # not degenerate
    map_diff, prob_diff = np.abs(got_maps - want_maps).max(), np.abs(got - want).max()
    print(f"max |keras - torch| ({padding}): feature maps {map_diff:.3g} "
          f"(max {np.abs(want_maps).max():.3g}), softmax {prob_diff:.3g}")
    np.testing.assert_allclose(got_maps, want_maps, atol=1e-4 * np.abs(want_maps).max(), rtol=1e-4)
    np.testing.assert_allclose(got, want, atol=1e-5)
    # the two paddings are different functions: the test tells them apart
    other_maps, _ = _torch_densenet(arrays, tf_same=padding != "tf_same")(x)
    assert np.abs(other_maps - want_maps).max() > 100 * map_diff


def test_heatmaps_from_the_densenet_average_overlapping_windows(model, tmp_path):
    """Wu et al., III-B: "we apply this auxiliary network to the full resolution mammograms in a
    sliding window fashion to create two heatmaps ... one containing an estimated probability of
    a malignant finding for each pixel, and the other ... of a benign finding". The DenseNet's
    output 0 is the malignant map, output 1 the benign one; the crop is standardised once and
    stacked to 3 channels; two 256 px windows at stride 70 overlap in columns 70-255."""
    from mammo_tf.nyu.heatmaps import compute_pixel_heatmaps

    assert "sliding window" in NYU_HEATMAPS
    arrays = _fake_arrays(seed=5)
    np.savez(tmp_path / "w.npz", **arrays)
    load_densenet_arrays(model, tmp_path / "w.npz")
    rng = np.random.default_rng(7)
    image = rng.integers(0, 65535, (256, 326)).astype(np.uint16)
    maps = compute_pixel_heatmaps(image, model, pixel_mean=None, patch_size=256, stride=70, progress=False)
    assert maps.shape == (256, 326, 2)
    standard = standardise_image(image)
    assert abs(standard.mean()) < 1e-4 and abs(standard.std() - 1) < 1e-3
    windows = to_patch_input(np.stack([standard[:, 0:256], standard[:, 70:326]]))
    probs = model.predict(windows, verbose=0)
    np.testing.assert_allclose(maps[:, :70, 0], probs[0, MALIGNANT_INDEX], rtol=1e-4)
    np.testing.assert_allclose(maps[:, :70, 1], probs[0, BENIGN_INDEX], rtol=1e-4)
    np.testing.assert_allclose(maps[:, 256:, 0], probs[1, MALIGNANT_INDEX], rtol=1e-4)
    np.testing.assert_allclose(maps[:, 100, 0], probs[:, MALIGNANT_INDEX].mean(), rtol=1e-4)
    np.testing.assert_allclose(maps[:, 200, 1], probs[:, BENIGN_INDEX].mean(), rtol=1e-4)
    assert not np.allclose(probs[0], probs[1])  # the overlap check can fail


def test_the_authors_classifier_survives_the_keras_file_route(model, tmp_path):
    """train_multiview.py --heatmap-model reads a ``.keras`` file: the saved DenseNet keeps the
    name that selects the authors' conventions in ``compute_pixel_heatmaps``."""
    from mammo_tf.nyu.densenet import is_nyu_patch_classifier
    from mammo_tf.runs import load_keras_model

    path = tmp_path / "nyu_patch_densenet.keras"
    model.save(path)
    loaded = load_keras_model(path)
    assert is_nyu_patch_classifier(loaded)
    x = _parity_inputs()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_densenet121_is_a_patch_backbone_of_the_training_stack():
    """``train_patch.py --backbone densenet121`` trains a DenseNet-121 patch classifier (e.g. on
    full-resolution 256 px patches, ``--pixel-spacing`` recorded for the heatmap scale check)
    with the same stack; with pretrained weights Shen's 3 stages, stage 2 from ``pool4_bn``."""
    from mammo_tf.shen import build_patch_classifier
    from mammo_tf.models.backbones import CUT_LAYER, UNFREEZE_FROM, backbone_of
    from mammo_tf.shen.config import PatchConfig
    from mammo_tf.shen.train_patch import build_stages
    from mammo_tf.training.config import parse_config

    patch = build_patch_classifier("densenet121", num_classes=5, input_shape=(64, 64, 3))
    assert backbone_of(patch) == "densenet121"
    assert patch.count_params() == 7_037_504 + 1024 * 5 + 5
    assert patch.get_layer("conv1_conv").padding == "same"  # the authors' stem
    assert tuple(patch.get_layer(CUT_LAYER["densenet121"]).output.shape[1:]) == (2, 2, 1024)
    config = parse_config(PatchConfig, ["--train-h5", "t.h5", "--val-h5", "v.h5", "--backbone",
                                        "densenet121", "--weights", "imagenet"], "x", "")[0]
    stages = build_stages(config)
    assert [s.trainable_from for s in stages] == ["head", UNFREEZE_FROM["densenet121"], "all"]
    assert isinstance(patch.get_layer(UNFREEZE_FROM["densenet121"]), type(patch.get_layer("bn")))


def test_imagenet_offline_error_names_the_densenet_file(tmp_path, monkeypatch):
    import keras

    from mammo_tf.nyu.densenet import IMAGENET_NOTOP_FILE
    from mammo_tf.models.backbones import WeightsUnavailableError

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(WeightsUnavailableError) as err:
        build_densenet121_patch_classifier(weights="imagenet")
    message = str(err.value)
    assert IMAGENET_NOTOP_FILE == "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert IMAGENET_NOTOP_FILE in message and str(tmp_path / "models") in message
    with pytest.raises(FileNotFoundError, match="nothing.h5"):
        build_densenet121_patch_classifier(weights=str(tmp_path / "nothing.h5"))
