# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""End-to-end training of the four-view model at toy size on phantom exams, the data
pipeline's epoch sampling, heatmap channels, and the train_multiview.py command line."""
import csv
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from mammo_tf.nyu.data import ExamDataset
from mammo_tf.nyu.exams import is_positive, read_exam_manifest, write_phantom_exams
from mammo_tf.nyu.training import PREDICTION_COLUMNS, MultiviewConfig, ensure_heatmaps
from mammo_tf.nyu.views import PreprocessConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
    x, y = data[0]
    assert set(x) == {"l_cc", "r_cc", "l_mlo", "r_mlo"} and x["l_cc"].shape == (4,) + TOY + (1,)
    assert y["cc"].shape == (4, 4) and np.array_equal(y["cc"], y["mlo"])


def test_train_multiview_end_to_end(phantom_manifest, tmp_path):
    """BI-RADS pretraining (1 epoch), then the cancer model from its columns (2 epochs)."""
    script = load_script()
    runs = tmp_path / "runs"
    toy = ["--manifest", phantom_manifest, "--runs-dir", str(runs), "--cc-size", "64", "48",
           "--mlo-size", "64", "48", "--tta", "1", "--eager", "--cache-images", "--verbose", "0"]
    assert script.main(toy + ["--task", "birads", "--name", "birads", "--epochs", "1",
                              "--batch-size", "8", "--tta", "0"]) == 0
    birads_best = runs / "birads" / "checkpoints" / "best.keras"
    with open(runs / "birads" / "predictions_val.csv", newline="") as f:
        assert next(csv.reader(f)) == ["exam_id", "birads_0", "birads_1", "birads_2"]
    assert script.main(toy + ["--name", "toy", "--epochs", "2", "--init-columns", str(birads_best)]) == 0
    run = runs / "toy"
    config = json.loads((run / "config.json").read_text())
    assert config["init_columns"] == str(birads_best) and config["task"] == "cancer"
    assert config["learning_rate"] == 1e-5 and config["batch_size"] == 4
    assert config["l2"] == pytest.approx(10 ** -4.5) and config["patience"] == 20
    with open(run / "log.csv", newline="") as f:
        log = list(csv.DictReader(f))
    assert len(log) == 2 and "val_mean_auc" in log[0] and float(log[1]["loss"]) > 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and metrics["best_epoch"] in (1, 2)
    assert set(metrics["test"]["auc"]) == set(PREDICTION_COLUMNS[1:])
    with open(run / "predictions_test.csv", newline="") as f:
        reader = csv.reader(f)
        assert tuple(next(reader)) == PREDICTION_COLUMNS
        preds = list(reader)
    assert len(preds) == metrics["test"]["exams"]
    assert all(0.0 <= float(v) <= 1.0 for row in preds for v in row[1:])
    best = run / "checkpoints" / "best.keras"
    model = keras.saving.load_model(best, safe_mode=True, compile=False)
    assert model.get_layer("cc_column") is not None
    out = tmp_path / "pred.csv"
    assert script.main(["--manifest", phantom_manifest, "--predict", str(best), "--output",
                        str(out), "--tta", "0", "--split", "test", "--eager", "--verbose", "0"]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["exam_id"] for r in rows] == [p[0] for p in preds]


def test_heatmap_channels_feed_three_channel_batches(phantom_manifest, tmp_path):
    inputs = keras.Input((32, 32, 3))
    probs = keras.layers.Dense(5, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs))
    classifier_path = str(tmp_path / "patch.keras")
    keras.Model(inputs, probs).save(classifier_path)
    rows = read_exam_manifest(phantom_manifest)[:2]
    config = MultiviewConfig(manifest=phantom_manifest, cc_size=TOY, mlo_size=TOY, channels=3,
                             heatmap_model=classifier_path, heatmap_pixel_mean=10.0,
                             heatmap_patch_size=32, heatmap_stride=16)
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


def test_help_quotes_the_config_defaults():
    text = load_script().build_parser().format_help()
    defaults = MultiviewConfig(manifest="x")
    for field in ("epochs", "batch_size", "patience", "tta", "seed", "heatmap_patch_size",
                  "heatmap_stride", "learning_rate", "model", "name", "runs_dir"):
        assert f"(default: {getattr(defaults, field)})" in " ".join(text.split()), field
    assert f"{defaults.cc_size[0]} {defaults.cc_size[1]}" in text
    assert f"{defaults.mlo_size[0]} {defaults.mlo_size[1]}" in text
    assert dataclasses.replace(defaults).l2 == pytest.approx(10 ** -4.5)


def test_unreadable_views_are_skipped_and_reported(phantom_manifest, tmp_path):
    import shutil

    from mammo_tf.nyu.training import scan_views

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
