"""examples/mini_mias_check.py: its pieces (fast), and a tiny end-to-end smoke run on the 32
real mini-MIAS images of ../shared/data/mini_mias (slow)."""
import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
import mini_mias_check as check  # noqa: E402

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")


def test_experiment_files_hold_the_random_init_schedule():
    """Paper: "For randomly initialized networks, we use a learning rate of 1e-3" (all layers
    trained); the whole-image stages are top blocks then all layers, L2 1e-3 / 1e-2."""
    options, stages = check.experiment(check.PATCH_EXPERIMENT)
    assert [(s.trainable_from, s.learning_rate) for s in stages] == [("all", 1e-3)]
    options, stages = check.experiment(check.WHOLE_EXPERIMENT)
    assert [(s.trainable_from, s.l2) for s in stages] == [("head", 1e-3), ("all", 1e-2)]
    assert options["image_size"] == list(check.IMAGE_SIZE)


def test_pretrained_stages_are_the_frozen_three_stage_schedule():
    stages = check.pretrained_stages(12)
    assert [s.trainable_from for s in stages] == ["head", "conv_dw_6", "all"]
    assert [s.learning_rate for s in stages][:2] == [1e-3, 1e-4]
    assert sum(s.epochs for s in stages) == 12


def _dataset(x, y, training, **kw):
    return check.in_memory_dataset(x, y, batch_size=len(y), pixel_mean=10.0, training=training,
                                   seed=3, num_classes=2, **kw)


def test_dataset_augments_with_the_library_augmentation():
    """Training batches: the library's warp (mammo_tf.shen.augment, drawn per (seed, epoch,
    position)) and channel shift, so not the plain input; evaluation batches: plain, in order."""
    from mammo_tf.preprocess import to_network_input

    rng = np.random.default_rng(0)
    x = rng.integers(0, 65535, (4, 16, 16), dtype=np.uint16)
    y = np.array([0, 1, 0, 1])
    train, plain = _dataset(x, y, True), _dataset(x, y, False)
    train.set_epoch(2)
    xb, yb, _ = train[0]
    assert xb.shape == (4, 16, 16, 3)
    expected = np.stack([train._prepare(x[i], p) for p, i in enumerate(train._order)])
    np.testing.assert_array_equal(xb, expected)
    np.testing.assert_array_equal(yb, y[train._order])
    unaugmented = to_network_input(x[train._order], 10.0)
    assert not np.allclose(xb, unaugmented)
    xp, yp = plain[0]
    np.testing.assert_array_equal(xp, to_network_input(x, 10.0))
    np.testing.assert_array_equal(yp, y)
    train.set_epoch(3)
    assert not np.array_equal(train[0][0], xb)  # another epoch, other draws


def test_class_weights_balance_the_classes():
    """The training batches carry the library's per-batch class-balanced weights."""
    y = np.array([0, 0, 0, 1])
    _, yb, w = _dataset(np.zeros((4, 8, 8), np.uint16), y, True)[0]
    assert w[yb == 0].sum() == pytest.approx(w[yb == 1].sum())
    assert w.sum() == pytest.approx(len(y))
    assert len(_dataset(np.zeros((4, 8, 8), np.uint16), y, True, class_balanced=False)[0]) == 2


def test_pretrained_runs_keep_only_the_backbone_batchnorm_frozen():
    """The check's one exception as stage config: ImageNet init freezes the backbone's BN layers
    in every stage; random init none. The runner's apply_stage then leaves the converted
    model's top-block BN layers trainable (``freeze_batchnorm: true`` freezes them too)."""
    import dataclasses

    import keras

    from mammo_tf.errors import UsageError
    from mammo_tf.shen import build_patch_classifier, build_whole_image_classifier
    from mammo_tf.shen.stages import head_start_layer
    from mammo_tf.training.runner import apply_stage
    from mammo_tf.training.schedule import stage_from_dict, stage_to_dict

    stages = check.stages_for("pretrained", check.pretrained_stages(6))
    assert [s.freeze_batchnorm for s in stages] == ["backbone"] * 3
    assert stage_from_dict(stage_to_dict(stages[0])) == stages[0]
    assert not any(s.freeze_batchnorm
                   for s in check.stages_for("random", check.pretrained_stages(6)))
    with pytest.raises(UsageError, match="freeze_batchnorm"):
        stage_from_dict({**stage_to_dict(stages[0]), "freeze_batchnorm": "top"})
    patch = build_patch_classifier("mobilenet", num_classes=5, weights=None, input_shape=(32, 32, 3))
    whole = build_whole_image_classifier(patch, top="resnet", depths=(8, 8), repetitions=(1, 1),
                                         input_shape=(64, 64, 3))
    names = [layer.name for layer in whole.layers]
    cut = names.index(head_start_layer(whole))
    bn = [(i, layer) for i, layer in enumerate(whole.layers)
          if isinstance(layer, keras.layers.BatchNormalization)]
    all_layers = dataclasses.replace(stages[2], trainable_from="all")
    apply_stage(whole, all_layers)
    assert {layer.name.startswith("top") for i, layer in bn if layer.trainable} == {True}
    assert all(not layer.trainable for i, layer in bn if i <= cut)
    assert all(layer.trainable for i, layer in bn if i > cut) and any(i > cut for i, _ in bn)
    apply_stage(whole, dataclasses.replace(all_layers, freeze_batchnorm=True))
    assert not any(layer.trainable for _, layer in bn)


def test_mean_with_ci_brackets_the_mean_and_uses_patient_groups():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    groups = np.repeat(np.arange(20), 2)
    scores = [y + rng.normal(0, s, 40) for s in (0.5, 0.8, 1.0)]
    m = check.mean_with_ci(y, scores, groups)
    assert m["min"] <= m["mean"] <= m["max"] and len(m["per_seed"]) == 3
    assert m["ci95"][0] < m["mean"] < m["ci95"][1]
    table = {"random": {k: m for k in ("patch_lesion_vs_normal", "whole_abnormal_vs_normal",
                                       "baseline_max_lesion", "baseline_max_malignant")}}
    table["random"]["seconds_per_run"] = [60.0]
    assert f"{m['mean']:.3f}" in check.format_table(table)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED, "mini_mias")),
                    reason="../shared/data/mini_mias absent")
def test_smoke_on_the_32_real_images(tmp_path, monkeypatch):
    """The whole check at toy size (128 px images, 32 px patches, 1 epoch per stage)."""
    monkeypatch.setattr(check, "IMAGE_SIZE", (128, 128))
    monkeypatch.setattr(check, "PATCH_SIZE", 32)
    monkeypatch.setattr(check, "PATCH_SET", "s2")
    monkeypatch.setattr(check, "N_BOOT", 20)
    argv = ["--src", os.path.join(SHARED, "mini_mias"), "--out", str(tmp_path), "--seeds", "0",
            "--epochs-scale", "0.01", "--init", "random"]
    weights = os.path.join(SHARED, "pretrained", "mobilenet_2_5_224_tf_no_top.h5")
    if os.path.isfile(weights):
        argv += ["pretrained", "--weights", weights]
    assert check.main(argv) == 0
    report = json.load(open(tmp_path / "mini_mias_report.json"))
    for row in report["table"].values():
        for key in ("patch_lesion_vs_normal", "whole_abnormal_vs_normal", "baseline_max_lesion"):
            assert 0.0 <= row[key]["mean"] <= 1.0
    run = report["runs"][0]
    assert run["patch"]["curve"] and run["whole"]["curve"] and run["seconds"] > 0
    assert set(run["whole"]["baseline"]) == {"val", "test"}
