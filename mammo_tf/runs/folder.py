# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The run folder: its paths (``RunFolder``), default names, finding the folder of a model."""
import datetime
import json
import os

from mammo_tf.errors import RunError
from mammo_tf.runs.info import RunFormatError, missing_info_message, read_info_file
from mammo_tf.utils import write_json_atomic


class RunFolder:
    """Paths of one run folder; creating the object creates the folder (``create=False``: a
    reader that leaves the folder as it is)."""

    def __init__(self, path, create=True):
        self.path = os.path.abspath(os.fspath(path))
        if create:
            os.makedirs(os.path.join(self.path, "checkpoints"), exist_ok=True)

    def __fspath__(self):
        return self.path

    def __repr__(self):
        return f"RunFolder({self.path!r})"

    def file(self, *parts):
        return os.path.join(self.path, *parts)

    info = property(lambda self: self.file("run.json"))
    config = property(lambda self: self.file("config.json"))
    log_csv = property(lambda self: self.file("log.csv"))
    state = property(lambda self: self.file("state.json"))
    best_model = property(lambda self: self.file("checkpoints", "best.keras"))
    last_model = property(lambda self: self.file("checkpoints", "last.keras"))
    resume_dir = property(lambda self: self.file("resume"))
    metrics = property(lambda self: self.file("metrics.json"))
    roc_png = property(lambda self: self.file("roc.png"))
    saved_model = property(lambda self: self.file("saved_model"))
    tensorboard = property(lambda self: self.file("tensorboard"))

    def resume_checkpoint(self, epoch):
        """Path of the resume checkpoint written after global epoch ``epoch`` (1-based count)."""
        return os.path.join(self.resume_dir, f"epoch_{epoch:04d}.keras")

    def write_config(self, config):
        write_json_atomic(self.config, config)

    def read_config(self):
        with open(self.config, encoding="utf-8") as f:
            return json.load(f)

    def has_info(self):
        return os.path.isfile(self.info)

    def write_info(self, info):
        write_json_atomic(self.info, info.to_dict())

    def read_info(self):
        if not self.has_info():
            raise RunFormatError(missing_info_message(self.path))
        return read_info_file(self.info)

    def read_pixel_mean(self):
        """The pixel mean recorded in ``run.json``."""
        return self.read_info().pixel_mean

    def write_metrics(self, metrics):
        write_json_atomic(self.metrics, metrics)

    def read_metrics(self):
        with open(self.metrics, encoding="utf-8") as f:
            return json.load(f)

    def is_finished(self):
        """True when training, evaluation and export all completed."""
        return os.path.exists(self.metrics)  # written last, after evaluation and export

    def model_file(self, checkpoint="best"):
        """``checkpoints/<checkpoint>.keras``; for "best" fall back to ``last.keras``."""
        names = [checkpoint] + (["last"] if checkpoint == "best" else [])
        for name in names:
            candidate = self.file("checkpoints", f"{name}.keras")
            if os.path.isfile(candidate):
                return candidate
        raise RunError(f"run folder {self.path} has no "
                       f"{' or '.join(f'checkpoints/{n}.keras' for n in names)}")


def new_run_name(prefix):
    """``<prefix>_YYYYmmdd-HHMMSS`` (UTC), the default run name."""
    return f"{prefix}_{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}"


def run_folder_of(model_path, levels=2):
    """The run folder holding ``model_path`` (its folder or up to ``levels - 1`` parents with a
    run.json: ``runs/<name>/checkpoints/best.keras`` -> ``runs/<name>``), or None."""
    folder = os.path.dirname(os.path.abspath(model_path))
    for _ in range(levels):
        run = RunFolder(folder, create=False)
        if run.has_info():
            return run
        folder = os.path.dirname(folder)
    return None
