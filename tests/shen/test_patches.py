"""Patch sampling (s1 / sN rules) and patch-set HDF5 files."""
import hashlib
import json

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mammo_tf.constants import PATCH_CLASSES
from mammo_tf.datasets.manifest import read_manifest, write_manifest
from mammo_tf.datasets.phantom import write_phantom_manifest
from mammo_tf.io import write_mask_png, write_png16
from mammo_tf.shen.patches import breast_mask, make_patch_set, read_patch_file, sample_patches
from mammo_tf.commands.patches import main as patches_main

P = 16


def _overlap(mask, cy, cx, patch=P):
    y0, x0 = cy - patch // 2, cx - patch // 2
    inter = mask[y0:y0 + patch, x0:x0 + patch].sum()
    return inter / min(mask.sum(), patch * patch)


def _scene(height=80, width=64):
    """A bright half-disc breast on the left with two ROIs (one large, one small)."""
    yy, xx = np.mgrid[0:height, 0:width]
    breast = ((yy - height / 2) / (height * 0.45)) ** 2 + (xx / (width * 0.8)) ** 2 < 1
    image = np.where(breast, 30000, 300).astype(np.uint16)
    big = (np.abs(yy - 25) < 10) & (np.abs(xx - 20) < 12)  # larger than the patch
    small = (yy - 55) ** 2 + (xx - 15) ** 2 < 9  # smaller than the patch
    return image, [big, small]


