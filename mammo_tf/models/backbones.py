# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""keras.applications backbones of the all-convolutional design, and their named boundaries.

Besides the paper's VGG16 / VGG19 / ResNet50, ``"mobilenet"`` is Keras Applications' MobileNet
v1 at width multiplier alpha = 0.25 (Howard et al. 2017; 218,544 parameters without the top): a
CPU-sized backbone, and the one network whose real ImageNet weights are available offline here
(``mobilenet_2_5_224_tf_no_top.h5``, a file saved by Keras 2.0.4, loaded layer by layer by name
with ``load_legacy_h5_by_name``).

``"resnet152"`` is DeepMiner's reference network (Wu et al., section 2.1: "We choose ResNet-152
pretrained on ImageNet ... We replaced the final layer of the network with a 3-class
classification layer"): Keras Applications' ResNet152, 58,370,944 parameters without the top,
last convolutional output ``conv5_block3_out`` (2048 units, stride 32). It is not one of
Shen's backbones (``BACKBONES``); ``ALL_BACKBONES`` lists every name the builders accept.

``"densenet121"`` is the NYU authors' heatmap patch classifier backbone
(``build_densenet121_backbone``: ``keras.applications.DenseNet121`` with the authors'
TensorFlow-"SAME" stem; their patch-classifier head and weights are in ``mammo_tf.nyu.densenet``),
7,037,504 parameters without the top, last output ``relu`` (1024 channels, stride 32).

