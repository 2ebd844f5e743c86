# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""keras.applications backbones of the all-convolutional design, and their named boundaries."""
import os

from mammo_tf.backend import require_keras3

require_keras3()
import keras  # noqa: E402

BACKBONES = ("vgg16", "vgg19", "resnet50")

# Where the whole-image classifier cuts the patch classifier (last convolutional output).
CUT_LAYER = {"vgg16": "block5_pool", "vgg19": "block5_pool", "resnet50": "conv5_block3_out"}

# The paper's "unfreeze the top 46 layers of ResNet50, 11 of VGG16, 13 of VGG19", by NAME:
# layer indices differ between Keras versions.
UNFREEZE_FROM = {"vgg16": "block4_conv1", "vgg19": "block4_conv1", "resnet50": "conv4_block6_1_conv"}

# keras.applications refuses inputs below 32 px (five stride-2 stages).
MIN_INPUT_SIZE = 32

_APPLICATIONS = {
    "vgg16": keras.applications.VGG16,
    "vgg19": keras.applications.VGG19,
    "resnet50": keras.applications.ResNet50,
}

# The no-top ImageNet weight files keras.applications downloads into <KERAS_HOME>/models/.
IMAGENET_NOTOP_FILES = {
    "vgg16": "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "vgg19": "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
}
_IMAGENET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/{folder}/{file}"


class WeightsUnavailableError(RuntimeError):
    """ImageNet weights could not be found locally nor downloaded."""


def check_backbone_name(backbone):
    name = str(backbone).lower()
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone {backbone!r}; valid backbones are: {', '.join(BACKBONES)}.")
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
        folder = "resnet" if backbone == "resnet50" else backbone
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
    return _APPLICATIONS[backbone](
        include_top=False, weights=resolve_weights(backbone, weights), input_tensor=inputs
    )


def backbone_of(model):
    """Name of the allconv backbone inside ``model``, told from its layer names."""
    names = {layer.name for layer in model.layers}
    if "conv5_block3_out" in names:
        return "resnet50"
    if "block5_conv4" in names:
        return "vgg19"
    if "block5_pool" in names:
        return "vgg16"
    raise ValueError(
        f"Model {model.name!r} has no VGG16/VGG19/ResNet50 backbone layers "
        f"(none of {sorted(set(CUT_LAYER.values()))} found)."
    )
