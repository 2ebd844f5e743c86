# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Run folders, their metadata file ``run.json`` and the one model loader, ``load_run``.

The run-folder format (``runs/<name>/``), the same for every pipeline (Shen and NYU)::

    run.json               what the run's model is: kind, classes, input size, channels, pixel
                           mean and how it was computed, backbone, training data, method details
                           (``RunInfo``; written when the model is built, before training)
    config.json            resolved configuration (defaults < --config file < CLI flags)
    log.csv                one row per epoch, all stages, appended across resumes
    state.json             resume state, written atomically at the end of every epoch
    checkpoints/best.keras best model by the monitored validation metric (across stages)
    checkpoints/last.keras model (with optimizer state) after the last epoch
    resume/epoch_NNNN.keras model + optimizer after the last completed epoch (while training)
    metrics.json           final test metrics
    roc.png                ROC curve(s) on the test split
    saved_model/           exported TensorFlow SavedModel; carries a copy of the run's metadata
                           as ``saved_model/mammo_tf_run.json`` so it stays usable when copied
    tensorboard/           TensorBoard logs (only when tensorboard is installed)

Folders written before ``run.json`` existed (``config.json`` + ``pixel_mean.json``) are
upgraded in place with ``python -m mammo_tf.runs upgrade RUN_DIR``.

``load_run(path)`` takes a run folder, a ``.keras`` file inside one, or a SavedModel folder
exported by mammo_tf, and returns a ``LoadedRun``: the model, its ``RunInfo`` and a
``forward`` callable. Nothing infers the kind of a model from its layer names. The package
imports Keras only inside functions, so ``import mammo_tf.runs`` stays fast.

One module per job: ``info`` (run.json, ``RunInfo``, model kinds, run errors), ``folder``
(``RunFolder``, run names), ``pixel_mean`` (the one pixel-mean precedence), ``loader``
(``load_keras_model``, ``locate_run``, ``load_run``), ``saved_model`` (reading back an exported
SavedModel: ``load_exported``), ``upgrade`` (old run folders). Their
public names are re-exported here. The command (``python -m mammo_tf.runs``) lives in
``mammo_tf.commands.runs``.
"""
from mammo_tf.runs.folder import RunFolder, new_run_name, run_folder_of  # noqa: F401
from mammo_tf.runs.info import (  # noqa: F401
    MODEL_KINDS,
    NYU_KINDS,
    RUN_INFO_FORMAT,
    RUN_INFO_VERSION,
    SAVED_MODEL_INFO,
    SHEN_KINDS,
    UPGRADE_COMMAND,
    ModelLoadError,
    RunFormatError,
    RunInfo,
    model_geometry,
    read_info_file,
)
from mammo_tf.runs.loader import (  # noqa: F401
    LoadedRun,
    load_keras_model,
    load_run,
    locate_run,
    register_custom_objects,
)
from mammo_tf.runs.pixel_mean import resolve_pixel_mean  # noqa: F401
from mammo_tf.runs.upgrade import info_from_old_folder, upgrade  # noqa: F401
