# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Schedules are the config: ``Stage`` records in ``--config`` files, length-checked per-stage
flags (never a silent ``zip`` truncation), and the shipped experiment files with the papers'
numbers."""
import dataclasses
import json
import os

import pytest

from mammo_tf.training.config import REQUIRED, config_from_dict, load_config_file, parse_config
from mammo_tf.errors import UsageError
from mammo_tf.training.schedule import (
    EXPERIMENTS_DIR,
    Stage,
    available_experiments,
    experiment_stages,
    resolve_stages,
    stage_from_dict,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config_classes():
    from mammo_tf.nyu.config import MultiviewConfig
    from mammo_tf.shen.config import PatchConfig, TransferConfig, WholeConfig

    return {"patch": PatchConfig, "whole": WholeConfig, "transfer": TransferConfig,
            "nyu": MultiviewConfig}


def config_class_of(name):
    """The config class an experiment file is for, from its name."""
    kind = {"demo_patch": "patch", "demo_whole": "whole", "demo_transfer": "transfer",
            "mini_mias_patch": "patch", "mini_mias_whole": "whole", "rsna_patch": "patch",
            "rsna_whole": "whole", "rsna_whole_random": "whole", "rsna_whole_low_l2": "whole",
            "rsna_mias_whole": "whole",
            "rsna_transfer": "whole",  # rsna_transfer: a whole-image finetune (bn_momentum)
            "deepminer_resnet152": "patch"}.get(name, name.split("_")[0])
    return _config_classes()[kind]


def _write(tmp_path, values, name="c.json"):
    path = tmp_path / name
    path.write_text(json.dumps(values))
    return str(path)


def _exit_2(main, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


WHOLE_STAGE = {"name": "top", "trainable_from": "head", "learning_rate": 1e-4, "epochs": 3}


# --- the silent-truncation bug: wrong lengths exit 2, naming the field and both lengths ------

@pytest.mark.parametrize("pipeline, values, lengths", [
    # the case: "epochs": [30] for the 2-stage whole-image pipeline trained ONE stage
    ("whole", {"epochs": [30]}, ("epochs", "1 value", "2 stage")),
    ("whole", {"l2": [1e-3, 1e-2, 1e-1]}, ("l2", "3 value", "2 stage")),
    ("patch", {"epochs": [30], "weights": "imagenet"}, ("epochs", "1 value", "3 stage")),
    ("patch", {"learning_rates": [1e-3, 1e-4], "weights": "imagenet"},
     ("learning_rates", "2 value", "3 stage")),
    ("patch", {"epochs": [3, 10, 37]}, ("epochs", "3 value", "1 stage")),  # random init: 1 stage
    ("transfer", {"epochs": [30, 20]}, ("epochs", "2 value", "1 stage")),
])
def test_per_stage_list_of_wrong_length_exits_2(pipeline, values, lengths, tmp_path, capsys):
    from mammo_tf.commands.train import main_patch, main_transfer, main_whole

    # Data paths that do not exist: the schedule must be checked (and fail) before any file is read.
    main, data = {"patch": (main_patch, {"train_h5": ["t.h5"], "val_h5": ["v.h5"]}),
                  "whole": (main_whole, {"patch_model": "p.keras", "manifest": "m.csv"}),
                  "transfer": (main_transfer, {"model": "w.keras", "manifest": "m.csv"})}[pipeline]
    err = _exit_2(main, ["--config", _write(tmp_path, dict(data, **values)),
                         "--runs-dir", str(tmp_path / "runs")], capsys)
    for part in lengths:
        assert part in err, err
    assert not (tmp_path / "runs").exists()  # nothing was started


@pytest.mark.parametrize("pipeline, n_given, n_needed", [("whole", 1, 2), ("whole", 3, 2),
                                                          ("patch", 2, 3)])
def test_stages_list_of_wrong_length_exits_2(pipeline, n_given, n_needed, tmp_path, capsys):
    from mammo_tf.commands.train import main_patch, main_whole

    main, data = {"patch": (main_patch, {"train_h5": ["t.h5"], "val_h5": ["v.h5"]}),
                  "whole": (main_whole, {"patch_model": "p.keras", "manifest": "m.csv"})}[pipeline]
    stages = [dict(WHOLE_STAGE, name=f"s{i}") for i in range(n_given)]
    err = _exit_2(main, ["--config", _write(tmp_path, dict(data, stages=stages))], capsys)
    assert "stages" in err and f"{n_given} stage" in err and f"needs {n_needed}" in err, err


def test_scalar_flag_on_a_multi_stage_transfer_schedule_exits_2(tmp_path, capsys):
    from mammo_tf.commands.train import main_transfer

    stages = [dict(WHOLE_STAGE, name="a"), dict(WHOLE_STAGE, name="b", trainable_from="all")]
    err = _exit_2(main_transfer, ["--config", _write(tmp_path, {"stages": stages}), "--model",
                                  "w.keras", "--manifest", "m.csv", "--epochs", "5"], capsys)
    assert "epochs" in err and "1 value" in err and "2 stage" in err, err


@pytest.mark.parametrize("record, message", [
    (dict(WHOLE_STAGE, epoch=3), "unknown stage key(s) epoch"),
    ({"name": "top", "learning_rate": 1e-4, "epochs": 3}, "missing stage key(s) trainable_from"),
    (dict(WHOLE_STAGE, epochs="30"), "'epochs' must be an integer"),
    (dict(WHOLE_STAGE, epochs=True), "'epochs' must be an integer"),
    (dict(WHOLE_STAGE, epochs=0), "'epochs' must be an integer >= 1"),
    (dict(WHOLE_STAGE, learning_rate=-1e-4), "'learning_rate' must be a number >= 0"),
    (dict(WHOLE_STAGE, dropout=1.5), "'dropout' must be below 1"),
    ("top", "must be a JSON object"),
])
def test_bad_stage_record_exits_2(record, message, tmp_path, capsys):
    from mammo_tf.commands.train import main_whole

    path = _write(tmp_path, {"stages": [record, dict(WHOLE_STAGE, name="all")]})
    err = _exit_2(main_whole, ["--config", path, "--patch-model", "p.keras", "--manifest", "m.csv"],
                  capsys)
    assert message in err and "stages[0]" in err, err


def test_flag_value_overrides_are_checked_like_records():
    config = type("C", (), {"stages": None, "epochs": [3, 0]})()
    with pytest.raises(UsageError, match="epochs.*>= 1"):
        resolve_stages(config, [Stage("a", "head", 1e-3, 1), Stage("b", "all", 1e-4, 1)],
                       {"epochs": "epochs"})


# --- precedence: file stages < per-stage flags ----------------------------------------------

def test_flags_override_the_files_stages(tmp_path):
    from mammo_tf.shen.config import WholeConfig
    from mammo_tf.shen.train_whole import whole_stages

    stages = [dict(WHOLE_STAGE, l2=1e-3), {"name": "all", "trainable_from": "all",
                                           "learning_rate": 1e-6, "epochs": 4, "l2": 1e-2,
                                           "dropout": 0.2}]
    path = _write(tmp_path, {"stages": stages, "epochs": [1, 1]})
    config, _ = parse_config(WholeConfig, ["--config", path, "--patch-model", "p", "--manifest",
                                           "m", "--epochs", "7", "8", "--learning-rates", "0.1",
                                           "0.2"], "x", "")
    assert whole_stages(config) == [Stage("top", "head", 0.1, 7, l2=1e-3),
                                    Stage("all", "all", 0.2, 8, l2=1e-2, dropout=0.2)]
    # without flags the file's stages are the schedule as written; its "epochs" list still applies
    config, _ = parse_config(WholeConfig, ["--config", path, "--patch-model", "p", "--manifest",
                                           "m"], "x", "")
    assert [(s.learning_rate, s.epochs) for s in whole_stages(config)] == [(1e-4, 1), (1e-6, 1)]


def test_patch_flags_override_and_unfreeze_from(tmp_path):
    from mammo_tf.shen.config import PatchConfig
    from mammo_tf.shen.train_patch import build_stages

    config, _ = parse_config(PatchConfig, ["--config", "patch_s1_vgg19", "--train-h5", "t",
                                           "--val-h5", "v", "--epochs", "1", "2", "3",
                                           "--unfreeze-from", "block5_conv1"], "x", "")
    stages = build_stages(config)
    assert [(s.trainable_from, s.learning_rate, s.epochs) for s in stages] == [
        ("head", 1e-3, 1), ("block5_conv1", 1e-4, 2), ("all", 1e-5, 3)]


def test_unfreeze_from_on_the_one_stage_random_schedule_exits_2(capsys):
    from mammo_tf.commands.train import main_patch

    err = _exit_2(main_patch, ["--train-h5", "t.h5", "--val-h5", "v.h5", "--unfreeze-from",
                               "block5_conv1", "--backbone", "vgg16"], capsys)
    assert "--unfreeze-from" in err and "1 stage" in err and "random init" in err, err


def test_a_schedule_for_another_backbone_is_refused(capsys):
    from mammo_tf.commands.train import main_patch

    err = _exit_2(main_patch, ["--config", "patch_s10_vgg16", "--backbone", "resnet50",
                               "--train-h5", "t.h5", "--val-h5", "v.h5"], capsys)
    assert "block4_conv1" in err and "resnet50" in err and "--unfreeze-from" in err, err


def test_stages_survive_the_run_folders_config_round_trip(tmp_path):
    """--resume rebuilds the config from config.json: the schedule must come back equal."""
    from mammo_tf.shen.config import WholeConfig
    from mammo_tf.shen.train_whole import whole_stages

    config = config_from_dict(WholeConfig, dict(load_config_file("demo_whole", WholeConfig),
                                                patch_model="p", manifest="m"))
    saved = json.loads(json.dumps(dataclasses.asdict(config)))
    with open(os.path.join(REPO, "experiments", "demo_whole.json"), encoding="utf-8") as f:
        packaged = json.load(f)["stages"]
    assert [s["learning_rate"] for s in saved["stages"]] == [s["learning_rate"] for s in packaged]
    assert saved["stages"][1].get("freeze_batchnorm") is True
    assert whole_stages(config_from_dict(WholeConfig, saved)) == whole_stages(config)


# --- named experiments --------------------------------------------------------------------

def test_config_name_resolves_to_the_packaged_file_and_the_checkout_link():
    from mammo_tf.shen.config import WholeConfig

    by_name, _ = parse_config(WholeConfig, ["--config", "whole_vgg", "--patch-model", "p",
                                            "--manifest", "m"], "x", "")
    by_path, _ = parse_config(WholeConfig, ["--config", os.path.join(REPO, "experiments",
                                                                     "whole_vgg.json"),
                                            "--patch-model", "p", "--manifest", "m"], "x", "")
    assert by_name == by_path and by_name.repetitions == [1, 1] and by_name.top == "vgg"
    assert os.path.samefile(os.path.join(REPO, "experiments"), EXPERIMENTS_DIR)


def test_unknown_experiment_name_lists_the_available_ones(capsys):
    from mammo_tf.commands.train import main_whole

    err = _exit_2(main_whole, ["--config", "whole_resnett", "--patch-model", "p.keras",
                               "--manifest", "m.csv"], capsys)
    assert "unknown experiment 'whole_resnett'" in err and "whole_resnet," in err
    assert "patch_s10_vgg16" in err and "nyu_image_only" in err


def test_experiments_are_package_data():
    with open(os.path.join(REPO, "setup.py"), encoding="utf-8") as f:
        assert '"experiments/*.json"' in f.read()


EXPECTED = sorted(
    [f"patch_{v}_{b}" for v in ("s10", "s30", "s1") for b in ("vgg16", "vgg19", "resnet50")]
    + ["whole_resnet", "whole_vgg", "whole_hybrid", "whole_heatmap_5x5", "whole_heatmap_2x2",
       "whole_heatmap_1x1", "transfer_inbreast", "nyu_image_only", "nyu_image_heatmaps",
       "nyu_birads_pretraining", "patch_s10_random", "patch_s30_random", "patch_s1_random",
       "demo_patch", "demo_whole", "demo_transfer", "mini_mias_patch",
       "mini_mias_whole", "rsna_patch", "rsna_whole", "rsna_whole_random", "rsna_whole_low_l2",
       "rsna_transfer",
       "rsna_mias_whole", "deepminer_resnet152", "nyu_image_only_random",
       "nyu_image_only_image_wise", "nyu_image_heatmaps_random",
       "nyu_image_heatmaps_image_wise"])


def test_one_file_per_row():
    assert available_experiments() == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_every_experiment_file_loads_into_its_config_class(name):
    cls = config_class_of(name)
    with open(os.path.join(EXPERIMENTS_DIR, f"{name}.json"), encoding="utf-8") as f:
        raw = json.load(f)
    assert len(raw["description"]) > 40  # says which paper row / what the run is
    values = load_config_file(name, cls)
    assert "description" not in values
    # required data paths stay flags: no file names a manifest, an HDF5 file or a model
    required = {f.name for f in dataclasses.fields(cls) if f.default is REQUIRED or (
        f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)}
    assert required and not required & set(values), required & set(values)
    config = config_from_dict(cls, dict(values, **{k: "x" for k in required}), name)
    assert all(isinstance(s, Stage) for s in config.stages) and config.stages == experiment_stages(name)


# --- the shipped files state the papers' numbers -------------------------------------------

SHEN_PATCH = ("Set learning rate to 1e-3 and train the last layer for 3 epochs. / Set learning "
              "rate to 1e-4, unfreeze the top layers and train for 10 epochs / Set learning rate "
              "to 1e-5, unfreeze all layers and train for 37 epochs. ... The above epoch values are "
              "the same for the s10 and s30 datasets. For the s1 dataset, we increase the total "
              "number of epochs to 200 and adjust the value for each stage accordingly. ... Adam "
              "... the batch size is set as 32.")  # Shen, section 2.2


@pytest.mark.parametrize("backbone", ("vgg16", "vgg19", "resnet50"))
@pytest.mark.parametrize("variant, epochs", [("s10", (3, 10, 37)), ("s30", (3, 10, 37)),
                                             ("s1", (12, 40, 148))])
def test_patch_files_state_the_paper(backbone, variant, epochs):
    from mammo_tf.shen import UNFREEZE_FROM, patch_stages
    from mammo_tf.shen.config import PatchConfig
    from mammo_tf.shen.train_patch import build_stages

    assert SHEN_PATCH
    expected = [("head", 1e-3, epochs[0]), (UNFREEZE_FROM[backbone], 1e-4, epochs[1]),
                ("all", 1e-5, epochs[2])]
    assert sum(epochs) == (200 if variant == "s1" else 50)
    assert [(s.trainable_from, s.learning_rate, s.epochs) for s in patch_stages(backbone, variant)] == expected
    values = load_config_file(f"patch_{variant}_{backbone}", PatchConfig)
    assert (values["backbone"], values["variant"], values["batch_size"], values["optimizer"],
            values["weights"]) == (backbone, variant, 32, "adam", "imagenet")
    # the pipeline's default schedule for pretrained weights (no "stages" in the config) is this file's
    config = PatchConfig(train_h5=["t"], val_h5=["v"], backbone=backbone, variant=variant,
                         weights="imagenet")
    assert [(s.trainable_from, s.learning_rate, s.epochs) for s in build_stages(config)] == expected


@pytest.mark.parametrize("backbone", ("vgg16", "resnet50"))
@pytest.mark.parametrize("variant, total", [("s10", 50), ("s30", 50), ("s1", 200)])
def test_random_init_trains_all_layers_at_1e3(backbone, variant, total):
    """Shen 2.2: "For randomly initialized networks, we use a learning rate of 1e-3." and "The
    total number of epochs is 50 ... For the s1 dataset, we increase the total number of epochs
    to 200". Random weights (the default, no --weights) -> one stage, all layers, lr 1e-3; a
    frozen random backbone (the pretrained schedule) is not the default any more."""
    from mammo_tf.shen import patch_stages
    from mammo_tf.shen.config import PatchConfig
    from mammo_tf.shen.train_patch import build_stages

    expected = [("all", 1e-3, total)]
    assert [(s.trainable_from, s.learning_rate, s.epochs)
            for s in patch_stages(backbone, variant, pretrained=False)] == expected
    config = PatchConfig(train_h5=["t"], val_h5=["v"], backbone=backbone, variant=variant)
    assert config.weights is None
    assert [(s.trainable_from, s.learning_rate, s.epochs) for s in build_stages(config)] == expected
    values = load_config_file(f"patch_{variant}_random", PatchConfig)
    assert values["weights"] is None and values["batch_size"] == 32
    # pretrained weights keep the paper's 3-stage frozen schedule
    pretrained = build_stages(PatchConfig(train_h5=["t"], val_h5=["v"], backbone=backbone,
                                          variant=variant, weights="imagenet"))
    assert [s.trainable_from for s in pretrained][::2] == ["head", "all"] and len(pretrained) == 3


def test_patch_checkpoint_on_best_validation_accuracy():
    """Shen, Table 1: "#Epochs indicates the epoch when the best validation accuracy has been
    reached." The patch pipeline's best checkpoint monitors validation accuracy by default."""
    from mammo_tf.shen.config import PatchConfig
    from mammo_tf.shen.train_patch import training_options
    from mammo_tf.training.runner import Monitor

    config = PatchConfig(train_h5=["t"], val_h5=["v"])
    assert config.monitor == "accuracy"
    assert training_options(config).monitor == Monitor("accuracy", "max")
    auc = PatchConfig(train_h5=["t"], val_h5=["v"], monitor="auc")
    assert training_options(auc).monitor == Monitor("auc", "max")


