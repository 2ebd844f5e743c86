"""PNG / PGM reading, the 16-bit conversion rule, atomic PNG writing."""
import os

import cv2
import numpy as np
import pytest

from mammo_tf.io import (MammogramReadError, read_mammogram, read_mask, read_png16, side_view_from_name,
                         to_uint16, write_mask_png, write_png16)


def test_png16_round_trip_keeps_precision(tmp_path):
    image = (np.arange(64 * 48, dtype=np.uint32) * 21 % 65536).astype(np.uint16).reshape(64, 48)
    path = tmp_path / "sub" / "img.png"
    write_png16(path, image)
    assert os.listdir(path.parent) == ["img.png"]  # no temporary file left behind
    np.testing.assert_array_equal(read_png16(path), image)
    pixels, meta = read_mammogram(path)
    assert meta.bits_stored == 16 and meta.value_max == 65535
    np.testing.assert_array_equal(to_uint16(pixels, meta), image)


def test_png8_scaled_by_257(tmp_path):
    image = np.arange(256, dtype=np.uint8).reshape(16, 16)
    path = tmp_path / "img8.png"
    cv2.imwrite(str(path), image)
    pixels, meta = read_mammogram(path)
    assert meta.bits_stored == 8
    np.testing.assert_array_equal(to_uint16(pixels, meta), image.astype(np.uint16) * 257)
    with pytest.raises(MammogramReadError, match="16-bit"):
        read_png16(path)


def test_write_png16_rejects_wrong_dtype(tmp_path):
    with pytest.raises(ValueError, match="uint16"):
        write_png16(tmp_path / "x.png", np.zeros((4, 4), np.float32))
    assert not os.listdir(tmp_path)


def test_mask_png_round_trip(tmp_path):
    mask = np.zeros((20, 10), bool)
    mask[3:7, 2:5] = True
    write_mask_png(tmp_path / "m.png", mask)
    assert cv2.imread(str(tmp_path / "m.png"), cv2.IMREAD_UNCHANGED).max() == 255
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), mask)


def test_pgm_binary_8_and_16_bit_and_ascii(tmp_path):
    data8 = np.arange(12, dtype=np.uint8).reshape(3, 4)
    (tmp_path / "a.pgm").write_bytes(b"P5\n# comment\n4 3\n255\n" + data8.tobytes())
    pixels, meta = read_mammogram(tmp_path / "a.pgm")
    np.testing.assert_array_equal(pixels, data8)
    assert (meta.format, meta.value_max) == ("pgm", 255)
    data16 = np.array([[0, 1000], [4095, 7]], dtype=">u2")
    (tmp_path / "b.pgm").write_bytes(b"P5 2 2 4095\n" + data16.tobytes())
    pixels, meta = read_mammogram(tmp_path / "b.pgm")
    np.testing.assert_array_equal(pixels, data16.astype(np.float32))
    assert meta.bits_stored == 12 and to_uint16(pixels, meta)[1, 0] == 65535
    (tmp_path / "c.pgm").write_bytes(b"P2\n2 2\n255\n0 10\n20 255\n")
    pixels, _ = read_mammogram(tmp_path / "c.pgm")
    np.testing.assert_array_equal(pixels, [[0, 10], [20, 255]])


def test_truncated_pgm_and_garbage_png(tmp_path):
    (tmp_path / "t.pgm").write_bytes(b"P5\n1024 1024\n255\n" + b"\x00" * 100)
    with pytest.raises(MammogramReadError, match="truncated") as info:
        read_mammogram(tmp_path / "t.pgm")
    assert "t.pgm" in str(info.value)
    good = cv2.imencode(".png", np.zeros((32, 32), np.uint16))[1].tobytes()
    (tmp_path / "g.png").write_bytes(good[:40])
    with pytest.raises(MammogramReadError, match="g.png"):
        read_mammogram(tmp_path / "g.png")
    (tmp_path / "x.jpg2").write_bytes(b"hello world")
    with pytest.raises(MammogramReadError, match="unrecognised"):
        read_mammogram(tmp_path / "x.jpg2")


def test_side_view_from_names():
    assert side_view_from_name("1_L_CC.png") == ("L", "CC")
    assert side_view_from_name("22678622_6bf3c1ed8ba2a8fb_MG_R_ML_ANON.dcm") == ("R", "ML")
    assert side_view_from_name("mdb001.pgm") == (None, None)


def test_nyu_16bit_pngs_keep_their_range(shared_data):
    path = shared_data / "nyu_ffdm_samples" / "1_L_CC.png"
    pixels, meta = read_mammogram(path)
    assert pixels.shape == (3328, 2560) and meta.bits_stored == 16
    assert (meta.laterality, meta.view) == ("L", "CC")
    u16 = to_uint16(pixels, meta)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(u16, raw)  # 16-bit values pass through unchanged
    # 12-bit data scaled to 16 bits: far more than 256 grey levels, max well above 8-bit range
    assert u16.max() > 60000 and len(np.unique(u16[::8, ::8])) > 1000


def test_jpeg_reads_as_8_bit_grey_and_maps_by_257(tmp_path):
    from mammo_tf.io.images import load_image

    grey = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (16, 1))
    assert cv2.imwrite(str(tmp_path / "g.jpg"), grey, [cv2.IMWRITE_JPEG_QUALITY, 100])
    pixels, meta = read_mammogram(tmp_path / "g.jpg")
    assert meta.format == "jpeg" and meta.bits_stored == 8 and meta.value_max == 255
    decoded = cv2.imread(str(tmp_path / "g.jpg"), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(pixels, decoded)
    np.testing.assert_array_equal(load_image(tmp_path / "g.jpg"), decoded.astype(np.uint16) * 257)


def test_read_mask_resizes_by_nearest_neighbour(tmp_path):
    mask = np.zeros((8, 6), bool)
    mask[2:4, 0:3] = True
    write_mask_png(tmp_path / "m.png", mask)
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png", (8, 6)), mask)
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png", (16, 12)), mask.repeat(2, 0).repeat(2, 1))
