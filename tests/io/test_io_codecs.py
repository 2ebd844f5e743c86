"""Compressed DICOM out of the box (issue 15): JPEG-LS, JPEG 2000, JPEG baseline/extended/lossless
decoded by the install dependencies; VOI LUT functions; multi-frame; unsupported syntaxes."""
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.pixels import get_decoder
from pydicom.uid import (
    JPEG2000, JPEG2000Lossless, JPEG2000MC, JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLosslessSV1,
    JPEGLSLossless, JPEGLSNearLossless, MPEG2MPML,
)

from data_layer_fixtures import make_dicom
from mammo_tf.io import MammogramReadError, MissingDecoderError, read_mammogram, to_uint16


def synthetic_mammogram(shape=(96, 64), seed=0):
    """A 16-bit 'breast': bright half-ellipse on a zero background, plus noise."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    inside = ((rows - shape[0] / 2) / (shape[0] * 0.45)) ** 2 + (cols / (shape[1] * 0.8)) ** 2 < 1
    image = np.where(inside, 30000 + 8000 * np.cos(rows / 7.0) + rng.normal(0, 500, shape), 0)
    return np.clip(image, 0, 65535).astype(np.uint16)


def _compressed(tmp_path, syntax, **encode):
    pixels = synthetic_mammogram()
    path = tmp_path / f"{syntax.name.split()[0]}.dcm"
    ds = make_dicom(path, pixels, bits_stored=16)
    ds.compress(syntax, **encode)
    ds.save_as(path, enforce_file_format=True)
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == syntax
    return path, pixels


@pytest.mark.parametrize("syntax", [JPEGLSLossless, JPEG2000Lossless])
def test_lossless_round_trip_is_exact(tmp_path, syntax):
    path, pixels = _compressed(tmp_path, syntax)
    image, meta = read_mammogram(path)
    np.testing.assert_array_equal(image, pixels)
    np.testing.assert_array_equal(to_uint16(image, meta), pixels)


def test_jpegls_near_lossless_within_its_error_bound(tmp_path):
    """JPEG-LS near-lossless guarantees |decoded - original| <= NEAR (ISO 14495-1)."""
    path, pixels = _compressed(tmp_path, JPEGLSNearLossless, jls_error=3)
    image, _ = read_mammogram(path)
    error = np.abs(image - pixels.astype(np.float32))
    assert 0 < error.max() <= 3


def test_jpeg2000_lossy_within_tolerance(tmp_path):
    path, pixels = _compressed(tmp_path, JPEG2000, j2k_psnr=[60])
    image, _ = read_mammogram(path)
    mse = np.mean((image - pixels.astype(np.float64)) ** 2)
    psnr = 10 * np.log10(65535.0**2 / max(mse, 1e-12))
    assert psnr > 55  # asked for 60 dB; an encoding/decoding mix-up would give < 20 dB


@pytest.mark.parametrize("syntax", [JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLosslessSV1, JPEGLSLossless,
                                    JPEG2000Lossless, JPEG2000])
def test_every_still_image_codec_has_an_installed_decoder(syntax):
    assert get_decoder(syntax).is_available, f"{syntax.name}: decoder missing (setup.py install_requires)"


def test_jpeg_extended_12bit_bundled_file_reads():
    path = get_testdata_file("JPGExtended.dcm")
    image, meta = read_mammogram(path)
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == JPEGExtended12Bit and meta.bits_stored == 12
    assert image.shape == (ds.Rows, ds.Columns) and meta.value_min <= image.min() <= image.max() <= meta.value_max


def test_jpeg_baseline_and_lossless_bundled_files_decode_to_the_uncompressed_reference():
    """pydicom ships one RGB image RLE-compressed (SC_rgb_rle.dcm, decoded by pydicom itself),
    JPEG lossless process 14 (SC_rgb_jpeg_gdcm.dcm) and JPEG baseline (SC_rgb_jpeg_dcmtk.dcm)."""
    reference = pydicom.dcmread(get_testdata_file("SC_rgb_rle.dcm")).pixel_array.astype(np.int32)
    lossless = pydicom.dcmread(get_testdata_file("SC_rgb_jpeg_gdcm.dcm"))
    assert lossless.file_meta.TransferSyntaxUID == JPEGLosslessSV1
    np.testing.assert_array_equal(lossless.pixel_array, reference)
    baseline = pydicom.dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))
    assert baseline.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    assert np.abs(baseline.pixel_array.astype(np.int32) - reference).mean() < 5
    # The reader decodes them, then refuses colour with a clear message (mammograms are grey).
    with pytest.raises(MammogramReadError, match="colour image"):
        read_mammogram(get_testdata_file("SC_rgb_jpeg_gdcm.dcm"))


def test_sigmoid_voi_lut_matches_the_formula(tmp_path):
    """PS3.3 C.11.2.1.3.1: y = (y_max - y_min) / (1 + exp(-4 (x - c) / w)) + y_min."""
    x = np.arange(64, dtype=np.uint16).reshape(8, 8) * 64  # 0..4032, 12 bits stored
    path = tmp_path / "sigmoid.dcm"
    make_dicom(path, x, bits_stored=12, WindowCenter="2000", WindowWidth="1500", VOILUTFunction="SIGMOID")
    image, meta = read_mammogram(path)
    expected = 4095.0 / (1 + np.exp(-4 * (x.astype(np.float64) - 2000) / 1500)) + 0.0
    np.testing.assert_allclose(image, expected, rtol=1e-5, atol=1e-3)
    assert (meta.voi_applied, meta.voi_function, meta.value_max) == ("window", "SIGMOID", 4095)


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT"])
def test_linear_voi_functions_match_the_standard(tmp_path, function):
    """PS3.3 C.11.2.1.2.1 (LINEAR: c - 0.5, w - 1) and C.11.2.1.3.2 (LINEAR_EXACT: c, w)."""
    x = np.arange(64, dtype=np.uint16).reshape(8, 8) * 64
    path = tmp_path / "linear.dcm"
    make_dicom(path, x, bits_stored=12, WindowCenter="2000", WindowWidth="1001", VOILUTFunction=function)
    image, meta = read_mammogram(path)
    c, w = (1999.5, 1000.0) if function == "LINEAR" else (2000.0, 1001.0)
    xf = x.astype(np.float64)
    expected = np.clip(((xf - c) / w + 0.5) * 4095, 0, 4095)
    expected[xf <= c - w / 2] = 0
    expected[xf > c + w / 2] = 4095
    np.testing.assert_allclose(image, expected, atol=1e-2)
    assert meta.voi_function == function


def test_unknown_voi_function_is_a_clear_error(tmp_path):
    path = tmp_path / "bad_voi.dcm"
    make_dicom(path, np.zeros((4, 4), np.uint16), bits_stored=12, WindowCenter="100", WindowWidth="50",
               VOILUTFunction="CUBIC")
    with pytest.raises(MammogramReadError, match="CUBIC") as info:
        read_mammogram(path)
    assert str(path) in str(info.value)
    image, _ = read_mammogram(path, apply_voi=False)
    assert image.shape == (4, 4)


def _multi_frame(path, frames):
    ds = make_dicom(path, frames[0])
    ds.NumberOfFrames = len(frames)
    ds.PixelData = np.ascontiguousarray(frames).astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_multi_frame_names_the_frame_count_and_frame_option_reads_one(tmp_path):
    path = tmp_path / "dbt.dcm"
    frames = np.stack([np.full((6, 5), 100 * (k + 1), np.uint16) for k in range(7)])
    _multi_frame(path, frames)
    with pytest.raises(MammogramReadError, match="7 frames") as info:
        read_mammogram(path)
    assert str(path) in str(info.value) and "--frame" in str(info.value)
    image, meta = read_mammogram(path, frame=3)
    np.testing.assert_array_equal(image, frames[3])
    assert meta.frame == 3
    with pytest.raises(MammogramReadError, match="frame 7 requested"):
        read_mammogram(path, frame=7)


@pytest.mark.parametrize("syntax, hint", [(MPEG2MPML, "video"), (JPEG2000MC, "gdcmconv")])
def test_unsupported_syntax_names_file_syntax_and_decoder(tmp_path, syntax, hint):
    path = tmp_path / "unsupported.dcm"
    make_dicom(path, np.zeros((8, 8), np.uint16), transfer_syntax=syntax,
               PixelData=encapsulate([b"\x00\x00\x00\x00"]))
    with pytest.raises(MissingDecoderError) as info:
        read_mammogram(path)
    message = str(info.value)
    assert str(path) in message and syntax.name in message and str(syntax) in message and hint in message


def test_missing_plugin_error_names_the_packages(tmp_path, monkeypatch):
    """Where a decoder's plugins are absent (e.g. a bare pydicom), the error says what to install."""
    import mammo_tf.io.dicom as dicom

    class Absent:
        is_available = False
        missing_dependencies = ["gdcm - requires gdcm>=3.0.10",
                                "pylibjpeg - requires pylibjpeg>=2.0 and pylibjpeg-libjpeg>=2.1"]

    monkeypatch.setattr(dicom, "get_decoder", lambda syntax: Absent())
    path = tmp_path / "jls.dcm"
    make_dicom(path, np.zeros((8, 8), np.uint16), transfer_syntax=JPEGLSLossless,
               PixelData=encapsulate([b"\xff\xd8\xff\xd9"]))
    with pytest.raises(MissingDecoderError) as info:
        read_mammogram(path)
    message = str(info.value)
    assert str(path) in message and JPEGLSLossless.name in message
    assert "pip install python-gdcm" in message and "pip install pylibjpeg pylibjpeg-libjpeg" in message