SHEN_WHOLE = ("1. Set learning rate to 1e-4, weight decay to 0.001 and train the newly added top "
              "layers for 30 epochs. 2. Set learning rate to 1e-6, weight decay to 0.01 and train "
              "all layers for 20 epochs. Due to memory constraint, we use a small batch size of 2 "
              "for whole image training.")  # Shen, section 2.3


@pytest.mark.parametrize("name, top, structure", [
    ("whole_resnet", "resnet", {"depths": [512, 512], "repetitions": [2, 2]}),    # Table 2: [512-512-1024] x 2
    ("whole_vgg", "vgg", {"depths": [512, 512], "repetitions": [1, 1]}),          # Table 3: 512 x 1
    ("whole_hybrid", "hybrid", {"depths": [512, 512], "repetitions": [2, 2]}),    # Table 3: *[512-512-1024] x 2
    ("whole_heatmap_5x5", "heatmap", {"heatmap_pool": 5, "heatmap_hidden": [64, 32]}),
    ("whole_heatmap_2x2", "heatmap", {"heatmap_pool": 2, "heatmap_hidden": [512, 256]}),
    ("whole_heatmap_1x1", "heatmap", {"heatmap_pool": 1, "heatmap_hidden": [2048, 1024]}),
])
def test_whole_image_files_state_the_paper(name, top, structure):
    from mammo_tf.shen.config import WholeConfig
    from mammo_tf.shen.train_whole import whole_stages

    assert SHEN_WHOLE
    config = config_from_dict(WholeConfig, dict(load_config_file(name, WholeConfig),
                                                patch_model="p", manifest="m"))
    assert (config.top, config.batch_size, config.image_size) == (top, 2, [1152, 896])
    assert {k: getattr(config, k) for k in structure} == structure
    expected = [("head", 1e-4, 1e-3, 30), ("all", 1e-6, 1e-2, 20)]
    assert [(s.trainable_from, s.learning_rate, s.l2, s.epochs) for s in whole_stages(config)] == expected
    # the default schedule of train_whole.py (no "stages", no flags) is the paper's too
    default = whole_stages(WholeConfig(patch_model="p", manifest="m", top=top))
    assert [(s.trainable_from, s.learning_rate, s.l2, s.epochs) for s in default] == expected


