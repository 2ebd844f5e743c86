# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DeepMiner's sliding-window patch set (``--set sliding``): 3 classes, the paper's window,
stride, breast-tissue and 30% rules."""
import json

import h5py
import numpy as np
import pytest

from mammo_tf.datasets.phantom import write_phantom_manifest
from mammo_tf.shen.patches import make_patch_set, read_patch_file
from mammo_tf.commands.patches import main as patches_main
from mammo_tf.shen.patches.sliding_set import DEEPMINER_CLASSES, sliding_patches

DEEPMINER_SLIDING = (
    "The dimensions of each image patch are 25% of the width of the original mammogram, and "
    "overlapping patches are extracted using a stride of 50% of the patch width. We use a "
    "background texture classifier to discard any patch containing less than 50% breast tissue. "
    "We create three class labels (normal, benign, malignant) for each image patch based on (1) "
    "whether at least 30% of the patch contains benign or malignant tissue and (2) whether at "
    "least 30% of a benign or malignant finding is located in that patch.")  # DeepMiner 2.1


def _image():
    image = np.zeros((256, 192), np.uint16)
    image[:, :120] = 30000  # breast on the left 120 of 192 columns
    malignant = np.zeros(image.shape, bool)
    malignant[0:48, 0:40] = True  # covers 1920 / 2304 = 83% of the window at (0, 0)
    benign = np.zeros(image.shape, bool)
    benign[100:104, 100:104] = True  # tiny: 30% of the finding rule labels its windows
    return image, [malignant, benign], ["mass_malignant", "calc_benign"]


def test_window_stride_breast_and_lesion_rules():
    """DeepMiner, section 2.1: "The dimensions of each image patch are 25% of the width of the
    original mammogram, and overlapping patches are extracted using a stride of 50% of the
    patch width. We use a background texture classifier to discard any patch containing less
    than 50% breast tissue. We create three class labels (normal, benign, malignant) ... (1)
    whether at least 30% of the patch contains benign or malignant tissue and (2) whether at
    least 30% of a benign or malignant finding is located in that patch." """
    assert DEEPMINER_SLIDING and DEEPMINER_CLASSES == ("normal", "benign", "malignant")
    image, masks, classes = _image()
    out = sliding_patches(image, masks, classes, patch_size=32)
    # 192 px wide: 48 px windows at a 24 px stride; rows 0..208, columns 0..144
    origins = set(zip((out.center_y - 24).tolist(), (out.center_x - 24).tolist()))
    assert all(y % 24 == 0 and x % 24 == 0 for y, x in origins)
    # breast = columns < 120 (the mask fills the bright region): >= 50% of the 48 px window
    # needs x0 + 24 <= 120, i.e. x0 <= 96
    assert {x for _, x in origins} == {0, 24, 48, 72, 96}
    assert out.patches.shape[1:] == (32, 32)  # resized from 48 px
    label = {o: int(l) for o, l in zip(zip((out.center_y - 24).tolist(), (out.center_x - 24).tolist()),
                                       out.labels)}
    assert label[(0, 0)] == 2  # malignant: 83% of the patch
    assert label[(0, 24)] == 2  # 16 of 40 columns x 48 rows = 768/2304 = 33% >= 30%
    assert label[(0, 48)] == 0  # no malignant pixel
    assert label[(96, 96)] == 1  # the whole benign finding lies inside: 100% of the finding
    assert label[(72, 72)] == 1  # rows 72-119, cols 72-119 contain it too
    assert label[(144, 0)] == 0
    assert out.roi_index[list(label).index((0, 0))] == 0


