"""INbreast: CSV (';', CRLF) and OsiriX XML parsers, labels, masks, splits - generated fixtures."""
import collections

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_layer_fixtures import inbreast_xml, write_inbreast
from mammo_tf.datasets.inbreast import (InbreastFormatError, draw_patient_subset, label_of_birads, load_inbreast,
                                        parse_inbreast_csv, parse_inbreast_xml)
from mammo_tf.datasets.report import PrepareError, PrepareReport
from mammo_tf.datasets.rois import POINT_RADIUS_PX

BIRADS = ["1", "2", "3", "4a", "4b", "4c", "5", "6"]


def test_birads_labels():
    assert [label_of_birads(b) for b in BIRADS] == [0, 0, None, 1, 1, 1, 1, 1]
    with pytest.raises(ValueError):
        label_of_birads("7")


csv_rows = st.lists(st.tuples(st.integers(10**7, 10**8 - 1), st.sampled_from("LR"),
                              st.sampled_from(["CC", "MLO"]), st.sampled_from(BIRADS)), max_size=10)


@settings(max_examples=50, deadline=None)
@given(csv_rows, st.booleans())
def test_inbreast_csv_parser_property(rows, trailing_blank):
    lines = ["Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads"]
    lines += [f"removed;removed;{s};{v};201001;{n};2;{b}" for n, s, v, b in rows]
    text = "\r\n".join(lines) + ("\r\n;;;;;;;\r\n" if trailing_blank else "\r\n")
    parsed, problems = parse_inbreast_csv(text)
    assert problems == []
    assert [(int(r.file_name), r.laterality, r.view, r.birads) for r in parsed] == rows


def test_inbreast_csv_missing_columns_listed():
    with pytest.raises(InbreastFormatError, match="Bi-Rads") as info:
        parse_inbreast_csv("Patient ID,Laterality,View,File Name\r\n1,L,CC,2\r\n")
    assert "Laterality" in str(info.value) and "';'-separated" in str(info.value)


xml_rois = st.lists(st.tuples(
    st.sampled_from(["Mass", "Calcification", "Cluster", "Spiculated Region"]), st.sampled_from([15, 19]),
    st.lists(st.tuples(st.floats(0, 5000, allow_nan=False), st.floats(0, 5000, allow_nan=False)),
             min_size=1, max_size=6)), max_size=6)


@settings(max_examples=50, deadline=None)
@given(xml_rois)
def test_inbreast_xml_parser_property(rois):
    parsed = parse_inbreast_xml(inbreast_xml(rois))
    assert [(r.name, r.roi_type, len(r.points)) for r in parsed] == [(n, t, len(p)) for n, t, p in rois]
    for roi, (_, _, points) in zip(parsed, rois):
        np.testing.assert_allclose(roi.points, points, atol=1e-5)


@pytest.mark.parametrize("data", [b"<plist><dict><key>Images</key>", b"not xml at all",
                                  b'<?xml version="1.0"?><plist version="1.0"><array/></plist>'])
def test_malformed_xml_raises_with_name(data):
    with pytest.raises(InbreastFormatError, match="x.xml"):
        parse_inbreast_xml(data, name="x.xml")


def _fixture(root):
    polygon = [(5.0, 5.0), (20.0, 5.0), (20.0, 15.0), (5.0, 15.0)]
    images = [
        ("10000001", "aaaa", "L", "CC", "1", []),
        ("10000002", "aaaa", "L", "MLO", "2", None),
        ("10000003", "bbbb", "R", "CC", "4a", [("Mass", 15, polygon), ("Calcification", 19, [(30.0, 40.0)]),
                                              ("Calcification", 19, [(40.0, 50.0)])]),
        ("10000004", "bbbb", "R", "MLO", "3", []),
        ("10000005", "cccc", "L", "CC", "5", [("Mass", 15, [(40.0, 50.0), (90.0, 50.0), (90.0, 90.0)]),
                                             ("Mass", 15, [(100.0, 100.0), (120.0, 100.0), (120.0, 130.0)])]),
        ("10000006", "dddd", "R", "CC", "2", b"<plist><dict>broken"),
    ]
    write_inbreast(root, images)


