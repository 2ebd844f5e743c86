# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""PNG (8/16-bit), JPEG and PGM reading; atomic 16-bit PNG and mask writing."""
import os

import cv2
import numpy as np

from mammo_tf.io.errors import MammogramReadError
from mammo_tf.io.metadata import MammogramMetadata, side_view_from_name
from mammo_tf.utils import atomic_path


def _to_grey(path, pixels):
    if pixels.ndim == 2:
        return pixels
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = pixels[..., :3]
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        return pixels[..., 0]
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        if np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 0], pixels[..., 2]):
            return pixels[..., 0]
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    raise MammogramReadError(path, f"unsupported image shape {pixels.shape}")


def _imread(path):
    if not os.path.isfile(path):
        raise MammogramReadError(path, "file does not exist")
    if not os.access(path, os.R_OK):
        raise MammogramReadError(path, "file is not readable (permission denied)")
    # np.fromfile + imdecode also works for non-ASCII paths, unlike cv2.imread on some systems.
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise MammogramReadError(path, f"cannot read file ({exc})") from exc
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if pixels is None:
        raise MammogramReadError(path, "not a decodable image (damaged or truncated file?)")
    return pixels


def read_png(path):
    """Read an 8- or 16-bit PNG as ``(float32 image, MammogramMetadata)``; 16 bits are kept."""
    return _read_decoded(path, "png")


def read_jpeg(path):
    """Read a (baseline, 8-bit) JPEG as ``(float32 image, MammogramMetadata)``; colour files are
    converted to grey. Its nominal range is 0..255, like an 8-bit PNG."""
    return _read_decoded(path, "jpeg")


def _read_decoded(path, kind):
    path = os.fspath(path)
    pixels = _to_grey(path, _imread(path))
    if pixels.dtype not in (np.uint8, np.uint16):
        raise MammogramReadError(path, f"unsupported {kind.upper()} sample type {pixels.dtype}")
    bits = 8 if pixels.dtype == np.uint8 else 16
    side, view = side_view_from_name(path)
    return pixels.astype(np.float32), MammogramMetadata(
        path=path, format=kind, bits_stored=bits, value_min=0.0, value_max=float(2**bits - 1),
        rows=pixels.shape[0], columns=pixels.shape[1], laterality=side, view=view,
    )


def _pgm_header(data, path):
    """Parse a binary (P5) or ASCII (P2) PGM header; returns (magic, width, height, maxval, offset)."""
    tokens, pos = [], 2
    while len(tokens) < 3:
        while pos < len(data) and chr(data[pos]).isspace():
            pos += 1
        if pos < len(data) and data[pos] == ord("#"):
            while pos < len(data) and data[pos] not in (10, 13):
                pos += 1
            continue
        start = pos
        while pos < len(data) and not chr(data[pos]).isspace():
            pos += 1
        if start == pos:
            raise MammogramReadError(path, "truncated PGM header")
        try:
            tokens.append(int(data[start:pos]))
        except ValueError as exc:
            raise MammogramReadError(path, f"malformed PGM header value {data[start:pos]!r}") from exc
    width, height, maxval = tokens
    if width <= 0 or height <= 0 or not 0 < maxval < 65536:
        raise MammogramReadError(path, f"invalid PGM header (width={width}, height={height}, maxval={maxval})")
    return width, height, maxval, pos + 1  # exactly one whitespace byte ends the header


def read_pgm(path):
    """Read a P5 (binary) or P2 (ASCII) PGM; the value range is 0..maxval from the header."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise MammogramReadError(path, f"cannot read file ({exc})") from exc
    magic = data[:2]
    if magic not in (b"P5", b"P2"):
        raise MammogramReadError(path, "not a PGM file (expected P5 or P2 magic)")
    width, height, maxval, offset = _pgm_header(data, path)
    count = width * height
    if magic == b"P5":
        dtype = np.dtype(np.uint8) if maxval < 256 else np.dtype(">u2")  # 16-bit PGM is big-endian
        expected = count * dtype.itemsize
        if len(data) - offset < expected:
            raise MammogramReadError(
                path, f"truncated PGM: {len(data) - offset} bytes of pixel data, expected {expected}"
            )
        pixels = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(height, width)
    else:
        values = data[offset:].split()
        if len(values) < count:
            raise MammogramReadError(path, f"truncated PGM: {len(values)} values, expected {count}")
        pixels = np.array(values[:count], dtype=np.int64).reshape(height, width)
    bits = max(int(maxval).bit_length(), 1)
    side, view = side_view_from_name(path)
    return pixels.astype(np.float32), MammogramMetadata(
        path=path, format="pgm", bits_stored=bits, value_min=0.0, value_max=float(maxval),
        rows=height, columns=width, laterality=side, view=view,
    )


def write_png16(path, image):
    """Write a 2-D uint16 array as a 16-bit grey PNG, atomically (temp file + rename)."""
    image = np.asarray(image)
    if image.dtype != np.uint16 or image.ndim != 2:
        raise ValueError(f"write_png16 needs a 2-D uint16 array, got {image.dtype} {image.shape}")
    _write_png(path, image)


def read_png16(path):
    """Read a 16-bit grey PNG written by :func:`write_png16` as a uint16 array (H, W)."""
    path = os.fspath(path)
    pixels = _to_grey(path, _imread(path))
    if pixels.dtype != np.uint16:
        raise MammogramReadError(path, f"expected a 16-bit PNG, found {pixels.dtype}")
    return pixels


def write_mask_png(path, mask):
    """Write a boolean ROI mask as an 8-bit PNG (0 = outside, 255 = ROI), atomically."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"write_mask_png needs a 2-D mask, got shape {mask.shape}")
    _write_png(path, np.where(mask > 0, 255, 0).astype(np.uint8))


def resize_mask(mask, size):
    """Nearest-neighbour resize of a boolean mask to ``size`` = (height, width); a mask already
    at ``size`` is returned as bool."""
    height, width = int(size[0]), int(size[1])
    mask = np.asarray(mask)
    if mask.shape[:2] == (height, width):
        return mask.astype(bool)
    return cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0


def read_mask(path, size=None):
    """Read an ROI mask PNG as a boolean array (any non-zero pixel is inside the ROI), resized
    to ``size`` = (height, width) by nearest neighbour when given: the one ROI mask reader."""
    path = os.fspath(path)
    mask = _to_grey(path, _imread(path)) > 0
    return mask if size is None else resize_mask(mask, size)


def _write_png(path, array):
    with atomic_path(path) as tmp:
        if not cv2.imwrite(tmp, array):
            raise OSError(f"{os.fspath(path)}: OpenCV could not write the PNG")
