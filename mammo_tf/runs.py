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
``forward`` callable. Nothing infers the kind of a model from its layer names. This module
imports Keras only inside functions, so ``import mammo_tf.runs`` stays fast.
"""
import dataclasses
import datetime
import glob
import json
import logging
import os
import sys

from mammo_tf.errors import RunError
from mammo_tf.utils import write_json_atomic

logger = logging.getLogger(__name__)

MODEL_KINDS = ("patch", "whole_top", "whole_heatmap", "nyu_view_wise", "nyu_image_wise",
               "nyu_birads")
SHEN_KINDS = MODEL_KINDS[:3]
NYU_KINDS = MODEL_KINDS[3:]
RUN_INFO_FORMAT = "mammo_tf.run"
RUN_INFO_VERSION = 1
SAVED_MODEL_INFO = "mammo_tf_run.json"  # inside an exported SavedModel folder
UPGRADE_COMMAND = "python -m mammo_tf.runs upgrade"


class RunFormatError(RunError):
    """No (or an unreadable) ``run.json`` where one is needed."""


class ModelLoadError(RunError):
    """A model file that Keras cannot load (safe_mode)."""


def _missing_info_message(folder):
    return (f"{folder}: no run.json (a run folder written before run.json existed, or not a "
            f"run folder); upgrade it with `{UPGRADE_COMMAND} {folder}`")


# --------------------------------------------------------------------------- metadata


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


# --------------------------------------------------------------------------- run folder


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
            raise RunFormatError(_missing_info_message(self.path))
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


# --------------------------------------------------------------------------- pixel mean


def resolve_pixel_mean(run=None, resume=False, given=None, parent=None, compute=None,
                       compute_source=None):
    """(pixel_mean, source) with the one precedence of every pipeline.

    1. ``resume``: the value recorded in ``run``'s run.json (a resumed run never changes it);
    2. ``given`` (``--pixel-mean``);
    3. ``parent``: the ``LoadedRun`` a pipeline starts from (whole-image: its patch run;
       transfer: its whole-image run), when it recorded one (the paper keeps one mean);
    4. ``compute()`` on the training data, described by ``compute_source``.
    """
    if resume:
        if not run.has_info() and not os.path.exists(run.state):
            raise RunError(f"{run.path}: the run stopped before its model was built (no run.json, "
                           "no state.json); start it again without --resume")
        info = run.read_info()
        return info.pixel_mean, info.pixel_mean_source
    if given is not None:
        return float(given), "--pixel-mean"
    if parent is not None and parent.info.pixel_mean is not None:
        where = parent.run.path if parent.run is not None else parent.model_path
        return parent.info.pixel_mean, f"{parent.info.kind} run {where}"
    if compute is None:
        raise RunError("no pixel mean: pass --pixel-mean")
    return float(compute()), compute_source or "computed on the training data"


# --------------------------------------------------------------------------- loading


def register_custom_objects():
    """Import the modules that register mammo_tf's serializable layers and losses."""
    import mammo_tf.nyu.four_view  # noqa: F401
    import mammo_tf.preprocess  # noqa: F401
    import mammo_tf.shen.layers  # noqa: F401


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
            raise RunFormatError(_missing_info_message(run.path))
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
        from mammo_tf.export import load_exported

        try:
            exported = load_exported(model_path)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{model_path}: cannot load the SavedModel ({exc})") from None
        return LoadedRun(model=exported, info=info, model_path=model_path, run=run,
                         raw_input=exported.raw_input, forward=exported)
    model = load_keras_model(model_path, compile=compile)
    return LoadedRun(model=model, info=info, model_path=model_path, run=run,
                     forward=_keras_forward(model))


# --------------------------------------------------------------------------- upgrade


def _old_checkpoint(run):
    """A model file of an old run folder (best, last, else the latest resume checkpoint)."""
    for candidate in [run.best_model, run.last_model] + sorted(
            glob.glob(os.path.join(run.resume_dir, "epoch_*.keras")), reverse=True):
        if os.path.isfile(candidate):
            return candidate
    return None


def _old_pixel_mean(run, settings):
    legacy = run.file("pixel_mean.json")
    if os.path.isfile(legacy):
        with open(legacy, encoding="utf-8") as f:
            record = json.load(f)
        return float(record["pixel_mean"]), record.get("source") or "pixel_mean.json"
    if isinstance(settings.get("pixel_mean"), (int, float)):
        return float(settings["pixel_mean"]), "--pixel-mean"
    return None, None


def info_from_old_folder(path):
    """RunInfo of a run folder written before run.json, from its config.json (``"pipeline"``
    + ``"config"``, or NYU's flat config), pixel_mean.json and checkpoint (for the input
    size and channels); RunFormatError when it cannot tell what the run is."""
    run = RunFolder(path, create=False)
    if not os.path.isfile(run.config):
        raise RunFormatError(f"{run.path}: no config.json: not a mammo_tf run folder; "
                             "nothing to upgrade")
    config = run.read_config()
    pipeline = config.get("pipeline")
    settings = config.get("config", config)
    if pipeline in ("patch", "whole", "transfer"):
        fields = _old_shen_fields(run, pipeline, settings)
    elif pipeline is None and "task" in settings and "manifest" in settings:
        fields = _old_nyu_fields(run, settings)
    else:
        raise RunFormatError(f"{run.path}: config.json names no known pipeline "
                             f"(pipeline={pipeline!r}): cannot tell what the run is")
    checkpoint = _old_checkpoint(run)
    if checkpoint is None:
        raise RunFormatError(f"{run.path}: no checkpoint (checkpoints/*.keras or resume/) to "
                             "read the model's input from; nothing to upgrade")
    model = load_keras_model(checkpoint)
    if fields["classes"] is None:  # a patch run: as many classes as the model has outputs
        from mammo_tf.constants import PATCH_CLASSES

        fields["classes"] = list(PATCH_CLASSES)[: model.output_shape[-1]]
    fields["details"]["upgraded_from"] = "config.json"
    return RunInfo.for_model(model=model, **fields)


