"""Conversion (resize, resume, atomic files), manifest I/O, patient splits, the CLI incl. phantom."""
import collections
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mammo_tf.commands.prepare import main
from mammo_tf.datasets.convert import ImageRecord, Roi, convert_records, resize_mask
from mammo_tf.datasets.manifest import COLUMNS, ManifestError, read_manifest, write_manifest
from mammo_tf.datasets.report import PrepareError, PrepareReport
from mammo_tf.datasets.splits import official_split, stratified_patient_split
from mammo_tf.io import read_mask, read_png16


def _pgm(path, value=100, shape=(40, 30)):
    path.write_bytes(f"P5\n{shape[1]} {shape[0]}\n255\n".encode() + bytes([value]) * (shape[0] * shape[1]))


def _records(tmp_path, n=3):
    records = []
    for i in range(n):
        source = tmp_path / f"img{i}.pgm"
        _pgm(source, value=50 + i)
        mask = np.zeros((40, 30), bool)
        mask[10:20, 5:15] = True
        rois = [Roi("mass_benign", lambda shape, m=mask: m, "box"),
                Roi("calc_malignant", lambda shape: np.zeros((39, 30), bool), "wrong size")]
        records.append(ImageRecord(f"im{i}", f"p{i}", "L", "CC", i % 2, "BENIGN", ["mass"], str(source), rois,
                                   "train"))
    return records


def test_convert_resize_masks_resume_and_atomic(tmp_path):
    out = tmp_path / "out"
    report = PrepareReport()
    rows = convert_records(_records(tmp_path), out, size=(20, 16), report=report, progress=False)
    assert report.converted == 3 and len(report.skipped_rois) == 3
    assert "39x30" in report.skipped_rois[0]["reason"] and "40x30" in report.skipped_rois[0]["reason"]
    image = read_png16(out / rows[0]["image_path"])
    assert image.shape == (20, 16) and image.dtype == np.uint16 and image[0, 0] == 50 * 257
    mask = read_mask(out / rows[0]["roi_mask_paths"][0])
    assert mask.shape == (20, 16) and mask[7, 5] and not mask[0, 0]
    assert not [f for d in ("images", "masks", "records") for f in os.listdir(out / d) if f.startswith(".")]
    stamp = os.path.getmtime(out / rows[0]["image_path"])
    again = PrepareReport()
    assert convert_records(_records(tmp_path), out, size=(20, 16), report=again, progress=False) == rows
    assert again.resumed == 3 and again.converted == 0 and len(again.skipped_rois) == 3
    assert os.path.getmtime(out / rows[0]["image_path"]) == stamp
    fixed = _records(tmp_path)  # a corrected table / another split: the row follows the record
    fixed[0].label, fixed[0].split = 1, "test"
    resumed = convert_records(fixed, out, size=(20, 16), report=PrepareReport(), progress=False)
    assert (resumed[0]["label"], resumed[0]["split"]) == (1, "test") and resumed[1:] == rows[1:]
    other = PrepareReport()  # another size: converted again, not resumed
    convert_records(_records(tmp_path), out, size=(10, 8), interpolation="area", report=other, progress=False)
    assert other.converted == 3 and read_png16(out / rows[0]["image_path"]).shape == (10, 8)


def test_bad_image_skipped_or_strict(tmp_path):
    records = _records(tmp_path)
    (tmp_path / "img1.pgm").write_bytes(b"P5\n30 40\n255\n" + bytes(10))  # truncated
    report = PrepareReport()
    rows = convert_records(records[:1] + records[1:2], tmp_path / "out", size=(20, 16), report=report, progress=False)
    assert [r["image_id"] for r in rows] == ["im0"]
    assert report.bad_items[0]["item"] == "im1" and "img1.pgm" in report.bad_items[0]["reason"]
    assert "im1" in report.summary()
    with pytest.raises(PrepareError):
        convert_records(records[1:2], tmp_path / "out2", size=(20, 16), report=PrepareReport(strict=True),
                        progress=False)


def test_tiny_roi_survives_downscaling():
    mask = np.zeros((400, 300), bool)
    mask[201, 151] = True
    small = resize_mask(mask, (40, 30))
    assert small.sum() >= 1