def test_sn_rules_counts_overlap_and_background():
    image, rois = _scene()
    out = sample_patches(image, rois, [3, 4], 10, P, np.random.default_rng(0))
    assert out.patches.shape == (30, P, P) and out.patches.dtype == np.uint16
    assert np.bincount(out.roi_index + 1).tolist() == [10, 10, 10]  # background, ROI 0, ROI 1
    assert out.labels.tolist() == [3] * 10 + [4] * 10 + [0] * 10
    breast = breast_mask(image)
    union = rois[0] | rois[1]
    for k in range(30):
        cy, cx = int(out.center_y[k]), int(out.center_x[k])
        window = (slice(cy - P // 2, cy - P // 2 + P), slice(cx - P // 2, cx - P // 2 + P))
        assert np.array_equal(out.patches[k], image[window])
        if out.roi_index[k] >= 0:
            ratio = _overlap(rois[out.roi_index[k]], cy, cx)
            assert ratio >= 0.9 and np.isclose(ratio, out.overlap[k])
        else:
            assert union[window].sum() == 0 and breast[cy, cx]
    assert not out.cutoff_lowered and not out.notes


def test_s1_is_centred_on_each_roi():
    image, rois = _scene()
    out = sample_patches(image, rois, [1, 2], 1, P, np.random.default_rng(0), centred=True)
    assert out.roi_index.tolist() == [0, 1, -1]
    for k, mask in enumerate(rois):
        ys, xs = np.nonzero(mask)
        assert (out.center_y[k], out.center_x[k]) == (round(ys.mean()), round(xs.mean()))


def test_roi_partly_outside_the_image_keeps_windows_inside():
    image, _ = _scene()
    roi = np.zeros(image.shape, bool)
    roi[:6, :10] = True  # touches the top and left borders: centres near the edge
    out = sample_patches(image, [roi], [4], 10, P, np.random.default_rng(1))
    rois_k = out.roi_index == 0
    assert rois_k.sum() == 10
    assert (out.center_y - P // 2 >= 0).all() and (out.center_x - P // 2 >= 0).all()
    for cy, cx in zip(out.center_y[rois_k], out.center_x[rois_k]):
        assert _overlap(roi, int(cy), int(cx)) >= 0.9


def test_unreachable_cutoff_is_lowered_and_recorded():
    image, _ = _scene()
    roi = np.zeros(image.shape, bool)
    roi[10:13, 5:8] = True
    roi[60:63, 40:43] = True  # two far-apart halves: at most 50% fits in one patch
    out = sample_patches(image, [roi], [1], 3, P, np.random.default_rng(2), max_failures=50)
    assert len(out.cutoff_lowered) == 1 and out.cutoff_lowered[0]["cutoff"] <= 0.5 + 1e-9
    assert (out.overlap[out.roi_index == 0] >= out.cutoff_lowered[0]["cutoff"] - 1e-9).all()


def test_empty_roi_skipped_and_image_smaller_than_patch_padded():
    image = np.full((10, 12), 20000, np.uint16)
    roi = np.zeros_like(image, bool)
    roi[3:6, 4:7] = True
    out = sample_patches(image, [np.zeros_like(roi), roi], [1, 2], 2, P, np.random.default_rng(0))
    assert out.patches.shape[1:] == (P, P)
    assert "ROI 0: empty mask, skipped" in out.notes
    k = int(np.flatnonzero(out.roi_index == 1)[0])
    assert np.array_equal(out.patches[k][:10, :12], image) and out.patches[k][10:].max() == 0
    # the padded 16x16 window covers the ROI, so no background window is free: noted, not faked
    assert (out.roi_index == -1).sum() == 0 and any("background" in n for n in out.notes)


def test_mask_of_another_size_is_rejected():
    image, rois = _scene()
    with pytest.raises(ValueError, match="ROI mask 0"):
        sample_patches(image, [rois[0][:-1]], [1], 1, P, np.random.default_rng(0))


@pytest.fixture(scope="module")
def phantom_manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("patches")
    manifest = write_phantom_manifest(root / "data", n_patients=6, seed=3, size=(96, 72),
                                      abnormal_fraction=1.0)
    return manifest


def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_patch_set_files_are_reproducible(phantom_manifest, tmp_path):
    a = make_patch_set(phantom_manifest, tmp_path / "a", "s10", patch_size=P, seed=5, progress=False)
    make_patch_set(phantom_manifest, tmp_path / "b", "s10", patch_size=P, seed=5, progress=False)
    make_patch_set(phantom_manifest, tmp_path / "c", "s10", patch_size=P, seed=6, progress=False)
    for split in a["splits"]:
        assert _digest(tmp_path / "a" / f"{split}.h5") == _digest(tmp_path / "b" / f"{split}.h5")
    assert _digest(tmp_path / "a" / "train.h5") != _digest(tmp_path / "c" / "train.h5")
    data = read_patch_file(tmp_path / "a" / "train.h5")
    assert data["patches"].dtype == np.uint16 and data["labels"].dtype == np.int64
    assert data["class_names"] == list(PATCH_CLASSES)
    rows = [r for r in read_manifest(phantom_manifest) if r["split"] == "train"]
    n_rois = sum(len(r["roi_mask_paths"]) for r in rows)
    assert len(data["labels"]) == 10 * n_rois + 10 * len(rows) == a["splits"]["train"]["n_patches"]
    assert set(data["image_id"]) == {r["image_id"] for r in rows}
    with h5py.File(tmp_path / "a" / "train.h5", "r") as f:
        assert set(f) >= {"patches", "labels", "image_id", "roi_index", "center_y", "center_x"}
    saved = json.loads((tmp_path / "a" / "patch_set.json").read_text())
    assert saved["seed"] == 5 and saved["patches_per_roi"] == 10 and saved["overlap_cutoff"] == 0.9


def test_bad_items_skipped_and_reported_or_strict(phantom_manifest, tmp_path):
    rows = read_manifest(phantom_manifest)[:2]
    data = tmp_path / "bad"
    write_png16(data / "a.png", np.full((40, 30), 30000, np.uint16))
    write_mask_png(data / "a_empty.png", np.zeros((40, 30), bool))
    write_mask_png(data / "b_small.png", np.ones((20, 30), bool))
    rows[0].update(image_id="a", image_path="a.png", roi_mask_paths=["a_empty.png"],
                   roi_classes=["mass_benign"], split="train")
    rows[1].update(image_id="b", image_path="a.png", roi_mask_paths=["b_small.png"],
                   roi_classes=["mass_benign"], split="train")
    rows.append(dict(rows[0], image_id="c", image_path="missing.png", roi_mask_paths=[], roi_classes=[]))
    manifest = data / "manifest.csv"
    write_manifest(manifest, rows)
    summary = make_patch_set(manifest, tmp_path / "out", "s1", patch_size=P, progress=False)
    reasons = {item["image_id"]: item["reason"] for item in summary["skipped"]}
    assert reasons["a"] == "ROI 0: empty mask, skipped"
    assert "b_small.png" in reasons["b"] and "30x20" in reasons["b"]
    assert "missing.png" in reasons["c"]
    assert summary["splits"]["train"]["n_patches"] == 1  # image a: its background patch only
    with pytest.raises(ValueError, match="empty mask"):
        make_patch_set(manifest, tmp_path / "strict", "s1", patch_size=P, strict=True, progress=False)
    assert not (tmp_path / "strict" / "train.h5").exists()  # nothing half-written


def test_command_line(phantom_manifest, tmp_path, capsys):
    code = patches_main(["--manifest", str(phantom_manifest), "--out", str(tmp_path / "cli"),
                         "--set", "s1", "--patch-size", str(P), "--no-progress", "--splits", "test",
                         "--compression", "gzip"])
    assert code == 0 and (tmp_path / "cli" / "test.h5").is_file()
    assert read_patch_file(tmp_path / "cli" / "test.h5")["patches"].shape[1:] == (P, P)
    assert "test:" in capsys.readouterr().out
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:  # a bad set name is a usage error: one line, exit 2
        patches_main(["--manifest", str(phantom_manifest), "--out", str(tmp_path / "x"), "--set", "t5"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("python -m mammo_tf.shen.patches: error:") and "t5" in err


@settings(max_examples=25, deadline=None)
@given(height=st.integers(20, 70), width=st.integers(20, 70), n=st.integers(1, 4),
       boxes=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.integers(1, 30), st.integers(1, 30)),
                      min_size=0, max_size=3), seed=st.integers(0, 2**16))
def test_sampling_rules_hold_for_random_rois(height, width, n, boxes, seed):
    image = np.full((height, width), 30000, np.uint16)
    image[:, int(width * 0.8):] = 0  # background strip
    rois = []
    for fy, fx, h, w in boxes:
        mask = np.zeros(image.shape, bool)
        y, x = int(fy * (height - 1)), int(fx * (width - 1))
        mask[y:y + h, x:x + w] = True  # may be clipped by the border
        rois.append(mask)
    out = sample_patches(image, rois, [1] * len(rois), n, P, np.random.default_rng(seed), max_failures=200)
    padded_h, padded_w = max(height, P), max(width, P)
    union = np.zeros((padded_h, padded_w), bool)
    for mask in rois:
        union[:height, :width] |= mask
    lowered = {item["roi_index"]: item["cutoff"] for item in out.cutoff_lowered}
    assert out.patches.shape[1:] == (P, P)
    for k in range(len(out.labels)):
        y0, x0 = int(out.center_y[k]) - P // 2, int(out.center_x[k]) - P // 2
        assert 0 <= y0 <= padded_h - P and 0 <= x0 <= padded_w - P
        if out.roi_index[k] >= 0:
            mask = np.zeros((padded_h, padded_w), bool)
            mask[:height, :width] = rois[out.roi_index[k]]
            assert _overlap(mask, y0 + P // 2, x0 + P // 2) >= lowered.get(int(out.roi_index[k]), 0.9) - 1e-9
        else:
            assert not union[y0:y0 + P, x0:x0 + P].any()
    assert (out.roi_index >= 0).sum() == n * len(rois)
    assert (out.roi_index == -1).sum() <= n
