"""mini-MIAS: Info.txt parsing (property tests), labels, ROI geometry, real-data counts."""
import collections

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mammo_tf.datasets.mini_mias import (MiasRow, image_label, load_mini_mias, parse_info_line, parse_info_txt,
                                         patch_class, patient_of, side_of)
from mammo_tf.datasets.report import PrepareReport

ABNORMAL = ("CALC", "CIRC", "SPIC", "MISC", "ARCH", "ASYM")


def _line(row):
    if row.abnormality == "NORM":
        return f"{row.refnum} {row.tissue} NORM "  # NORM rows end with a space
    text = f"{row.refnum} {row.tissue} {row.abnormality} {row.severity}"
    if row.x is not None:
        text += f" {row.x} {row.y} {row.radius}"
    elif row.abnormality == "CALC":
        text += " *NOTE 3*"
    return text


mias_rows = st.builds(
    lambda n, tissue, cls, sev, loc: MiasRow(
        f"mdb{n:03d}", tissue, cls, None if cls == "NORM" else sev,
        *(loc if (cls != "NORM" and loc is not None) else (None, None, None))),
    st.integers(1, 322), st.sampled_from("FGD"), st.sampled_from(ABNORMAL + ("NORM",)), st.sampled_from("BM"),
    st.one_of(st.none(), st.tuples(st.integers(0, 1023), st.integers(0, 1023), st.integers(1, 200))),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(mias_rows, max_size=12), st.text(alphabet="abc XYZ=\n\t", max_size=40))
def test_info_txt_parser_round_trip(rows, noise):
    text = "MAMMOGRAPHIC IMAGE ANALYSIS SOCIETY\n" + noise + "\n=====\n" + "\n".join(map(_line, rows)) + "\n====\n"
    parsed, problems = parse_info_txt(text.replace("\n", "\r\n"))
    assert problems == [] and parsed == rows


@given(st.sampled_from(["mdb001 X CIRC B 1 2 3", "mdb001 F BLOB B", "mdb001 F CIRC", "mdb001 F CIRC Q",
                        "mdb001 F CIRC B 1 2", "mdb001 F CIRC B a b c"]))
def test_malformed_lines_are_reported(line):
    with pytest.raises(ValueError, match="mdb001"):
        parse_info_line(line)
    rows, problems = parse_info_txt("mdb002 F NORM \n" + line + "\n")
    assert len(rows) == 1 and len(problems) == 1 and "line 2" in problems[0]


def test_labels_patients_sides_and_classes():
    rows = [MiasRow("mdb144", "F", "MISC", "B", 233, 994, 29), MiasRow("mdb144", "F", "MISC", "M", 313, 540, 27)]
    assert image_label(rows) == (1, "MALIGNANT")  # worst severity wins
    assert image_label([MiasRow("mdb009", "F", "NORM")]) == (0, "NORMAL")
    assert patient_of("mdb009") == patient_of("mdb010") != patient_of("mdb011")
    assert (side_of("mdb009"), side_of("mdb010")) == ("R", "L")
    assert patch_class("CALC", "M") == "calc_malignant" and patch_class("SPIC", "B") == "mass_benign"
    assert {patch_class(c, "M") for c in ABNORMAL[1:]} == {"mass_malignant"}


def _write_folder(root, info_lines):
    root.mkdir(parents=True, exist_ok=True)
    (root / "Info.txt").write_text("header\n\n" + "\n".join(info_lines) + "\n")
    for name in sorted({line.split()[0] for line in info_lines}):
        (root / f"{name}.pgm").write_bytes(b"P5\n1024 1024\n255\n" + bytes(1024 * 1024))


def test_roi_circle_counts_y_from_the_bottom(tmp_path):
    _write_folder(tmp_path / "m", ["mdb001 G CIRC B 100 200 10", "mdb002 G CALC M *NOTE 3*", "mdb003 F NORM "])
    report = PrepareReport()
    records = {r.image_id: r for r in load_mini_mias(tmp_path / "m", report)}
    mask = records["mdb001"].rois[0].make_mask((1024, 1024))
    ys, xs = np.nonzero(mask)
    assert (round(ys.mean()), round(xs.mean())) == (1023 - 200, 100)
    assert records["mdb002"].rois == [] and records["mdb002"].label == 1  # no coordinates: label kept
    assert any("no coordinates" in note for note in report.notes)