SHEN_TRANSFER = ("We set the learning rate at 1e-6 with the Adam optimizer, the number of epochs "
                 "at 200 and the weight decay to be 0.01.")  # Shen, section 3.2


def test_transfer_file_states_the_paper():
    from mammo_tf.shen.config import TransferConfig
    from mammo_tf.shen.transfer import transfer_stages

    assert SHEN_TRANSFER
    values = load_config_file("transfer_inbreast", TransferConfig)
    assert values["optimizer"] == "adam"
    for config in (config_from_dict(TransferConfig, dict(values, model="w", manifest="m")),
                   TransferConfig(model="w", manifest="m")):  # the file and the default
        assert [(s.trainable_from, s.learning_rate, s.epochs, s.l2)
                for s in transfer_stages(config)] == [("all", 1e-6, 200, 1e-2)]


WU_TRAINING = ("We trained the whole model using the Adam optimization algorithm, using a learning "
               "rate of 10^-5 and a minibatch of size 4. We applied L2 regularization to our model "
               "weights with a coefficient of 10^-4.5. ... We early-stopped the training when the "
               "average of the validation AUCs over the four prediction tasks did not improve for "
               "20 epochs.")  # Wu et al., section IV-A-1
WU_BIRADS = ("The rest of the training details (e.g. ResNet-22 architecture, optimizer "
             "hyperparameters) are identical to those of the cancer classification model, except "
             "that the model was trained with a minibatch size of 24 instead of 4.")  # section IV-C


