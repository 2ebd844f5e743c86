"""DICOM reading: LUTs, inversion, bad files (truncated, no pixels, compression, unreadable)."""
import os

import numpy as np
import pydicom
import pytest
from pydicom.sequence import Sequence
from pydicom.dataset import Dataset
from pydicom.uid import RLELossless

from data_layer_fixtures import make_dicom
from mammo_tf.io import MammogramReadError, read_dicom_header, read_mammogram, to_uint16

RAMP = np.arange(16, dtype=np.uint16).reshape(4, 4) * 256  # 0..3840, fits 12 bits


def test_monochrome2_plain_keeps_values_and_range(tmp_path):
    path = tmp_path / "plain.dcm"
    make_dicom(path, RAMP, bits_stored=12, ImageLaterality="R", ViewPosition="MLO")
    image, meta = read_mammogram(path)
    assert image.dtype == np.float32 and image.shape == (4, 4)
    np.testing.assert_array_equal(image, RAMP)
    assert (meta.format, meta.bits_stored, meta.value_min, meta.value_max) == ("dicom", 12, 0, 4095)
    assert (meta.laterality, meta.view, meta.inverted, meta.voi_applied) == ("R", "MLO", False, None)
    u16 = to_uint16(image, meta)
    assert u16.dtype == np.uint16 and u16[0, 1] == round(256 * 65535 / 4095)


def test_monochrome1_is_inverted_so_dense_is_bright(tmp_path):
    path = tmp_path / "mono1.dcm"
    make_dicom(path, RAMP, photometric="MONOCHROME1", bits_stored=12, PresentationLUTShape="INVERSE")
    image, meta = read_mammogram(path)
    assert meta.inverted and meta.photometric_interpretation == "MONOCHROME1"
    # MONOCHROME1 + INVERSE describe ONE inversion (DX/MG IODs pair them): applied once.
    np.testing.assert_array_equal(image, 4095 - RAMP.astype(np.float32))


def test_presentation_lut_inverse_alone_inverts(tmp_path):
    path = tmp_path / "inverse.dcm"
    make_dicom(path, RAMP, bits_stored=12, PresentationLUTShape="INVERSE")
    image, meta = read_mammogram(path)
    assert meta.inverted
    np.testing.assert_array_equal(image, 4095 - RAMP.astype(np.float32))


def test_modality_rescale_slope_intercept(tmp_path):
    path = tmp_path / "rescale.dcm"
    make_dicom(path, RAMP, bits_stored=12, RescaleSlope="2", RescaleIntercept="-100")
    image, meta = read_mammogram(path)
    np.testing.assert_allclose(image, RAMP * 2.0 - 100)
    assert meta.modality_lut_applied and (meta.value_min, meta.value_max) == (-100, 4095 * 2 - 100)
    u16 = to_uint16(image, meta)
    assert u16[0, 0] == 0 and u16.max() == round((3840 * 2) * 65535 / (4095 * 2))


def test_voi_window_is_applied(tmp_path):
    path = tmp_path / "window.dcm"
    make_dicom(path, RAMP, bits_stored=12, WindowCenter="2048", WindowWidth="1024")
    image, meta = read_mammogram(path)
    assert meta.voi_applied == "window"
    assert image[0, 0] == 0 and image[-1, -1] == 4095  # below / above the window are clipped
    inside = (RAMP > 1600) & (RAMP < 2500)
    assert 0 < image[inside].min() and image[inside].max() < 4095
    raw, _ = read_mammogram(path, apply_voi=False)
    np.testing.assert_array_equal(raw, RAMP)


def test_voi_lut_sequence_sets_output_range(tmp_path):
    path = tmp_path / "voilut.dcm"
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 10]  # 4096 entries from 0, 10-bit output
    item.LUTData = (np.arange(4096, dtype="<u2") // 4).tobytes()  # 0..1023 (OW)
    make_dicom(path, RAMP, bits_stored=12, VOILUTSequence=Sequence([item]))
    image, meta = read_mammogram(path)
    assert meta.voi_applied == "lut" and meta.value_max == 1023
    np.testing.assert_array_equal(image, RAMP // 4)
    assert to_uint16(image, meta).max() == round(960 * 65535 / 1023)


def test_truncated_dicom_names_the_file(tmp_path):
    path = tmp_path / "truncated.dcm"
    make_dicom(path, np.full((64, 64), 1000, np.uint16))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 3000])
    with pytest.raises(MammogramReadError) as info:
        read_mammogram(path)
    assert str(path) in str(info.value)


def test_real_header_without_pixel_data(shared_data):
    path = shared_data / "dicom_mg_headers" / "MG-Im-Hologic-PropProj.dcm"
    with pytest.raises(MammogramReadError, match="no PixelData") as info:
        read_mammogram(path)
    assert "MG-Im-Hologic-PropProj.dcm" in str(info.value)


def test_real_headers_monochrome1_detected(shared_data):
    folder = shared_data / "dicom_mg_headers"
    found = {}
    for name in sorted(os.listdir(folder)):
        header = read_dicom_header(folder / name)
        found[name] = header.PhotometricInterpretation
        if name == "MG-Im-Hologic-PropProj.dcm":
            continue  # header only
        image, meta = read_mammogram(folder / name)
        assert meta.inverted == (header.PhotometricInterpretation == "MONOCHROME1")
        assert meta.value_min <= image.min() and image.max() <= meta.value_max
    assert found["MG-Im-GE-SenDS-scaled.dcm"] == "MONOCHROME1"
    assert found["MG-Im-Hologic-PropProj.dcm"] == "MONOCHROME1"
    assert found["MG-Im-GE_Seno_1_ForPresentation.dcm"] == "MONOCHROME2"
    # GE SenDS MONOCHROME1, 14 bits: stored 16383 (no attenuation) must come out darkest.
    image, meta = read_mammogram(folder / "MG-Im-GE-SenDS-scaled.dcm")
    raw = pydicom.dcmread(folder / "MG-Im-GE-SenDS-scaled.dcm").pixel_array
    np.testing.assert_array_equal(image, 16383 - raw.astype(np.float32))
    # For-presentation GE files carry a VOI LUT sequence (12-bit output): it is applied.
    _, meta = read_mammogram(folder / "MG-Im-GE_Seno_1_ForPresentation.dcm")
    assert meta.voi_applied == "lut" and meta.value_max == 4095


def test_rle_compressed_is_decoded(tmp_path):
    path = tmp_path / "rle.dcm"
    ds = make_dicom(path, RAMP, bits_stored=12)
    ds.compress(RLELossless, encoding_plugin="pydicom")
    ds.save_as(path, enforce_file_format=True)
    image, _ = read_mammogram(path)
    np.testing.assert_array_equal(image, RAMP)


@pytest.mark.parametrize("content", [b"", b"not a dicom file at all" * 10, b"\x00" * 128 + b"DICM" + b"\x02"])
def test_unreadable_files_raise_with_path(tmp_path, content):
    path = tmp_path / "broken.dcm"
    path.write_bytes(content)
    with pytest.raises(MammogramReadError) as info:
        read_mammogram(path)
    assert str(path) in str(info.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(MammogramReadError, match="does not exist"):
        read_mammogram(tmp_path / "nope.dcm")
    with pytest.raises(MammogramReadError, match="folder"):
        read_mammogram(tmp_path)
