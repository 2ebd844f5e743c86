# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Resume behaves the same in the four training pipelines (``mammo_tf.training.pipeline``, the
one skeleton: the model is built or restored by the run's state, not by ``--resume``).

For each of patch, whole-image, transfer and NYU four-view, at toy size, a run killed
(a) in its first epoch (run.json written, no state.json yet),
(b) in the middle of a stage,
(c) after its last stage, before metrics.json,
and (d) a finished run, continued with ``--resume`` through the command: exit code 0 (no
traceback), and the same log, final and best weights and metrics as an uninterrupted run.
Kills are simulated by raising from a Keras callback (``training_helpers``); the real
``kill -9`` tests are in test_scripts_pipelines.py and test_nyu_train.py (slow)."""
import csv
import json
import os
import shutil

import numpy as np
import pytest

from mammo_tf.commands.multiview import main as main_multiview
from mammo_tf.commands.train import main_patch, main_transfer, main_whole
from mammo_tf.nyu.config import MultiviewConfig
from mammo_tf.shen.config import PatchConfig, TransferConfig, WholeConfig
from mammo_tf.training.config import parse_config
from training_helpers import CrashAfterEpoch, CrashInFirstEpoch, make_toy_shen_data

pytestmark = pytest.mark.end_to_end

NYU_TOY = (64, 48)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_shen_data(tmp_path_factory.mktemp("resume"))


def _log(run):
    with open(os.path.join(run, "log.csv"), newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def _weights(path):
    from mammo_tf.runs import load_keras_model

    return load_keras_model(path).get_weights()


def _same_run(run, reference, metric_keys):
    """``run`` ended exactly where the uninterrupted ``reference`` did."""
    assert _log(run) == _log(reference)
    for checkpoint in ("last.keras", "best.keras"):
        a, b = (_weights(os.path.join(r, "checkpoints", checkpoint)) for r in (run, reference))
        assert len(a) == len(b) > 0
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    metrics, expected = (json.load(open(os.path.join(r, "metrics.json"))) for r in (run, reference))
    for key in metric_keys:
        assert key in expected, key
        assert metrics[key] == expected[key], key
    state = json.load(open(os.path.join(run, "state.json")))
    assert state["finished"] and not os.path.exists(os.path.join(run, "resume"))


def check_resume(main, config_cls, train, args, runs, reference, crash_after, crash_stage,
                 metric_keys, capsys):
    """Cases (a)-(d) of the module docstring against the uninterrupted run ``reference``."""
    def crash(name, callback):
        config, _ = parse_config(config_cls, args(name), "test", "")
        with pytest.raises(KeyboardInterrupt):
            train(config, callbacks=[callback])
        return os.path.join(runs, name)

    def resume(run):
        assert main(["--resume", run, "--verbose", "0"]) == 0

    # (a) killed in the first epoch: the model is built again although --resume is given
    first = crash("killed_in_first_epoch", CrashInFirstEpoch())
    assert os.path.isfile(os.path.join(first, "run.json"))
    assert not os.path.exists(os.path.join(first, "state.json"))
    resume(first)
    _same_run(first, reference, metric_keys)

    # (b) killed in the middle of a stage: model and optimizer come from the resume checkpoint
    middle = crash("killed_in_a_stage", CrashAfterEpoch(crash_after))
    state = json.load(open(os.path.join(middle, "state.json")))
    assert (state["completed_epochs"], state["stage_index"]) == (crash_after, crash_stage)
    assert not state["finished"] and not os.path.exists(os.path.join(middle, "metrics.json"))
    resume(middle)
    _same_run(middle, reference, metric_keys)

    # (c) killed after the last stage, before metrics.json: evaluated, not trained again
    last = os.path.join(runs, "killed_after_training")
    shutil.copytree(reference, last)
    os.remove(os.path.join(last, "metrics.json"))
    resume(last)
    _same_run(last, reference, metric_keys)

    # (d) finished: nothing is redone
    capsys.readouterr()
    files = {name: open(os.path.join(reference, name)).read() for name in ("log.csv", "metrics.json")}
    resume(reference)
    assert "already finished" in capsys.readouterr().out
    for name, text in files.items():
        assert open(os.path.join(reference, name)).read() == text, name


# ----- Shen: patch classifier --------------------------------------------------------------
def _patch_args(toy):
    def args(name):
        return ["--train-h5", toy["train_h5"], "--val-h5", toy["val_h5"], "--test-h5",
                toy["test_h5"], "--backbone", "vgg16", "--schedule", "random", "--epochs", "2",
                "--batch-size", "16", "--runs-dir", toy["runs"],
                "--name", name, "--verbose", "0", "--no-export"]
    return args


@pytest.fixture(scope="module")
def patch_run(toy):
    assert main_patch(_patch_args(toy)("patch")) == 0
    return os.path.join(toy["runs"], "patch")


def test_patch_pipeline_resumes_alike(toy, patch_run, tmp_path, capsys):
    from mammo_tf.shen.train_patch import train_patch_classifier

    toy = dict(toy, runs=str(tmp_path))
    check_resume(main_patch, PatchConfig, train_patch_classifier, _patch_args(toy), toy["runs"],
                 patch_run, crash_after=1, crash_stage=0,
                 metric_keys=("test_accuracy", "test_auc_ovr_macro", "test_confusion_matrix",
                              "best_epoch", "best_val_accuracy", "completed_epochs", "pixel_mean"),
                 capsys=capsys)


# ----- Shen: whole-image classifier --------------------------------------------------------
def _whole_args(toy, patch_run):
    def args(name):
        return ["--patch-model", os.path.join(patch_run, "checkpoints", "best.keras"),
                "--manifest", toy["manifest"], "--top", "hybrid", "--depths", "16", "16",
                "--image-size", "64", "64", "--epochs", "1", "2", "--runs-dir", toy["runs"],
                "--name", name, "--verbose", "0", "--no-export", "--no-patch-baseline"]
    return args


@pytest.fixture(scope="module")
def whole_run(toy, patch_run):
    assert main_whole(_whole_args(toy, patch_run)("whole")) == 0
    return os.path.join(toy["runs"], "whole")


def test_whole_pipeline_resumes_alike(toy, patch_run, whole_run, tmp_path, capsys):
    from mammo_tf.shen.train_whole import train_whole_image_classifier

    toy = dict(toy, runs=str(tmp_path))
    check_resume(main_whole, WholeConfig, train_whole_image_classifier,
                 _whole_args(toy, patch_run), toy["runs"], whole_run, crash_after=2,
                 crash_stage=1,
                 metric_keys=("test_auc", "test_auc_ci95", "test_auc_tta", "best_val_auc",
                              "best_epoch", "initial_val_auc", "completed_epochs", "pixel_mean"),
                 capsys=capsys)


# ----- Shen: transfer to another database --------------------------------------------------
def test_transfer_pipeline_resumes_alike(toy, whole_run, tmp_path, capsys):
    from mammo_tf.shen.transfer import transfer

    def args(name, runs=str(tmp_path)):
        return ["--model", os.path.join(whole_run, "checkpoints", "best.keras"), "--manifest",
                toy["manifest"], "--epochs", "2", "--runs-dir", runs, "--name", name,
                "--verbose", "0", "--no-export", "--no-tta", "--no-patch-baseline"]

    assert main_transfer(args("transfer", toy["runs"])) == 0
    check_resume(main_transfer, TransferConfig, transfer, args, str(tmp_path),
                 os.path.join(toy["runs"], "transfer"), crash_after=1, crash_stage=0,
                 metric_keys=("test_auc", "test_auc_ci95", "best_val_auc", "best_epoch",
                              "initial_val_auc", "completed_epochs", "pixel_mean",
                              "train_images"),
                 capsys=capsys)


# ----- NYU four-view model -----------------------------------------------------------------
def test_nyu_pipeline_resumes_alike(tmp_path, capsys):
    from mammo_tf.nyu.exams import write_phantom_exams
    from mammo_tf.nyu.training import train

    manifest = write_phantom_exams(tmp_path / "exams", 14, seed=0, size=NYU_TOY)

    def args(name, runs=str(tmp_path / "runs")):
        return ["--manifest", str(manifest), "--runs-dir", runs, "--cc-size", "64", "48",
                "--mlo-size", "64", "48", "--tta", "0", "--run-eagerly", "--cache-images",
                "--epochs", "2", "--name", name, "--verbose", "0", "--no-export"]

    assert main_multiview(args("full", str(tmp_path / "reference"))) == 0
    check_resume(main_multiview, MultiviewConfig, train, args, str(tmp_path / "runs"),
                 str(tmp_path / "reference" / "full"), crash_after=1, crash_stage=0,
                 metric_keys=("best_epoch", "best_val_mean_auc", "completed_epochs", "val",
                              "test"),
                 capsys=capsys)