def test_roi_partly_outside_is_clipped_and_fully_outside_is_empty(tmp_path):
    _write_folder(tmp_path / "m", ["mdb001 G CIRC B 2 1020 30", "mdb001 G CIRC B 3000 3000 5"])
    records = load_mini_mias(tmp_path / "m")
    partial = records[0].rois[0].make_mask((1024, 1024))
    assert partial.any() and partial.sum() < np.pi * 30**2 * 0.5
    assert not records[0].rois[1].make_mask((1024, 1024)).any()


def test_missing_image_file_is_reported_or_strict(tmp_path):
    _write_folder(tmp_path / "m", ["mdb001 G NORM "])
    (tmp_path / "m" / "Info.txt").write_text("mdb001 G NORM \nmdb002 G NORM \n")
    report = PrepareReport()
    assert [r.image_id for r in load_mini_mias(tmp_path / "m", report)] == ["mdb001"]
    assert report.bad_items and "mdb002" in report.bad_items[0]["item"]
    from mammo_tf.datasets.report import PrepareError

    with pytest.raises(PrepareError, match="mdb002"):
        load_mini_mias(tmp_path / "m", PrepareReport(strict=True))


def test_real_32_images_counts(shared_data):
    records = load_mini_mias(shared_data / "mini_mias")
    assert len(records) == 32
    assert collections.Counter(r.pathology for r in records) == {"NORMAL": 18, "BENIGN": 7, "MALIGNANT": 7}
    assert len({r.patient_id for r in records}) == 16
    by_id = {r.image_id: r for r in records}
    assert [r.roi_class for r in by_id["mdb144"].rois] == ["mass_benign", "mass_malignant"]
    assert by_id["mdb239"].abnormality == ["CALC"] and len(by_id["mdb239"].rois) == 2


@pytest.mark.slow
def test_real_258_archive_counts(shared_data, tmp_path):
    from mammo_tf.datasets.manifest import read_manifest
    from mammo_tf.datasets.prepare import prepare

    # the .tar.xz itself is a valid --src: extracted once into <out>/source
    manifest, report = prepare("mini-mias", shared_data / "mini_mias_258.tar.xz", tmp_path, size=(64, 48),
                               progress=False)
    rows = read_manifest(manifest)
    assert len(rows) == 258 and not report.bad_items and not report.skipped_rois
    assert collections.Counter(r["pathology"] for r in rows) == {"NORMAL": 170, "BENIGN": 49, "MALIGNANT": 39}
    records = load_mini_mias(tmp_path / "source")
    assert collections.Counter(r.pathology for r in records) == {"NORMAL": 170, "BENIGN": 49, "MALIGNANT": 39}


def test_prepare_real_32_images(shared_data, tmp_path):
    from mammo_tf.datasets.manifest import read_manifest
    from mammo_tf.datasets.prepare import prepare
    from mammo_tf.io import read_mask, read_png16

    manifest, report = prepare("mini-mias", shared_data / "mini_mias", tmp_path, size=(128, 96), progress=False)
    rows = read_manifest(manifest)
    assert len(rows) == 32 and report.converted == 32 and not report.bad_items and not report.skipped_rois
    assert sum(len(r["roi_mask_paths"]) for r in rows) == 17
    patients = collections.defaultdict(set)
    for row in rows:
        patients[row["patient_id"]].add(row["split"])
    assert all(len(s) == 1 for s in patients.values())  # split by patient
    row = next(r for r in rows if r["image_id"] == "mdb181")
    image, mask = read_png16(tmp_path / row["image_path"]), read_mask(tmp_path / row["roi_mask_paths"][0])
    assert image.shape == mask.shape == (128, 96)
    assert image[mask].mean() > image[image > 0].mean()  # the spiculated mass is brighter than the breast
