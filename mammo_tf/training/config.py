# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Dataclass configs shared by the entry scripts, with an argparse bridge.

Precedence: dataclass defaults < ``--config file.json`` < command-line flags. Each field's
metadata gives its help text (and optionally ``choices``, ``nargs``, ``type``); the parser is
generated from the dataclass so ``--help`` always lists every option with its default.
Bad arguments raise ``UsageError``; the commands (``mammo_tf.commands``) turn that into one line
on stderr and exit code 2.
"""
import argparse
import dataclasses
import json
import os

from mammo_tf.errors import UsageError
from mammo_tf.utils import CommandParser

REQUIRED = object()


# Per-launch options (a process's place in a multi-process job), not part of a run's config.
LAUNCH_OPTIONS = ("coordinator_address", "num_processes", "process_id")


def option(default=REQUIRED, help="", *, choices=None, nargs=None, type=None, cli=True):
    """A config field: ``default`` (``REQUIRED`` for mandatory), help text, argparse details."""
    meta = {"help": help, "choices": choices, "nargs": nargs, "type": type, "cli": cli}
    if isinstance(default, (list, dict)):
        value = default
        return dataclasses.field(default_factory=lambda: list(value) if isinstance(value, list)
                                 else dict(value), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass
class CommonConfig:
    """Options every training script has."""

    name: str | None = option(None, "run name: the run folder is RUNS_DIR/NAME "
                              "(default: <script>_<UTC time>)")
    runs_dir: str = option("runs", "parent folder of run folders")
    seed: int = option(0, "random seed (weights init, shuffling, augmentation, dropout)")
    optimizer: str = option("adam", "optimizer, fresh for every stage", choices=("adam", "sgd"))
    momentum: float = option(0.9, "SGD momentum (with --optimizer sgd)")
    patience: int = option(10, "early stopping: stop a stage after this many epochs without "
                           "improvement of the validation loss (0 = off)")
    pixel_mean: float | None = option(None, "scalar pixel mean on the 0-255 scale (default: "
                                      "computed on the training split)")
    workers: int = option(1, "data-loading worker threads")
    strategy: str = option("none", "tf.distribute strategy (TensorFlow backend; multiworker is "
                           "reported broken upstream, keras-team/keras#20585)",
                           choices=("none", "mirrored", "multiworker"))
    distribution: str = option("none", "keras.distribution over every device (JAX backend); "
                               "with data-parallel --batch-size is per device",
                               choices=("none", "data-parallel"))
    # Where this process sits in a multi-process job: given per launch, never saved in
    # config.json (see LAUNCH_OPTIONS); unset, they come from the environment.
    coordinator_address: str | None = option(
        None, "several processes (JAX, --distribution data-parallel): host:port of process 0 "
        "(default: KERAS_DISTRIBUTION_JOB_ADDRESSES, or Slurm's first node)")
    num_processes: int | None = option(None, "several processes: how many (default: "
                                       "KERAS_DISTRIBUTION_NUM_PROCESSES or SLURM_NTASKS)")
    process_id: int | None = option(None, "several processes: this one, 0..N-1 (default: "
                                    "KERAS_DISTRIBUTION_PROCESS_ID or SLURM_PROCID)")
    mixed_precision: bool = option(False, "train with the mixed_float16 policy (float32 output)")
    deterministic: bool = option(True, "deterministic TensorFlow ops (slower on GPU)")
    export: bool = option(True, "export the best model as a SavedModel into the run folder")
    verbose: int = option(1, "Keras progress bar: 0 silent, 1 bar, 2 one line per epoch")
    # The schedule: a JSON list of Stage objects, set in a --config file (not a flag); None
    # means the pipeline's default experiment file. See mammo_tf.training.schedule.
    stages: list | None = option(None, "training schedule: list of stage objects (name, "
                                 "trainable_from, learning_rate, epochs, l2, dropout)", cli=False)


def _flag(name):
    return "--" + name.replace("_", "-")


def build_parser(config_cls, prog, description, epilog=None):
    """An ArgumentParser with ``--config``, ``--resume`` and one flag per config field."""
    parser = CommandParser(prog=prog, description=description, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           argument_default=argparse.SUPPRESS)
    parser.add_argument("--config", metavar="FILE.json|NAME",
                        help="JSON file of option defaults (keys = option names with "
                             "underscores; 'stages' = the schedule, a list of stage objects; "
                             "'description' is ignored), or the NAME of a shipped experiment "
                             "(mammo_tf/experiments/NAME.json); command-line flags override it")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue an interrupted run from its last completed epoch, with "
                             "the run's saved configuration (a finished run is not redone)")
    for f in dataclasses.fields(config_cls):
        meta = f.metadata
        if not meta.get("cli", True):
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        help_text = meta.get("help", "")
        if default is REQUIRED:
            help_text += " (required)"
        elif "default" not in help_text:
            help_text += f" (default: {default})"
        kwargs = {"help": help_text.replace("%", "%%"), "dest": f.name}
        if meta.get("choices"):
            kwargs["choices"] = meta["choices"]
        is_bool = default is not REQUIRED and isinstance(default, bool)
        if is_bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            if meta.get("nargs"):
                kwargs["nargs"] = meta["nargs"]
            kwargs["type"] = meta.get("type") or _scalar_type(f, default)
            if not meta.get("choices"):
                kwargs["metavar"] = f.name.upper()
        parser.add_argument(_flag(f.name), **kwargs)
    return parser


def _scalar_type(field, default):
    if isinstance(default, list) and default:
        return type(default[0])
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        return type(default)
    annotation = str(field.type)
    if annotation.startswith("float"):
        return float
    if annotation.startswith("int"):
        return int
    return str


def load_config_file(path, config_cls):
    """Options of a ``--config`` file (a path, or a bare NAME = shipped experiment file).

    Keys must be fields of ``config_cls``; ``description`` (a citation of the paper row the
    file reproduces) is dropped; a ``stages`` list is checked record by record.
    """
    from mammo_tf.training.schedule import resolve_config_path, stages_from_records

    path = resolve_config_path(path)
    if not os.path.isfile(path):
        raise UsageError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(values, dict):
        raise UsageError(f"{path}: expected a JSON object of option names to values")
    values.pop("description", None)
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UsageError(f"{path}: unknown option(s) {', '.join(unknown)}")
    if values.get("stages") is not None:
        values["stages"] = stages_from_records(values["stages"], f"{path}: stages")
    return values


def config_from_dict(config_cls, values, source="configuration"):
    """Build ``config_cls`` from a dict, checking required fields."""
    missing = [f.name for f in dataclasses.fields(config_cls)
               if f.default is REQUIRED and f.name not in values]
    if missing:
        raise UsageError(f"missing required option(s): "
                         f"{', '.join(_flag(m) for m in missing)} (in {source} or on the command line)")
    if values.get("stages") is not None:
        from mammo_tf.training.schedule import stages_from_records

        # dicts from a file or a resumed run's config.json -> validated Stage records
        values = dict(values, stages=stages_from_records(values["stages"], f"{source}: stages"))
    return config_cls(**values)


def parse_config(config_cls, argv, prog, description, epilog=None):
    """Parse ``argv`` -> (config, resume_dir or None)."""
    parser = build_parser(config_cls, prog, description, epilog)
    args = vars(parser.parse_args(argv))
    resume = args.pop("resume", None)
    config_file = args.pop("config", None)
    if resume:
        saved = os.path.join(resume, "config.json")
        if not os.path.isfile(saved):
            raise UsageError(f"--resume {resume}: no config.json there (not a run folder)")
        with open(saved, encoding="utf-8") as f:
            values = json.load(f)["config"]
        # Only presentation and launch options may change on resume; the rest must match.
        for key in ("verbose", "workers") + LAUNCH_OPTIONS:
            if key in args:
                values[key] = args[key]
        return config_from_dict(config_cls, values, saved), resume
    values = load_config_file(config_file, config_cls) if config_file else {}
    values.update(args)
    return config_from_dict(config_cls, values, config_file or "a --config file"), None


def check_file(path, what):
    """UsageError unless ``path`` is an existing file."""
    if not path or not os.path.isfile(path):
        raise UsageError(f"{what} not found: {path}")
    return path
