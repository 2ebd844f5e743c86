# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Training core: stage L2/dropout take effect, resume after a crash, early stopping."""
import csv
import json
import os

import keras
import numpy as np
import pytest

from mammo_tf.errors import RunError
from mammo_tf.shen import Stage, build_patch_classifier
from mammo_tf.training import StageRunner, TrainingOptions, apply_stage, compile_for_stage
from mammo_tf.training.environment import seed_everything
from training_helpers import CrashAfterEpoch, EpochRecorder, ToyPatchData

STAGES = [
    Stage("head", "head", 1e-3, 1, l2=0.0, dropout=0.0),
    Stage("top", "block5_conv1", 1e-4, 2, l2=1e-2, dropout=0.3),
]


def _model(seed=0):
    seed_everything(seed)
    return build_patch_classifier("vgg16", input_shape=(32, 32, 3))


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_stage_l2_and_dropout_take_effect():
    model = _model()
    data = ToyPatchData(n=8)
    x, y, _ = data[0]
    losses = {}
    for l2 in (0.0, 0.5):
        stage = Stage("s", "head", 1e-3, 1, l2=l2, dropout=0.0)
        apply_stage(model, stage)
        compile_for_stage(model, stage, TrainingOptions())
        losses[l2] = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    kernel = keras.ops.convert_to_numpy(model.get_layer("predictions").kernel)
    # The compiled loss gains exactly the L2 term of the stage: 0.5 * sum(w^2).
    assert losses[0.5] - losses[0.0] == pytest.approx(0.5 * float(np.sum(kernel**2)), rel=1e-3)

    for rate, expect_equal in ((0.0, True), (0.9, False)):
        apply_stage(model, Stage("s", "head", 1e-3, 1, dropout=rate))
        compile_for_stage(model, STAGES[0], TrainingOptions())
        train_out = keras.ops.convert_to_numpy(model(x, training=True))
        infer_out = keras.ops.convert_to_numpy(model(x, training=False))
        assert np.allclose(train_out, infer_out, atol=1e-6) == expect_equal


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "full"
    recorder = EpochRecorder()
    runner = StageRunner(run, STAGES, ToyPatchData(), ToyPatchData(seed=1, shuffle=False),
                         TrainingOptions(seed=3, verbose=0), callbacks=[recorder])
    result = runner.train(_model())
    return run, result, recorder


