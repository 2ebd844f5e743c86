# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The NYU authors' heatmap patch classifier: DenseNet-121 with a 4-way softmax on 256x256
patches at full resolution (Wu et al., section III-B: "an auxiliary model to classify 256×256
-pixel patches of mammograms, predicting presence or absence of malignant and benign findings").

The network is ``keras.applications.DenseNet121`` (no top; its builder,
``build_densenet121_backbone``, is in the shared registry ``mammo_tf.models.backbones``) ->
global average pooling -> Dense(4, softmax) named ``predictions``; output 0 is the malignant
probability, output 1 the benign one (the authors' ``heatmap_type=[0, 1]``; they do not name
outputs 2 and 3).

Padding. The authors' PyTorch model (``src/heatmaps/models.py``) wraps every Conv2d and
MaxPool2d of torchvision's ``densenet121`` in TensorFlow-style "SAME" padding before use; only
the stride-2 stem (7x7 conv, 3x3 max pool) pads differently from torchvision's symmetric
padding. ``padding="tf_same"`` (the default) rebuilds those two Keras layers with
``padding="same"`` and drops Keras' symmetric ``ZeroPadding2D`` layers, which reproduces the
authors' model; ``padding="symmetric"`` keeps ``keras.applications.DenseNet121`` as it is
(= plain torchvision ``densenet121``). BatchNormalization epsilon is PyTorch's 1e-5 (Keras'
DenseNet uses 1.001e-5).

Input: the cropped grey image standardised once per image (zero mean, unit standard deviation,
``standardise_image``) and stacked to 3 channels (``to_patch_input``), as the authors'
``run_producer.py`` does.

Weights: ``load_densenet_arrays`` reads an ``.npz`` of the torchvision state dict (the
conversion snippet of ``mammo_tf.nyu.weights``; ``load_pytorch_arrays`` dispatches here). Key
mapping (any leading prefix such as ``densenet.`` or ``module.`` is accepted; the pre-0.3
torchvision spelling ``norm.1`` / ``conv.1`` too)::

    features.conv0                          -> conv1_conv
    features.norm0                          -> conv1_bn
    features.denseblock{b}.denselayer{l}.norm1 -> conv{b+1}_block{l}_0_bn
    features.denseblock{b}.denselayer{l}.conv1 -> conv{b+1}_block{l}_1_conv
    features.denseblock{b}.denselayer{l}.norm2 -> conv{b+1}_block{l}_1_bn
    features.denseblock{b}.denselayer{l}.conv2 -> conv{b+1}_block{l}_2_conv
    features.transition{t}.norm             -> pool{t+1}_bn
    features.transition{t}.conv             -> pool{t+1}_conv
    features.norm5                          -> bn
    classifier                              -> predictions
