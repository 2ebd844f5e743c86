"""Loaders of today's screening datasets (issue 15): VinDr-Mammo, RSNA, CMMD, EMBED, each on a
tiny fixture written here in the dataset's documented column layout."""
import csv
import os

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import JPEGLSLossless

from data_layer_fixtures import make_dicom
from mammo_tf.datasets.cmmd import load_cmmd
from mammo_tf.datasets.embed import load_embed
from mammo_tf.datasets.manifest import read_manifest
from mammo_tf.datasets.prepare import prepare
from mammo_tf.datasets.report import PrepareReport
from mammo_tf.datasets.rsna import COLUMNS as RSNA_COLUMNS, load_rsna
from mammo_tf.datasets.tables import TableFormatError
from mammo_tf.datasets.vindr_mammo import load_vindr_mammo
from mammo_tf.errors import UsageError
from mammo_tf.io import read_mask

SHAPE = (40, 30)
VIEWS = [("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")]


def _image(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(100, 4000, SHAPE).astype(np.uint16)


def _write_csv(path, columns, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _splits_by_patient(rows):
    split_of = {}
    for row in rows:
        assert split_of.setdefault(row["patient_id"], row["split"]) == row["split"], row["patient_id"]
    return split_of


# ---------------------------------------------------------------- VinDr-Mammo
BREAST = ["study_id", "series_id", "image_id", "laterality", "view_position", "height", "width",
          "breast_birads", "breast_density", "split"]
FINDING = ["study_id", "series_id", "image_id", "laterality", "view_position", "height", "width",
           "breast_birads", "breast_density", "finding_categories", "finding_birads", "xmin", "ymin", "xmax",
           "ymax", "split"]


def write_vindr(root, n_studies=8):
    breast_rows, finding_rows = [], []
    for s in range(n_studies):
        study = f"st{s:03d}"
        split = "test" if s % 4 == 3 else "training"
        for k, (side, view) in enumerate(VIEWS):
            image_id = f"im{s:03d}{k}"
            birads = {0: "BI-RADS 1", 1: "BI-RADS 2", 2: "BI-RADS 4", 3: "BI-RADS 3"}[(s + (side == "R")) % 4]
            base = {"study_id": study, "series_id": f"se{s}{side}", "image_id": image_id, "laterality": side,
                    "view_position": view, "height": SHAPE[0], "width": SHAPE[1], "breast_birads": birads,
                    "breast_density": "DENSITY C", "split": split}
            breast_rows.append(base)
            make_dicom(root / "images" / study / f"{image_id}.dicom", _image(s * 4 + k))
            if birads == "BI-RADS 4":
                finding_rows.append({**base, "finding_categories": "['Mass']", "finding_birads": "BI-RADS 4",
                                     "xmin": "5.5", "ymin": "10.0", "xmax": "15.2", "ymax": "22.8"})
            else:
                finding_rows.append({**base, "finding_categories": "['No Finding']", "finding_birads": "",
                                     "xmin": "", "ymin": "", "xmax": "", "ymax": ""})
    _write_csv(root / "breast-level_annotations.csv", BREAST, breast_rows)
    _write_csv(root / "finding_annotations.csv", FINDING, finding_rows)
    return breast_rows


def test_vindr_labels_boxes_and_official_split(tmp_path):
    rows = write_vindr(tmp_path / "vindr")
    report = PrepareReport()
    records = load_vindr_mammo(tmp_path / "vindr", report)
    n_excluded = sum(r["breast_birads"] == "BI-RADS 3" for r in rows)
    assert len(records) == len(rows) - n_excluded and len(report.excluded) == n_excluded > 0
    by_birads = {r["image_id"]: r["breast_birads"] for r in rows}
    for record in records:
        assert record.label == (by_birads[record.image_id] == "BI-RADS 4")
        assert record.pathology == {"BI-RADS 1": "NORMAL", "BI-RADS 2": "BENIGN", "BI-RADS 4": "MALIGNANT"}[
            by_birads[record.image_id]]
        assert len(record.rois) == record.label
        assert record.split == ("test" if record.patient_id.endswith(("3", "7")) else "train")
    manifest, _ = prepare("vindr-mammo", tmp_path / "vindr", tmp_path / "out", size=SHAPE, split="official",
                          progress=False)
    out = read_manifest(manifest)
    assert {r["image_id"] for r in out if r["split"] == "test"} == {
        r["image_id"] for r in rows if r["split"] == "test" and r["breast_birads"] != "BI-RADS 3"}
    assert {r["split"] for r in out} == {"train", "val", "test"}
    _splits_by_patient(out)
    positive = [r for r in out if r["label"] == 1]
    assert positive and all(r["roi_classes"] == ["mass_malignant"] for r in positive)
    mask = read_mask(tmp_path / "out" / positive[0]["roi_mask_paths"][0])
    ys, xs = np.nonzero(mask)  # box x 5.5..15.2, y 10..22.8 at full size = output size
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (10, 22, 5, 15)


def test_vindr_missing_column_names_file(tmp_path):
    write_vindr(tmp_path, n_studies=1)
    text = (tmp_path / "breast-level_annotations.csv").read_text().replace("breast_birads", "birads")
    (tmp_path / "breast-level_annotations.csv").write_text(text)
    with pytest.raises(TableFormatError, match="breast-level_annotations.csv.*missing columns: breast_birads"):
        load_vindr_mammo(tmp_path)


# ---------------------------------------------------------------- RSNA
def write_rsna(root, n_patients=10):
    rows = []
    for p in range(n_patients):
        patient = str(10000 + p)
        for k, (side, view) in enumerate(VIEWS):
            image_id = str(500000 + p * 10 + k)
            cancer = int(p % 3 == 0 and side == "L")
            biopsy = int(cancer or (p % 3 == 1 and side == "R"))
            rows.append({"site_id": 1 + p % 2, "patient_id": patient, "image_id": image_id, "laterality": side,
                         "view": view, "age": 55.0, "cancer": cancer, "biopsy": biopsy, "invasive": cancer,
                         "BIRADS": "", "implant": 0, "density": "B", "machine_id": 49,
                         "difficult_negative_case": "False"})
            path = root / "train_images" / patient / f"{image_id}.dcm"
            ds = make_dicom(path, _image(p * 4 + k), bits_stored=12)
            if p == 0:  # the real data is JPEG 2000 / JPEG-LS: one image compressed here
                ds.compress(JPEGLSLossless)
                ds.save_as(path, enforce_file_format=True)
    _write_csv(root / "train.csv", list(RSNA_COLUMNS), rows)
    return rows


def test_rsna_labels_and_patient_split(tmp_path):
    rows = write_rsna(tmp_path / "rsna")
    os.remove(tmp_path / "rsna" / "train_images" / "10009" / "500093.dcm")
    report = PrepareReport()
    records = load_rsna(tmp_path / "rsna", report)
    assert len(records) == len(rows) - 1 and "500093.dcm" in report.bad_items[0]["reason"]
    pathology = {r.image_id: r.pathology for r in records}
    assert pathology["10000_500000"] == "MALIGNANT" and pathology["10001_500012"] == "BENIGN"
    assert pathology["10002_500020"] == "NORMAL"
    assert sum(r.label for r in records) == sum(int(r["cancer"]) for r in rows)
    manifest, _ = prepare("rsna", tmp_path / "rsna", tmp_path / "out", size=SHAPE, progress=False)
    out = read_manifest(manifest)
    assert len(out) == len(records)  # the JPEG-LS image decoded too
    split_of = _splits_by_patient(out)
    assert sorted(split_of.values()).count("test") == round(10 * 0.15)
    with pytest.raises(UsageError, match="official"):  # --split official: a usage error
        prepare("rsna", tmp_path / "rsna", tmp_path / "out2", size=SHAPE, split="official", progress=False)


# ---------------------------------------------------------------- CMMD
CMMD = ["ID1", "LeftRight", "Age", "number", "abnormality", "classification", "subtype"]


def write_cmmd(root, n_patients=6):
    rows = []
    for p in range(n_patients):
        patient = f"D1-{p + 1:04d}"
        kind = "Malignant" if p % 2 else "Benign"
        rows.append({"ID1": patient, "LeftRight": "L", "Age": 50, "number": 2, "abnormality": "mass",
                     "classification": kind, "subtype": "Luminal A" if kind == "Malignant" else ""})
        for k, (side, view) in enumerate(VIEWS):
            path = root / "CMMD" / patient / f"07-18-2010-NA-{p}" / f"1.000000-NA-{p}{side}" / f"1-{k + 1}.dcm"
            if p == 0:  # some files name the view only in ViewCodeSequence
                item = Dataset()
                item.CodeMeaning = "cranio-caudal" if view == "CC" else "medio-lateral oblique"
                make_dicom(path, _image(p * 4 + k), ImageLaterality=side, ViewCodeSequence=Sequence([item]))
            else:
                make_dicom(path, _image(p * 4 + k), ImageLaterality=side, ViewPosition=view)
    _write_csv(root / "CMMD_clinicaldata_revision.csv", CMMD, rows)
    return rows


def test_cmmd_labels_per_breast_and_excludes_unlabelled_breasts(tmp_path):
    write_cmmd(tmp_path)
    report = PrepareReport()
    records = load_cmmd(tmp_path, report)
    assert len(records) == 12 and len(report.excluded) == 12  # right breasts have no clinical row
    assert {r.side for r in records} == {"L"} and {r.view for r in records} == {"CC", "MLO"}
    for record in records:
        malignant = int(record.patient_id[-1]) % 2 == 0  # D1-0002, -0004, -0006 (p odd)
        assert record.label == malignant and record.pathology == ("MALIGNANT" if malignant else "BENIGN")
        assert record.abnormality == ["mass"]
    assert len({r.image_id for r in records}) == len(records)


def test_cmmd_xlsx_without_openpyxl_says_what_to_do(tmp_path, monkeypatch):
    import builtins

    (tmp_path / "CMMD_clinicaldata_revision.xlsx").write_bytes(b"PK")
    real_import = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name))
                        if name == "openpyxl" else real_import(name, *a, **k))
    with pytest.raises(TableFormatError, match="openpyxl.*CSV"):
        load_cmmd(tmp_path)


