# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""What a run's model is: ``run.json`` (``RunInfo``), the model kinds and the run errors."""
import dataclasses
import json

from mammo_tf.constants import SAVED_MODEL_INFO  # noqa: F401  (inside an exported SavedModel folder)
from mammo_tf.errors import RunError

MODEL_KINDS = ("patch", "whole_top", "whole_heatmap", "nyu_view_wise", "nyu_image_wise",
               "nyu_birads")
SHEN_KINDS = MODEL_KINDS[:3]
NYU_KINDS = MODEL_KINDS[3:]
RUN_INFO_FORMAT = "mammo_tf.run"
RUN_INFO_VERSION = 1
UPGRADE_COMMAND = "python -m mammo_tf.runs upgrade"


class RunFormatError(RunError):
    """No (or an unreadable) ``run.json`` where one is needed."""


class ModelLoadError(RunError):
    """A model file that Keras cannot load (safe_mode)."""


def missing_info_message(folder):
    return (f"{folder}: no run.json (a run folder written before run.json existed, or not a "
            f"run folder); upgrade it with `{UPGRADE_COMMAND} {folder}`")


@dataclasses.dataclass
class RunInfo:
    """What a run's model is and how its input is prepared (``run.json``).

    ``input_size``: Shen [H, W] (None for a fully convolutional axis); NYU
    {"cc": [H, W], "mlo": [H, W]}. ``channels``: what the model's input takes. ``pixel_mean``
    (0-255 scale, Shen; None for NYU's per-image standardisation) with ``pixel_mean_source``
    saying how it was obtained. ``classes``: output class names (NYU: output column names).
    """

    kind: str
    classes: list
    input_size: object
    channels: int
    pixel_mean: float | None = None
    pixel_mean_source: str | None = None
    backbone: str | None = None
    training_data: dict = dataclasses.field(default_factory=dict)
    details: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in MODEL_KINDS:
            raise RunFormatError(f"unknown model kind {self.kind!r}; one of {', '.join(MODEL_KINDS)}")
        self.classes = list(self.classes)
        self.channels = int(self.channels)
        self.pixel_mean = None if self.pixel_mean is None else float(self.pixel_mean)
        if isinstance(self.input_size, dict):
            self.input_size = {k: _size(v) for k, v in self.input_size.items()}
        else:
            self.input_size = _size(self.input_size)

    @property
    def is_nyu(self):
        return self.kind in NYU_KINDS

    def to_dict(self):
        return {"format": RUN_INFO_FORMAT, "version": RUN_INFO_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, record, where="run.json"):
        if not isinstance(record, dict) or record.get("format") != RUN_INFO_FORMAT:
            raise RunFormatError(f"{where}: not a mammo_tf run.json (no \"format\": "
                                 f"\"{RUN_INFO_FORMAT}\")")
        version = record.get("version")
        if not isinstance(version, int) or version > RUN_INFO_VERSION:
            raise RunFormatError(f"{where}: run.json version {version!r}; this mammo_tf reads "
                                 f"versions up to {RUN_INFO_VERSION} (update mammo_tf)")
        names = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in record.items() if k in names}
        try:
            return cls(**fields)
        except TypeError as exc:  # a required field is missing
            raise RunFormatError(f"{where}: {exc}") from None

    @classmethod
    def for_model(cls, kind, model, **fields):
        """A RunInfo whose input size and channels are read from the built ``model``."""
        input_size, channels = model_geometry(model)
        return cls(kind=kind, input_size=input_size, channels=channels, **fields)


def _size(value):
    if value is None:
        return None
    return [None if v is None else int(v) for v in value]


def model_geometry(model):
    """(input_size, channels) of a Shen model ([H, W]) or an NYU four-view model
    ({"cc": [H, W], "mlo": [H, W]}, from the inputs named l_cc / l_mlo)."""
    inputs = {getattr(t, "name", None): tuple(t.shape) for t in model.inputs}
    if "l_cc" in inputs and "l_mlo" in inputs:
        return ({"cc": list(inputs["l_cc"][1:3]), "mlo": list(inputs["l_mlo"][1:3])},
                int(inputs["l_cc"][-1]))
    shape = tuple(model.input_shape)
    return list(shape[1:3]), int(shape[-1])


def read_info_file(path):
    """RunInfo of a ``run.json`` (or a SavedModel's ``mammo_tf_run.json``) file."""
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise RunFormatError(f"{path}: cannot read ({exc})") from None
    return RunInfo.from_dict(record, where=path)
