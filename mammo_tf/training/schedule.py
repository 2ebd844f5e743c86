# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Training schedules as data: ``Stage`` records, named experiment files, and the checks that
turn a config's ``stages`` list plus per-stage flags into the stages a run trains.

A schedule is a list of ``Stage`` records. It lives in a config file (``"stages": [{...}, ...]``);
the shipped experiment files ``mammo_tf/experiments/<name>.json`` hold the papers' schedules and
are the pipelines' defaults. Per-stage flags (``--epochs 3 10 37``) override one field of every
stage and must give exactly one value per stage: a list of another length is a ``UsageError``
(exit 2), never a silent truncation by ``zip``.

No Keras import here: ``--help`` and config checks stay fast.
"""
import dataclasses
import json
import os

from mammo_tf.errors import UsageError

EXPERIMENTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "experiments")


@dataclasses.dataclass(frozen=True)
class Stage:
    """One training stage: which layers train, and with what.

    ``trainable_from`` is "head" (only layers after the backbone cut), "all", or a layer name
    (that layer and every later one train; everything before is frozen). ``l2`` / ``dropout``
    of None keep the model's current values.
    """

    name: str
    trainable_from: str
    learning_rate: float
    epochs: int
    l2: float | None = None
    dropout: float | None = None
    # BatchNormalization layers stay in inference mode (moving statistics frozen): finetuning
    # with small batches on a shifted input distribution otherwise replaces the statistics
    # the model was trained with. True: every BN layer; "backbone": only the backbone's (up to
    # the backbone cut), so the BN layers of newly added top blocks still learn their statistics.
    freeze_batchnorm: bool | str = False


# Stage.freeze_batchnorm value that freezes only the backbone's BatchNormalization layers.
FREEZE_BACKBONE_BATCHNORM = "backbone"
STAGE_FIELDS = tuple(f.name for f in dataclasses.fields(Stage))
_REQUIRED_FIELDS = ("name", "trainable_from", "learning_rate", "epochs")


def stage_to_dict(stage):
    """A Stage as the JSON object a config file / run folder holds (``freeze_batchnorm`` only
    when set, so run folders of earlier versions still resume)."""
    record = {f: getattr(stage, f) for f in STAGE_FIELDS}
    if not record["freeze_batchnorm"]:
        del record["freeze_batchnorm"]
    return record


def _number(value, where, key, minimum=0.0, integer=False):
    # bool is an int subclass: "epochs": true must not pass as 1
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or value < minimum:
        kind = "an integer" if integer else "a number"
        raise UsageError(f"{where}: '{key}' must be {kind} >= {minimum:g}, got {value!r}")
    return int(value) if integer else float(value)


def stage_from_dict(record, where="stages[0]"):
    """A validated Stage from a JSON object; UsageError naming ``where`` for unknown keys,
    missing keys or values of the wrong type."""
    if isinstance(record, Stage):
        return record
    if not isinstance(record, dict):
        raise UsageError(f"{where}: a stage must be a JSON object with keys "
                         f"{', '.join(STAGE_FIELDS)}; got {record!r}")
    unknown = sorted(set(record) - set(STAGE_FIELDS))
    if unknown:
        raise UsageError(f"{where}: unknown stage key(s) {', '.join(unknown)} "
                         f"(valid: {', '.join(STAGE_FIELDS)})")
    missing = [k for k in _REQUIRED_FIELDS if k not in record]
    if missing:
        raise UsageError(f"{where}: missing stage key(s) {', '.join(missing)}")
    for key in ("name", "trainable_from"):
        if not isinstance(record[key], str) or not record[key]:
            raise UsageError(f"{where}: '{key}' must be a non-empty string, got {record[key]!r}")
    optional = {k: None if record.get(k) is None else _number(record[k], where, k)
                for k in ("l2", "dropout")}
    if optional["dropout"] is not None and optional["dropout"] >= 1:
        raise UsageError(f"{where}: 'dropout' must be below 1, got {optional['dropout']!r}")
    freeze = record.get("freeze_batchnorm", False)
    if not isinstance(freeze, bool) and freeze != FREEZE_BACKBONE_BATCHNORM:
        raise UsageError(f"{where}: 'freeze_batchnorm' must be true, false or "
                         f"\"{FREEZE_BACKBONE_BATCHNORM}\", got {freeze!r}")
    return Stage(record["name"], record["trainable_from"],
                 _number(record["learning_rate"], where, "learning_rate"),
                 _number(record["epochs"], where, "epochs", minimum=1, integer=True), **optional,
                 freeze_batchnorm=freeze)


def stages_from_records(records, source="stages"):
    """A list of Stages from a JSON list of stage objects (or Stages)."""
    if not isinstance(records, (list, tuple)) or not records:
        raise UsageError(f"{source}: expected a non-empty list of stage objects, got {records!r}")
    return [stage_from_dict(r, f"{source}[{i}]") for i, r in enumerate(records)]


def _flag(name):
    return "--" + name.replace("_", "-")


def check_length(field, values, n_stages):
    """UsageError unless ``values`` has one entry per stage (the message names the field and
    both lengths)."""
    if len(values) != n_stages:
        raise UsageError(f"{field} ({_flag(field)}) has {len(values)} value(s) but the schedule "
                         f"has {n_stages} stage(s): give exactly one value per stage")


def resolve_stages(config, default_stages, overrides=None, n_stages=None):
    """The stages a run trains: ``config.stages`` (or ``default_stages``) with flags applied.

    - ``config.stages``: the config's schedule (list of Stage or stage dicts, e.g. from a
      ``--config`` file); None or missing -> ``default_stages`` (load them with
      ``experiment_stages(name)``, so defaults come from the shipped experiment files).
    - ``overrides``: {config field: Stage field}, e.g. ``{"epochs": "epochs",
      "learning_rates": "learning_rate", "l2": "l2"}``. A config value of None leaves the
      schedule's value; a list must have exactly one value per stage (UsageError naming the
      field and both lengths otherwise); a scalar counts as a one-value list, so it fits a
      one-stage schedule only.
    - ``n_stages``: the number of stages the pipeline needs (None: any); a schedule of another
      length is a UsageError naming both lengths.

    Returns a new list of Stages; ``config`` is not modified.
    """
    records = getattr(config, "stages", None)
    stages = stages_from_records(records if records else list(default_stages),
                                 "stages" if records else "default stages")
    if n_stages is not None and len(stages) != n_stages:
        raise UsageError(f"stages has {len(stages)} stage(s) but this pipeline needs "
                         f"{n_stages}: {', '.join(s.name for s in stages)}")
    for field, stage_field in (overrides or {}).items():
        if stage_field not in STAGE_FIELDS:
            raise ValueError(f"{stage_field!r} is not a Stage field ({', '.join(STAGE_FIELDS)})")
        values = getattr(config, field, None)
        if values is None:
            continue
        if not isinstance(values, (list, tuple)):
            values = [values]
        check_length(field, values, len(stages))
        stages = [stage_from_dict(dict(stage_to_dict(s), **{stage_field: v}),
                                  f"{_flag(field)} for stage '{s.name}'")
                  for s, v in zip(stages, values)]
    return stages


def available_experiments():
    """Names of the shipped experiment files (``mammo_tf/experiments/<name>.json``)."""
    if not os.path.isdir(EXPERIMENTS_DIR):
        return []
    return sorted(f[:-5] for f in os.listdir(EXPERIMENTS_DIR) if f.endswith(".json"))


def is_experiment_name(value):
    """True for a bare name such as ``patch_s10_vgg16`` (no ``.json``, no path separator)."""
    value = os.fspath(value)
    return bool(value) and not value.endswith(".json") and "/" not in value and os.sep not in value


def experiment_path(name):
    """The packaged file of experiment ``name``; UsageError listing the available names."""
    path = os.path.join(EXPERIMENTS_DIR, f"{name}.json")
    if not os.path.isfile(path):
        raise UsageError(f"unknown experiment {name!r}; available: "
                         f"{', '.join(available_experiments()) or '(none installed)'}")
    return path


def resolve_config_path(value):
    """``--config`` value -> file path: a bare name is a shipped experiment, else a path."""
    return experiment_path(value) if is_experiment_name(value) else os.fspath(value)


def load_experiment(name):
    """The options of a shipped experiment file, ``description`` dropped."""
    path = experiment_path(name)
    with open(path, encoding="utf-8") as f:
        values = json.load(f)
    values.pop("description", None)
    return values


def experiment_stages(name):
    """The schedule of a shipped experiment file as a list of Stages."""
    values = load_experiment(name)
    if "stages" not in values:
        raise ValueError(f"experiment {name!r} has no 'stages' list")
    return stages_from_records(values["stages"], f"{name}.json: stages")
