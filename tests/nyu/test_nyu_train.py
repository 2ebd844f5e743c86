# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""End-to-end training of the four-view model at toy size on phantom exams through the stage
runner (one run-folder format, resume after kill -9), the data pipeline's epoch sampling,
heatmap channels, and the train_multiview.py command line."""
import csv
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from mammo_tf.nyu.data import ExamDataset
from mammo_tf.nyu.exams import is_positive, read_exam_manifest, write_phantom_exams
from mammo_tf.nyu.config import MultiviewConfig
from mammo_tf.nyu.predict import PREDICTION_COLUMNS, ensure_heatmaps
from mammo_tf.runs import load_keras_model
from mammo_tf.nyu.views import PreprocessConfig

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "train_multiview.py")
TOY = (64, 48)


def load_script():
    spec = importlib.util.spec_from_file_location("train_multiview", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def phantom_manifest(tmp_path_factory):
    return write_phantom_exams(tmp_path_factory.mktemp("nyu") / "exams", 14, seed=0, size=TOY)


def test_balanced_epochs_use_all_positives_and_as_many_negatives(phantom_manifest):
    rows = read_exam_manifest(phantom_manifest)
    positives = [i for i, r in enumerate(rows) if is_positive(r)]
    assert 0 < len(positives) < len(rows) - len(positives)
    data = ExamDataset(rows, PreprocessConfig(TOY, TOY), batch_size=4, balanced=True,
                       shuffle=True, seed=1, cache_images=True)
    first = data.exam_indices
    assert sorted(i for i in first if i in positives) == positives
    assert len(first) == 2 * len(positives)
    data.on_epoch_end()
    second = data.exam_indices
    assert set(positives) <= set(second) and len(second) == len(first)
    # the epoch's draw is a function of (seed, epoch): a fresh dataset set to epoch 1 agrees
    fresh = ExamDataset(rows, PreprocessConfig(TOY, TOY), batch_size=4, balanced=True,
                        shuffle=True, seed=1, cache_images=True)
    fresh.set_epoch(1)
    assert fresh.exam_indices == second and second != first
    fresh.set_epoch(0)
    assert fresh.exam_indices == first
    x, y = data[0]
    assert set(x) == {"l_cc", "r_cc", "l_mlo", "r_mlo"} and x["l_cc"].shape == (4,) + TOY + (1,)
    assert y["cc"].shape == (4, 4) and np.array_equal(y["cc"], y["mlo"])


def _toy_args(manifest, runs):
    return ["--manifest", str(manifest), "--runs-dir", str(runs), "--cc-size", "64", "48",
            "--mlo-size", "64", "48", "--tta", "1", "--run-eagerly", "--cache-images",
            "--verbose", "0"]


@pytest.mark.end_to_end
def test_train_multiview_end_to_end(phantom_manifest, tmp_path):
    """BI-RADS pretraining (1 epoch), then the cancer model from its columns (2 epochs), in
    the run-folder format of every pipeline; then --predict with the recorded settings."""
    script = load_script()
    runs = tmp_path / "runs"
    toy = _toy_args(phantom_manifest, runs)
    assert script.main(toy + ["--config", "nyu_birads_pretraining", "--name", "birads",
                              "--epochs", "1", "--batch-size", "8", "--tta", "0",
                              "--no-export"]) == 0
    birads_best = runs / "birads" / "checkpoints" / "best.keras"
    with open(runs / "birads" / "predictions_val.csv", newline="") as f:
        assert next(csv.reader(f)) == ["exam_id", "birads_0", "birads_1", "birads_2"]
    assert json.loads((runs / "birads" / "run.json").read_text())["kind"] == "nyu_birads"
    assert script.main(toy + ["--name", "toy", "--epochs", "2", "--init-columns", str(birads_best)]) == 0
    run = runs / "toy"
    saved = json.loads((run / "config.json").read_text())
    config = saved["config"]
    assert saved["pipeline"] == "multiview"
    assert config["init_columns"] == str(birads_best) and config["task"] == "cancer"
    assert config["batch_size"] == 4 and config["patience"] == 20
    # the paper's schedule (experiments/nyu_image_only.json) with --epochs applied
    [stage] = saved["stages"]
    assert stage["learning_rate"] == 1e-5 and stage["epochs"] == 2 and stage["trainable_from"] == "all"
    assert stage["l2"] == pytest.approx(10 ** -4.5)
    info = json.loads((run / "run.json").read_text())
    assert info["kind"] == "nyu_view_wise" and info["classes"] == list(PREDICTION_COLUMNS[1:])
    assert info["input_size"] == {"cc": list(TOY), "mlo": list(TOY)} and info["channels"] == 1
    assert info["pixel_mean"] is None and info["backbone"] == "resnet22"
    state = json.loads((run / "state.json").read_text())
    assert state["finished"] and state["completed_epochs"] == 2
    assert state["monitor"] == {"metric": "mean_auc", "mode": "max"}
    assert state["early_stopping_metric"] == {"metric": "mean_auc", "mode": "max"}
    with open(run / "log.csv", newline="") as f:
        log = list(csv.DictReader(f))
    assert len(log) == 2 and "val_mean_auc" in log[0] and float(log[1]["loss"]) > 0
    assert {f"val_auc_{k}" for k in PREDICTION_COLUMNS[1:]} <= set(log[0])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and metrics["best_epoch"] in (1, 2)
    assert state["best_epoch"] == metrics["best_epoch"]
    assert set(metrics["test"]["auc"]) == set(PREDICTION_COLUMNS[1:])
    # breast-level AUCs (Table III) per split, the per-side AUCs stay as extra fields
    assert {"val_breast_auc_malignant", "val_breast_auc_benign"} <= set(log[0])
    assert set(metrics["test"]["breast_auc"]) == {"malignant", "benign"}
    assert metrics["test"]["ci_resamples"] == "patients"
    with open(run / "predictions_test.csv", newline="") as f:
        reader = csv.reader(f)
        assert tuple(next(reader)) == PREDICTION_COLUMNS
        preds = list(reader)
    assert len(preds) == metrics["test"]["exams"]
    assert all(0.0 <= float(v) <= 1.0 for row in preds for v in row[1:])
    # the screening report of the test split (mammo_tf.screening), calibrated on validation
    summary = metrics["screening_report"]
    assert (run / summary["html"]).is_file() and (run / summary["json"]).is_file(), summary
    assert "error" not in summary, summary["error"]
    assert set(summary["levels"]["model"]) == {"breast", "exam"}
    assert summary["levels"]["model"]["breast"]["n"] == 2 * len(preds)
    assert (run / "calibration.json").is_file()
    assert (run / "checkpoints" / "last.keras").is_file() and not (run / "resume").exists()
    if keras.backend.backend() == "tensorflow":  # the SavedModel export step is TF only
        assert (run / "saved_model" / "saved_model.pb").is_file()
    best = run / "checkpoints" / "best.keras"
    load_keras_model(best).get_layer("cc_column")  # raises if the column is missing
    out = tmp_path / "pred.csv"
    predict = ["--manifest", phantom_manifest, "--predict", str(best), "--output", str(out),
               "--tta", "0", "--split", "test", "--run-eagerly", "--verbose", "0"]
    assert script.main(predict) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["exam_id"] for r in rows] == [p[0] for p in preds]
    # the prediction report: breast-level AUCs beside the per-side ones
    report = json.loads((tmp_path / "pred.metrics.json").read_text())
    assert report["exams"] == len(rows) and set(report["breast_auc"]) == {"malignant", "benign"}
    assert set(report["auc"]) == set(PREDICTION_COLUMNS[1:]) and report["ci_resamples"] == "patients"
    # the run records 1 channel: a flag that disagrees is an error, not silently overridden
    with pytest.raises(SystemExit) as exit_info:
        script.main(predict + ["--channels", "3"])
    assert exit_info.value.code == 2


def _wait_for_epoch(proc, state_file, epoch, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            if json.loads(state_file.read_text())["completed_epochs"] >= epoch:
                return
        except (OSError, ValueError, KeyError):  # not written yet
            pass
        time.sleep(0.05)


@pytest.mark.slow  # three training processes (like the Shen kill -9 test)
def test_kill_9_then_resume_matches_an_uninterrupted_run(phantom_manifest, tmp_path):
    """A real ``kill -9`` of train_multiview.py after epoch 1, then ``--resume``: the epochs
    continue at 2 and the final weights equal those of an uninterrupted run."""
    runs = tmp_path / "runs"
    args = [sys.executable, SCRIPT] + _toy_args(phantom_manifest, runs) + [
        "--epochs", "4", "--tta", "0", "--no-export"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "env": env}
    full = subprocess.Popen(args + ["--name", "full"], **quiet)
    killed = subprocess.Popen(args + ["--name", "killed"], **quiet)
    run = runs / "killed"
    _wait_for_epoch(killed, run / "state.json", 1)
    assert killed.poll() is None, "training ended before it could be killed"
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    killed_at = json.loads((run / "state.json").read_text())["completed_epochs"]
    assert 1 <= killed_at < 4
    done = subprocess.run([sys.executable, SCRIPT, "--resume", str(run), "--verbose", "0"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert full.wait(timeout=600) == 0, full.stderr.read()[-2000:]
    with open(run / "log.csv", newline="") as f:
        log = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in log] == [1, 2, 3, 4]
    with open(runs / "full" / "log.csv", newline="") as f:
        full_log = list(csv.DictReader(f))
    assert [r["val_mean_auc"] for r in log] == [r["val_mean_auc"] for r in full_log]
    state = json.loads((run / "state.json").read_text())
    assert state["finished"] and state["completed_epochs"] == 4
    a = load_keras_model(run / "checkpoints" / "last.keras", compile=True)
    b = load_keras_model(runs / "full" / "checkpoints" / "last.keras", compile=True)
    assert int(a.optimizer.iterations) == int(b.optimizer.iterations) > 0
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)
    for name in ("metrics.json", "predictions_test.csv"):
        assert (run / name).read_text() == (runs / "full" / name).read_text()


def test_heatmap_channels_feed_three_channel_batches(phantom_manifest, tmp_path):
    inputs = keras.Input((32, 32, 3))
    probs = keras.layers.Dense(5, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs))
    classifier_path = str(tmp_path / "patch.keras")
    keras.Model(inputs, probs).save(classifier_path)
    rows = read_exam_manifest(phantom_manifest)[:2]
    config = MultiviewConfig(manifest=phantom_manifest, cc_size=TOY, mlo_size=TOY, channels=3,
                             heatmap_model=classifier_path, heatmap_pixel_mean=10.0,
                             heatmap_patch_size=32, heatmap_stride=16,
                             heatmap_pixel_spacing=0.1, image_pixel_spacing=0.1)
    assert ensure_heatmaps(rows, config) == []
    data = ExamDataset(rows, config.preprocess(), batch_size=2, channels=3,
                       heatmap_patch_size=32, heatmap_stride=16)
    x, _ = data[0]
    assert x["r_mlo"].shape == (2,) + TOY + (3,)
    maps = x["r_mlo"][..., 1:]
    assert maps.min() >= 0.0 and maps.max() <= 1.0 and maps.max() > 0
    other = ExamDataset(rows, config.preprocess(), batch_size=2, channels=3,
                        heatmap_patch_size=32, heatmap_stride=70)
    with pytest.raises(FileNotFoundError, match="heatmaps"):
        other[0]


@pytest.mark.parametrize("argv, message", [
    (["--manifest", "missing.csv"], "--manifest missing.csv: file not found"),
    (["--manifest", SCRIPT, "--epochs", "0"], "--epochs must be at least 1"),
    (["--manifest", SCRIPT, "--heatmap-model", SCRIPT], "--heatmap-model needs --heatmap-pixel-mean"),
    (["--manifest", SCRIPT, "--predict", SCRIPT], "--predict needs --output"),
    (["--manifest", SCRIPT, "--model", "joint"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_one_line(argv, message):
    result = subprocess.run([sys.executable, SCRIPT] + argv, capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_help_is_generated_and_imports_no_tensorflow():
    """--help lists the dataclass fields with their defaults, fast and without TensorFlow."""
    code = ("import runpy, sys, time\n"
            "t = time.time()\n"
            f"sys.argv = [{SCRIPT!r}, '--help']\n"
            "try:\n"
            "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
            "except SystemExit:\n"
            "    pass\n"
            "print('TF', 'tensorflow' in sys.modules, 'keras' in sys.modules, time.time() - t)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    text = " ".join(result.stdout.split())
    assert "--run-eagerly" in text and "--resume RUN_DIR" in text and "--strict" in text
    assert "(default: 20)" in text and "(default: view-wise)" in text
    tail = result.stdout.strip().splitlines()[-1].split()
    assert tail[:3] == ["TF", "False", "False"] and float(tail[3]) < 3.0


def test_unreadable_views_are_skipped_and_reported(phantom_manifest, tmp_path):
    import shutil

    from mammo_tf.nyu.predict import scan_views

    folder = tmp_path / "copy"
    shutil.copytree(os.path.dirname(phantom_manifest), folder)
    rows = read_exam_manifest(folder / "exams.csv")
    with open(rows[0]["l_mlo"], "wb") as f:
        f.write(b"not a png")
    config = MultiviewConfig(manifest=str(folder / "exams.csv"), cc_size=TOY, mlo_size=TOY, verbose=0)
    geometry, skipped = scan_views(rows, config)
    assert [p for p, _ in skipped] == [rows[0]["l_mlo"]] and "l_mlo" in skipped[0][1]
    assert len(geometry) == 4 * len(rows) - 1
    with pytest.raises(ValueError, match="l_mlo"):
        scan_views(rows, config, strict=True)
