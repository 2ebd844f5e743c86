# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Shared helpers of the prediction tests (tests/inference, tests/screening, tests/datasets):
tiny models, synthetic 16-bit images and a run-folder layout. A tests-root module, so that a
test file importing them also runs alone."""
import importlib.util
import pathlib

import keras
import numpy as np

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
PIXEL_MEAN = 40.0


def load_predict_script():
    """predict.py (the entry script) as a module."""
    spec = importlib.util.spec_from_file_location("predict_script", REPO_ROOT / "predict.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def position_sensitive_model(size=(32, 32), seed=0):
    """Strided conv -> flatten -> softmax: depends on where things are, so not flip-invariant."""
    inputs = keras.Input((*size, 3))
    x = keras.layers.Conv2D(2, 3, strides=4, padding="same", name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs)
    dense = model.get_layer("predictions")
    w, b = dense.get_weights()
    dense.set_weights([np.random.default_rng(seed).normal(0, 0.05, w.shape).astype("float32"), b])
    return model


def synthetic_images(n, size=(32, 32), seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 65535, (n, *size)).astype(np.uint16)
    images[:, : size[0] // 2, : size[1] // 3] = 60000  # an asymmetric bright block
    return images


def save_in_run(model, run_dir, pixel_mean=PIXEL_MEAN):
    """A model inside a training run folder layout (runs/<name>/checkpoints/best.keras) with
    the run.json a whole-image run writes."""
    from mammo_tf.runs import RunFolder, RunInfo

    run = RunFolder(run_dir)
    model.save(run.best_model)
    run.write_info(RunInfo.for_model("whole_top", model, classes=["negative", "positive"],
                                     pixel_mean=pixel_mean, pixel_mean_source="test"))
    return pathlib.Path(run.best_model)
