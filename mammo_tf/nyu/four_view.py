# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Four-view models on shared ResNet-22 columns: view-wise, image-wise and BI-RADS.

Inputs are named ``l_cc``, ``r_cc``, ``l_mlo``, ``r_mlo`` (Keras-legal spellings of L-CC,
R-CC, L-MLO, R-MLO) and take images in their acquired orientation: the right views are
flipped on the width axis inside the model so every breast faces the same way. One column
(``cc_column``) is called on both CC views and one (``mlo_column``) on both MLO views, so the
two views of a type share the same variables.

Outputs of the cancer models are probabilities shaped (N, 4, 2) per head, rows in
``OUTPUT_NAMES`` order (left_benign, right_benign, left_malignant, right_malignant), column 1
= finding present. ``exam_probabilities`` turns the model outputs into the (N, 4) exam
prediction (mean of the heads' positive-class probabilities).
"""
import keras
import numpy as np

from mammo_tf.nyu.constants import (  # noqa: F401  (re-exported: the model's public names)
    BIRADS_CLASSES, CC_INPUT_SIZE, MLO_INPUT_SIZE, OUTPUT_NAMES, VIEW_LABELS, VIEWS)
from mammo_tf.models.layers import (  # noqa: F401  (re-exported: the model's public names)
    HorizontalFlip, InterleaveBreasts, SummedBinaryCrossentropy)
from mammo_tf.nyu.resnet22 import FEATURES, build_resnet22

COLUMN_NAMES = {"cc": "cc_column", "mlo": "mlo_column"}


def _reg(l2):
    return keras.regularizers.L2(l2) if l2 else None


def _shape(size, channels):
    return tuple(size)[:2] + (channels,)


def _columns_and_features(cc_size, mlo_size, channels, l2):
    """Build the inputs, the two shared columns and the four 256-d view features."""
    inputs = {
        "l_cc": keras.Input(_shape(cc_size, channels), name="l_cc"),
        "r_cc": keras.Input(_shape(cc_size, channels), name="r_cc"),
        "l_mlo": keras.Input(_shape(mlo_size, channels), name="l_mlo"),
        "r_mlo": keras.Input(_shape(mlo_size, channels), name="r_mlo"),
    }
    columns = {
        vt: build_resnet22(_shape(size, channels), l2=l2, name=COLUMN_NAMES[vt])
        for vt, size in (("cc", cc_size), ("mlo", mlo_size))
    }
    features = {}
    for view in VIEWS:
        x = inputs[view]
        if view.startswith("r_"):
            x = HorizontalFlip(name=f"flip_{view}")(x)
        features[view] = columns[view.split("_")[1]](x)
    return inputs, features


def _view_head(features, view_type, hidden, outputs_shape, l2, name):
    """features (list of 256-d tensors, concatenated) -> Dense ReLU -> Dense -> softmax."""
    if len(features) > 1:
        h = keras.layers.Concatenate(name=f"concat_{view_type}")(features)
    else:
        h = features[0]
    h = keras.layers.Dense(hidden, activation="relu", kernel_regularizer=_reg(l2),
                           name=f"fc1_{view_type}")(h)
    h = keras.layers.Dense(int(np.prod(outputs_shape)), kernel_regularizer=_reg(l2),
                           name=f"output_{view_type}")(h)
    if len(outputs_shape) > 1:
        h = keras.layers.Reshape(outputs_shape, name=f"reshape_{view_type}")(h)
    return keras.layers.Softmax(axis=-1, name=name)(h)


def build_view_wise_model(cc_size=CC_INPUT_SIZE, mlo_size=MLO_INPUT_SIZE, channels=1, l2=0.0,
                          name="nyu_view_wise"):
    """The paper's main model: per view type [left, right] -> Dense 512 ReLU -> Dense 8 -> (4, 2).

    Args:
        cc_size, mlo_size: (height, width) of the CC and MLO inputs (None entries allowed).
        channels: 1 (image only) or 3 (image + malignant + benign heatmaps).
        l2: L2 kernel-regularizer coefficient on every conv/dense kernel (paper 10**-4.5).

    Returns a model with outputs ``{"cc": (N, 4, 2), "mlo": (N, 4, 2)}`` (softmax); the paper
    trains on the sum of both heads' binary cross-entropies (``SummedBinaryCrossentropy`` on
    each output) and predicts their mean (``exam_probabilities``). Trainable parameters:
    6,132,592 (1 channel), 6,135,728 (3 channels).
    """
    inputs, f = _columns_and_features(cc_size, mlo_size, channels, l2)
    hidden = 2 * FEATURES
    outputs = {
        "cc": _view_head([f["l_cc"], f["r_cc"]], "cc", hidden, (4, 2), l2, "cc"),
        "mlo": _view_head([f["l_mlo"], f["r_mlo"]], "mlo", hidden, (4, 2), l2, "mlo"),
    }
    return keras.Model(inputs, outputs, name=name)


def build_image_wise_model(cc_size=CC_INPUT_SIZE, mlo_size=MLO_INPUT_SIZE, channels=1, l2=0.0,
                           name="nyu_image_wise"):
    """Image-wise variant: per view Dense 256 ReLU -> Dense 4 -> (2, 2) [benign, malignant].

    The per-view predictions are assembled into the same (N, 4, 2) layout as the view-wise
    model, so one loss and ``exam_probabilities`` serve both: output ``cc`` holds the L-CC
    head's rows for the left breast and the R-CC head's rows for the right breast (likewise
    ``mlo``), so averaging the two outputs averages the two views of each breast.
    """
    inputs, f = _columns_and_features(cc_size, mlo_size, channels, l2)
    per_view = {
        view: _view_head([f[view]], view, FEATURES, (2, 2), l2, f"{view}_probs")
        for view in VIEWS
    }
    outputs = {}
    for vt in ("cc", "mlo"):
        left, right = per_view[f"l_{vt}"], per_view[f"r_{vt}"]
        # rows: left_benign, right_benign, left_malignant, right_malignant
        outputs[vt] = InterleaveBreasts(name=vt)([left, right])
    return keras.Model(inputs, outputs, name=name)


def build_birads_model(cc_size=CC_INPUT_SIZE, mlo_size=MLO_INPUT_SIZE, channels=1, l2=0.0,
                       name="nyu_birads"):
    """BI-RADS pretraining model (paper Fig. 7): view-wise structure, 3-class softmax per head.

    Outputs ``{"cc": (N, 3), "mlo": (N, 3)}`` over ``BIRADS_CLASSES`` (BI-RADS 0, 1, 2);
    train with sparse categorical cross-entropy on both heads, predict their mean. Its
    columns initialise the cancer model with ``transfer_columns``.
    """
    inputs, f = _columns_and_features(cc_size, mlo_size, channels, l2)
    hidden = 2 * FEATURES
    outputs = {
        vt: _view_head([f[f"l_{vt}"], f[f"r_{vt}"]], vt, hidden, (len(BIRADS_CLASSES),), l2, vt)
        for vt in ("cc", "mlo")
    }
    return keras.Model(inputs, outputs, name=name)


def get_column(model, view_type):
    """The shared ResNet-22 column (``"cc"`` or ``"mlo"``) of a four-view model, by name."""
    return model.get_layer(COLUMN_NAMES[view_type])


def transfer_columns(source, target):
    """Copy both ResNet-22 columns of ``source`` (e.g. the BI-RADS model) into ``target``.

    Heads are left untouched (the paper re-initialises them). When ``source`` takes one
    channel and ``target`` three, the stem kernel is duplicated over the three input channels
    (as in the paper); any other channel mismatch is an error.
    """
    for vt in ("cc", "mlo"):
        src, dst = get_column(source, vt), get_column(target, vt)
        for s_layer in src.layers:
            if not s_layer.weights:
                continue
            d_layer = dst.get_layer(s_layer.name)
            values = [w.numpy() for w in s_layer.weights]
            if s_layer.name == "stem_conv":
                values = [_match_stem_channels(values[0], d_layer.weights[0].shape)]
            d_layer.set_weights(values)


def _match_stem_channels(kernel, target_shape):
    have, want = kernel.shape[2], target_shape[2]
    if have == want:
        return kernel
    if have == 1:
        return np.repeat(kernel, want, axis=2)
    raise ValueError(f"cannot transfer a stem kernel with {have} input channels to {want} channels")


def exam_probabilities(outputs):
    """(N, 4) probabilities in ``OUTPUT_NAMES`` order from the model's outputs.

    Accepts the dict returned by ``model.predict`` / ``model(...)`` ({"cc", "mlo"}, each
    (N, 4, 2)) and averages the heads' positive-class probabilities.
    """
    cc = np.asarray(outputs["cc"])[..., 1]
    mlo = np.asarray(outputs["mlo"])[..., 1]
    return (cc + mlo) / 2.0