def _old_shen_fields(run, pipeline, settings):
    from mammo_tf.constants import WHOLE_IMAGE_CLASSES

    pixel_mean, source = _old_pixel_mean(run, settings)
    if pixel_mean is None:
        raise RunFormatError(f"{run.path}: no pixel_mean.json and no pixel_mean in config.json: "
                             "cannot tell the run's pixel mean")
    backbone = settings.get("backbone")
    if backbone is None and os.path.isfile(run.metrics):
        backbone = run.read_metrics().get("backbone")
    fields = {"pixel_mean": pixel_mean, "pixel_mean_source": source, "backbone": backbone}
    if pipeline == "patch":
        return dict(fields, kind="patch", classes=None,
                    training_data={"train": settings.get("train_h5"),
                                   "val": settings.get("val_h5"), "test": settings.get("test_h5")},
                    details={"variant": settings.get("variant")})
    if pipeline == "whole":
        top = settings.get("top")
        if top not in ("resnet", "vgg", "hybrid", "heatmap"):
            raise RunFormatError(f"{run.path}: config.json has no whole-image top (got {top!r}): "
                                 "cannot tell whole_top from whole_heatmap")
        return dict(fields, kind="whole_heatmap" if top == "heatmap" else "whole_top",
                    classes=list(WHOLE_IMAGE_CLASSES),
                    training_data={"manifest": settings.get("manifest"),
                                   "patch_run": settings.get("patch_model")},
                    details={"top": top, "depths": settings.get("depths"),
                             "repetitions": settings.get("repetitions")})
    source_model = settings.get("model")
    source_run = run_folder_of(source_model) if source_model else None
    if source_run is None:
        raise RunFormatError(
            f"{run.path}: transfer run whose source model {source_model!r} has no run.json: "
            "cannot tell whole_top from whole_heatmap; upgrade the source run first "
            f"(`{UPGRADE_COMMAND} <its run folder>`)")
    parent = source_run.read_info()
    return dict(fields, kind=parent.kind, classes=parent.classes,
                backbone=backbone or parent.backbone,
                training_data={"manifest": settings.get("manifest"), "finetuned_from": source_model},
                details={**parent.details, "transfer": True})


def _old_nyu_fields(run, settings):
    from mammo_tf.nyu.four_view import BIRADS_CLASSES, OUTPUT_NAMES

    if settings["task"] == "birads":
        kind, classes = "nyu_birads", list(BIRADS_CLASSES)
    elif settings["task"] == "cancer" and settings.get("model") in ("view-wise", "image-wise"):
        kind = "nyu_view_wise" if settings["model"] == "view-wise" else "nyu_image_wise"
        classes = list(OUTPUT_NAMES)
    else:
        raise RunFormatError(f"{run.path}: NYU config.json with task {settings['task']!r} and "
                             f"model {settings.get('model')!r}: cannot tell the model kind")
    return {"kind": kind, "classes": classes, "pixel_mean": None,
            "pixel_mean_source": "none: NYU standardises each image",
            "training_data": {"manifest": settings["manifest"]},
            "details": {"task": settings["task"], "heatmap_model": settings.get("heatmap_model"),
                        "heatmap_pixel_mean": settings.get("heatmap_pixel_mean")}}


def upgrade(path):
    """Write run.json into an old run folder (and its transfer-series sub-runs); returns the
    paths written. A folder that already has run.json is left alone."""
    if not os.path.isdir(path):
        raise RunFormatError(f"{path}: not a folder")
    written = []
    run = RunFolder(path, create=False)
    if run.has_info():
        logger.info("%s: already has run.json", run.path)
    else:
        run.write_info(info_from_old_folder(run.path))
        written.append(run.info)
    for sub in sorted(glob.glob(os.path.join(run.path, "patients_*"))):
        sub_run = RunFolder(sub, create=False)
        if os.path.isfile(sub_run.config) and not sub_run.has_info():
            sub_run.write_info(info_from_old_folder(sub))
            written.append(sub_run.info)
    return written


def main(argv=None, prog="python -m mammo_tf.runs"):
    from mammo_tf.commands.common import CommandParser, report_error

    parser = CommandParser(prog=prog, description="Run-folder tools.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
    up = commands.add_parser("upgrade", help="write run.json into a run folder written before "
                             "run.json existed (from its config.json and pixel_mean.json)")
    up.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    show = commands.add_parser("show", help="print a run's run.json")
    show.add_argument("path", help="run folder, .keras file in one, or SavedModel folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "upgrade":
            for folder in args.run_dirs:
                for written in upgrade(folder):
                    print(f"wrote {written}")
        else:
            print(json.dumps(locate_run(args.path)[0].to_dict(), indent=2))
    except RunError as exc:
        return report_error(prog, exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