def test_malignant_wins_and_small_overlaps_stay_normal():
    image = np.full((100, 100), 30000, np.uint16)  # all breast; 25 px windows, stride 12
    corner = np.zeros(image.shape, bool)
    corner[0:25, 0:25] = True
    out = sliding_patches(image, [corner, corner.copy()], ["calc_benign", "mass_malignant"],
                          patch_size=25)
    origin = {(int(y) - 12, int(x) - 12): i for i, (y, x) in enumerate(zip(out.center_y, out.center_x))}
    assert out.labels[origin[(0, 0)]] == 2  # benign and malignant both qualify: malignant wins
    assert out.roi_index[origin[(0, 0)]] == 1
    stripe = np.zeros(image.shape, bool)
    stripe[:, 0:10] = True  # 1000 px: window (0, 0) holds 250 px = 40% of the window
    thin = np.zeros(image.shape, bool)
    thin[:, 50:55] = True  # 500 px: window (0, 48) holds 125 px = 20% of it, 25% of the finding
    out = sliding_patches(image, [stripe, thin], ["mass_benign", "mass_malignant"], patch_size=25)
    label = {(int(y) - 12, int(x) - 12): int(l) for y, x, l in zip(out.center_y, out.center_x, out.labels)}
    assert label[(0, 0)] == 1 and label[(0, 12)] == 0  # columns 12-36 hold no stripe pixel
    assert label[(0, 48)] == 0  # both fractions below 30%: normal
    with pytest.raises(ValueError, match="neither benign nor malignant"):
        sliding_patches(image, [stripe], ["background"], patch_size=25)


def test_make_patch_set_sliding_and_the_command_line(tmp_path, capsys):
    manifest = write_phantom_manifest(tmp_path / "data", n_patients=4, seed=1, size=(96, 72),
                                      abnormal_fraction=1.0)
    summary = make_patch_set(manifest, tmp_path / "s", "sliding", patch_size=16, progress=False,
                             splits=("train",), pixel_spacing=0.18)
    assert summary["class_names"] == list(DEEPMINER_CLASSES)
    assert summary["window_fraction"] == 0.25 and summary["stride_fraction"] == 0.5
    data = read_patch_file(tmp_path / "s" / "train.h5")
    assert data["class_names"] == list(DEEPMINER_CLASSES)
    assert data["patches"].shape[1:] == (16, 16) and len(data["labels"]) > 0
    assert set(np.unique(data["labels"])) <= {0, 1, 2}
    with h5py.File(tmp_path / "s" / "train.h5", "r") as f:
        assert f.attrs["pixel_spacing_mm"] == pytest.approx(0.18)
    assert sum(summary["splits"]["train"]["class_counts"].values()) == len(data["labels"])

    code = patches_main(["--manifest", str(manifest), "--out", str(tmp_path / "cli"), "--set",
                         "sliding", "--window", "0.25", "--stride", "0.5", "--patch-size", "16",
                         "--splits", "train", "--no-progress"])
    assert code == 0
    assert json.loads((tmp_path / "cli" / "patch_set.json").read_text())["class_names"] == list(
        DEEPMINER_CLASSES)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        patches_main(["--manifest", str(manifest), "--out", str(tmp_path / "x"), "--set", "s10",
                      "--window", "0.3"])
    assert exc.value.code == 2 and "--set sliding" in capsys.readouterr().err


def test_train_patch_takes_its_classes_from_the_patch_files(tmp_path):
    """A 3-class sliding set trains a 3-class patch classifier (DeepMiner's "3-class
    classification layer"); files with different classes are refused."""
    from mammo_tf.shen.train_patch import patch_class_names
    from mammo_tf.errors import UsageError

    manifest = write_phantom_manifest(tmp_path / "data", n_patients=3, seed=2, size=(96, 72),
                                      abnormal_fraction=1.0)
    make_patch_set(manifest, tmp_path / "sl", "sliding", patch_size=16, progress=False,
                   splits=("train",))
    make_patch_set(manifest, tmp_path / "s1", "s1", patch_size=16, progress=False, splits=("train",))
    assert patch_class_names([str(tmp_path / "sl" / "train.h5")]) == list(DEEPMINER_CLASSES)
    assert len(patch_class_names([str(tmp_path / "s1" / "train.h5")])) == 5
    with pytest.raises(UsageError, match="different classes"):
        patch_class_names([str(tmp_path / "sl" / "train.h5"), str(tmp_path / "s1" / "train.h5")])