# ---------------------------------------------------------------- EMBED
EMBED_CLINICAL = ["empi_anon", "acc_anon", "study_date_anon", "desc", "tissueden", "asses", "numfind", "side",
                  "total_l_find", "total_r_find", "massshape", "massmargin", "massdens", "calcfind", "calcdistri",
                  "bside", "Technique", "path1", "path_severity", "RACE_DESC", "ETHNIC_GROUP_DESC"]
EMBED_METADATA = ["empi_anon", "acc_anon", "anon_dicom_path", "png_path", "png_filename", "study_date_anon",
                  "StudyDescription", "SeriesDescription", "FinalImageType", "ImageLateralityFinal",
                  "ViewPosition", "spot_mag", "num_roi", "ROI_coords", "SRC_DST", "match_level"]


def write_embed(root, n_patients=8):
    clinical, metadata = [], []
    for p in range(n_patients):
        empi, acc = f"{p + 1:08d}", f"{9000 + p}"
        case = p % 4  # 0 negative screen, 1 left invasive cancer, 2 right benign biopsy, 3 BI-RADS 0 only
        base = {c: "" for c in EMBED_CLINICAL} | {"empi_anon": empi, "acc_anon": acc, "numfind": 1}
        if case == 0:
            clinical.append(base | {"asses": "N", "side": ""})
        elif case == 1:
            clinical.append(base | {"asses": "K", "side": "L", "massshape": "S", "path_severity": "0"})
        elif case == 2:
            clinical.append(base | {"asses": "S", "side": "R", "calcfind": "A", "path_severity": "4"})
            clinical.append(base | {"asses": "S", "side": "L", "numfind": 2})
        else:
            clinical.append(base | {"asses": "A", "side": "B"})
        for k, (side, view) in enumerate(VIEWS):
            name = f"1.2.826.{p}.{k}.dcm"
            anon = f"/mnt/NAS2/mammo/anon_dicom/cohort_{1 + p % 2}/{empi}/{acc}/{name}"
            make_dicom(root / "images" / f"cohort_{1 + p % 2}" / empi / acc / name, _image(p * 4 + k))
            roi = "[[4, 3, 12, 9]]" if (case, side) in ((1, "L"), (2, "R")) else ""
            metadata.append({c: "" for c in EMBED_METADATA} | {
                "empi_anon": empi, "acc_anon": acc, "anon_dicom_path": anon, "FinalImageType": "2D",
                "ImageLateralityFinal": side, "ViewPosition": view, "spot_mag": "", "num_roi": int(bool(roi)),
                "ROI_coords": roi})
        metadata.append(metadata[-1] | {"FinalImageType": "C-view", "anon_dicom_path": anon + "x"})
    _write_csv(root / "tables" / "EMBED_OpenData_clinical.csv", EMBED_CLINICAL, clinical)
    _write_csv(root / "tables" / "EMBED_OpenData_metadata.csv", EMBED_METADATA, metadata)


