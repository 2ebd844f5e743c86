# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DeepMiner's reference network: a ResNet-152 patch classifier with 3 classes, built and
trained by the same stack as Shen's (``train_patch.py --backbone resnet152 --classes 3``)."""
import json
import os

import keras
import numpy as np
import pytest

from mammo_tf.shen import build_patch_classifier
from mammo_tf.models.backbones import (ALL_BACKBONES, BACKBONES, CUT_LAYER, IMAGENET_NOTOP_FILES,
                                     UNFREEZE_FROM, WeightsUnavailableError, backbone_of)

DEEPMINER_NETWORK = (
    "We choose ResNet-152 pretrained on ImageNet [He et al., 2015a] as our reference network ... "
    "We replaced the final layer of the network with a 3-class classification layer and "
    "fine-tuned all network weights to classify mammogram patches as normal, benign, or "
    "malignant")  # DeepMiner, section 2.1
# keras.applications.ResNet152(include_top=False): parameters do not depend on the input size.
RESNET152_NOTOP_PARAMS = 58_370_944


@pytest.fixture(scope="module")
def resnet152():
    return build_patch_classifier("resnet152", num_classes=3, input_shape=(64, 64, 3))


def test_resnet152_patch_classifier_parameter_count_and_last_conv(resnet152):
    """DeepMiner, section 2.1: "We choose ResNet-152 pretrained on ImageNet ... We replaced the
    final layer of the network with a 3-class classification layer"; section 2.2: "It would be
    infeasible to annotate all 2048 units in the last convolutional layer"."""
    assert "ResNet-152" in DEEPMINER_NETWORK
    assert "resnet152" in ALL_BACKBONES and "resnet152" not in BACKBONES  # not one of Shen's
    model = resnet152
    assert model.count_params() == RESNET152_NOTOP_PARAMS + 2048 * 3 + 3
    assert model.output_shape == (None, 3)
    # 64 px in, stride 32: a 2x2 map of the 2048 last-conv units
    assert tuple(model.get_layer(CUT_LAYER["resnet152"]).output.shape[1:]) == (2, 2, 2048)
    assert backbone_of(model) == "resnet152"  # not mistaken for ResNet50 (same stage names)
    assert isinstance(model.get_layer(UNFREEZE_FROM["resnet152"]), keras.layers.Conv2D)
    x = np.random.default_rng(0).normal(0, 50, (2, 64, 64, 3)).astype("float32")
    probs = np.asarray(model(x))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_resnet152_fcn_takes_a_whole_mammogram(resnet152):
    """DeepMiner, section 2.3: "We first convert our trained network into a fully convolutional
    network (FCN) ... The resulting network is able to take in full mammogram images": the
    explainer's split of a ResNet-152 patch model runs a 256x192 image to an 8x6 map."""
    from mammo_tf.deepminer.graph import split_model

    split = split_model(resnet152)
    assert split.num_units == 2048 and split.num_classes == 3 and split.fully_convolutional
    features, probs = split.features_and_probabilities(np.zeros((1, 256, 192, 3), "float32"))
    assert tuple(features.shape[1:]) == (8, 6, 2048) and probs.shape == (1, 3)


def test_resnet152_imagenet_offline_error_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(WeightsUnavailableError) as err:
        build_patch_classifier("resnet152", num_classes=3, weights="imagenet", input_shape=(32, 32, 3))
    message = str(err.value)
    assert IMAGENET_NOTOP_FILES["resnet152"] == "resnet152_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert IMAGENET_NOTOP_FILES["resnet152"] in message
    assert str(tmp_path / "models") in message and "weights='/path/to/" in message


@pytest.mark.slow
def test_resnet152_weights_from_a_local_file(resnet152, tmp_path):
    """The offline route for ImageNet weights: a ``.weights.h5`` file of the no-top backbone."""
    backbone = keras.Model(resnet152.inputs, resnet152.get_layer(CUT_LAYER["resnet152"]).output)
    path = tmp_path / "resnet152_backbone.weights.h5"
    backbone.save_weights(path)
    model = build_patch_classifier("resnet152", num_classes=3, weights=str(path), input_shape=(32, 32, 3))
    for name in ("conv1_conv", "conv4_block36_2_conv", "conv5_block3_3_bn"):
        for got, want in zip(model.get_layer(name).get_weights(), resnet152.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, want)


def _config(args):
    from mammo_tf.shen.config import PatchConfig
    from mammo_tf.training.config import parse_config

    return parse_config(PatchConfig, args, "train_patch.py", "")[0]


@pytest.fixture(scope="module")
def sliding_set(tmp_path_factory):
    from mammo_tf.datasets.phantom import write_phantom_manifest
    from mammo_tf.shen.patches import make_patch_set

    root = tmp_path_factory.mktemp("sliding")
    manifest = write_phantom_manifest(root / "data", n_patients=3, seed=2, size=(192, 144),
                                      abnormal_fraction=1.0)
    make_patch_set(manifest, root / "sl", "sliding", patch_size=32, progress=False, splits=("train",))
    make_patch_set(manifest, root / "s1", "s1", patch_size=32, progress=False, splits=("train",))
    return {"sliding": str(root / "sl" / "train.h5"), "s1": str(root / "s1" / "train.h5"),
            "runs": str(root / "runs")}


