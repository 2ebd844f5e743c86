# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""TensorFlow SavedModel export of mammo_tf classifiers (TensorFlow backend only).

Endpoints of an exported Shen (single-input) model:

- ``serve(images)`` -> ``{"probabilities": (N, num_classes)}``. Also the ``serving_default``
  signature, so TF Serving and ``tf.saved_model.load(path).signatures`` find it.
- ``serve_features(images)`` -> ``{"features": last conv maps (N, h, w, K),
  "probabilities": (N, num_classes)}`` for explanations (CAMs) on the serving side.
- ``serve_calibrated(images)`` -> ``{"probabilities": calibrated}``, only when exported with
  ``calibration`` (a ``mammo_tf.screening.calibration`` record fitted on validation:
  temperature scaling, softmax(log p / T); or isotonic on the positive class of a 2-class model).

``images`` is float32 (N, H, W, C). Without ``pixel_mean`` C = 3 and the caller sends network
input (``mammo_tf.preprocess.to_network_input``). With ``pixel_mean`` the run's preprocessing is
embedded: C = 1 and the caller sends the image as read from the 16-bit file (0-65535 scale).
H and W are free when the model was built with ``input_shape=(None, None, 3)``.

An NYU four-view model (inputs ``l_cc r_cc l_mlo r_mlo``) gets one endpoint,
``serve(l_cc, r_cc, l_mlo, r_mlo)`` -> ``{"cc": ..., "mlo": ...}``, taking the four named,
already standardised view tensors.

Every endpoint's outputs are named (``saved_model_cli show --all`` lists ``probabilities``, or
``cc`` / ``mlo``, never ``output_0``), so a serving client reads the same key from each.
SavedModel export needs TensorFlow; on the JAX (or torch) backend save the ``.keras`` file and
export ONNX instead (``mammo_tf.serving.onnx``, ``mammo-tf export RUN --format onnx``).

