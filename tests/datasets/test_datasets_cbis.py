"""CBIS-DDSM: official CSVs (real + property tests), a synthetic TCIA tree, content-based masks."""
import collections

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.uid import generate_uid

from data_layer_fixtures import cbis_row, make_dicom, write_cbis_csv
from mammo_tf.datasets.cbis_ddsm import CbisCsvError, DicomIndex, load_cbis_ddsm, read_case_csv
from mammo_tf.datasets.convert import convert_records
from mammo_tf.datasets.report import PrepareError, PrepareReport

SHAPE = (48, 32)
OFFICIAL_ROWS = {"mass_case_description_train_set.csv": 1318, "mass_case_description_test_set.csv": 378,
                 "calc_case_description_train_set.csv": 1546, "calc_case_description_test_set.csv": 326}


def test_real_csvs_parse_to_official_row_counts(shared_data):
    for name, expected in OFFICIAL_ROWS.items():
        cases, problems = read_case_csv(shared_data / "cbis_ddsm_csv" / name)
        assert problems == [] and len(cases) == expected, name
        assert all("\n" not in c.roi_path and "\n" not in c.cropped_path for c in cases)
        assert all(c.density for c in cases)  # both spellings of the density column
        assert {c.subset for c in cases} == {"train" if "train" in name else "test"}
    cases, _ = read_case_csv(shared_data / "cbis_ddsm_csv" / "calc_case_description_train_set.csv")
    assert collections.Counter(c.pathology for c in cases)["BENIGN_WITHOUT_CALLBACK"] == 474
    assert {c.roi_class for c in cases if c.pathology == "BENIGN_WITHOUT_CALLBACK"} == {"calc_benign"}
    assert cases[0].image_id == "P_00005_RIGHT_CC" and cases[0].roi_path.endswith("000000.dcm")


def test_csv_missing_columns_are_all_listed(tmp_path):
    path = tmp_path / "mass_case_description_train_set.csv"
    path.write_text("patient_id,left or right breast,abnormality id\nP_1,LEFT,1\n")
    with pytest.raises(CbisCsvError) as info:
        read_case_csv(path)
    message = str(info.value)
    assert str(path) in message
    for column in ("image view", "pathology", "ROI mask file path", "breast_density or breast density"):
        assert column in message


path_text = st.text(alphabet="abcXYZ0123456789._/-", min_size=1, max_size=30)
case_rows = st.fixed_dictionaries({
    "patient_id": st.from_regex(r"P_\d{5}", fullmatch=True),
    "left or right breast": st.sampled_from(["LEFT", "RIGHT"]),
    "image view": st.sampled_from(["CC", "MLO"]),
    "abnormality id": st.integers(1, 9),
    "pathology": st.sampled_from(["MALIGNANT", "BENIGN", "BENIGN_WITHOUT_CALLBACK"]),
    "image file path": path_text, "cropped image file path": path_text, "ROI mask file path": path_text,
    "newline_in": st.sampled_from(["cropped image file path", "ROI mask file path"]),
})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(case_rows, max_size=8), st.sampled_from(["mass", "calc"]))
def test_case_csv_parser_property(tmp_path, rows, kind):
    path = tmp_path / f"{kind}_case_description_test_set.csv"
    typed = []
    for row in rows:
        row = dict(row)
        row[row.pop("newline_in")] += "\n"
        row["abnormality type"] = "mass" if kind == "mass" else "calcification"
        typed.append(row)
    write_cbis_csv(path, typed, kind)
    cases, problems = read_case_csv(path)
    assert problems == [] and len(cases) == len(rows)
    for case, row in zip(cases, typed):
        assert case.patient_id == row["patient_id"] and case.side == row["left or right breast"][0]
        assert case.roi_path == row["ROI mask file path"].strip()
        assert case.cropped_path == row["cropped image file path"].strip()
        assert case.malignant == (row["pathology"] == "MALIGNANT") and case.subset == "test"


