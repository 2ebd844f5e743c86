# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""run.json, the one loader ``load_run`` (every model kind, SavedModel), the upgrade of old run
folders, the one pixel-mean precedence and the pixel mean over several HDF5 files."""
import json
import os
import shutil
import subprocess
import sys
import types

import h5py
import numpy as np
import pytest

from mammo_tf.runs import (
    LoadedRun,
    RunFolder,
    RunFormatError,
    RunInfo,
    load_run,
    resolve_pixel_mean,
)
from mammo_tf.training import common
from mammo_tf.errors import UsageError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def patch_model():
    from mammo_tf.shen import build_patch_classifier

    return build_patch_classifier("vgg16", input_shape=(32, 32, 3), weights=None)


def _run_with(tmp_path, name, model, kind, **fields):
    """A run folder as the pipelines leave it: run.json written from the built model, then
    the checkpoint."""
    run = RunFolder(tmp_path / name)
    common.write_run_info(run, model, kind, **fields)
    model.save(run.best_model)
    return run


def _kind_case(kind, patch_model):
    """(model, the fields its pipeline records, the geometry load_run must report)."""
    from mammo_tf.nyu.four_view import build_view_wise_model
    from mammo_tf.shen import build_heatmap_classifier, build_whole_image_classifier

    if kind == "patch":
        return (patch_model, dict(classes=["bg", "cb", "cm", "mb", "mm"], pixel_mean=51.5,
                                  pixel_mean_source="compute_pixel_mean(train.h5)",
                                  backbone="vgg16"),
                dict(input_size=[32, 32], channels=3))
    if kind == "whole_top":
        return (build_whole_image_classifier(patch_model, top="resnet", depths=(8, 8),
                                             repetitions=(1, 1), input_shape=(None, None, 3)),
                dict(classes=["negative", "positive"], pixel_mean=52.0,
                     pixel_mean_source="patch run runs/p", backbone="vgg16",
                     details={"top": "resnet"}),
                dict(input_size=[None, None], channels=3))  # fully convolutional
    if kind == "whole_heatmap":
        return (build_heatmap_classifier(patch_model, input_shape=(64, 64, 3), pool_size=2,
                                         hidden=(8,)),
                dict(classes=["negative", "positive"], pixel_mean=53.0,
                     pixel_mean_source="--pixel-mean", backbone="vgg16"),
                dict(input_size=[64, 64], channels=3))
    return (build_view_wise_model((64, 48), (64, 48), channels=1),
            dict(classes=["left_benign", "right_benign", "left_malignant", "right_malignant"],
                 details={"task": "cancer"}),
            dict(input_size={"cc": [64, 48], "mlo": [64, 48]}, channels=1))


def _batch(info, rng):
    if isinstance(info.input_size, dict):
        return {v: rng.normal(0, 1, (2, *info.input_size[v[2:]], info.channels)).astype("float32")
                for v in ("l_cc", "r_cc", "l_mlo", "r_mlo")}
    h, w = [s or 64 for s in info.input_size]
    return rng.normal(0, 40, (2, h, w, info.channels)).astype("float32")


@pytest.mark.parametrize("kind", ["patch", "whole_top", "whole_heatmap", "nyu_view_wise"])
def test_load_run_returns_recorded_kind_and_preprocessing(kind, patch_model, tmp_path):
    model, fields, geometry = _kind_case(kind, patch_model)
    run = _run_with(tmp_path, kind, model, kind, **fields)
    # the run folder and the .keras file in it load the same model and metadata
    for path in (run.path, run.best_model):
        loaded = load_run(path)
        assert loaded.info.kind == kind, path
        assert loaded.info.input_size == geometry["input_size"]
        assert loaded.info.channels == geometry["channels"]
        assert loaded.info.pixel_mean == fields.get("pixel_mean")
        assert loaded.info.pixel_mean_source == fields.get("pixel_mean_source")
        assert loaded.info.backbone == fields.get("backbone")
        assert loaded.model_path == run.best_model and loaded.run.path == run.path
        assert not loaded.raw_input
    x = _batch(loaded.info, np.random.default_rng(0))
    expected, got = model.predict_on_batch(x), loaded.forward(x)
    if isinstance(expected, dict):
        assert sorted(got) == ["cc", "mlo"]
        for name in got:
            np.testing.assert_allclose(got[name], expected[name], atol=1e-5)
    else:
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_load_run_of_a_copied_saved_model_keeps_kind_and_preprocessing(patch_model, tmp_path):
    pytest.importorskip("tensorflow")
    from mammo_tf.serving.savedmodel import export_saved_model
    from mammo_tf.preprocess import to_network_input

    run = _run_with(tmp_path, "p", patch_model, "patch", classes=list("abcde"), pixel_mean=47.5,
                    pixel_mean_source="compute_pixel_mean(t.h5)", backbone="vgg16")
    export_saved_model(patch_model, run.saved_model, pixel_mean=47.5, info=run.read_info())
    copied = tmp_path / "elsewhere" / "served"  # no run folder around it any more
    shutil.copytree(run.saved_model, copied)
    loaded = load_run(copied)
    assert loaded.run is None and loaded.raw_input
    info = loaded.info
    assert (info.kind, info.pixel_mean, info.input_size, info.channels, info.backbone) == (
        "patch", 47.5, [32, 32], 1, "vgg16")  # 1: it takes the raw 16-bit image
    raw = np.random.default_rng(1).integers(0, 65536, (2, 32, 32)).astype("float32")
    np.testing.assert_allclose(loaded.forward(raw[..., None]),
                               patch_model.predict_on_batch(to_network_input(raw, 47.5)), atol=1e-5)


def _old_run(tmp_path, model, config, pixel_mean=None):
    """A run folder as written before run.json: config.json (+ pixel_mean.json) + checkpoint."""
    run = RunFolder(tmp_path)
    run.write_config(config)
    if pixel_mean is not None:
        (tmp_path / "pixel_mean.json").write_text(json.dumps(
            {"pixel_mean": pixel_mean, "source": "compute_pixel_mean(old.h5)"}))
    model.save(run.best_model)
    return run


def test_old_run_folder_says_how_to_upgrade_and_the_upgrade_command_works(patch_model, tmp_path):
    folder = tmp_path / "old_patch"
    run = _old_run(folder, patch_model, {"pipeline": "patch", "config": {
        "backbone": "vgg16", "train_h5": ["t.h5"], "val_h5": ["v.h5"], "variant": "s10"}}, 49.25)
    for path in (run.path, run.best_model):
        with pytest.raises(RunFormatError) as info:
            load_run(path)
        assert f"python -m mammo_tf.runs upgrade" in str(info.value)
        assert str(folder) in str(info.value)
    proc = subprocess.run([sys.executable, "-m", "mammo_tf.runs", "upgrade", run.path],
                          capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == 0, proc.stderr
    assert run.info in proc.stdout
    loaded = load_run(run.path)
    assert (loaded.info.kind, loaded.info.pixel_mean, loaded.info.backbone) == ("patch", 49.25, "vgg16")
    assert loaded.info.pixel_mean_source == "compute_pixel_mean(old.h5)"
    assert loaded.info.input_size == [32, 32] and loaded.info.channels == 3
    assert loaded.info.classes == ["background", "calc_benign", "calc_malignant", "mass_benign",
                                   "mass_malignant"]


def test_upgrade_tells_heatmap_from_top_by_config_and_refuses_what_it_cannot_tell(
        patch_model, tmp_path, capsys):
    from mammo_tf.commands.runs import main

    heatmap = _old_run(tmp_path / "old_heatmap", patch_model,
                       {"pipeline": "whole", "config": {"top": "heatmap", "manifest": "m.csv"}}, 50.0)
    assert main(["upgrade", heatmap.path]) == 0
    assert load_run(heatmap.path).info.kind == "whole_heatmap"

    no_top = _old_run(tmp_path / "old_whole", patch_model, {"pipeline": "whole", "config": {}}, 50.0)
    no_mean = _old_run(tmp_path / "old_nomean", patch_model, {"pipeline": "patch", "config": {}})
    unknown = _old_run(tmp_path / "old_unknown", patch_model, {"something": 1})
    for run, reason in ((no_top, "whole_top from whole_heatmap"), (no_mean, "pixel mean"),
                        (unknown, "no known pipeline")):
        capsys.readouterr()
        assert main(["upgrade", run.path]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and run.path in err and reason in err, err
        assert not os.path.exists(run.info)


def test_lone_keras_file_and_unknown_version_are_format_errors(patch_model, tmp_path):
    lone = tmp_path / "lone.keras"
    patch_model.save(lone)
    with pytest.raises(RunFormatError, match="no run.json"):
        load_run(lone)
    record = RunInfo(kind="patch", classes=["a"], input_size=[8, 8], channels=3).to_dict()
    with pytest.raises(RunFormatError, match="version 2"):
        RunInfo.from_dict(dict(record, version=2))
    with pytest.raises(RunFormatError, match="unknown model kind"):
        RunInfo.from_dict(dict(record, kind="whole"))
    assert RunInfo.from_dict(json.loads(json.dumps(record))) == RunInfo.from_dict(record)


def test_kind_checks_read_run_json_not_layer_names(patch_model, tmp_path):
    from mammo_tf.shen.train_whole import check_patch_model
    from mammo_tf.shen.transfer import load_source

    def loaded(kind, backbone="vgg16"):
        info = RunInfo(kind=kind, classes=["a", "b"], input_size=[32, 32], channels=3,
                       pixel_mean=1.0, backbone=backbone)
        return LoadedRun(model=None, info=info, model_path=f"{kind}.keras")

    assert check_patch_model(loaded("patch"), "resnet") == "vgg16"
    for kind in ("whole_top", "whole_heatmap", "nyu_view_wise"):
        with pytest.raises(UsageError, match=f"run.json says '{kind}'; .*not a patch classifier"):
            check_patch_model(loaded(kind), "resnet")
    with pytest.raises(UsageError, match="hybrid needs a VGG16/VGG19"):
        check_patch_model(loaded("patch", "resnet50"), "hybrid")
    # transfer's --model: a patch run is refused by its recorded kind
    run = _run_with(tmp_path, "patch", patch_model, "patch", classes=list("abcde"),
                    pixel_mean=1.0, backbone="vgg16")
    with pytest.raises(UsageError, match="run.json says 'patch'; not a whole-image classifier"):
        load_source(types.SimpleNamespace(model=run.path))
    with pytest.raises(UsageError, match="--model: .*no run.json"):
        load_source(types.SimpleNamespace(model=str(tmp_path)))


def test_pixel_mean_precedence():
    info = RunInfo(kind="patch", classes=["a"], input_size=[8, 8], channels=3, pixel_mean=10.0,
                   pixel_mean_source="from the run")
    resumed = types.SimpleNamespace(read_info=lambda: info, has_info=lambda: True,
                                    path="runs/r", state="runs/r/state.json")
    parent = LoadedRun(model=None, info=dataclass_replace(info, pixel_mean=20.0),
                       model_path="runs/p/checkpoints/best.keras",
                       run=types.SimpleNamespace(path="runs/p"))

    def compute():
        return 40.0

    assert resolve_pixel_mean(run=resumed, resume=True, given=30.0, parent=parent,
                              compute=compute) == (10.0, "from the run")
    assert resolve_pixel_mean(given=30.0, parent=parent, compute=compute) == (30.0, "--pixel-mean")
    assert resolve_pixel_mean(parent=parent, compute=compute) == (20.0, "patch run runs/p")
    no_mean = LoadedRun(model=None, info=dataclass_replace(info, pixel_mean=None), model_path="x")
    assert resolve_pixel_mean(parent=no_mean, compute=compute, compute_source="c(t)") == (40.0, "c(t)")


def dataclass_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


def _patch_file(path, n, value):
    with h5py.File(path, "w") as f:
        f.create_dataset("patches", data=np.full((n, 4, 4), value, dtype=np.uint16))
        f.create_dataset("labels", data=np.zeros(n, dtype=np.int64))
    return str(path)


def test_pixel_mean_over_two_files_of_different_sizes_is_the_mean_over_their_union(tmp_path):
    from mammo_tf.constants import PIXEL_SCALE
    from mammo_tf.shen.data import compute_pixel_mean, pixel_mean_of

    small = _patch_file(tmp_path / "small.h5", 2, 1000)
    large = _patch_file(tmp_path / "large.h5", 6, 5000)
    union = np.concatenate([np.full(2 * 16, 1000.0), np.full(6 * 16, 5000.0)]).mean() * PIXEL_SCALE
    per_file = [pixel_mean_of(small), pixel_mean_of(large)]
    assert pixel_mean_of([small, large]) == pytest.approx(union)
    assert compute_pixel_mean([large, small]) == pytest.approx(union)
    assert abs(np.mean(per_file) - union) > 1.0  # the old unweighted mean of means differs