This is the backbone registry every method builds on (layer 4 of docs/DESIGN.md): builders by
name, cut layers, unfreezing boundaries, ImageNet weights resolution, legacy ``.h5`` loading and
``backbone_of``.
"""
import logging
import os

from mammo_tf.errors import UsageError
from mammo_tf.backend import require_keras3
from mammo_tf.constants import PATCH_BACKBONES, SHEN_BACKBONES

require_keras3()
import keras  # noqa: E402
import numpy as np  # noqa: E402

logger = logging.getLogger(__name__)

# Shen's backbones (the paper's three and MobileNet); ALL_BACKBONES adds DeepMiner's ResNet-152
# and the NYU heatmap classifier's DenseNet-121.
BACKBONES = SHEN_BACKBONES
ALL_BACKBONES = PATCH_BACKBONES

# Width multiplier of the "mobilenet" backbone (the offline ImageNet file is alpha 0.25).
MOBILENET_ALPHA = 0.25

# Where the whole-image classifier cuts the patch classifier (last convolutional output).
CUT_LAYER = {"vgg16": "block5_pool", "vgg19": "block5_pool", "resnet50": "conv5_block3_out",
             "mobilenet": "conv_pw_13_relu", "resnet152": "conv5_block3_out", "densenet121": "relu"}

# The paper's "unfreeze the top 46 layers of ResNet50, 11 of VGG16, 13 of VGG19", by NAME:
# layer indices differ between Keras versions. MobileNet (not in the paper): from the stride-2
# depthwise block that enters the 1/16 stage, as VGG's block4 does. ResNet-152 (DeepMiner
# fine-tunes all layers; a 3-stage schedule is not the paper's): the last conv4 block, as for
# ResNet50. DenseNet-121 (no schedule in the NYU paper): from the transition into the last
# dense block.
UNFREEZE_FROM = {"vgg16": "block4_conv1", "vgg19": "block4_conv1", "resnet50": "conv4_block6_1_conv",
                 "mobilenet": "conv_dw_6", "resnet152": "conv4_block36_1_conv",
                 "densenet121": "pool4_bn"}

# MobileNet's ImageNet weights expect inputs in [-1, 1] (x / 127.5 - 1); the network input here
# is 0-255 minus the pixel mean (mammo_tf.preprocess), so this layer divides it by 127.5.
MOBILENET_RESCALE_LAYER = "mobilenet_rescale"

# DenseNet-121 (NYU): stem padding choices and PyTorch's BatchNormalization epsilon (Keras'
# DenseNet uses 1.001e-5).
PADDINGS = ("tf_same", "symmetric")
BN_EPSILON = 1e-5

# keras.applications refuses inputs below 32 px (five stride-2 stages).
MIN_INPUT_SIZE = 32

_APPLICATIONS = {
    "vgg16": keras.applications.VGG16,
    "vgg19": keras.applications.VGG19,
    "resnet50": keras.applications.ResNet50,
    "mobilenet": keras.applications.MobileNet,
    "resnet152": keras.applications.ResNet152,
}

# The no-top ImageNet weight files keras.applications downloads into <KERAS_HOME>/models/.
IMAGENET_NOTOP_FILES = {
    "vgg16": "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "vgg19": "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "mobilenet": "mobilenet_2_5_224_tf_no_top.h5",
    "resnet152": "resnet152_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "densenet121": "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
}
# Folder of each file under _IMAGENET_URL (default: the backbone's name).
_IMAGENET_FOLDER = {"resnet50": "resnet", "resnet152": "resnet", "densenet121": "densenet"}
_IMAGENET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/{folder}/{file}"


class WeightsUnavailableError(UsageError, RuntimeError):
    """ImageNet weights could not be found locally nor downloaded."""


def check_backbone_name(backbone):
    name = str(backbone).lower()
    if name not in ALL_BACKBONES:
        raise ValueError(f"Unknown backbone {backbone!r}; valid backbones are: {', '.join(ALL_BACKBONES)}.")
    return name


def keras_cache_dir():
    """The folder keras.utils.get_file uses for `cache_subdir='models'`."""
    base = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    if not os.access(base, os.W_OK) and not os.path.exists(base):
        base = os.path.join("/tmp", ".keras")
    return os.path.join(base, "models")


def resolve_weights(backbone, weights):
    """Turn ``None`` / ``"imagenet"`` / a file path into what keras.applications accepts.

    ``"imagenet"`` uses the cached file when present, otherwise tries the download and, when
    that fails (offline machine), raises an error naming the exact file and both ways to
    supply it.
    """
    if weights is None:
        return None
    if weights == "imagenet":
        filename = IMAGENET_NOTOP_FILES[backbone]
        cached = os.path.join(keras_cache_dir(), filename)
        if os.path.exists(cached):
            return cached
        folder = _IMAGENET_FOLDER.get(backbone, backbone)
        try:
            return keras.utils.get_file(
                filename, _IMAGENET_URL.format(folder=folder, file=filename), cache_subdir="models"
            )
        except Exception as exc:  # urllib raises several kinds; all mean "not available"
            raise WeightsUnavailableError(
                f"ImageNet weights for {backbone} could not be downloaded ({type(exc).__name__}: "
                f"{exc}). Keras expects the file {filename!r}. Either place it at {cached} "
                f"(the Keras cache folder; set KERAS_HOME to move it), or pass its path: "
                f"build_patch_classifier({backbone!r}, weights='/path/to/{filename}')."
            ) from exc
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"Weights file not found: {path!r} (expected a legacy .h5 or a .weights.h5 file "
            f"holding {backbone} backbone weights without the top)."
        )
    if not (path.endswith(".h5") or path.endswith(".hdf5")):
        raise ValueError(f"Weights file {path!r} must be a legacy .h5 or a .weights.h5 file.")
    return path


def check_input_shape(input_shape, minimum=MIN_INPUT_SIZE):
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3), got {tuple(input_shape)}.")
    for size in input_shape[:2]:
        if size is not None and size < minimum:
            raise ValueError(
                f"input_shape {tuple(input_shape)} is smaller than the backbone allows: height and "
                f"width must be at least {minimum} px (five stride-2 stages)."
            )


def build_backbone(backbone, inputs, weights=None):
    """The keras.applications backbone without its top, applied to ``inputs`` (layers flattened)."""
    backbone = check_backbone_name(backbone)
    path = resolve_weights(backbone, weights)
    if backbone == "densenet121":
        return build_densenet121_backbone(inputs, weights=path)
    if backbone != "mobilenet":
        return _APPLICATIONS[backbone](include_top=False, weights=path, input_tensor=inputs)
    x = keras.layers.Rescaling(1.0 / 127.5, name=MOBILENET_RESCALE_LAYER)(inputs)
    base = keras.applications.MobileNet(include_top=False, weights=None, input_tensor=x,
                                        alpha=MOBILENET_ALPHA)
    if path is not None:
        load_backbone_weights(base, path)
    return base


def build_densenet121_backbone(inputs, weights=None, padding="tf_same"):
    """``keras.applications.DenseNet121`` without the top applied to ``inputs`` (a Keras
    tensor of shape (H, W, 3)), its layers flattened into the caller's graph and named as in
    Keras Applications; ``padding``: "tf_same" (the NYU authors' model, see
    ``mammo_tf.nyu.densenet``) or "symmetric" (plain Keras Applications = torchvision).
    Returns the features Model (output: the final ``relu``, 1024 channels, stride 32)."""
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    shape = tuple(inputs.shape[1:])
    if len(shape) != 3 or shape[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3), got {shape}")
    path = resolve_weights("densenet121", weights)
    base = keras.applications.DenseNet121(include_top=False, weights=path, input_shape=shape)

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.BatchNormalization):
            config["epsilon"] = BN_EPSILON
        if padding == "tf_same":
            if isinstance(layer, keras.layers.ZeroPadding2D):
                return keras.layers.Identity(name=config["name"])
            if layer.name in ("conv1_conv", "pool1"):
                config["padding"] = "same"
        return type(layer).from_config(config)

    features = keras.models.clone_model(base, input_tensors=inputs, clone_function=clone)
    for old in base.layers:
        if old.weights:
            features.get_layer(old.name).set_weights(old.get_weights())
    return features


# Keras 2 weight names that Keras 3 calls otherwise (the variable's name inside its layer).
_LEGACY_WEIGHT_ALIASES = {"depthwise_kernel": "kernel"}


def _legacy_weight_name(name):
    """``b"conv_dw_1/depthwise_kernel:0"`` -> ``"kernel"`` (the Keras 3 variable name)."""
    name = name.decode() if isinstance(name, bytes) else str(name)
    short = name.split("/")[-1].split(":")[0]
    return _LEGACY_WEIGHT_ALIASES.get(short, short)


def load_legacy_h5_by_name(model, path):
    """Load a Keras 2 HDF5 weights file (attrs ``layer_names``, groups ``<layer>/<weight>:0``)
    into ``model`` layer by layer BY NAME, each array matched to the layer's variable of the
    same name and shape. Every layer with weights on either side must be on the other: a
    mismatch raises ValueError naming the file, the layer and the problem. Returns the number
    of layers loaded."""
    import h5py

    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in group.attrs:
            raise ValueError(f"{path}: not a legacy Keras HDF5 weights file (no 'layer_names' attribute)")
        file_layers = {}
        for raw in group.attrs["layer_names"]:
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            g = group[name]
            names = list(g.attrs.get("weight_names", []))
            if names:
                file_layers[name] = {_legacy_weight_name(w): np.asarray(g[w.decode() if isinstance(w, bytes) else w])
                                     for w in names}
    model_layers = {layer.name: layer for layer in model.layers if layer.weights}
    missing = sorted(set(model_layers) - set(file_layers))
    extra = sorted(set(file_layers) - set(model_layers))
    if missing or extra:
        raise ValueError(
            f"{path}: its layers do not match the model {model.name!r}: "
            f"{len(missing)} model layer(s) not in the file {missing[:5]}, "
            f"{len(extra)} file layer(s) not in the model {extra[:5]}")
    for name, layer in model_layers.items():
        arrays = file_layers[name]
        values = []
        for variable in layer.weights:
            if variable.name not in arrays:
                raise ValueError(f"{path}: layer {name!r} has no weight {variable.name!r} "
                                 f"(file has {sorted(arrays)})")
            value = arrays[variable.name]
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(f"{path}: layer {name!r} weight {variable.name!r} has shape "
                                 f"{value.shape} in the file, {tuple(variable.shape)} in the model")
            values.append(value)
        if len(arrays) != len(values):
            raise ValueError(f"{path}: layer {name!r} has weights {sorted(arrays)} in the file, "
                             f"{[v.name for v in layer.weights]} in the model")
        layer.set_weights(values)
    logger.info("loaded %d layers by name from %s", len(model_layers), path)
    return len(model_layers)


def load_backbone_weights(base, path):
    """Weights of a no-top backbone from ``path``: a legacy Keras 2 ``.h5`` (by layer name) or
    a Keras 3 ``.weights.h5`` file."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            legacy = "layer_names" in f.attrs or "model_weights" in f
    except OSError as exc:
        raise ValueError(f"Weights file {path!r} is not an HDF5 file: {exc}") from exc
    if legacy:
        return load_legacy_h5_by_name(base, path)
    base.load_weights(path)
    return len([layer for layer in base.layers if layer.weights])


def backbone_of(model):
    """Name of the allconv backbone inside ``model``, told from its layer names."""
    names = {layer.name for layer in model.layers}
    if "conv_pw_13_relu" in names:
        return "mobilenet"
    if "conv5_block16_concat" in names:
        return "densenet121"
    if "conv4_block36_out" in names:  # ResNet152 shares ResNet50's stage names: test it first
        return "resnet152"
    if "conv5_block3_out" in names:
        return "resnet50"
    if "block5_conv4" in names:
        return "vgg19"
    if "block5_pool" in names:
        return "vgg16"
    raise ValueError(
        f"Model {model.name!r} has no VGG16/VGG19/ResNet50/MobileNet backbone layers nor "
        "ResNet152/DenseNet121 ones "
        f"(none of {sorted(set(CUT_LAYER.values()))} found)."
    )