def test_manifest_round_trip_and_missing_columns(tmp_path):
    row = {"image_id": "a", "patient_id": "p", "side": "L", "view": "CC", "label": 1, "pathology": "MALIGNANT",
           "abnormality": ["mass", "calcification"], "image_path": "images/a.png",
           "roi_mask_paths": ["masks/a_roi0.png", "masks/a_roi1.png"], "roi_classes": ["mass_malignant", "calc_benign"],
           "split": "test"}
    write_manifest(tmp_path / "m.csv", [row])
    assert (tmp_path / "m.csv").read_text().splitlines()[0] == ",".join(COLUMNS)
    assert read_manifest(tmp_path / "m.csv") == [row]
    (tmp_path / "bad.csv").write_text("image_id,label,split\na,1,train\n")
    with pytest.raises(ManifestError) as info:
        read_manifest(tmp_path / "bad.csv")
    assert "bad.csv" in str(info.value) and "patient_id" in str(info.value) and "roi_classes" in str(info.value)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.text("abcdef0123", min_size=1, max_size=6), st.integers(0, 1), min_size=1, max_size=60),
       st.integers(0, 3))
def test_patient_split_properties(labels, seed):
    split = stratified_patient_split(labels, 0.15, 0.10, seed)
    assert set(split) == set(labels)
    counts = collections.Counter(split.values())
    n = len(labels)
    assert counts["test"] == int(np.floor(n * 0.15 + 0.5))
    assert counts["val"] == int(np.floor((n - counts["test"]) * 0.10 + 0.5))
    for stratum in (0, 1):  # stratified: each stratum gets its share (within one patient)
        members = [p for p, v in labels.items() if v == stratum]
        in_test = sum(split[p] == "test" for p in members)
        assert abs(in_test - len(members) * 0.15) < 1 + 1e-9
    assert split == stratified_patient_split(dict(reversed(list(labels.items()))), 0.15, 0.10, seed)


def test_official_split_takes_val_from_train_only_patients():
    images = {f"i{k}": ("test" if k < 4 else "train") for k in range(40)}
    patients = {f"i{k}": f"p{k // 2}" for k in range(40)}
    labels = {p: int(p in ("p3", "p9", "p11")) for p in patients.values()}
    split = official_split(images, patients, labels, 0.10, seed=0)
    assert [split[f"i{k}"] for k in range(4)] == ["test"] * 4
    val_patients = {patients[i] for i, s in split.items() if s == "val"}
    assert len(val_patients) == 2 and not val_patients & {"p0", "p1"}


def test_cli_mini_mias_skip_and_report_vs_strict(tmp_path, capsys):
    src = tmp_path / "mias"
    src.mkdir()
    (src / "Info.txt").write_text("mdb001 F NORM \nmdb002 F CIRC B 10 20 5\nmdb003 G CALC M 5 5 3\n")
    _pgm(src / "mdb001.pgm", shape=(1024, 1024))
    _pgm(src / "mdb002.pgm", shape=(1024, 1024))
    (src / "mdb003.pgm").write_bytes(b"P5\n1024 1024\n255\n" + bytes(50))
    assert main(["prepare", "mini-mias", "--src", str(src), "--out", str(tmp_path / "out"), "--size", "32", "32",
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "bad items skipped: 1" in printed and "mdb003" in printed
    assert [r["image_id"] for r in read_manifest(tmp_path / "out" / "manifest.csv")] == ["mdb001", "mdb002"]
    assert main(["prepare", "mini-mias", "--src", str(src), "--out", str(tmp_path / "strict"), "--strict",
                 "--no-progress"]) == 2  # an unusable input item is bad input
    assert "mdb003" in capsys.readouterr().err


def test_cli_phantom_runs_cbis_loader(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["prepare", "phantom", "--out", str(out), "--n-patients", "4", "--phantom-size", "96", "72",
            "--size", "48", "36", "--workers", "2", "--no-progress"]
    assert main(args) == 0
    rows = read_manifest(out / "manifest.csv")
    assert len(rows) == 16 and os.path.isdir(out / "source")  # 4 patients x 4 views
    assert "ROIs skipped: 0" in capsys.readouterr().out
    for row in rows:
        assert row["label"] == int(any(c.endswith("malignant") for c in row["roi_classes"]))
        assert (row["pathology"] == "NORMAL") == (not row["roi_classes"])
        for mask_path in row["roi_mask_paths"]:
            assert read_mask(out / mask_path).any()
    assert main(args) == 0  # resumed: nothing converted again
    assert "images converted: 0, already converted (skipped): 16" in capsys.readouterr().out
