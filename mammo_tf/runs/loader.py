# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The one model loader: ``load_keras_model`` (a ``.keras`` file) and ``load_run`` (a run
folder, a ``.keras`` file inside one, or a SavedModel exported by mammo_tf). Keras is imported
inside functions only."""
import dataclasses
import os

from mammo_tf.errors import RunError
from mammo_tf.runs.folder import RunFolder, run_folder_of
from mammo_tf.runs.info import (
    SAVED_MODEL_INFO, UPGRADE_COMMAND, ModelLoadError, RunFormatError, RunInfo, missing_info_message,
    read_info_file)


def register_custom_objects():
    """Import the modules that register mammo_tf's serializable layers and losses (every
    method's layers live in ``mammo_tf.models.layers``; no method package is imported)."""
    import mammo_tf.models.layers  # noqa: F401
    import mammo_tf.preprocess  # noqa: F401


def load_keras_model(path, compile=False):
    """THE ``.keras`` loader of mammo_tf: safe_mode, mammo_tf's custom layers registered.

    Raises ``ModelLoadError`` naming the file when it is missing, not a ``.keras`` file or
    cannot be loaded.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelLoadError(f"model file not found: {path}")
    if not path.endswith(".keras"):
        raise ModelLoadError(f"{path}: expected a .keras file")
    import keras

    register_custom_objects()
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as exc:  # Keras raises many types for foreign or broken files
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelLoadError(f"{path}: cannot load the model ({type(exc).__name__}: {first})") from None


@dataclasses.dataclass
class LoadedRun:
    """A loaded model with its metadata.

    ``forward(batch)`` -> probabilities as numpy ((N, C), or a dict of arrays for the NYU
    models' ``cc``/``mlo`` outputs; NYU batches are dicts of the four views). ``raw_input``:
    a SavedModel with the preprocessing embedded, fed the raw 1-channel 16-bit image.
    """

    model: object
    info: RunInfo
    model_path: str
    run: RunFolder | None = None
    raw_input: bool = False
    forward: object = None


def _numpy(outputs):
    import numpy as np

    if isinstance(outputs, dict):
        return {k: np.asarray(v) for k, v in outputs.items()}
    return np.asarray(outputs)


def _keras_forward(model):
    return lambda batch: _numpy(model.predict_on_batch(batch))


def locate_run(path, checkpoint="best"):
    """Where ``path``'s model and metadata are, without loading the model:
    ``(info, model_path, run, is_saved_model)``. ``path``: a run folder (its
    ``checkpoints/<checkpoint>.keras``, best else last), a ``.keras`` file inside one (metadata
    from its folder or the one above) or a SavedModel exported by mammo_tf (its own
    ``mammo_tf_run.json``, else its run folder's run.json). Raises ``RunFormatError`` where the
    metadata is missing, ``RunError`` for a path that is not a model."""
    path = os.fspath(path)
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb")):
        embedded = os.path.join(path, SAVED_MODEL_INFO)
        if os.path.isfile(embedded):
            return read_info_file(embedded), os.path.abspath(path), None, True
        run = run_folder_of(os.path.join(path, "saved_model.pb"))
        if run is None:
            raise RunFormatError(f"{path}: SavedModel without {SAVED_MODEL_INFO} (exported by an "
                                 "older mammo_tf) outside a run folder; export it again")
        return run.read_info(), os.path.abspath(path), run, True
    if os.path.isdir(path):
        run = RunFolder(path, create=False)
        if not run.has_info():
            raise RunFormatError(missing_info_message(run.path))
        return run.read_info(), run.model_file(checkpoint), run, False
    if os.path.isfile(path):
        if not path.endswith(".keras"):
            raise RunError(f"{path}: expected a run folder, a .keras file or a SavedModel folder")
        run = run_folder_of(path)
        if run is None:
            raise RunFormatError(
                f"{path}: no run.json in its folder or the one above; keep the model in its run "
                f"folder (runs/<name>/checkpoints/), or upgrade an old run folder with "
                f"`{UPGRADE_COMMAND} RUN_DIR`")
        return run.read_info(), path, run, False
    raise RunError(f"model {path!r} does not exist")


def load_run(path, checkpoint="best", compile=False):
    """Load a run folder, a ``.keras`` file inside one, or a SavedModel exported by mammo_tf
    (see ``locate_run``) -> ``LoadedRun``."""
    info, model_path, run, is_saved_model = locate_run(path, checkpoint)
    if is_saved_model:
        from mammo_tf.runs.saved_model import load_exported

        try:
            exported = load_exported(model_path)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{model_path}: cannot load the SavedModel ({exc})") from None
        return LoadedRun(model=exported, info=info, model_path=model_path, run=run,
                         raw_input=exported.raw_input, forward=exported)
    model = load_keras_model(model_path, compile=compile)
    return LoadedRun(model=model, info=info, model_path=model_path, run=run,
                     forward=_keras_forward(model))