"""
import os
import re

import numpy as np

MODEL_NAME = "nyu_densenet121_patch_classifier"
# Output columns; 2 and 3 are not named by the authors' release.
NYU_PATCH_CLASSES = ("malignant", "benign", "other_2", "other_3")
MALIGNANT_INDEX = 0
BENIGN_INDEX = 1
PATCH_SIZE = 256
BLOCKS = (6, 12, 24, 16)  # dense layers per block of DenseNet-121
# ImageNet weights of keras.applications.DenseNet121 without the top (Keras cache folder).
# (resolved, downloaded or explained offline by mammo_tf.models.backbones.resolve_weights)
IMAGENET_NOTOP_FILE = "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"
_BN_FIELDS = ("weight", "bias", "running_mean", "running_var")


def layer_map():
    """Keras layer name -> torchvision ``densenet121`` module path (without prefix)."""
    mapping = {"conv1_conv": "features.conv0", "conv1_bn": "features.norm0"}
    for b, layers in enumerate(BLOCKS, start=1):
        for lyr in range(1, layers + 1):
            base = f"features.denseblock{b}.denselayer{lyr}"
            stage = b + 1
            mapping[f"conv{stage}_block{lyr}_0_bn"] = f"{base}.norm1"
            mapping[f"conv{stage}_block{lyr}_1_conv"] = f"{base}.conv1"
            mapping[f"conv{stage}_block{lyr}_1_bn"] = f"{base}.norm2"
            mapping[f"conv{stage}_block{lyr}_2_conv"] = f"{base}.conv2"
        if b < len(BLOCKS):
            mapping[f"pool{b + 1}_bn"] = f"features.transition{b}.norm"
            mapping[f"pool{b + 1}_conv"] = f"features.transition{b}.conv"
    mapping["bn"] = "features.norm5"
    mapping["predictions"] = "classifier"
    return mapping


def build_densenet121_patch_classifier(input_shape=(PATCH_SIZE, PATCH_SIZE, 3),
                                       num_classes=len(NYU_PATCH_CLASSES), weights=None,
                                       padding="tf_same"):
    """The authors' heatmap patch classifier (module docstring): DenseNet-121 -> GAP -> softmax.

    Args:
      input_shape: (height, width, 3); height/width may be None (any size, fully convolutional).
      num_classes: 4 as in the authors' code (0 malignant, 1 benign).
      weights: None (random), "imagenet" (backbone; cached or downloaded, a clear error
        offline) or a ``.h5`` / ``.weights.h5`` file of backbone weights without the top. The
        authors' released weights load afterwards with ``load_densenet_arrays``.
      padding: "tf_same" (the authors' model) or "symmetric" (plain torchvision / Keras).
    """
    import keras

    from mammo_tf.models.backbones import build_densenet121_backbone

    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3), got {tuple(input_shape)}")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    features = build_densenet121_backbone(inputs, weights=weights, padding=padding)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(features.output)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=MODEL_NAME)


def is_nyu_patch_classifier(model):
    """True for a model built by ``build_densenet121_patch_classifier`` (told by its name)."""
    return getattr(model, "name", None) == MODEL_NAME


def standardise_image(image):
    """The authors' ``standard_normalize_single_image``: (x - mean) / max(std, 1e-5), float32."""
    image = np.asarray(image, dtype=np.float64)
    return ((image - image.mean()) / max(float(image.std()), 1e-5)).astype(np.float32)


def to_patch_input(patches):
    """(N, h, w) standardised grey patches -> (N, h, w, 3) float32 (grey stacked 3 times)."""
    patches = np.asarray(patches, dtype=np.float32)
    return np.repeat(patches[..., None], 3, axis=-1)


_OLD_DENSELAYER = re.compile(r"(denselayer\d+\.(?:norm|relu|conv))\.([12])\.")


def _normalise_keys(arrays):
    """Pre-0.3 torchvision keys (``norm.1``) -> current ones (``norm1``)."""
    return {_OLD_DENSELAYER.sub(r"\1\2.", k): v for k, v in arrays.items()}


def _prefix(arrays, npz_path):
    hits = sorted({k[: -len("features.conv0.weight")] for k in arrays
                   if k == "features.conv0.weight" or k.endswith(".features.conv0.weight")})
    if not hits:
        raise ValueError(f"{npz_path}: no 'features.conv0.weight' array; not a torchvision "
                         "densenet121 state dict")
    if len(hits) > 1:
        raise ValueError(f"{npz_path}: several DenseNet state dicts under prefixes {hits}")
    return hits[0]


def load_densenet_arrays(model, npz_path):
    """Load an ``.npz`` of a torchvision ``densenet121`` state dict into ``model`` (from
    ``build_densenet121_patch_classifier``). Conv OIHW -> HWIO; Linear (out, in) -> (in, out);
    BatchNorm weight, bias, running_mean, running_var -> gamma, beta, moving_mean,
    moving_variance; ``num_batches_tracked`` is read and ignored.

    Returns {"loaded": arrays used, "unused": sorted keys not used}. Raises FileNotFoundError /
    ValueError naming the file and the missing or mismatched array."""
    npz_path = os.fspath(npz_path)
    if not os.path.exists(npz_path):
        raise FileNotFoundError(f"{npz_path}: no such weight file")
    with np.load(npz_path, allow_pickle=False) as data:
        arrays = _normalise_keys({k: data[k] for k in data.files})
    prefix = _prefix(arrays, npz_path)
    used = {k for k in arrays if k.endswith("num_batches_tracked")}
    for keras_name, torch_name in layer_map().items():
        layer = model.get_layer(keras_name)
        path = prefix + torch_name
        kind = type(layer).__name__
        try:
            if kind == "Conv2D":
                keys = [path + ".weight"]
                values = [arrays[keys[0]].transpose(2, 3, 1, 0)]
            elif kind == "BatchNormalization":
                keys = [f"{path}.{f}" for f in _BN_FIELDS]
                values = [arrays[k] for k in keys]
            elif kind == "Dense":
                keys = [path + ".weight", path + ".bias"]
                values = [arrays[keys[0]].T, arrays[keys[1]]]
            else:
                raise TypeError(f"no weight conversion for layer {keras_name!r} of type {kind}")
        except KeyError as exc:
            raise ValueError(f"{npz_path}: missing array {exc.args[0]!r} for layer "
                             f"{keras_name!r}") from None
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(v.shape) for v in values]
        if expected != got:
            raise ValueError(f"{npz_path}: arrays for {path!r} have shapes {got} but Keras layer "
                             f"{keras_name!r} needs {expected} (another number of classes?)")
        layer.set_weights([np.asarray(v, dtype=np.float32) for v in values])
        used.update(keys)
    return {"loaded": len(used), "unused": sorted(set(arrays) - used)}