def test_uninterrupted_run_folder(uninterrupted):
    run, result, recorder = uninterrupted
    rows = _read_csv(run / "log.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx([1e-3, 1e-4, 1e-4])
    assert recorder.epochs == [1, 2, 3]
    assert (run / "checkpoints" / "best.keras").is_file()
    assert (run / "checkpoints" / "last.keras").is_file()
    assert not (run / "resume").exists()
    state = json.loads((run / "state.json").read_text())
    assert state["finished"] and state["completed_epochs"] == 3
    aucs = [float(r["val_auc"]) for r in rows]
    assert state["best_epoch"] == int(np.nanargmax(aucs)) + 1
    assert state["best_value"] == pytest.approx(np.nanmax(aucs))
    assert state["monitor"] == {"metric": "auc", "mode": "max"}
    assert result.best_val_auc == pytest.approx(np.nanmax(aucs))
    # stage 2's L2 and dropout are in the final model (and survive the .keras round trip)
    last = keras.saving.load_model(run / "checkpoints" / "last.keras", safe_mode=True)
    assert last.get_layer("head_dropout").rate == pytest.approx(0.3)
    assert last.get_layer("predictions").kernel.regularizer.l2 == pytest.approx(1e-2)
    assert not last.get_layer("block4_conv3").trainable and last.get_layer("block5_conv1").trainable


def test_resume_after_crash_matches_uninterrupted(uninterrupted, tmp_path):
    full_run, full, _ = uninterrupted
    run = tmp_path / "crashed"
    args = (STAGES, ToyPatchData(), ToyPatchData(seed=1, shuffle=False), TrainingOptions(seed=3, verbose=0))
    with pytest.raises(KeyboardInterrupt):
        StageRunner(run, *args, callbacks=[CrashAfterEpoch(2)]).train(_model())
    state = json.loads((run / "state.json").read_text())
    assert state["completed_epochs"] == 2 and state["stage_index"] == 1 and not state["finished"]

    recorder = EpochRecorder()
    # a fresh process would rebuild nothing: the model comes from the resume checkpoint
    result = StageRunner(run, *args, callbacks=[recorder]).train(None)
    assert result.resumed and recorder.epochs == [3]
    assert recorder.learning_rates == pytest.approx([1e-4])
    assert int(result.model.optimizer.iterations) == int(full.model.optimizer.iterations)
    for a, b in zip(result.model.get_weights(), full.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    rows = _read_csv(run / "log.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [r["val_loss"] for r in rows] == [r["val_loss"] for r in _read_csv(full_run / "log.csv")]


def test_finished_run_is_not_redone(uninterrupted):
    run, _, _ = uninterrupted
    before = (run / "log.csv").read_text()
    recorder = EpochRecorder()
    result = StageRunner(run, STAGES, ToyPatchData(), ToyPatchData(seed=1, shuffle=False),
                         TrainingOptions(seed=3, verbose=0), callbacks=[recorder]).train(None)
    assert result.already_finished and recorder.epochs == []
    assert (run / "log.csv").read_text() == before


def test_resume_state_errors_are_run_errors_naming_the_run_and_the_way_out(uninterrupted,
                                                                          tmp_path):
    """A resume state that cannot be used is a RunError (one line and exit 2 in a command,
    not a traceback) naming the run folder and what to do."""
    import re

    data = (ToyPatchData(), ToyPatchData(seed=1, shuffle=False), TrainingOptions(seed=3, verbose=0))
    empty = tmp_path / "empty"
    with pytest.raises(RunError, match=re.escape(str(empty)) + ".*no state.json.*without --resume"):
        StageRunner(empty, STAGES, *data).train(None)
    run, _, _ = uninterrupted
    with pytest.raises(RunError, match=re.escape(str(run)) + ".*different stages.*another --name"):
        StageRunner(run, STAGES[:1], *data).train(None)


def test_early_stopping_per_stage_and_epoch_count_continues(tmp_path):
    # lr 0: the validation loss never improves, so each stage stops after `patience` epochs.
    stages = [Stage("a", "head", 0.0, 5), Stage("b", "head", 0.0, 5)]
    recorder = EpochRecorder()
    result = StageRunner(tmp_path / "es", stages, ToyPatchData(n=8), ToyPatchData(n=8, shuffle=False),
                         TrainingOptions(patience=1, verbose=0), callbacks=[recorder]).train(_model())
    assert recorder.epochs == [1, 2, 3, 4]
    assert [r["stage"] for r in _read_csv(tmp_path / "es" / "log.csv")] == ["1", "1", "2", "2"]
    assert result.completed_epochs == 4


def test_custom_monitored_metric_picks_the_best_checkpoint(tmp_path):
    """An evaluator with its own metric names: log.csv follows its keys, best.keras is the
    epoch best by the monitored metric (here 'score', min), early stopping uses another."""
    from mammo_tf.training import Monitor

    scores = iter([0.7, 0.2, 0.5, 0.1])  # epoch 2 is the best by 'score' (min) up to epoch 3
    snapshots = {}

    def evaluator(model, val_data):
        snapshots[len(snapshots) + 1] = [w.copy() for w in model.get_weights()]
        return {"score": next(scores), "other": 1.0}

    options = TrainingOptions(verbose=0, patience=2, monitor=Monitor("score", "min"),
                              early_stopping=Monitor("other", "max"), fallback=None)
    run = tmp_path / "custom"
    result = StageRunner(run, [Stage("all", "all", 1e-3, 4)], ToyPatchData(n=8), None, options,
                         evaluator=evaluator).train(_model())
    # 'other' never improves after epoch 1: patience 2 stops the stage after epoch 3, before
    # epoch 4's better score
    assert result.completed_epochs == 3
    assert result.best_epoch == 2 and result.best_value == pytest.approx(0.2)
    assert result.monitor == "score"
    with pytest.raises(AttributeError, match="score"):
        result.best_val_auc
    rows = _read_csv(run / "log.csv")
    assert list(rows[0]) == ["epoch", "stage", "stage_name", "learning_rate", "loss", "accuracy",
                             "val_score", "val_other", "seconds"]
    assert [float(r["val_score"]) for r in rows] == pytest.approx([0.7, 0.2, 0.5])
    best = keras.saving.load_model(run / "checkpoints" / "best.keras", safe_mode=True)
    for a, b in zip(best.get_weights(), snapshots[2]):
        np.testing.assert_array_equal(a, b)
    state = json.loads((run / "state.json").read_text())
    assert state["monitor"] == {"metric": "score", "mode": "min"}
    # resuming with another monitored metric is refused (a RunError: exit 2 in a command)
    with pytest.raises(RunError, match="monitored metric"):
        StageRunner(run, [Stage("all", "all", 1e-3, 4)], ToyPatchData(n=8), None,
                    TrainingOptions(verbose=0)).train(None)


def test_evaluator_without_the_monitored_metric_is_an_error(tmp_path):
    runner = StageRunner(tmp_path / "r", [Stage("all", "all", 1e-3, 1)], ToyPatchData(n=8), None,
                         TrainingOptions(verbose=0), evaluator=lambda m, d: {"mean_auc": 0.5})
    with pytest.raises(ValueError, match="'auc' is not among them"):
        runner.train(_model())


def test_validate_initial_lets_the_untrained_model_win(tmp_path):
    """Epoch 0: with ``validate_initial`` the model before training competes for the best
    checkpoint; training at a destructive learning rate cannot make the result worse on
    validation than the start."""
    import keras

    from mammo_tf.training.runner import StageRunner, TrainingOptions
    from mammo_tf.training.schedule import Stage

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(2, activation="softmax", name="predictions")
    model = keras.Model(inputs, dense(inputs))
    dense.set_weights([np.array([[-5.0, 5.0], [0, 0], [0, 0], [0, 0]], "float32"),
                       np.zeros(2, "float32")])  # a perfect classifier to start with

    class Data(keras.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[16 * i:16 * i + 16], 1 - y[16 * i:16 * i + 16]  # trains towards the wrong labels

    class Val(Data):
        def __getitem__(self, i):
            return x[16 * i:16 * i + 16], y[16 * i:16 * i + 16]

    options = TrainingOptions(validate_initial=True, verbose=0,
                              stage_setup=lambda m, s: None)
    result = StageRunner(tmp_path / "run", [Stage("s", "all", 0.5, 2)], Data(), Val(),
                         options).train(model)
    assert result.best_epoch == 0 and result.initial_val["auc"] == 1.0
    assert result.best_value == 1.0
    best = keras.saving.load_model(tmp_path / "run" / "checkpoints" / "best.keras")
    np.testing.assert_allclose(best.get_layer("predictions").get_weights()[0][0], [-5.0, 5.0])


def test_freeze_batchnorm_stage_keeps_moving_statistics(tmp_path):
    """A stage with ``freeze_batchnorm`` trains the other layers while every
    BatchNormalization layer stays in inference mode (moving statistics unchanged)."""
    from mammo_tf.training.schedule import stage_from_dict, stage_to_dict

    stage = stage_from_dict({"name": "ft", "trainable_from": "all", "learning_rate": 1e-3,
                             "epochs": 1, "freeze_batchnorm": True})
    assert stage_to_dict(stage)["freeze_batchnorm"] is True
    assert "freeze_batchnorm" not in stage_to_dict(Stage("a", "all", 1e-3, 1))
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="predictions")(x))
    before = [w.copy() for w in model.get_layer("bn").get_weights()]
    conv_before = model.get_layer("conv").get_weights()[0].copy()
    apply_stage(model, stage)
    compile_for_stage(model, stage, TrainingOptions())
    rng = np.random.default_rng(0)
    model.fit(rng.normal(5, 3, (16, 8, 8, 3)).astype("float32"), rng.integers(0, 2, 16),
              epochs=1, verbose=0)
    for a, b in zip(before, model.get_layer("bn").get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(conv_before, model.get_layer("conv").get_weights()[0])
