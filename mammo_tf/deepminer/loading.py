# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Load the model to explain (a ``.keras`` file or a run folder) with its pixel mean."""
import os

import keras

from mammo_tf.predict import find_pixel_mean


def resolve_model_path(path):
    """A ``.keras`` file, or a run folder -> its ``checkpoints/best.keras`` (else ``last.keras``)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        for name in ("best.keras", "last.keras"):
            candidate = os.path.join(path, "checkpoints", name)
            if os.path.isfile(candidate):
                return candidate
        raise ValueError(f"run folder {path!r} has no checkpoints/best.keras or checkpoints/last.keras")
    if not os.path.isfile(path):
        raise ValueError(f"model {path!r} does not exist")
    if not path.endswith(".keras"):
        raise ValueError(f"model {path!r}: expected a .keras file or a run folder")
    return path


def load_model(path, pixel_mean=None):
    """(model, pixel_mean, model_path): safe_mode loading; the pixel mean comes from the run folder
    (``pixel_mean.json`` / ``config.json``) unless given; a missing one is an error."""
    if isinstance(path, keras.Model):
        if pixel_mean is None:
            raise ValueError("an in-memory model needs pixel_mean")
        return path, float(pixel_mean), None
    model_path = resolve_model_path(path)
    try:
        import mammo_tf.shen  # noqa: F401  (registers the package's custom layers)
    except ImportError:
        pass
    try:
        model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except Exception as exc:
        raise ValueError(f"{model_path}: cannot load the Keras model ({exc})") from exc
    if pixel_mean is None:
        pixel_mean = find_pixel_mean(model_path)
    if pixel_mean is None:
        raise ValueError(f"{model_path}: pixel mean unknown (no pixel_mean.json in its run folder): "
                         "pass --pixel-mean")
    return model, float(pixel_mean), model_path
