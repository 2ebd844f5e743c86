# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Four-view exam manifests: grouping image manifests and writing phantom exams."""
import csv
import os

import numpy as np
import pytest

from mammo_tf.datasets.manifest import COLUMNS, write_manifest
from mammo_tf.nyu.exams import (
    EXAM_COLUMNS,
    OPTIONAL_COLUMNS,
    ExamManifestError,
    exam_labels,
    exams_from_image_manifest,
    read_exam_manifest,
    write_phantom_exams,
)


def image_row(patient, side, view, pathology="NORMAL", classes=(), split="train", suffix=""):
    return {"image_id": f"{patient}_{side}_{view}{suffix}", "patient_id": patient, "side": side,
            "view": view, "label": int(pathology == "MALIGNANT"), "pathology": pathology,
            "abnormality": [], "image_path": f"images/{patient}_{side}_{view}{suffix}.png",
            "roi_mask_paths": [f"masks/{patient}_{side}_{view}_{i}.png" for i in range(len(classes))],
            "roi_classes": list(classes), "split": split}


def four_views(patient, split="train", **by_view):
    return [image_row(patient, s, v, split=split, **by_view.get(f"{s}{v}", {}))
            for s in ("L", "R") for v in ("CC", "MLO")]


def test_exams_from_image_manifest_groups_and_labels(tmp_path):
    rows = (four_views("P1", RCC={"pathology": "MALIGNANT", "classes": ("mass_malignant", "calc_benign")})
            + four_views("P2", split="val", LMLO={"pathology": "BENIGN", "classes": ("mass_benign",)})
            + [image_row("P1", "L", "CC", suffix="_b")]  # a repeated view: first by image_id kept
            + [r for r in four_views("P3") if r["view"] == "CC"])  # incomplete: no MLO
    manifest = tmp_path / "data" / "manifest.csv"
    write_manifest(manifest, rows)
    out = tmp_path / "exams" / "exams.csv"
    exams, skipped = exams_from_image_manifest(manifest, out)
    assert [e["exam_id"] for e in exams] == ["P1", "P2"]
    assert skipped == [("P3", "missing views L-MLO, R-MLO")]
    loaded = {r["exam_id"]: r for r in read_exam_manifest(out)}
    # P1: right breast malignant (and benign calcification), left normal
    np.testing.assert_array_equal(exam_labels(loaded["P1"]), [0, 1, 0, 1])
    np.testing.assert_array_equal(exam_labels(loaded["P2"]), [1, 0, 0, 0])
    assert loaded["P2"]["split"] == "val"
    # paths are rewritten relative to the exam manifest and resolve to the same files
    assert loaded["P1"]["l_cc"] == str(tmp_path / "data" / "images" / "P1_L_CC.png")
    with open(out, newline="") as f:
        assert tuple(next(csv.reader(f))) == EXAM_COLUMNS + OPTIONAL_COLUMNS
    assert all(r["birads"] is None for r in loaded.values())
    with pytest.raises(ExamManifestError, match="P3"):
        exams_from_image_manifest(manifest, out, strict=True)


def test_exams_split_by_study_when_present(tmp_path):
    rows = four_views("P1") + [dict(r, image_id=r["image_id"] + "_2") for r in four_views("P1")]
    studies = ["2019"] * 4 + ["2020"] * 4
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS + ("study_date",))
        writer.writeheader()
        for row, study in zip(rows, studies):
            writer.writerow({**{k: ";".join(v) if isinstance(v, list) else v for k, v in row.items()},
                             "study_date": study})
    exams, skipped = exams_from_image_manifest(manifest, tmp_path / "exams.csv")
    assert [(e["exam_id"], e["study_id"]) for e in exams] == [("P1_2019", "2019"), ("P1_2020", "2020")]
    assert not skipped


def test_bad_exam_manifest_names_file_and_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(",".join(EXAM_COLUMNS + OPTIONAL_COLUMNS)
                    + "\nE1,P1,,train,a.png,b.png,c.png,d.png,0,1,0,0,4\n")
    with pytest.raises(ExamManifestError, match=r"line 2: birads '4'"):
        read_exam_manifest(path)
    path.write_text(",".join(EXAM_COLUMNS) + "\nE1,P1,,train,a.png,b.png,c.png,d.png,0,2,0,0\n")
    with pytest.raises(ExamManifestError, match=r"bad.csv, line 2: right_benign"):
        read_exam_manifest(path)
    path.write_text("exam_id,l_cc\nE1,a.png\n")
    with pytest.raises(ExamManifestError, match="missing columns"):
        read_exam_manifest(path)


def test_phantom_exams(tmp_path):
    manifest = write_phantom_exams(tmp_path / "ph", 6, seed=3, size=(64, 48))
    rows = read_exam_manifest(manifest)
    assert len(rows) == 6 and {r["split"] for r in rows} <= {"train", "val", "test"}
    from mammo_tf.datasets.phantom import generate_case
    from mammo_tf.io import read_png16

    case = generate_case(3, 2, size=(64, 48), profile="inbreast")
    row = rows[2]
    np.testing.assert_array_equal(read_png16(row["r_mlo"]), case["views"]["R-MLO"]["image"])
    assert row["left_malignant"] == case["labels"]["L"]["malignant"]
    assert row["right_benign"] == case["labels"]["R"]["benign"]
    assert row["birads"] == (0 if row["left_malignant"] or row["right_malignant"]
                             else 2 if row["left_benign"] or row["right_benign"] else 1)
    assert os.path.basename(row["l_cc"]) == "P_00003_l_cc.png"
