# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Run a list of training stages on a model, with checkpoints, early stopping and resume.

Backend-neutral (Keras 3 API only) and loss-agnostic: the pipeline gives the loss (a name, a
loss object or a dict per output), the compiled metrics and a validation ``evaluator``
(``evaluator(model, val_data) -> {metric: float}``; default: loss, accuracy and AUC of a
softmax classifier). Each stage sets trainability from a named layer, applies the stage's L2
and dropout to the built model (``mammo_tf.shen.set_l2`` / ``set_dropout``), recompiles with a
fresh optimizer at the stage's learning rate and continues the global epoch count
(``initial_epoch``). At the end of every epoch, in this order: validation (the evaluator),
early-stopping counters (per stage, on ``options.early_stopping``; default validation loss,
min), best checkpoint (on ``options.monitor``, tracked across stages; default validation AUC,
max), resume checkpoint (model + optimizer), CSV row (columns follow the evaluator's keys),
then ``state.json`` written atomically — the commit point a resumed run continues from, even
after ``kill -9``.

Determinism: every epoch reseeds Python/NumPy/backend RNGs and the model's dropout seed
generators from ``(seed, epoch)`` and calls ``train_data.set_epoch(epoch)`` when the dataset
has it, so a resumed run sees the same batches, augmentations and dropout masks as an
uninterrupted one.

Several processes (``--distribution data-parallel`` over a multi-process JAX job): every
process runs the same loop (saving a model holds collectives, so every process saves), but
only process 0 writes the run folder (checkpoints, log.csv, state.json); the others save to a
scratch file. Every process reads the run folder on resume (it must be on a shared file system).
"""
import contextlib
import csv
import dataclasses
import glob
import json
import logging
import math
import os
import shutil
import tempfile
import time

from mammo_tf.backend import require_keras3

require_keras3()
import keras  # noqa: E402
import numpy as np  # noqa: E402

from mammo_tf.errors import RunError  # noqa: E402
from mammo_tf.runs import RunFolder, load_keras_model  # noqa: E402
from mammo_tf.training.environment import is_chief  # noqa: E402
from mammo_tf.training.metrics import evaluate_probabilities, predict_dataset  # noqa: E402
from mammo_tf.training.schedule import FREEZE_BACKBONE_BATCHNORM  # noqa: E402
from mammo_tf.training.schedule import stage_to_dict  # noqa: E402,F401  (re-exported)
from mammo_tf.utils import atomic_path, write_json_atomic  # noqa: E402

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "sgd")
MODES = ("max", "min")
# Columns before the training metrics and after the validation metrics of every log.csv row.
LEADING_COLUMNS = ("epoch", "stage", "stage_name", "learning_rate")
TRAILING_COLUMNS = ("seconds",)
# The columns of the default (Shen) setup, e.g. for readers of older run folders.
CSV_COLUMNS = LEADING_COLUMNS + ("loss", "accuracy", "val_loss", "val_accuracy", "val_auc") \
    + TRAILING_COLUMNS


def _defined(value):
    return value is not None and not (isinstance(value, float) and math.isnan(value))


@dataclasses.dataclass(frozen=True)
class Monitor:
    """A validation metric (a key of the evaluator's dict) and its better direction."""

    metric: str
    mode: str = "max"

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"monitor mode must be one of {', '.join(MODES)}, got {self.mode!r}")

    def better(self, value, best, min_delta=0.0):
        """True when ``value`` improves on ``best`` (None: nothing yet). Undefined (None/NaN)
        values never improve."""
        if not _defined(value):
            return False
        if best is None:
            return True
        return value > best + min_delta if self.mode == "max" else value < best - min_delta

    def to_dict(self):
        return {"metric": self.metric, "mode": self.mode}


def classification_evaluator(model, val_data):
    """The default evaluator: cross-entropy, accuracy and AUC of a softmax classifier over a
    PyDataset of ``(x, y[, w])`` batches."""
    return evaluate_probabilities(*predict_dataset(model, val_data))


@dataclasses.dataclass
class TrainingOptions:
    """How stages are trained (everything except the stages themselves)."""

    optimizer: str = "adam"          # "adam" or "sgd" (SGD with momentum)
    momentum: float = 0.9            # SGD only
    patience: int | None = None      # early stopping, per stage; None = off
    min_delta: float = 0.0           # early stopping: smallest change that counts
    seed: int = 0
    verbose: int | str = 1           # Keras progress bar (0 silent, 1 bar, 2 one line per epoch)
    loss: object = "sparse_categorical_crossentropy"  # anything model.compile takes
    metrics: object = ("accuracy",)  # compiled training metrics (list, dict per output or None)
    run_eagerly: bool = False
    jit_compile: object = "auto"
    monitor: Monitor = Monitor("auc", "max")           # best checkpoint
    early_stopping: Monitor = Monitor("loss", "min")   # early stopping
    # Best checkpoint while the monitored metric is still undefined (AUC of a one-class
    # validation set): the epoch best by this metric; None = the first epoch.
    fallback: Monitor | None = Monitor("loss", "min")
    # Training-log keys written to log.csv (None: "loss" + the compiled metric names).
    train_log_keys: tuple | None = None
    # stage_setup(model, stage): trainability/L2/dropout of a stage before it is compiled
    # (None: ``apply_stage``, which knows the Shen models' head and backbone).
    stage_setup: object = None
    # Validate the model before the first epoch and let it compete for the best checkpoint
    # ("epoch 0"): a converted model that starts at its patch baseline can then never end
    # below its own start on validation.
    validate_initial: bool = False

    def train_columns(self):
        if self.train_log_keys is not None:
            return tuple(self.train_log_keys)
        names = self.metrics if isinstance(self.metrics, (list, tuple)) else ()
        return ("loss",) + tuple(m for m in names if isinstance(m, str))


@dataclasses.dataclass
class TrainingResult:
    model: object
    best_value: float            # best value of the monitored metric (NaN: never defined)
    best_epoch: int
    completed_epochs: int
    resumed: bool
    already_finished: bool
    monitor: str = "auc"
    initial_val: dict | None = None  # validation metrics of the untrained model (epoch 0)

    @property
    def best_val_auc(self):
        """``best_value`` under the default monitor (validation AUC), the name the Shen
        pipelines write into metrics.json."""
        if self.monitor != "auc":
            raise AttributeError(f"the run monitored {self.monitor!r}, not 'auc'; use best_value")
        return self.best_value


@dataclasses.dataclass
class RunState:
    """The resume state of a run, written as ``state.json`` after every epoch (commit point)."""

    stages: list
    seed: int
    monitor: dict
    early_stopping_metric: dict
    stage_index: int = 0
    stage_start_epoch: int = 0       # global epoch count when the current stage began
    stage_stopped_early: bool = False
    completed_epochs: int = 0
    best_value: float | None = None  # best monitored value so far (None: never defined)
    best_epoch: int | None = None
    best_fallback: float | None = None  # fallback metric of the best epoch
    stop_best: float | None = None   # early stopping: best value in the current stage
    stop_wait: int = 0               # early stopping: epochs without improvement
    epoch_seeds: dict = dataclasses.field(default_factory=dict)
    checkpoint: str | None = None    # resume checkpoint, relative to the run folder
    csv_columns: list | None = None
    finished: bool = False
    initial_val: dict | None = None  # validation metrics before training (validate_initial)

    def to_json(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, values):
        """A RunState from state.json (the untyped format of earlier runs is converted)."""
        if "best_val_auc" in values:
            values = _legacy_state(values)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def _legacy_state(values):
    """Map the earlier untyped state.json keys onto RunState fields."""
    es = values.get("early_stopping") or {}
    out = {k: v for k, v in values.items()
           if k not in ("best_val_auc", "best_checkpoint_val_loss", "early_stopping")}
    out.update(monitor=Monitor("auc").to_dict(), early_stopping_metric=Monitor("loss", "min").to_dict(),
               best_value=values.get("best_val_auc"),
               best_fallback=values.get("best_checkpoint_val_loss"),
               stop_best=es.get("best_val_loss"), stop_wait=es.get("wait", 0),
               csv_columns=list(CSV_COLUMNS))
    return out


def apply_stage(model, stage):
    """Set trainability, L2, dropout and BN freezing of ``stage`` on ``model`` (recompile
    afterwards). ``freeze_batchnorm``: True freezes every BatchNormalization layer, "backbone"
    those up to the backbone cut (the BN layers of added top blocks keep training)."""
    from mammo_tf.models.trainability import freeze_batchnorm, set_dropout, set_l2, set_trainable

    set_trainable(model, stage.trainable_from)
    if stage.l2 is not None:
        set_l2(model, stage.l2)
    if stage.dropout is not None:
        set_dropout(model, stage.dropout)
    freeze = getattr(stage, "freeze_batchnorm", False)
    if freeze:
        freeze_batchnorm(model, backbone_only=freeze == FREEZE_BACKBONE_BATCHNORM)


def make_optimizer(name, learning_rate, momentum=0.9):
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def compile_for_stage(model, stage, options, optimizer=None):
    """Compile ``model`` with the options' loss/metrics and ``optimizer`` (default: a fresh
    one at the stage's learning rate)."""
    if optimizer is None:
        optimizer = make_optimizer(options.optimizer, stage.learning_rate, options.momentum)
    metrics = options.metrics
    if isinstance(metrics, tuple):
        metrics = list(metrics)
    model.compile(optimizer=optimizer, loss=options.loss, metrics=metrics or None,
                  run_eagerly=options.run_eagerly, jit_compile=options.jit_compile)


def current_learning_rate(model):
    lr = model.optimizer.learning_rate
    return float(keras.ops.convert_to_numpy(lr)) if not callable(lr) else float("nan")


def seed_epoch(model, datasets, seed, epoch):
    """Reseed every RNG that training uses from ``(seed, epoch)``."""
    epoch_seed = (int(seed) * 100_003 + int(epoch)) % (2**31 - 1)
    keras.utils.set_random_seed(epoch_seed)
    for i, layer in enumerate(model._flatten_layers(include_self=False)):
        generator = getattr(layer, "seed_generator", None)
        state = getattr(generator, "state", None)
        if state is not None:
            state.assign(np.array([epoch_seed, i + 1], dtype=state.dtype))
    for dataset in datasets:
        set_dataset_epoch(dataset, epoch)
    return epoch_seed


def set_dataset_epoch(dataset, epoch):
    """Make ``dataset`` produce epoch ``epoch``'s order/augmentation (not "one more epoch"), so a
    resumed run (fresh dataset object) sees the same epoch as an uninterrupted one."""
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)