def _new_style_tree(root, rng):
    """A TCIA download (current layout: descriptive folders, 1-1.dcm / 1-2.dcm) + CSVs in the old
    path style. Returns {name: expected mask} for checking content-based mask detection."""
    top = root / "CBIS-DDSM"
    expected, mass_rows, calc_rows = {}, [], []

    def full_image(folder):
        series = generate_uid()
        make_dicom(top / folder / "07-20-2016-DDSM-NA-1" / "1.000000-full mammogram images-1" / "1-1.dcm",
                   rng.integers(0, 60000, SHAPE).astype(np.uint16), series_uid=series)
        return f"{folder}/1.2.3/{series}/000000.dcm"

    def roi_series(folder, mask, mask_first, mask_shape=SHAPE):
        series = generate_uid()
        base = top / folder / "07-21-2016-DDSM-NA-2" / "1.000000-ROI mask images-2"
        crop = rng.integers(0, 60000, (9, 7)).astype(np.uint16)
        full_mask = np.zeros(mask_shape, np.uint8)
        full_mask[: mask.shape[0], : mask.shape[1]] = mask * 255
        make_dicom(base / ("1-1.dcm" if mask_first else "1-2.dcm"), full_mask, series_uid=series)
        make_dicom(base / ("1-2.dcm" if mask_first else "1-1.dcm"), crop, series_uid=series)
        # the CSV names the files the old way (crop 000000, mask 000001), whatever the content
        return f"{folder}/1.2.3/{series}/000000.dcm", f"{folder}/1.2.3/{series}/000001.dcm"

    # P_00001 LEFT CC: two masses (mask stored first in one series, second in the other) + a calc
    image = full_image("Mass-Training_P_00001_LEFT_CC")
    for number, (mask_first, pathology) in enumerate([(True, "MALIGNANT"), (False, "BENIGN_WITHOUT_CALLBACK")], 1):
        mask = np.zeros(SHAPE, bool)
        mask[5 * number: 5 * number + 6, 4: 10 + number] = True
        expected[f"mass{number}"] = mask
        crop, mask_path = roi_series(f"Mass-Training_P_00001_LEFT_CC_{number}", mask, mask_first)
        mass_rows.append(cbis_row("P_00001", "LEFT", "CC", number, "mass", pathology, image, crop, mask_path))
    calc_image = full_image("Calc-Training_P_00001_LEFT_CC")
    mask = np.zeros(SHAPE, bool)
    mask[30:34, 20:25] = True
    expected["calc"] = mask
    crop, mask_path = roi_series("Calc-Training_P_00001_LEFT_CC_1", mask, True)
    calc_rows.append(cbis_row("P_00001", "LEFT", "CC", 1, "calcification", "BENIGN", calc_image, mask_path, crop))
    # P_00002 RIGHT MLO (test): empty mask + mask of another size + ROI partly outside is n/a here
    image = full_image("Mass-Test_P_00002_RIGHT_MLO")
    crop, mask_path = roi_series("Mass-Test_P_00002_RIGHT_MLO_1", np.zeros(SHAPE, bool), True)
    mass_rows.append(cbis_row("P_00002", "RIGHT", "MLO", 1, "mass", "BENIGN", image, crop, mask_path))
    small = np.ones((10, 10), bool)
    crop, mask_path = roi_series("Mass-Test_P_00002_RIGHT_MLO_2", small, False, mask_shape=(40, 30))
    mass_rows.append(cbis_row("P_00002", "RIGHT", "MLO", 2, "mass", "BENIGN", image, crop, mask_path))
    # P_00003: CSV UID from another release: found by its case folder name instead
    full_image("Mass-Training_P_00003_LEFT_MLO")
    mass_rows.append(cbis_row("P_00003", "LEFT", "MLO", 1, "mass", "MALIGNANT",
                              "Mass-Training_P_00003_LEFT_MLO/1.2/9.9.9/000000.dcm", "x/1/2/000000.dcm",
                              "x/1/2/000001.dcm"))
    # P_00004: full mammogram missing from the download
    mass_rows.append(cbis_row("P_00004", "LEFT", "CC", 1, "mass", "BENIGN",
                              "Mass-Training_P_00004_LEFT_CC/1.2/8.8.8/000000.dcm", "a/b/c/d.dcm", "a/b/c/e.dcm"))
    write_cbis_csv(root / "mass_case_description_train_set.csv",
                   [r for r in mass_rows if r["patient_id"] != "P_00002"], "mass")
    write_cbis_csv(root / "mass_case_description_test_set.csv",
                   [r for r in mass_rows if r["patient_id"] == "P_00002"], "mass")
    write_cbis_csv(root / "calc_case_description_train_set.csv", calc_rows, "calc")
    (top / "junk.dcm").write_bytes(b"not dicom")
    return expected


@pytest.fixture
def tcia_tree(tmp_path):
    expected = _new_style_tree(tmp_path / "src", np.random.default_rng(0))
    return tmp_path / "src", expected


def test_index_by_series_uid_and_content_based_masks(tcia_tree, tmp_path):
    src, expected = tcia_tree
    report = PrepareReport()
    index = DicomIndex.build(src, report=report, progress=False)
    assert len(index.by_series) == 9 and any("junk.dcm" in b["item"] for b in report.bad_items)
    records = {r.image_id: r for r in load_cbis_ddsm(src, report, index=index, progress=False)}
    assert set(records) == {"P_00001_LEFT_CC", "P_00002_RIGHT_MLO", "P_00003_LEFT_MLO"}
    assert any("P_00004_LEFT_CC" in b["item"] and "not found" in b["reason"] for b in report.bad_items)
    merged = records["P_00001_LEFT_CC"]
    # CSVs are read in name order (calc before mass)
    assert merged.abnormality == ["calcification", "mass"] and merged.label == 1 and merged.split == "train"
    assert [roi.roi_class for roi in merged.rois] == ["calc_benign", "mass_malignant", "mass_benign"]
    for roi, name in zip(merged.rois, ["calc", "mass1", "mass2"]):
        np.testing.assert_array_equal(roi.make_mask(SHAPE), expected[name])
    assert records["P_00002_RIGHT_MLO"].split == "test" and records["P_00002_RIGHT_MLO"].label == 0

    rows = {r["image_id"]: r for r in convert_records(list(records.values()), tmp_path / "out", size=(24, 16),
                                                      report=report, progress=False)}
    assert rows["P_00001_LEFT_CC"]["roi_classes"] == ["calc_benign", "mass_malignant", "mass_benign"]
    assert rows["P_00002_RIGHT_MLO"]["roi_mask_paths"] == []  # both ROIs skipped, image kept
    reasons = {(s["image_id"], s["roi_index"]): s["reason"] for s in report.skipped_rois}
    assert "empty" in reasons[("P_00002_RIGHT_MLO", 0)]
    assert "40x30" in reasons[("P_00002_RIGHT_MLO", 1)] and "48x32" in reasons[("P_00002_RIGHT_MLO", 1)]
    assert "P_00003_LEFT_MLO" in rows and ("P_00003_LEFT_MLO", 0) in reasons  # no mask files at all


