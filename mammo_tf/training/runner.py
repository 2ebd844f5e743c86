# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Run a list of training stages on a model, with checkpoints, early stopping and resume.

Backend-neutral (Keras 3 API only). Each stage sets trainability from a named layer, applies
the stage's L2 and dropout to the built model (``mammo_tf.shen.set_l2`` / ``set_dropout``),
recompiles with a fresh optimizer at the stage's learning rate and continues the global epoch
count (``initial_epoch``). At the end of every epoch, in this order: validation pass (loss,
accuracy, AUC), early-stopping counters (per stage, on validation loss), best-by-AUC checkpoint
(tracked across stages), resume checkpoint (model + optimizer), CSV row, then ``state.json``
written atomically — the commit point a resumed run continues from, even after ``kill -9``.

Determinism: every epoch reseeds Python/NumPy/backend RNGs and the model's dropout seed
generators from ``(seed, epoch)`` and calls ``train_data.set_epoch(epoch)`` when the dataset
has it, so a resumed run sees the same batches, augmentations and dropout masks as an
uninterrupted one.
"""
import contextlib
import csv
import dataclasses
import glob
import json
import math
import os
import shutil
import time

from mammo_tf.backend import require_keras3

require_keras3()
import keras  # noqa: E402
import numpy as np

from mammo_tf.training.metrics import evaluate_probabilities, predict_dataset
from mammo_tf.runs import RunFolder
from mammo_tf.utils import atomic_path, write_json_atomic

CSV_COLUMNS = ("epoch", "stage", "stage_name", "learning_rate", "loss", "accuracy",
               "val_loss", "val_accuracy", "val_auc", "seconds")
OPTIMIZERS = ("adam", "sgd")


@dataclasses.dataclass
class TrainingOptions:
    """How stages are trained (everything except the stages themselves)."""

    optimizer: str = "adam"          # "adam" or "sgd" (SGD with momentum)
    momentum: float = 0.9            # SGD only
    patience: int | None = None      # early stopping on validation loss, per stage; None = off
    min_delta: float = 0.0
    seed: int = 0
    verbose: int | str = 1           # Keras progress bar (0 silent, 1 bar, 2 one line per epoch)
    loss: str = "sparse_categorical_crossentropy"


@dataclasses.dataclass
class TrainingResult:
    model: object
    best_val_auc: float
    best_epoch: int
    completed_epochs: int
    resumed: bool
    already_finished: bool


def stage_to_dict(stage):
    return {f: getattr(stage, f) for f in
            ("name", "trainable_from", "learning_rate", "epochs", "l2", "dropout")}


def apply_stage(model, stage):
    """Set trainability, L2 and dropout of ``stage`` on ``model`` (recompile afterwards)."""
    from mammo_tf.shen import set_dropout, set_l2, set_trainable

    set_trainable(model, stage.trainable_from)
    if stage.l2 is not None:
        set_l2(model, stage.l2)
    if stage.dropout is not None:
        set_dropout(model, stage.dropout)


def make_optimizer(name, learning_rate, momentum=0.9):
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def compile_for_stage(model, stage, options):
    """Compile ``model`` with a fresh optimizer at the stage's learning rate."""
    model.compile(optimizer=make_optimizer(options.optimizer, stage.learning_rate, options.momentum),
                  loss=options.loss, metrics=["accuracy"])


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


def load_checkpoint(path, compile=True):
    """Load a ``.keras`` file with safe_mode on (optimizer state restored when compiled)."""
    import mammo_tf.shen  # noqa: F401  registers mammo_tf's custom layers
    import mammo_tf.preprocess  # noqa: F401

    return keras.saving.load_model(path, compile=compile, safe_mode=True)