def _quoted(pattern, text):
    """The number the paper's sentence gives at ``pattern`` ("10^-4.5" -> 10 ** -4.5)."""
    import re

    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the quote"
    value = match.group(1)
    return 10 ** float(value[3:]) if value.startswith("10^") else int(value)


def test_paper_quotes_give_the_numbers():
    assert _quoted(r"learning rate of (10\^-?\d+(?:\.\d+)?)", WU_TRAINING) == 1e-5
    assert _quoted(r"minibatch of size (\d+)", WU_TRAINING) == 4
    assert _quoted(r"coefficient of (10\^-?\d+(?:\.\d+)?)", WU_TRAINING) == pytest.approx(10 ** -4.5)
    assert _quoted(r"did not improve for (\d+) epochs", WU_TRAINING) == 20
    assert _quoted(r"minibatch size of (\d+) instead", WU_BIRADS) == 24


@pytest.mark.parametrize("name, task, channels, batch_quote", [
    ("nyu_image_only", "cancer", 1, (r"minibatch of size (\d+)", WU_TRAINING)),
    ("nyu_image_only_random", "cancer", 1, (r"minibatch of size (\d+)", WU_TRAINING)),
    ("nyu_image_only_image_wise", "cancer", 1, (r"minibatch of size (\d+)", WU_TRAINING)),
    ("nyu_image_heatmaps", "cancer", 3, (r"minibatch of size (\d+)", WU_TRAINING)),
    ("nyu_image_heatmaps_random", "cancer", 3, (r"minibatch of size (\d+)", WU_TRAINING)),
    ("nyu_image_heatmaps_image_wise", "cancer", 3, (r"minibatch of size (\d+)", WU_TRAINING)),
    ("nyu_birads_pretraining", "birads", 1, (r"minibatch size of (\d+) instead", WU_BIRADS))])