def test_strict_stops_at_first_problem(tcia_tree):
    src, _ = tcia_tree
    with pytest.raises(PrepareError, match="junk.dcm"):
        load_cbis_ddsm(src, PrepareReport(strict=True), progress=False)


def test_prepare_official_split_and_strict_exit_code(tcia_tree, tmp_path):
    from mammo_tf.commands.prepare import main
    from mammo_tf.datasets.manifest import read_manifest

    src, _ = tcia_tree
    out = tmp_path / "out"
    assert main(["prepare", "cbis-ddsm", "--src", str(src), "--out", str(out), "--size", "24", "16",
                 "--split", "official", "--no-progress"]) == 0
    rows = {r["image_id"]: r for r in read_manifest(out / "manifest.csv")}
    assert rows["P_00002_RIGHT_MLO"]["split"] == "test"
    assert {rows[i]["split"] for i in ("P_00001_LEFT_CC", "P_00003_LEFT_MLO")} <= {"train", "val"}
    assert main(["prepare", "cbis-ddsm", "--src", str(src), "--out", str(out), "--size", "24", "16",
                 "--strict", "--no-progress"]) == 2  # an unusable input item is bad input


def test_header_index_cache_is_reused_and_refreshed(tcia_tree, tmp_path, monkeypatch):
    import mammo_tf.datasets.cbis_ddsm as cbis

    src, _ = tcia_tree
    cache = tmp_path / "index.json"
    first = DicomIndex.build(src, progress=False, cache_path=cache)
    reads = []
    original = cbis.read_dicom_header
    monkeypatch.setattr(cbis, "read_dicom_header", lambda *a, **k: reads.append(a[0]) or original(*a, **k))
    second = DicomIndex.build(src, progress=False, cache_path=cache)
    assert second.by_series == first.by_series
    assert [p for p in reads if not p.endswith("junk.dcm")] == []  # unchanged files: header not re-read
    changed = next(f.path for files in first.by_series.values() for f in files)
    make_dicom(changed, np.zeros((5, 6), np.uint16), series_uid="1.2.3.4")
    third = DicomIndex.build(src, progress=False, cache_path=cache)
    assert changed in reads and third.by_series["1.2.3.4"][0].rows == 5


def test_real_csv_rows_match_a_download_by_series_uid(shared_data, tmp_path):
    """The first real mass-training rows (paths with embedded newlines) against a tree in the
    current TCIA layout whose headers carry the UIDs named in those paths."""
    import csv

    with open(shared_data / "cbis_ddsm_csv" / "mass_case_description_train_set.csv", newline="") as f:
        header, *rows = list(csv.reader(f))[:3]
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "mass_case_description_train_set.csv", "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    column = {name: i for i, name in enumerate(header)}
    rng = np.random.default_rng(0)
    for n, row in enumerate(rows):
        image_parts = row[column["image file path"]].strip().split("/")
        roi_parts = row[column["ROI mask file path"]].strip().split("/")
        make_dicom(src / "CBIS-DDSM" / image_parts[0] / "x" / "1.000000-full mammogram images-1" / "1-1.dcm",
                   rng.integers(0, 60000, SHAPE).astype(np.uint16), series_uid=image_parts[2])
        mask = np.zeros(SHAPE, np.uint8)
        mask[10 + n: 20, 5:15] = 255
        folder = src / "CBIS-DDSM" / roi_parts[0] / "y" / "1.000000-ROI mask images-2"
        make_dicom(folder / "1-1.dcm", rng.integers(0, 60000, (8, 8)).astype(np.uint16), series_uid=roi_parts[2])
        make_dicom(folder / "1-2.dcm", mask, series_uid=roi_parts[2])
    report = PrepareReport()
    records = load_cbis_ddsm(src, report, progress=False)
    assert [r.image_id for r in records] == ["P_00001_LEFT_CC", "P_00001_LEFT_MLO"] and not report.bad_items
    for n, record in enumerate(records):
        assert record.label == 1 and record.rois[0].roi_class == "mass_malignant"
        assert record.rois[0].make_mask(SHAPE).sum() == (10 - n) * 10