@contextlib.contextmanager
def checkpoint_target(path):
    """Where this process saves ``path``: process 0 (or the only process) atomically into the
    run folder; the other processes of a multi-process job to a scratch file, deleted after
    (they must still save: Keras' saving gathers the replicated state with collectives)."""
    if is_chief():
        with atomic_path(path) as tmp:
            yield tmp
        return
    handle, tmp = tempfile.mkstemp(suffix=os.path.splitext(path)[1], prefix="mammo_tf_worker_")
    os.close(handle)
    try:
        yield tmp
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_checkpoint(path, compile=True):
    """Load a ``.keras`` file with safe_mode on (optimizer state restored when compiled)."""
    return load_keras_model(path, compile=compile)


class _EpochEnd(keras.callbacks.Callback):
    def __init__(self, runner):
        super().__init__()
        self.runner = runner

    def on_epoch_begin(self, epoch, logs=None):
        self.runner.begin_epoch(self.model, epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.runner.end_epoch(self.model, epoch, logs if logs is not None else {})


class StageRunner:
    """Train ``stages`` in ``run`` (a RunFolder or path); see the module docstring.

    ``evaluator(model, val_data) -> {metric: float}`` is called once per epoch; it must return
    the metrics named by ``options.monitor`` and ``options.early_stopping``.
    """

    def __init__(self, run, stages, train_data, val_data, options=None, strategy=None,
                 callbacks=(), evaluator=None):
        self.run = run if isinstance(run, RunFolder) else RunFolder(run)
        self.stages = list(stages)
        if not self.stages:
            raise ValueError("no training stages given")
        self.train_data = train_data
        self.val_data = val_data
        self.options = options or TrainingOptions()
        if self.options.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.options.optimizer!r}; "
                             f"choose one of {', '.join(OPTIMIZERS)}")
        self.evaluator = evaluator or classification_evaluator
        self.strategy = strategy
        self.extra_callbacks = list(callbacks)
        self.state = None
        self._epoch_start = None

    # ----- state -------------------------------------------------------------------------
    def _scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def _read_state(self):
        if not os.path.exists(self.run.state):
            return None
        with open(self.run.state, encoding="utf-8") as f:
            values = json.load(f)
        state = RunState.from_json(values)
        planned = [stage_to_dict(s) for s in self.stages]
        if state.stages != planned:
            raise RunError(f"{self.run.state}: the run was started with different stages "
                           f"({state.stages}); cannot resume with {planned}. Resume it with "
                           "the stages it was started with, or train them as a new run "
                           "(another --name)")
        for what, saved, now in (("monitored metric", state.monitor, self.options.monitor),
                                 ("early-stopping metric", state.early_stopping_metric,
                                  self.options.early_stopping)):
            if saved != now.to_dict():
                raise RunError(f"{self.run.state}: the run was started with {what} {saved}; "
                               f"cannot resume with {now.to_dict()}. Resume it with the "
                               "settings it was started with, or train a new run (another "
                               "--name)")
        return state

    def _new_state(self):
        return RunState(stages=[stage_to_dict(s) for s in self.stages], seed=self.options.seed,
                        monitor=self.options.monitor.to_dict(),
                        early_stopping_metric=self.options.early_stopping.to_dict())

    def _write_state(self):
        write_json_atomic(self.run.state, self.state.to_json())

    # ----- per epoch ---------------------------------------------------------------------
    def begin_epoch(self, model, epoch):
        self._epoch_start = time.time()
        self.state.epoch_seeds[str(epoch + 1)] = seed_epoch(
            model, [self.train_data], self.options.seed, epoch)

    def end_epoch(self, model, epoch, logs):
        """The epoch's steps, in commit order (see the module docstring)."""
        completed = epoch + 1
        val = self.validate(model, logs)
        self.state.completed_epochs = completed
        self.update_early_stopping(model, val)
        improved = self.update_best_checkpoint(model, val, completed)
        checkpoint = self.save_resume_checkpoint(model, completed)
        self.log_row(model, completed, logs, val)
        self.commit(checkpoint)
        if self.options.verbose:
            stage = self.stages[self.state.stage_index]
            logger.info("epoch %d (%s): %s%s%s", completed, stage.name,
                        " ".join(f"val_{k}={v:.4f}" for k, v in val.items()),
                        " [best]" if improved else "",
                        " [early stop]" if self.state.stage_stopped_early else "")

    def validate(self, model, logs):
        """Run the evaluator; its metrics go into the epoch logs as ``val_<name>``."""
        val = {k: float(v) for k, v in self.evaluator(model, self.val_data).items()}
        for monitor in (self.options.monitor, self.options.early_stopping):
            if monitor.metric not in val:
                raise ValueError(f"the validation evaluator returned {sorted(val)}; the "
                                 f"monitored metric {monitor.metric!r} is not among them")
        logs.update({f"val_{k}": v for k, v in val.items()})
        return val

    def validate_start(self, model):
        """Epoch 0: the untrained model's validation metrics, a candidate best checkpoint (no
        log row, no state: a run killed before epoch 1 commits simply starts again)."""
        self._epoch_start = time.time()
        val = self.validate(model, {})
        improved = self.update_best_checkpoint(model, val, 0)
        self.state.initial_val = val
        if self.options.verbose:
            logger.info("epoch 0 (before training): %s%s",
                        " ".join(f"val_{k}={v:.4f}" for k, v in val.items()),
                        " [best]" if improved else "")

    def update_early_stopping(self, model, val):
        """Per-stage patience counter on the early-stopping metric; stops the stage's fit."""
        state, monitor = self.state, self.options.early_stopping
        value = val[monitor.metric]
        if monitor.better(value, state.stop_best, self.options.min_delta):
            state.stop_best, state.stop_wait = value, 0
        else:
            state.stop_wait += 1
        if self.options.patience is not None and state.stop_wait >= self.options.patience:
            model.stop_training = True
            state.stage_stopped_early = True

    def update_best_checkpoint(self, model, val, completed):
        """Save ``best.keras`` when the monitored metric improves; returns whether it did."""
        state, fallback = self.state, self.options.fallback
        value = val[self.options.monitor.metric]
        if _defined(value):
            improved = self.options.monitor.better(value, state.best_value)
        elif state.best_value is not None:
            improved = False
        elif fallback is not None and _defined(val.get(fallback.metric)):
            improved = fallback.better(val[fallback.metric], state.best_fallback)
        else:  # nothing to compare: keep the first epoch
            improved = state.best_epoch is None
        if improved:
            if fallback is not None:
                state.best_fallback = val.get(fallback.metric)
            with checkpoint_target(self.run.best_model) as tmp:
                keras.saving.save_model(model, tmp, include_optimizer=False)
            state.best_value = value if _defined(value) else None
            state.best_epoch = completed
        return improved

    def save_resume_checkpoint(self, model, completed):
        """Model + optimizer after epoch ``completed`` (the previous one is removed after the
        commit)."""
        checkpoint = self.run.resume_checkpoint(completed)
        if is_chief():
            os.makedirs(self.run.resume_dir, exist_ok=True)
        with checkpoint_target(checkpoint) as tmp:
            model.save(tmp)
        self.state.checkpoint = os.path.relpath(checkpoint, self.run.path)
        return checkpoint

    def log_row(self, model, completed, logs, val):
        stage = self.stages[self.state.stage_index]
        if self.state.csv_columns is None:
            self.state.csv_columns = list(LEADING_COLUMNS + self.options.train_columns()
                                          + tuple(f"val_{k}" for k in val) + TRAILING_COLUMNS)
        row = {"epoch": completed, "stage": self.state.stage_index + 1, "stage_name": stage.name,
               "learning_rate": current_learning_rate(model),
               **{k: logs.get(k) for k in self.options.train_columns()},
               **{f"val_{k}": v for k, v in val.items()},
               "seconds": round(time.time() - (self._epoch_start or time.time()), 3)}
        self._append_csv(row)

    def commit(self, checkpoint):
        """Write state.json (the commit point), then drop older resume checkpoints."""
        if not is_chief():
            return
        self._write_state()
        for old in glob.glob(os.path.join(self.run.resume_dir, "epoch_*.keras")):
            if os.path.abspath(old) != os.path.abspath(checkpoint):
                os.remove(old)

    # ----- CSV ---------------------------------------------------------------------------
    def _append_csv(self, row):
        if not is_chief():
            return
        new = not os.path.exists(self.run.log_csv)
        with open(self.run.log_csv, "a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=self.state.csv_columns)
            if new:
                writer.writeheader()
            writer.writerow(row)
            f.flush()
            os.fsync(f.fileno())

    def _truncate_csv(self, completed):
        """Drop rows of epochs that were not committed (killed after the row, before state)."""
        if not is_chief() or not os.path.exists(self.run.log_csv) or not self.state.csv_columns:
            return
        with open(self.run.log_csv, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if r.get("epoch") and int(r["epoch"]) <= completed]
        with atomic_path(self.run.log_csv) as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=self.state.csv_columns)
                writer.writeheader()
                writer.writerows(rows)

    # ----- main loop ---------------------------------------------------------------------
    def _callbacks(self):
        callbacks = [_EpochEnd(self)]
        if not is_chief():  # one TensorBoard log per run
            return callbacks + self.extra_callbacks
        try:
            import tensorboard  # noqa: F401  (the Keras callback needs it)
            callbacks.append(keras.callbacks.TensorBoard(log_dir=self.run.tensorboard))
        except ImportError:
            pass
        return callbacks + self.extra_callbacks

    def _result(self, model, resumed, already_finished=False):
        s = self.state
        return TrainingResult(model=model,
                              best_value=s.best_value if s.best_value is not None else float("nan"),
                              best_epoch=s.best_epoch or 0, completed_epochs=s.completed_epochs,
                              resumed=resumed, already_finished=already_finished,
                              monitor=self.options.monitor.metric, initial_val=s.initial_val)

    def train(self, model=None):
        """Train (or resume) and return a TrainingResult whose ``model`` is the last-epoch model.

        ``model`` may be None when the run folder holds a resume state.
        """
        self.state = self._read_state()
        resumed = self.state is not None
        if resumed and self.state.finished:
            with self._scope():
                model = load_checkpoint(self.run.file(self.state.checkpoint))
            return self._result(model, resumed=True, already_finished=True)

        restored_optimizer = None
        if resumed and self.state.checkpoint:
            self._truncate_csv(self.state.completed_epochs)
            with self._scope():
                model = load_checkpoint(self.run.file(self.state.checkpoint))
            stage = self.stages[self.state.stage_index]
            stage_end = self.state.stage_start_epoch + stage.epochs
            if not self.state.stage_stopped_early and self.state.completed_epochs < stage_end:
                # continue inside the stage with the restored optimizer (state and step count)
                restored_optimizer = model.optimizer
            else:
                self._advance_stage()
        else:
            if model is None:
                raise RunError(f"{self.run.path}: no state.json there (the run has not "
                               "completed an epoch), so there is nothing to resume from and "
                               "no model was given: build the model and pass it to train(), "
                               "or start the run again without --resume")
            self.state = self._new_state()
            if self.options.validate_initial:
                self.validate_start(model)

        while self.state.stage_index < len(self.stages):
            self._train_stage(model, restored_optimizer)
            restored_optimizer = None
            self._advance_stage()
        return self._finish(model, resumed)

    def _train_stage(self, model, optimizer=None):
        index = self.state.stage_index
        stage = self.stages[index]
        with self._scope():
            (self.options.stage_setup or apply_stage)(model, stage)
            # Recompiled also on resume (with the restored optimizer), so the loss, metrics and
            # run_eagerly/jit_compile come from the options, never from the saved file.
            compile_for_stage(model, stage, self.options, optimizer)
        stage_end = self.state.stage_start_epoch + stage.epochs
        if self.options.verbose:
            logger.info("stage %d/%d '%s': trainable from %s, lr=%g, l2=%s, dropout=%s, "
                        "epochs %d-%d", index + 1, len(self.stages), stage.name,
                        stage.trainable_from, current_learning_rate(model), stage.l2,
                        stage.dropout, self.state.completed_epochs + 1, stage_end)
        if self.state.completed_epochs < stage_end:
            model.fit(self.train_data, epochs=stage_end,
                      initial_epoch=self.state.completed_epochs, shuffle=False,
                      callbacks=self._callbacks(), verbose=self.options.verbose)

    def _finish(self, model, resumed):
        final = self.run.last_model
        previous = self.run.file(self.state.checkpoint) if self.state.checkpoint else None
        with checkpoint_target(final) as tmp:  # copy, so the committed checkpoint stays valid
            if not previous:  # zero epochs in every stage
                model.save(tmp)
            elif is_chief():
                shutil.copyfile(previous, tmp)
        self.state.checkpoint = os.path.relpath(final, self.run.path)
        self.state.finished = True
        if is_chief():
            self._write_state()
            shutil.rmtree(self.run.resume_dir, ignore_errors=True)
        return self._result(model, resumed=resumed)

    def _advance_stage(self):
        self.state.stage_index += 1
        self.state.stage_start_epoch = self.state.completed_epochs
        self.state.stage_stopped_early = False
        self.state.stop_best, self.state.stop_wait = None, 0


def run_stages(model, stages, train_data, val_data, run, options=None, strategy=None,
               callbacks=(), evaluator=None):
    """Convenience wrapper: ``StageRunner(...).train(model)``."""
    return StageRunner(run, stages, train_data, val_data, options, strategy, callbacks,
                       evaluator).train(model)