def test_deepminer_schedule_is_the_default_for_a_pretrained_resnet152():
    """DeepMiner, section 2.1: "The network was trained for 5 epochs ... select a learning rate
    of 0.0001" with all network weights fine-tuned: one all-layer stage; random init keeps the
    shared random-init schedule (all layers at 1e-3)."""
    from mammo_tf.shen.train_patch import build_stages

    base = ["--train-h5", "t.h5", "--val-h5", "v.h5", "--backbone", "resnet152"]
    stages = build_stages(_config(base + ["--weights", "imagenet"]))
    assert [(s.trainable_from, s.learning_rate, s.epochs) for s in stages] == [("all", 1e-4, 5)]
    random = build_stages(_config(base))
    assert [(s.trainable_from, s.learning_rate) for s in random] == [("all", 1e-3)]
    three = build_stages(_config(base + ["--weights", "imagenet", "--schedule", "pretrained",
                                         "--config", "patch_s10_resnet50", "--unfreeze-from",
                                         UNFREEZE_FROM["resnet152"]]))
    assert [s.trainable_from for s in three] == ["head", "conv4_block36_1_conv", "all"]


def test_classes_must_match_the_patch_files(sliding_set):
    """``--classes 3`` (DeepMiner's "three class labels (normal, benign, malignant)") accepts a
    sliding-window set and refuses Shen's 5-class set with a one-line reason."""
    from mammo_tf.shen.train_patch import validate
    from mammo_tf.errors import UsageError

    ok = _config(["--train-h5", sliding_set["sliding"], "--val-h5", sliding_set["sliding"],
                  "--backbone", "resnet152", "--classes", "3"])
    validate(ok)
    bad = _config(["--train-h5", sliding_set["s1"], "--val-h5", sliding_set["s1"],
                   "--backbone", "resnet152", "--classes", "3"])
    with pytest.raises(UsageError, match=r"--classes 3: the patch files hold 5 classes.*--set sliding"):
        validate(bad)


@pytest.mark.slow
def test_train_patch_resnet152_three_classes_end_to_end(sliding_set, capsys):
    """``train_patch.py --backbone resnet152 --classes 3`` on a ``--set sliding`` file: the same
    stack writes a 3-class ResNet-152 run (normal / benign / malignant)."""
    from mammo_tf.commands.train import main_patch

    args = ["--train-h5", sliding_set["sliding"], "--val-h5", sliding_set["sliding"],
            "--backbone", "resnet152", "--classes", "3", "--epochs", "1", "--batch-size", "8",
            "--optimizer", "sgd", "--runs-dir", sliding_set["runs"], "--name", "r152",
            "--verbose", "0", "--no-export"]
    assert main_patch(args) in (0, None)
    run = os.path.join(sliding_set["runs"], "r152")
    with open(os.path.join(run, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    assert metrics["backbone"] == "resnet152"
    assert metrics["test_class_names"] == ["normal", "benign", "malignant"]
    assert np.asarray(metrics["test_confusion_matrix"]).shape == (3, 3)
    with open(os.path.join(run, "run.json"), encoding="utf-8") as f:
        info = json.load(f)
    assert info["classes"] == ["normal", "benign", "malignant"]


DEEPMINER_TRAINING = ("The network was trained for 5 epochs ... We choose a batch size of 32 ... "
                      "select a learning rate of 0.0001 ... and set the momentum and weight decay "
                      "hyperparameters to the default values for ImageNet training in PyTorch (0.9 "
                      "and 0.0001, respectively).")  # Wu et al. 2018 (DeepMiner), section 2.1
DEEPMINER_SPLIT = ("we train our classifier on 80% of the DDSM cases, reserve 10% of the cases as a "
                   "hold-out set to select the learning rate for training, and use the final 10% "
                   "of the images as a test set")  # section 2.1


def test_deepminer_experiment_file_states_the_paper():
    """DEEPMINER_TRAINING: experiments/deepminer_resnet152.json is PyTorch's SGD with momentum
    0.9 and weight decay 1e-4 on every kernel (Keras L2 of 5e-5: the gradient gains 1e-4 x w,
    checked here on a Dense layer), 5 epochs at 1e-4, batch 32; DEEPMINER_SPLIT: the
    ``deepminer`` split of ``prepare`` is 80/10/10 by patient."""
    import types

    from mammo_tf.datasets.prepare import assign_splits
    from mammo_tf.models.trainability import set_l2_every_kernel
    from mammo_tf.shen.config import PatchConfig
    from mammo_tf.training.config import load_config_file

    values = load_config_file("deepminer_resnet152", PatchConfig)
    assert (values["backbone"], values["classes"], values["weights"]) == ("resnet152", 3, "imagenet")
    assert (values["optimizer"], values["momentum"], values["weight_decay"],
            values["batch_size"]) == ("sgd", 0.9, 1e-4, 32)
    (stage,) = values["stages"]
    assert (stage.trainable_from, stage.learning_rate, stage.epochs) == ("all", 1e-4, 5)

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="d")(keras.layers.Dense(4, name="c")(inputs)))
    assert set_l2_every_kernel(model, values["weight_decay"] / 2) == ["c", "d"]
    kernel = model.get_layer("d").kernel
    penalty = sum(model.losses)
    # d(penalty)/dw = 2 x (wd / 2) x w = wd x w: torch.optim.SGD's weight_decay term
    assert float(penalty) == pytest.approx(
        values["weight_decay"] / 2 * sum(float(np.sum(np.square(w.numpy() if hasattr(w, "numpy") else w)))
                                         for w in (model.get_layer("c").kernel, kernel)), rel=1e-5)

    records = [types.SimpleNamespace(patient_id=f"p{i}", label=int(i % 5 == 0), split=None)
               for i in range(200)]
    counts = {}
    for r in assign_splits(records, "cbis-ddsm", split="deepminer"):
        counts[r.split] = counts.get(r.split, 0) + 1
    assert counts == {"train": 160, "val": 20, "test": 20}
