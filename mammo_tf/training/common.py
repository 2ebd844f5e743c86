# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Steps shared by the pipelines: run folder setup, environment, model loading, test
evaluation, SavedModel export."""
import dataclasses
import os
import platform
import sys

import keras
import numpy as np

from mammo_tf.training.config import UsageError
from mammo_tf.training.environment import (
    ensure_float32_output,
    make_strategy,
    seed_everything,
    set_mixed_precision,
)
from mammo_tf.runs import RunFolder, new_run_name
from mammo_tf.training.runner import TrainingOptions, stage_to_dict


def open_run(config, prefix, resume=None, stages=()):
    """Create (or reopen with ``resume``) the run folder and write ``config.json``."""
    if resume:
        run = RunFolder(resume)
        if not os.path.isfile(run.config):
            raise UsageError(f"--resume {resume}: no config.json there (not a run folder)")
        return run
    name = config.name or new_run_name(prefix)
    run = RunFolder(os.path.join(config.runs_dir, name))
    if os.path.exists(run.state):
        raise UsageError(f"run folder {run.path} already holds a run; use --resume {run.path} "
                         "or another --name")
    config.name = name
    run.write_config({
        "pipeline": prefix,
        "config": dataclasses.asdict(config),
        "stages": [stage_to_dict(s) for s in stages],
        "command": [os.path.basename(sys.argv[0])] + sys.argv[1:],
        "versions": {"python": platform.python_version(), "keras": keras.__version__,
                     "backend": keras.backend.backend(), "numpy": np.__version__},
    })
    return run


def prepare_environment(config):
    """Seeds/determinism, precision policy and distribution strategy (None = default)."""
    seed_everything(config.seed, deterministic=config.deterministic)
    set_mixed_precision(config.mixed_precision)
    try:
        return make_strategy(config.strategy)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def training_options(config):
    return TrainingOptions(optimizer=config.optimizer, momentum=config.momentum,
                           patience=config.patience or None, seed=config.seed,
                           verbose=config.verbose)


def scope(strategy):
    import contextlib

    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def float32_output(model):
    """Under mixed precision make sure the probabilities come out in float32."""
    if keras.mixed_precision.global_policy().name != "mixed_float16":
        return model
    try:
        ensure_float32_output(model)
        return model
    except ValueError:
        # The builder's softmax ran in float16: cast once at the end (name kept for the API).
        out = keras.layers.Activation("linear", dtype="float32", name="predictions_float32")(
            model.output)
        return keras.Model(model.inputs, out, name=model.name)


def set_bn_momentum(model, momentum):
    """Set the moving-average momentum of every BatchNormalization layer (None: keep).

    Keras' default 0.99 needs hundreds of steps before the moving statistics used at inference
    match the data; short runs (the demo, small datasets) need a lower value such as 0.9.
    """
    if momentum is None:
        return model
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(momentum)
    return model


def load_model_file(path, what, compile=False):
    """Load a ``.keras`` model (safe_mode) or raise UsageError naming the file."""
    if not path or not os.path.isfile(path):
        raise UsageError(f"{what} not found: {path}")
    if not str(path).endswith(".keras"):
        raise UsageError(f"{what} {path}: expected a .keras file")
    import mammo_tf.shen  # noqa: F401  registers the custom layers
    import mammo_tf.preprocess  # noqa: F401

    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as exc:  # Keras raises many types for foreign or broken files
        raise UsageError(f"{what} {path}: cannot load ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def export_model(run, model_path, pixel_mean):
    """Export ``model_path`` as a SavedModel with the raw-image preprocessing embedded."""
    if keras.backend.backend() != "tensorflow":
        print("skipping SavedModel export: needs the TensorFlow backend", flush=True)
        return None
    from mammo_tf.export import export_saved_model

    model = load_model_file(model_path, "checkpoint")
    export_saved_model(model, run.saved_model, pixel_mean=pixel_mean)
    return run.saved_model


def print_report(run, metrics, keys):
    print(f"\nrun folder: {run.path}")
    for key in keys:
        if key in metrics:
            print(f"  {key}: {metrics[key]}")
    print(f"  metrics: {run.metrics}\n  ROC curve: {run.roc_png}")
    if os.path.isdir(run.saved_model):
        print(f"  SavedModel: {run.saved_model}")