class _EpochEnd(keras.callbacks.Callback):
    def __init__(self, runner):
        super().__init__()
        self.runner = runner

    def on_epoch_begin(self, epoch, logs=None):
        self.runner.begin_epoch(self.model, epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.runner.end_epoch(self.model, epoch, logs if logs is not None else {})


class StageRunner:
    """Train ``stages`` in ``run`` (a RunFolder or path); see the module docstring."""

    def __init__(self, run, stages, train_data, val_data, options=None, strategy=None,
                 callbacks=()):
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
            state = json.load(f)
        planned = [stage_to_dict(s) for s in self.stages]
        if state.get("stages") != planned:
            raise ValueError(f"{self.run.state}: the run was started with different stages "
                             f"({state.get('stages')}); cannot resume with {planned}")
        return state

    def _new_state(self):
        return {"stages": [stage_to_dict(s) for s in self.stages], "seed": self.options.seed,
                "stage_index": 0, "stage_start_epoch": 0, "stage_stopped_early": False,
                "completed_epochs": 0, "best_val_auc": None, "best_epoch": None,
                "early_stopping": {"best_val_loss": None, "wait": 0},
                "epoch_seeds": {}, "checkpoint": None, "finished": False}

    def _write_state(self):
        write_json_atomic(self.run.state, self.state)

    # ----- per epoch ---------------------------------------------------------------------
    def begin_epoch(self, model, epoch):
        self._epoch_start = time.time()
        self.state["epoch_seeds"][str(epoch + 1)] = seed_epoch(
            model, [self.train_data], self.options.seed, epoch)

    def end_epoch(self, model, epoch, logs):
        state = self.state
        y, p = predict_dataset(model, self.val_data)
        val = evaluate_probabilities(y, p)
        logs.update({f"val_{k}": v for k, v in val.items()})
        completed = epoch + 1
        state["completed_epochs"] = completed

        es = state["early_stopping"]
        if es["best_val_loss"] is None or val["loss"] < es["best_val_loss"] - self.options.min_delta:
            es["best_val_loss"], es["wait"] = val["loss"], 0
        else:
            es["wait"] += 1
        if self.options.patience is not None and es["wait"] >= self.options.patience:
            model.stop_training = True
            state["stage_stopped_early"] = True

        auc = val["auc"]
        best = state["best_val_auc"]
        if not math.isnan(auc):
            improved = best is None or auc > best
        else:  # AUC undefined (one class in validation): fall back to the validation loss
            improved = best is None and (state.get("best_checkpoint_val_loss") is None
                                         or val["loss"] < state["best_checkpoint_val_loss"])
        if improved:
            state["best_checkpoint_val_loss"] = val["loss"]
            with atomic_path(self.run.best_model) as tmp:
                keras.saving.save_model(model, tmp, include_optimizer=False)
            state["best_val_auc"] = None if math.isnan(auc) else auc
            state["best_epoch"] = completed

        checkpoint = self.run.resume_checkpoint(completed)
        os.makedirs(self.run.resume_dir, exist_ok=True)
        with atomic_path(checkpoint) as tmp:
            model.save(tmp)
        state["checkpoint"] = os.path.relpath(checkpoint, self.run.path)

        stage = self.stages[state["stage_index"]]
        row = {"epoch": completed, "stage": state["stage_index"] + 1, "stage_name": stage.name,
               "learning_rate": current_learning_rate(model), "loss": logs.get("loss"),
               "accuracy": logs.get("accuracy"), "val_loss": val["loss"],
               "val_accuracy": val["accuracy"], "val_auc": auc,
               "seconds": round(time.time() - (self._epoch_start or time.time()), 3)}
        self._append_csv(row)
        self._write_state()  # commit point
        for old in glob.glob(os.path.join(self.run.resume_dir, "epoch_*.keras")):
            if os.path.abspath(old) != os.path.abspath(checkpoint):
                os.remove(old)
        if self.options.verbose:
            print(f"epoch {completed} ({stage.name}): val_loss={val['loss']:.4f} "
                  f"val_acc={val['accuracy']:.4f} val_auc={auc:.4f}"
                  + (" [best]" if improved else "")
                  + (" [early stop]" if state["stage_stopped_early"] else ""), flush=True)

    # ----- CSV ---------------------------------------------------------------------------
    def _append_csv(self, row):
        new = not os.path.exists(self.run.log_csv)
        with open(self.run.log_csv, "a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(row)
            f.flush()
            os.fsync(f.fileno())

    def _truncate_csv(self, completed):
        """Drop rows of epochs that were not committed (killed after the row, before state)."""
        if not os.path.exists(self.run.log_csv):
            return
        with open(self.run.log_csv, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if r.get("epoch") and int(r["epoch"]) <= completed]
        with atomic_path(self.run.log_csv) as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
                writer.writeheader()
                writer.writerows(rows)

    # ----- main loop ---------------------------------------------------------------------
    def _callbacks(self):
        callbacks = [_EpochEnd(self)]
        try:
            import tensorboard  # noqa: F401  (the Keras callback needs it)
            callbacks.append(keras.callbacks.TensorBoard(log_dir=self.run.tensorboard))
        except ImportError:
            pass
        return callbacks + self.extra_callbacks

    def _result(self, model, resumed, already_finished=False):
        s = self.state
        return TrainingResult(model=model, best_val_auc=s["best_val_auc"] if s["best_val_auc"]
                              is not None else float("nan"), best_epoch=s["best_epoch"] or 0,
                              completed_epochs=s["completed_epochs"], resumed=resumed,
                              already_finished=already_finished)

    def train(self, model=None):
        """Train (or resume) and return a TrainingResult whose ``model`` is the last-epoch model.

        ``model`` may be None when the run folder holds a resume state.
        """
        self.state = self._read_state()
        resumed = self.state is not None
        if resumed and self.state["finished"]:
            with self._scope():
                model = load_checkpoint(self.run.file(self.state["checkpoint"]))
            return self._result(model, resumed=True, already_finished=True)

        start_fresh_stage = True
        if resumed and self.state["checkpoint"]:
            self._truncate_csv(self.state["completed_epochs"])
            with self._scope():
                model = load_checkpoint(self.run.file(self.state["checkpoint"]))
            stage = self.stages[self.state["stage_index"]]
            stage_end = self.state["stage_start_epoch"] + stage.epochs
            if not self.state["stage_stopped_early"] and self.state["completed_epochs"] < stage_end:
                start_fresh_stage = False  # continue inside the stage with the restored optimizer
            else:
                self._advance_stage()
        else:
            if model is None:
                raise ValueError(f"{self.run.path}: no resume state found and no model given")
            self.state = self._new_state()

        while self.state["stage_index"] < len(self.stages):
            index = self.state["stage_index"]
            stage = self.stages[index]
            with self._scope():
                apply_stage(model, stage)
                if start_fresh_stage:
                    compile_for_stage(model, stage, self.options)
            start_fresh_stage = True
            stage_end = self.state["stage_start_epoch"] + stage.epochs
            if self.options.verbose:
                print(f"stage {index + 1}/{len(self.stages)} '{stage.name}': trainable from "
                      f"{stage.trainable_from}, lr={current_learning_rate(model):g}, "
                      f"l2={stage.l2}, dropout={stage.dropout}, epochs "
                      f"{self.state['completed_epochs'] + 1}-{stage_end}", flush=True)
            if self.state["completed_epochs"] < stage_end:
                model.fit(self.train_data, epochs=stage_end,
                          initial_epoch=self.state["completed_epochs"], shuffle=False,
                          callbacks=self._callbacks(), verbose=self.options.verbose)
            self._advance_stage()

        final = self.run.last_model
        previous = self.run.file(self.state["checkpoint"]) if self.state["checkpoint"] else None
        with atomic_path(final) as tmp:  # copy, so the committed checkpoint stays valid
            if previous:
                shutil.copyfile(previous, tmp)
            else:  # zero epochs in every stage
                model.save(tmp)
        self.state["checkpoint"] = os.path.relpath(final, self.run.path)
        self.state["finished"] = True
        self._write_state()
        shutil.rmtree(self.run.resume_dir, ignore_errors=True)
        return self._result(model, resumed=resumed)

    def _advance_stage(self):
        self.state["stage_index"] += 1
        self.state["stage_start_epoch"] = self.state["completed_epochs"]
        self.state["stage_stopped_early"] = False
        self.state["early_stopping"] = {"best_val_loss": None, "wait": 0}


def run_stages(model, stages, train_data, val_data, run, options=None, strategy=None,
               callbacks=()):
    """Convenience wrapper: ``StageRunner(...).train(model)``."""
    return StageRunner(run, stages, train_data, val_data, options, strategy, callbacks).train(model)