With ``info`` (the run's ``RunInfo``) the export also writes ``mammo_tf_run.json`` into the
SavedModel folder, so a copied SavedModel still says what it is and how to feed it
(``mammo_tf.runs.load_run`` reads it). Reading an export back (``load_exported``) is part of
the run loader (``mammo_tf.runs.saved_model``), re-exported here.
"""
import contextlib
import dataclasses
import logging
import os

import keras

from mammo_tf.constants import SAVED_MODEL_INFO
from mammo_tf.runs.saved_model import (  # noqa: F401  (load_exported re-exported: the serving API)
    ExportedModel, load_exported, require_tensorflow)
from mammo_tf.utils import atomic_dir, write_json_atomic


def _input_names(model):
    return [t.name for t in model.inputs]


def _calibrated(tf, record, probabilities):
    """The calibration ``record`` (temperature / isotonic) applied to (N, C) probabilities."""
    if record["method"] == "temperature":
        logits = tf.math.log(tf.clip_by_value(probabilities, 1e-7, 1.0))
        return tf.nn.softmax(logits / record["temperature"], axis=-1)
    xs = tf.constant(record["x_thresholds"], tf.float32)
    ys = tf.constant(record["y_thresholds"], tf.float32)
    p = probabilities[:, 1]
    if len(record["x_thresholds"]) == 1:
        q = tf.fill(tf.shape(p), ys[0])
    else:  # np.interp: linear between thresholds, clipped at the ends
        x = tf.clip_by_value(p, xs[0], xs[-1])
        idx = tf.clip_by_value(tf.searchsorted(xs, x, side="right") - 1, 0, len(record["x_thresholds"]) - 2)
        x0, x1 = tf.gather(xs, idx), tf.gather(xs, idx + 1)
        y0, y1 = tf.gather(ys, idx), tf.gather(ys, idx + 1)
        q = y0 + tf.math.divide_no_nan(x - x0, x1 - x0) * (y1 - y0)
    return tf.stack([1.0 - q, q], axis=-1)


@contextlib.contextmanager
def _root_logging_kept():
    """Undo the root-logger handler ``tf.saved_model.save`` installs: it logs through the
    ``logging`` module functions, which call ``logging.basicConfig`` when the root logger has
    no handler, and from then on every library message (already printed by the commands'
    handler) reached the console a second time."""
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)


def export_saved_model(model, path, pixel_mean=None, info=None, calibration=None):
    """Write ``model`` as a SavedModel at ``path`` (atomically: temp folder, then rename).

    ``calibration``: a calibration record (dict, or a ``Calibration``) to embed as the
    ``serve_calibrated`` endpoint (single-input models; isotonic needs 2 classes).

    An interrupted export never leaves a partial model at ``path``; an existing export there
    is replaced only once the new one is complete. ``info``: the run's ``RunInfo``, written
    as ``mammo_tf_run.json`` inside the SavedModel. Returns ``path``.
    """
    tf = require_tensorflow()
    if calibration is not None:
        from mammo_tf.screening.calibration import Calibration

        record = calibration.to_dict() if hasattr(calibration, "to_dict") else calibration
        calibration = Calibration.from_dict(record, source="calibration").to_dict()
        if len(model.inputs) > 1:
            raise ValueError("a calibrated endpoint is for single-input (Shen) models")
        if calibration["method"] == "isotonic" and model.output_shape[-1] != 2:
            raise ValueError("isotonic calibration needs a 2-class model")
    archive = keras.export.ExportArchive()
    archive.track(model)
    if len(model.inputs) > 1:
        if pixel_mean is not None:
            raise ValueError("pixel_mean embedding is for single-input (Shen) models; the "
                             "multi-input model's views are standardised by the caller")
        names = _input_names(model)
        specs = [tf.TensorSpec([None, *t.shape[1:]], tf.float32, name=n)
                 for n, t in zip(names, model.inputs)]

        def serve(*views):
            return model(dict(zip(names, views)), training=False)

        archive.add_endpoint("serve", serve, input_signature=specs)
        raw_input = False
    else:
        from mammo_tf.preprocess import RawImagePreprocessing
        from mammo_tf.models.trainability import feature_layer_name

        features_model = keras.Model(
            model.inputs, [model.get_layer(feature_layer_name(model)).output, model.output]
        )
        height, width = model.input_shape[1:3]
        preprocessing = None if pixel_mean is None else RawImagePreprocessing(pixel_mean)
        raw_input = preprocessing is not None
        channels = 1 if raw_input else model.input_shape[-1]
        spec = tf.TensorSpec([None, height, width, channels], tf.float32, name="images")

        def network_input(images):
            return images if preprocessing is None else preprocessing(images)

        def serve(images):
            return {"probabilities": model(network_input(images), training=False)}

        def serve_features(images):
            features, probabilities = features_model(network_input(images), training=False)
            return {"features": features, "probabilities": probabilities}

        archive.track(features_model)
        archive.add_endpoint("serve", serve, input_signature=[spec])
        archive.add_endpoint("serve_features", serve_features, input_signature=[spec])
        if calibration is not None:
            def serve_calibrated(images):
                return {"probabilities": _calibrated(
                    tf, calibration, model(network_input(images), training=False))}

            archive.add_endpoint("serve_calibrated", serve_calibrated, input_signature=[spec])
    with atomic_dir(path) as tmp, _root_logging_kept():
        archive.write_out(tmp, verbose=False)
        if info is not None:
            # what the SavedModel takes: 1 raw channel when the preprocessing is embedded
            record = dataclasses.replace(info, channels=1 if raw_input else info.channels).to_dict()
            record["saved_model"] = {"raw_input": raw_input, "inputs": _input_names(model)
                                     if len(model.inputs) > 1 else ["images"]}
            if calibration is not None:
                record["saved_model"]["calibration"] = calibration
            write_json_atomic(os.path.join(tmp, SAVED_MODEL_INFO), record)
    return path
