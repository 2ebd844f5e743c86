# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Reading back a SavedModel exported by mammo_tf (``mammo_tf.serving.savedmodel``; TensorFlow
backend only): ``load_exported(path)`` -> a callable ``ExportedModel``. Part of the run loader
(``load_run`` opens SavedModel folders with it), so it sits here, below the exporter.
Keras and TensorFlow are imported when a model is loaded, not with this module.
"""
import json
import os

import numpy as np

from mammo_tf.constants import SAVED_MODEL_INFO


def require_tensorflow():
    """The ``tensorflow`` module, or a RuntimeError when Keras runs on another backend."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "SavedModel export needs the TensorFlow backend (KERAS_BACKEND=tensorflow); "
            f"current backend: {keras.backend.backend()}. Save a .keras file instead, or export "
            "ONNX (mammo-tf export RUN --format onnx)."
        )
    import tensorflow as tf

    return tf


class ExportedModel:
    """A reloaded SavedModel: ``model(images)`` -> probabilities, ``model.features(images)``.

    Multi-input (NYU) exports take a dict of the named views and return a dict of outputs.
    """

    def __init__(self, path):
        tf = require_tensorflow()
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise FileNotFoundError(f"{path!r} is not a SavedModel folder (no saved_model.pb).")
        self._tf = tf
        self.path = path
        self._loaded = tf.saved_model.load(path)
        specs = self._loaded.serve.concrete_functions[0].structured_input_signature[0]
        self.input_names = [s.name for s in specs]
        self.input_shapes = {s.name: tuple(s.shape) for s in specs}
        self.input_shape = tuple(specs[0].shape)
        self.raw_input = self._raw_input(len(specs))

    def _raw_input(self, n_inputs):
        record_path = os.path.join(self.path, SAVED_MODEL_INFO)
        if os.path.isfile(record_path):
            with open(record_path, encoding="utf-8") as f:
                return bool(json.load(f).get("saved_model", {}).get("raw_input", False))
        # exports written before mammo_tf_run.json: only the embedded preprocessing took 1 channel
        return n_inputs == 1 and self.input_shape[-1] == 1

    def _tensor(self, images, shape):
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == len(shape) - 1:  # a single channel-less image batch
            images = images[..., None]
        return self._tf.constant(images)

    def __call__(self, images):
        if isinstance(images, dict):
            views = [self._tensor(images[n], self.input_shapes[n]) for n in self.input_names]
            return {k: v.numpy() for k, v in self._loaded.serve(*views).items()}
        return _probabilities(self._loaded.serve(self._tensor(images, self.input_shape)))

    def features(self, images):
        out = self._loaded.serve_features(self._tensor(images, self.input_shape))
        return out["features"].numpy(), out["probabilities"].numpy()

    @property
    def has_calibration(self):
        return hasattr(self._loaded, "serve_calibrated")

    def calibrated(self, images):
        """Calibrated probabilities (the ``serve_calibrated`` endpoint)."""
        if not self.has_calibration:
            raise ValueError(f"{self.path}: exported without a calibration (no serve_calibrated endpoint)")
        return _probabilities(self._loaded.serve_calibrated(self._tensor(images, self.input_shape)))


def _probabilities(out):
    """An endpoint's probabilities (``{"probabilities": ...}``; a bare tensor from exports
    written before the outputs were named)."""
    return (out["probabilities"] if isinstance(out, dict) else out).numpy()


def load_exported(path):
    """Load a SavedModel written by ``export_saved_model`` as a callable."""
    return ExportedModel(path)
