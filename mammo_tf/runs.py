# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The layout of a run folder ``runs/<name>/`` and small readers/writers for its files.

    config.json            resolved configuration (defaults < --config file < CLI flags)
    pixel_mean.json        the scalar pixel mean (0-255 scale) used for training and export
    log.csv                one row per epoch, all stages, appended across resumes
    state.json             resume state, written atomically at the end of every epoch
    checkpoints/best.keras best model by validation AUC (tracked across stages)
    checkpoints/last.keras model (with optimizer state) after the last epoch
    resume/epoch_NNNN.keras model + optimizer after the last completed epoch (while training)
    metrics.json           final test metrics
    roc.png                ROC curve(s) on the test split
    saved_model/           exported TensorFlow SavedModel (raw 16-bit single-channel input)
    tensorboard/           TensorBoard logs (only when tensorboard is installed)
"""
import datetime
import json
import os

from mammo_tf.utils import write_json_atomic


class RunFolder:
    """Paths of one run folder; creating the object creates the folder."""

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))
        os.makedirs(os.path.join(self.path, "checkpoints"), exist_ok=True)

    def __fspath__(self):
        return self.path

    def __repr__(self):
        return f"RunFolder({self.path!r})"

    def file(self, *parts):
        return os.path.join(self.path, *parts)

    config = property(lambda self: self.file("config.json"))
    pixel_mean_file = property(lambda self: self.file("pixel_mean.json"))
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

    def write_pixel_mean(self, pixel_mean, source):
        write_json_atomic(self.pixel_mean_file, {"pixel_mean": float(pixel_mean), "source": source})

    def read_pixel_mean(self):
        with open(self.pixel_mean_file, encoding="utf-8") as f:
            return float(json.load(f)["pixel_mean"])

    def write_metrics(self, metrics):
        write_json_atomic(self.metrics, metrics)

    def read_metrics(self):
        with open(self.metrics, encoding="utf-8") as f:
            return json.load(f)

    def is_finished(self):
        """True when training, evaluation and export all completed."""
        return os.path.exists(self.metrics)  # written last, after evaluation and export


def new_run_name(prefix):
    """``<prefix>_YYYYmmdd-HHMMSS`` (UTC), the default run name."""
    return f"{prefix}_{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}"
