# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The three training scripts end to end at toy size, sharing one tiny phantom dataset and one
patch run (trained with a simulated crash and finished with --resume)."""
import csv
import json
import os

import numpy as np
import pytest

from mammo_tf.commands.train import main_patch, main_transfer, main_whole
from training_helpers import CrashAfterEpoch, make_toy_shen_data

# CI's JAX leg leaves these out (9 minutes there); `make test` and `make test-jax` run them
pytestmark = pytest.mark.end_to_end

IMAGE_SIZE = ("64", "64")


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory):
    """A 10-patient phantom (drawn at 128x96, stored at 64x64) with both classes in every
    split, and s1 patch sets of 32x32 patches (``training_helpers.make_toy_shen_data``)."""
    return make_toy_shen_data(tmp_path_factory.mktemp("toy"))


def _patch_args(toy_data, name):
    return ["--train-h5", toy_data["train_h5"], "--val-h5", toy_data["val_h5"], "--test-h5",
            toy_data["test_h5"], "--backbone", "vgg16", "--schedule", "pretrained",
            "--epochs", "1", "2", "1", "--batch-size", "16", "--runs-dir", toy_data["runs"],
            "--name", name, "--verbose", "0"]


@pytest.fixture(scope="session")
def patch_run(toy_data):
    """train_patch.py, crashed after epoch 2 (inside stage 2), then finished with --resume."""
    from mammo_tf.training.config import parse_config
    from mammo_tf.shen.config import PatchConfig
    from mammo_tf.shen.train_patch import train_patch_classifier

    config, _ = parse_config(PatchConfig, _patch_args(toy_data, "patch"), "train_patch.py", "")
    with pytest.raises(KeyboardInterrupt):
        train_patch_classifier(config, callbacks=[CrashAfterEpoch(2)])
    run = os.path.join(toy_data["runs"], "patch")
    state = json.load(open(os.path.join(run, "state.json")))
    assert state["completed_epochs"] == 2 and state["stage_index"] == 1
    assert main_patch(["--resume", run, "--verbose", "0"]) == 0
    return run


@pytest.fixture(scope="session")
def uninterrupted_patch_run(toy_data):
    """The same train_patch.py run as ``patch_run``, never interrupted (no export: not compared)."""
    assert main_patch(_patch_args(toy_data, "patch_uninterrupted") + ["--no-export"]) == 0
    return os.path.join(toy_data["runs"], "patch_uninterrupted")


def _check_run_folder(run, metric_keys, exported=True):
    import keras

    exported = exported and keras.backend.backend() == "tensorflow"  # SavedModel: TF only
    names = ["config.json", "run.json", "log.csv", "metrics.json", "roc.png",
             "checkpoints/best.keras", "checkpoints/last.keras"]
    for name in names + (["saved_model/saved_model.pb"] if exported else []):
        assert os.path.exists(os.path.join(run, name)), name
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    for key in metric_keys:
        assert key in metrics, key
    return metrics


def test_train_patch_run_folder_and_resume(patch_run, uninterrupted_patch_run, toy_data):
    import keras

    import h5py

    metrics = _check_run_folder(patch_run, ("test_accuracy", "test_confusion_matrix", "test_auc_ovr_macro"))
    assert np.sum(metrics["test_confusion_matrix"]) > 0
    # every test patch counted once, in the row of its true class; accuracy is the diagonal share
    with h5py.File(toy_data["test_h5"], "r") as f:
        test_labels = f["labels"][:]
    matrix = np.array(metrics["test_confusion_matrix"])
    assert matrix.sum(axis=1).tolist() == np.bincount(test_labels, minlength=len(matrix)).tolist()
    assert metrics["test_accuracy"] == pytest.approx(np.trace(matrix) / len(test_labels), abs=1e-12)
    rows = _rows(os.path.join(patch_run, "log.csv"))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx([1e-3, 1e-4, 1e-4, 1e-5])
    config = json.load(open(os.path.join(patch_run, "config.json")))
    assert config["config"]["backbone"] == "vgg16" and len(config["stages"]) == 3

    # Crash after epoch 2 + --resume ends exactly where the uninterrupted run does, through the
    # real PatchDataset (per-epoch shuffling, augmentation and class balancing from the seed).
    full_rows = _rows(os.path.join(uninterrupted_patch_run, "log.csv"))
    assert [r["val_loss"] for r in rows] == [r["val_loss"] for r in full_rows]
    resumed, full = (keras.saving.load_model(os.path.join(run, "checkpoints", "last.keras"), safe_mode=True)
                     for run in (patch_run, uninterrupted_patch_run))
    assert len(resumed.weights) == len(full.weights)
    for a, b in zip(resumed.get_weights(), full.get_weights()):
        np.testing.assert_array_equal(a, b)
    full_metrics = json.load(open(os.path.join(uninterrupted_patch_run, "metrics.json")))
    assert metrics["test_confusion_matrix"] == full_metrics["test_confusion_matrix"]


def test_finished_run_is_not_redone(patch_run, capsys):
    before = open(os.path.join(patch_run, "log.csv")).read()
    assert main_patch(["--resume", patch_run]) == 0
    assert "already finished" in capsys.readouterr().out
    assert open(os.path.join(patch_run, "log.csv")).read() == before


def test_exported_saved_model_matches_predict(patch_run, toy_data):
    pytest.importorskip("tensorflow", reason="SavedModel export needs TensorFlow")
    import h5py

    from mammo_tf.serving.savedmodel import load_exported
    from mammo_tf.inference.predict import Predictor

    with h5py.File(toy_data["test_h5"], "r") as f:
        raw = f["patches"][:3]  # uint16 patches as stored, the client's input
    exported = load_exported(os.path.join(patch_run, "saved_model"))
    from_saved_model = exported(raw[..., None].astype(np.float32))
    from_keras = Predictor.load(os.path.join(patch_run, "checkpoints", "best.keras"))(raw)
    np.testing.assert_allclose(from_saved_model, from_keras, atol=1e-5)
    np.testing.assert_allclose(from_saved_model.sum(axis=1), 1.0, atol=1e-5)


@pytest.fixture(scope="session")
def whole_run(patch_run, toy_data):
    args = ["--patch-model", os.path.join(patch_run, "checkpoints", "best.keras"),
            "--manifest", toy_data["manifest"], "--top", "hybrid", "--depths", "16", "16",
            "--image-size", *IMAGE_SIZE, "--epochs", "1", "1", "--runs-dir", toy_data["runs"],
            "--name", "whole", "--verbose", "0"]
    assert main_whole(args) == 0
    return os.path.join(toy_data["runs"], "whole")


def test_train_whole_run_folder(whole_run):
    metrics = _check_run_folder(whole_run, ("test_auc", "test_auc_ci95", "test_auc_tta",
                                            "patch_baseline", "beats_patch_baseline"))
    assert metrics["top"] == "hybrid" and metrics["backbone"] == "vgg16"
    baseline = metrics["patch_baseline"]
    assert set(baseline) == {"val", "test"}
    assert baseline["test"]["window"] == [32, 32] and baseline["test"]["stride"] == 8
    for split in ("val", "test"):
        for score in ("max_malignant", "max_lesion"):
            auc, (lo, hi) = baseline[split][score]["auc"], baseline[split][score]["auc_ci95"]
            assert 0.0 <= lo <= auc + 1e-12 and auc <= hi + 1e-12 and hi <= 1.0  # float rounding
    assert metrics["beats_patch_baseline"] == (
        metrics["best_val_auc"] >= baseline["val"]["max_malignant"]["auc"])
    lo, hi = metrics["test_auc_ci95"]
    assert 0.0 <= lo <= metrics["test_auc"] + 1e-12 and metrics["test_auc"] <= hi + 1e-12 <= 1.0 + 1e-12
    rows = _rows(os.path.join(whole_run, "log.csv"))
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx([1e-4, 1e-6])
    info = json.load(open(os.path.join(whole_run, "run.json")))
    patch_info = json.load(open(os.path.join(whole_run, "..", "patch", "run.json")))
    assert info["pixel_mean"] == patch_info["pixel_mean"]  # one mean for patch and whole-image
    assert info["pixel_mean_source"].startswith("patch run ")  # training, as in the paper
    assert (info["kind"], patch_info["kind"]) == ("whole_top", "patch")
    assert info["input_size"] == [int(s) for s in IMAGE_SIZE] and info["backbone"] == "vgg16"
    # the screening report of the test split (mammo_tf.screening.runs), calibrated on val
    report = metrics["screening_report"]
    assert os.path.isfile(os.path.join(whole_run, report["html"])), report
    assert "error" not in report and set(report["levels"]) == {"model", "model + TTA"}
    assert report["calibration"]["fitted_on"]["split"] == "validation"


def test_transfer_series(whole_run, toy_data):
    args = ["--model", os.path.join(whole_run, "checkpoints", "best.keras"), "--manifest",
            toy_data["manifest"], "--epochs", "1", "--patients", "2", "3", "--runs-dir",
            toy_data["runs"], "--name", "transfer", "--verbose", "0", "--no-tta", "--no-export"]
    assert main_transfer(args) == 0
    run = os.path.join(toy_data["runs"], "transfer")
    table = _rows(os.path.join(run, "transfer_efficiency.csv"))
    assert [int(r["patients"]) for r in table] == [2, 3]
    assert int(table[0]["train_images"]) < int(table[1]["train_images"])
    assert os.path.isfile(os.path.join(run, "transfer_efficiency.png"))
    for n in (2, 3):
        sub = os.path.join(run, f"patients_{n:03d}")
        sub_metrics = _check_run_folder(sub, ("test_auc", "best_val_auc", "patch_baseline"),
                                        exported=False)
        # the patch classifier is found through the source whole-image run's run.json
        assert sub_metrics["patch_baseline"]["test"]["window"] == [32, 32]
        info = json.load(open(os.path.join(sub, "run.json")))
        assert info["kind"] == "whole_top" and info["details"]["transfer"]  # the source's kind
        rows = _rows(os.path.join(sub, "log.csv"))
        assert [float(r["learning_rate"]) for r in rows] == pytest.approx([1e-6])
        assert os.path.isfile(os.path.join(sub, sub_metrics["screening_report"]["json"]))  # --no-tta: one model
        assert list(sub_metrics["screening_report"]["levels"]) == ["model"]


@pytest.mark.parametrize("make_args, message", [
    (lambda d, p: ["--train-h5", "/nonexistent.h5", "--val-h5", d["val_h5"]], "not found"),
    (lambda d, p: ["--train-h5", d["train_h5"], "--val-h5", d["val_h5"], "--backbone", "alexnet"],
     "invalid choice"),
    (lambda d, p: ["--val-h5", d["val_h5"]], "--train-h5"),
])
def test_train_patch_bad_arguments_exit_2_with_one_line(toy_data, capsys, make_args, message):
    with pytest.raises(SystemExit) as exc:
        main_patch(make_args(toy_data, None))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_config_file_gives_defaults_and_flags_override(toy_data, tmp_path):
    from mammo_tf.training.config import parse_config
    from mammo_tf.shen.config import PatchConfig

    config_file = tmp_path / "c.json"
    config_file.write_text(json.dumps({"train_h5": [toy_data["train_h5"]], "val_h5": [toy_data["val_h5"]],
                                       "backbone": "vgg19", "batch_size": 8}))
    config, resume = parse_config(PatchConfig, ["--config", str(config_file), "--batch-size", "4"], "x", "")
    assert (config.backbone, config.batch_size, config.learning_rates, resume) == ("vgg19", 4, None, None)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"bakbone": "vgg16"}))
    with pytest.raises(SystemExit) as exc:
        main_patch(["--config", str(bad)])
    assert exc.value.code == 2


def test_train_whole_bad_patch_model_exit_2(whole_run, toy_data, capsys, tmp_path):
    cases = [
        (os.path.join(whole_run, "checkpoints", "best.keras"), "whole-image classifier"),
        (str(tmp_path / "missing.keras"), "not found"),
    ]
    for path, message in cases:
        with pytest.raises(SystemExit) as exc:
            main_whole(["--patch-model", path, "--manifest", toy_data["manifest"],
                        "--image-size", *IMAGE_SIZE, "--runs-dir", str(tmp_path)])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
    # a patch model given to transfer_inbreast.py (needs a whole-image model)
    with pytest.raises(SystemExit) as exc:
        main_transfer(["--model", os.path.join(whole_run, "..", "patch", "checkpoints", "best.keras"),
                       "--manifest", toy_data["manifest"], "--runs-dir", str(tmp_path)])
    assert exc.value.code == 2
    assert "not a whole-image classifier" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["train_patch.py", "train_whole.py", "transfer_inbreast.py"])
def test_help_lists_every_option(script, capsys):
    import dataclasses

    from mammo_tf.shen.config import PatchConfig, TransferConfig, WholeConfig

    main, cls = {"train_patch.py": (main_patch, PatchConfig), "train_whole.py": (main_whole, WholeConfig),
                 "transfer_inbreast.py": (main_transfer, TransferConfig)}[script]
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for field in dataclasses.fields(cls):
        if field.metadata.get("cli", True):
            assert "--" + field.name.replace("_", "-") in out
    # the schedule is set in the --config file (a list of stage objects), not by a flag
    assert "--stages" not in out and "'stages' = the schedule" in " ".join(out.split())
    assert "--resume" in out and "--config" in out


@pytest.mark.slow
def test_kill_9_then_resume_continues(toy_data, tmp_path):
    """A real ``kill -9`` of train_patch.py mid-run, then ``--resume``: the epochs continue."""
    import signal
    import subprocess
    import sys
    import time

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    run = tmp_path / "runs" / "killed"
    args = [sys.executable, os.path.join(repo, "train_patch.py"), "--train-h5", toy_data["train_h5"],
            "--val-h5", toy_data["val_h5"], "--backbone", "vgg16", "--schedule", "pretrained",
            "--epochs", "1", "3", "1",
            "--batch-size", "16", "--runs-dir", str(tmp_path / "runs"), "--name", "killed",
            "--verbose", "0", "--no-export"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state_file = run / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if state_file.exists() and json.loads(state_file.read_text())["completed_epochs"] >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "training ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(state_file.read_text())["completed_epochs"]
    assert killed_at < 5
    done = subprocess.run([sys.executable, os.path.join(repo, "train_patch.py"), "--resume", str(run),
                           "--verbose", "0"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _rows(run / "log.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5]
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx([1e-3, 1e-4, 1e-4, 1e-4, 1e-5])
    assert (run / "metrics.json").exists()


def test_heatmap_top_builds_and_stages_apply(patch_run):
    """--top heatmap: the heatmap + FC classifier, with the stage-1 trainability and L2."""
    import keras

    from mammo_tf.training import apply_stage
    from mammo_tf.shen.config import WholeConfig
    from mammo_tf.shen.train_whole import build_whole_model, whole_stages

    patch_model = keras.saving.load_model(os.path.join(patch_run, "checkpoints", "best.keras"),
                                          safe_mode=True)
    config = WholeConfig(patch_model="x", manifest="x", top="heatmap", image_size=[64, 64],
                         heatmap_pool=1, heatmap_hidden=[8])
    model = build_whole_model(patch_model, config)
    assert model.output_shape == (None, 2)
    stage1 = whole_stages(config)[0]
    apply_stage(model, stage1)
    trainable = {layer.name for layer in model.layers if layer.trainable and layer.weights}
    assert "fc1" in trainable and "heatmap" not in trainable and "block5_conv3" not in trainable
    assert model.get_layer("fc1").kernel.regularizer.l2 == pytest.approx(1e-3)


def test_sliding_heatmap_whole_run_is_deterministic(patch_run, toy_data):
    """Issue 12: the same seed gives the same numbers. Two whole-image runs (the demo's
    sliding-window heatmap classifier started at the patch baseline, epoch 0 validated) end
    with identical weights and identical logs."""
    import keras

    runs = []
    for name in ("heatmap_a", "heatmap_b"):
        args = ["--patch-model", os.path.join(patch_run, "checkpoints", "best.keras"),
                "--manifest", toy_data["manifest"], "--top", "heatmap", "--heatmap-mode",
                "sliding", "--validate-initial", "--heatmap-pool", "3",
                "--heatmap-hidden", "4", "--heatmap-shortcut", "--heatmap-init-baseline",
                "--heatmap-stride", "16", "--baseline-stride", "16", "--image-size", *IMAGE_SIZE,
                "--epochs", "1", "1", "--learning-rates", "1e-3", "1e-4", "--runs-dir",
                toy_data["runs"], "--name", name, "--verbose", "0", "--no-export", "--no-tta"]
        assert main_whole(args) == 0
        runs.append(os.path.join(toy_data["runs"], name))
    a, b = (keras.saving.load_model(os.path.join(r, "checkpoints", "last.keras"), safe_mode=True)
            for r in runs)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    logs = [[{k: v for k, v in row.items() if k != "seconds"}
             for row in _rows(os.path.join(r, "log.csv"))] for r in runs]
    assert logs[0] == logs[1]
    metrics = [json.load(open(os.path.join(r, "metrics.json"))) for r in runs]
    assert metrics[0]["test_auc"] == metrics[1]["test_auc"]
    assert metrics[0]["initial_val_auc"] is not None  # epoch 0 was validated
    info = json.load(open(os.path.join(runs[0], "run.json")))
    assert info["details"]["heatmap_mode"] == "sliding" and info["details"]["heatmap_stride"] == 16