def test_embed_join_labels_and_roi_boxes(tmp_path):
    write_embed(tmp_path / "embed")
    report = PrepareReport()
    records = load_embed(tmp_path / "embed", report)
    # 8 patients x 4 2D images + 8 C-views. Excluded: the C-views (8), BI-RADS-0-only exams
    # (2 patients x 4), breasts without a finding row in a cancer exam (2 x 2 right) and a
    # BI-RADS 4 breast without pathology (2 x 2 left).
    assert len(records) == 32 - 8 - 4 - 4 and len(report.excluded) == 8 + 8 + 4 + 4
    by_case = {}
    for record in records:
        by_case.setdefault((int(record.patient_id) - 1) % 4, set()).add((record.side, record.pathology))
    assert by_case[0] == {("L", "NORMAL"), ("R", "NORMAL")}
    assert by_case[1] == {("L", "MALIGNANT")}
    assert by_case[2] == {("R", "BENIGN")}
    malignant = [r for r in records if r.label == 1]
    assert len(malignant) == 4 and all(r.rois and r.rois[0].roi_class == "mass_malignant" for r in malignant)
    calc = [r for r in records if r.rois and r.rois[0].roi_class == "calc_benign"]
    assert len(calc) == 4
    manifest, _ = prepare("embed", tmp_path / "embed", tmp_path / "out", size=SHAPE, progress=False)
    rows = read_manifest(manifest)
    _splits_by_patient(rows)
    row = next(r for r in rows if r["roi_classes"] == ["mass_malignant"])
    ys, xs = np.nonzero(read_mask(tmp_path / "out" / row["roi_mask_paths"][0]))
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (4, 11, 3, 8)  # [ymin, xmin, ymax, xmax] = [4, 3, 12, 9]


def test_multi_frame_file_is_reported_or_read_with_frame(tmp_path):
    write_rsna(tmp_path / "rsna", n_patients=3)
    path = tmp_path / "rsna" / "train_images" / "10001" / "500010.dcm"
    frames = np.stack([np.full(SHAPE, 1000 * (k + 1), np.uint16) for k in range(3)])
    ds = make_dicom(path, frames[0], bits_stored=12)
    ds.NumberOfFrames = 3
    ds.PixelData = frames.astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    _, report = prepare("rsna", tmp_path / "rsna", tmp_path / "out", size=SHAPE, progress=False)
    assert [b["item"] for b in report.bad_items] == ["10001_500010"]
    assert "3 frames" in report.bad_items[0]["reason"] and "--frame" in report.bad_items[0]["reason"]
    manifest, report = prepare("rsna", tmp_path / "rsna", tmp_path / "out", size=SHAPE, progress=False, frame=2)
    assert not report.bad_items and report.converted == 12  # --frame changed: all redone
    from mammo_tf.io import read_png16

    row = next(r for r in read_manifest(manifest) if r["image_id"] == "10001_500010")
    assert (read_png16(tmp_path / "out" / row["image_path"]) == round(3000 * 65535 / 4095)).all()