def test_load_inbreast_labels_masks_and_reports(tmp_path):
    _fixture(tmp_path)
    report = PrepareReport()
    records = {r.image_id: r for r in load_inbreast(tmp_path, report)}
    assert set(records) == {"10000001", "10000002", "10000003", "10000005", "10000006"}
    assert [e["item"] for e in report.excluded] == ["10000004"]  # BI-RADS 3
    assert any("10000006.xml" in b["item"] and "malformed" in b["reason"] for b in report.bad_items)
    assert records["10000003"].patient_id == "bbbb" and records["10000003"].view == "CC"
    assert records["10000002"].view == "MLO" and records["10000002"].label == 0
    positive = records["10000003"]
    assert positive.label == 1 and [r.roi_class for r in positive.rois] == ["mass_malignant", "calc_malignant"]
    polygon = positive.rois[0].make_mask((64, 48))
    assert polygon[10, 10] and not polygon[30, 30] and polygon.sum() == pytest.approx(16 * 11, rel=0.1)
    points = positive.rois[1].make_mask((64, 48))  # two point ROIs merged into one mask
    assert points[40, 30] and points[50, 40] and not points[0, 0]
    assert points.sum() <= 2 * np.pi * (POINT_RADIUS_PX + 1) ** 2
    partly = records["10000005"].rois[0].make_mask((64, 48))  # polygon partly outside: clipped
    assert partly[51, 46] and not partly[60, 41] and not partly[:, :40].any() and not partly[:50].any()
    assert not records["10000005"].rois[1].make_mask((64, 48)).any()  # entirely outside: empty
    with pytest.raises(PrepareError, match="10000006"):
        load_inbreast(tmp_path, PrepareReport(strict=True))


def test_prepare_inbreast_split_and_patient_subset(tmp_path):
    from mammo_tf.datasets.manifest import read_manifest
    from mammo_tf.datasets.prepare import prepare

    images = []
    for patient in range(20):
        birads = "5" if patient % 4 == 0 else "1"
        for view in ("CC", "MLO"):
            images.append((f"{20000000 + 2 * patient + (view == 'MLO')}", f"h{patient:03d}", "L", view, birads, []))
    write_inbreast(tmp_path / "src", images)
    manifest, report = prepare("inbreast", tmp_path / "src", tmp_path / "out", size=(32, 24), progress=False)
    rows = read_manifest(manifest)
    assert len(rows) == 40 and report.converted == 40
    splits = collections.defaultdict(set)
    for row in rows:
        splits[row["split"]].add(row["patient_id"])
    assert set(splits) == {"train", "val"} and not splits["train"] & splits["val"]
    assert len(splits["val"]) == 6  # 30% of 20 patients: 1 of 5 positive + 5 of 15 negative
    assert {r["patient_id"] for r in rows if r["label"] == 1} & splits["val"]
    subset = draw_patient_subset(manifest, 5, seed=3)
    assert len({r["patient_id"] for r in subset if r["split"] == "train"}) == 5
    # the draw is random but reproducible: same seed, same patients; another seed, others
    assert draw_patient_subset(manifest, 5, seed=3) == subset
    assert draw_patient_subset(manifest, 5, seed=4) != subset
    assert [r for r in subset if r["split"] == "val"] == [r for r in rows if r["split"] == "val"]
    bigger = {r["patient_id"] for r in draw_patient_subset(rows, 8, seed=3) if r["split"] == "train"}
    assert {r["patient_id"] for r in subset if r["split"] == "train"} <= bigger  # nested subsets
    with pytest.raises(ValueError, match="14"):
        draw_patient_subset(rows, 60, seed=0)
