# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""TensorFlow SavedModel export of mammo_tf classifiers (TensorFlow backend only).

Endpoints of an exported model:

- ``serve(images)`` -> class probabilities (N, num_classes). Also the ``serving_default``
  signature, so TF Serving and ``tf.saved_model.load(path).signatures`` find it.
- ``serve_features(images)`` -> ``{"features": last conv maps (N, h, w, K),
  "probabilities": (N, num_classes)}`` for explanations (CAMs) on the serving side.

``images`` is float32 (N, H, W, C). Without ``pixel_mean`` C = 3 and the caller sends network
input (``mammo_tf.preprocess.to_network_input``). With ``pixel_mean`` the run's preprocessing is
embedded: C = 1 and the caller sends the image as read from the 16-bit file (0-65535 scale).
H and W are free when the model was built with ``input_shape=(None, None, 3)``.
"""
import os

import keras
import numpy as np

from mammo_tf.shen.stages import feature_layer_name
from mammo_tf.preprocess import RawImagePreprocessing
from mammo_tf.utils import atomic_dir


def _require_tensorflow():
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "SavedModel export needs the TensorFlow backend (KERAS_BACKEND=tensorflow); "
            f"current backend: {keras.backend.backend()}. Save a .keras file instead."
        )
    import tensorflow as tf

    return tf


def export_saved_model(model, path, pixel_mean=None):
    """Write ``model`` as a SavedModel at ``path`` (atomically: temp folder, then rename).

    An interrupted export never leaves a partial model at ``path``; an existing export there
    is replaced only once the new one is complete. Returns ``path``.
    """
    tf = _require_tensorflow()
    features_model = keras.Model(
        model.inputs, [model.get_layer(feature_layer_name(model)).output, model.output]
    )
    height, width = model.input_shape[1:3]
    preprocessing = None if pixel_mean is None else RawImagePreprocessing(pixel_mean)
    channels = 3 if preprocessing is None else 1
    spec = tf.TensorSpec([None, height, width, channels], tf.float32, name="images")

    def network_input(images):
        return images if preprocessing is None else preprocessing(images)

    def serve(images):
        return model(network_input(images), training=False)

    def serve_features(images):
        features, probabilities = features_model(network_input(images), training=False)
        return {"features": features, "probabilities": probabilities}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(features_model)
    archive.add_endpoint("serve", serve, input_signature=[spec])
    archive.add_endpoint("serve_features", serve_features, input_signature=[spec])
    with atomic_dir(path) as tmp:
        archive.write_out(tmp, verbose=False)
    return path


class ExportedModel:
    """A reloaded SavedModel: ``model(images)`` -> probabilities, ``model.features(images)``."""

    def __init__(self, path):
        tf = _require_tensorflow()
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise FileNotFoundError(f"{path!r} is not a SavedModel folder (no saved_model.pb).")
        self._tf = tf
        self.path = path
        self._loaded = tf.saved_model.load(path)
        spec = self._loaded.serve.concrete_functions[0].structured_input_signature[0][0]
        self.input_shape = tuple(spec.shape)

    def _tensor(self, images):
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == len(self.input_shape) - 1:  # a single channel-less image batch
            images = images[..., None]
        return self._tf.constant(images)

    def __call__(self, images):
        return self._loaded.serve(self._tensor(images)).numpy()

    def features(self, images):
        out = self._loaded.serve_features(self._tensor(images))
        return out["features"].numpy(), out["probabilities"].numpy()


def load_exported(path):
    """Load a SavedModel written by ``export_saved_model`` as a callable."""
    return ExportedModel(path)