def test_nyu_files_state_the_paper(name, task, channels, batch_quote):
    # the expected numbers are read from the quoted sentences (section IV-A-1, IV-C)
    values = load_config_file(name, config_class_of(name))
    assert (values["task"], values["channels"], values["batch_size"], values["patience"]) == (
        task, channels, _quoted(*batch_quote), _quoted(r"did not improve for (\d+) epochs", WU_TRAINING))
    (stage,) = values["stages"]
    assert (stage.trainable_from, stage.learning_rate) == (
        "all", _quoted(r"learning rate of (10\^-?\d+(?:\.\d+)?)", WU_TRAINING))
    assert stage.l2 == pytest.approx(_quoted(r"coefficient of (10\^-?\d+(?:\.\d+)?)", WU_TRAINING), rel=1e-12)


def test_no_schedule_literals_left_in_shen_stages():
    """Epochs and learning rates live in the experiment files, not in shen/stages.py nor in the
    trainability helpers it re-exports (models/trainability.py): their code (docstrings aside)
    holds no float and no integer above 1."""
    import ast

    numbers = []
    for parts in (("shen", "stages.py"), ("models", "trainability.py")):
        with open(os.path.join(REPO, "mammo_tf", *parts), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        numbers += [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                    and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)]
    assert numbers and all(isinstance(n, int) and n <= 1 for n in numbers), numbers


def test_stage_from_dict_keeps_optional_fields():
    assert stage_from_dict({"name": "a", "trainable_from": "all", "learning_rate": 0,
                            "epochs": 2, "l2": None, "dropout": 0.5}) == Stage("a", "all", 0.0, 2,
                                                                                dropout=0.5)
