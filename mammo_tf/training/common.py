# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Steps shared by the pipelines: run folder setup, environment, model loading (through
``mammo_tf.runs``), run.json, SavedModel export."""
import dataclasses
import logging
import os
import platform
import sys

import keras
import numpy as np

from mammo_tf.training.config import LAUNCH_OPTIONS
from mammo_tf.errors import RunError, UsageError
from mammo_tf.training.environment import (
    broadcast_text,
    device_count,
    global_batch_size,
    is_chief,
    join_processes,
    make_distribution,
    make_strategy,
    process_group_requested,
    seed_everything,
    set_mixed_precision,
)
from mammo_tf.runs import RunFolder, new_run_name
from mammo_tf.training.runner import TrainingOptions, stage_to_dict

logger = logging.getLogger(__name__)


def open_run(config, prefix, resume=None, stages=()):
    """Create (or reopen with ``resume``) the run folder and write ``config.json``.

    First joins the multi-process job when one is asked for (``join_processes``): every
    process then opens the same folder (process 0's run name) and only process 0 writes."""
    join_processes_for(config)
    if resume:
        run = RunFolder(resume)
        if not os.path.isfile(run.config):
            raise UsageError(f"--resume {resume}: no config.json there (not a run folder)")
        return run
    name = broadcast_text(config.name or new_run_name(prefix))
    run = RunFolder(os.path.join(config.runs_dir, name))
    if os.path.exists(run.state):
        raise UsageError(f"run folder {run.path} already holds a run; use --resume {run.path} "
                         "or another --name")
    config.name = name
    if is_chief():
        saved = dataclasses.asdict(config)
        saved.update({key: None for key in LAUNCH_OPTIONS if key in saved})
        run.write_config({
            "pipeline": prefix,
            "config": saved,
            "stages": [stage_to_dict(s) for s in stages],
            "command": [os.path.basename(sys.argv[0])] + sys.argv[1:],
            "versions": {"python": platform.python_version(), "keras": keras.__version__,
                         "backend": keras.backend.backend(), "numpy": np.__version__},
        })
    return run


def join_processes_for(config):
    """Join the multi-process JAX job the config's launch options or the environment ask for
    (UsageError without ``--distribution data-parallel`` or on another backend)."""
    launch = {key: getattr(config, key, None) for key in LAUNCH_OPTIONS}
    if not process_group_requested(**launch):
        return 1
    if getattr(config, "distribution", "none") in (None, "none"):
        raise UsageError("several processes (--coordinator-address/--num-processes/--process-id, "
                         "KERAS_DISTRIBUTION_* or a Slurm step of several tasks) train with "
                         "--distribution data-parallel; add it (or run one task)")
    try:
        return join_processes(**launch)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def prepare_environment(config):
    """Seeds/determinism, precision policy and distribution: returns the tf.distribute
    strategy (None = default). With ``distribution="data-parallel"`` (JAX) it sets the global
    ``keras.distribution.DataParallel`` instead and makes ``config.batch_size`` the global batch
    (per-device batch x devices; config.json keeps the per-device value)."""
    seed_everything(config.seed, deterministic=config.deterministic)
    set_mixed_precision(config.mixed_precision)
    name = getattr(config, "distribution", "none")
    try:
        if name not in (None, "none"):
            if config.strategy not in (None, "none"):
                raise ValueError(f"--strategy {config.strategy} (tf.distribute) and --distribution "
                                 f"{name} (keras.distribution) exclude each other")
            distribution = make_distribution(name)
            if hasattr(config, "batch_size"):
                per_device = config.batch_size
                config.batch_size = global_batch_size(per_device, distribution)
                logger.info("global batch %d = %d per device x %d devices", config.batch_size,
                            per_device, device_count(distribution))
            return None
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


def load_run(path, what, checkpoint="best"):
    """``mammo_tf.runs.load_run`` for a model the user named (``--patch-model``, ``--model``):
    a bad path or a folder without run.json becomes a UsageError naming ``what`` (exit 2)."""
    from mammo_tf.runs import load_run as _load_run

    if not path:
        raise UsageError(f"{what}: no model given")
    if not os.path.exists(path):
        raise UsageError(f"{what} not found: {path}")
    try:
        return _load_run(path, checkpoint=checkpoint)
    except RunError as exc:
        raise UsageError(f"{what}: {exc}") from None


def resolve_pixel_mean(**kwargs):
    """``mammo_tf.runs.resolve_pixel_mean`` (the one precedence) with a RunError as a
    UsageError (exit 2)."""
    from mammo_tf.runs import resolve_pixel_mean as _resolve

    try:
        return _resolve(**kwargs)
    except RunError as exc:
        raise UsageError(str(exc)) from None


def require_kind(loaded, kinds, what, reason=None):
    """UsageError unless the run's recorded kind (run.json) is one of ``kinds``; the message
    names the model, its kind and ``reason`` (default: the kinds expected)."""
    kind = loaded.info.kind
    if kind not in kinds:
        reason = reason or f"expected {' or '.join(repr(k) for k in kinds)}"
        raise UsageError(f"{what} {loaded.model_path}: its run.json says {kind!r}; {reason}")
    return loaded


def write_run_info(run, model, kind, **fields):
    """Write ``run.json`` for the freshly built ``model`` (input size and channels read from
    it) and return the ``RunInfo``."""
    from mammo_tf.runs import RunInfo

    info = RunInfo.for_model(kind, model, **fields)
    if is_chief():
        run.write_info(info)
    return info


def export_model(run, model_path, pixel_mean=None):
    """Export ``model_path`` as a SavedModel carrying the run's ``run.json``; Shen models get
    the raw-image preprocessing embedded (``pixel_mean``, default the run's)."""
    if keras.backend.backend() != "tensorflow":
        logger.warning("skipping SavedModel export: needs the TensorFlow backend")
        return None
    from mammo_tf.serving.savedmodel import export_saved_model
    from mammo_tf.runs import load_keras_model

    from mammo_tf.screening.calibration import CALIBRATION_FILE, load_calibration

    info = run.read_info()
    if pixel_mean is None and not info.is_nyu:
        pixel_mean = info.pixel_mean
    # the calibration the run's test report fitted on validation -> the serve_calibrated endpoint
    calibration_path = os.path.join(run.path, CALIBRATION_FILE)
    calibration = (load_calibration(calibration_path)
                   if not info.is_nyu and os.path.isfile(calibration_path) else None)
    export_saved_model(load_keras_model(model_path), run.saved_model,
                       pixel_mean=None if info.is_nyu else pixel_mean, info=info,
                       calibration=calibration)
    return run.saved_model


def print_report(run, metrics, keys):
    """Log the run's headline metrics and where its files are."""
    lines = [f"run folder: {run.path}"]
    lines += [f"  {key}: {metrics[key]}" for key in keys if key in metrics]
    lines += [f"  metrics: {run.metrics}", f"  ROC curve: {run.roc_png}"]
    if os.path.isdir(run.saved_model):
        lines.append(f"  SavedModel: {run.saved_model}")
    logger.info("\n".join(lines))
