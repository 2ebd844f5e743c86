# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""``read_mammogram``: one entry point for DICOM, PNG, JPEG and PGM files."""
import os

from mammo_tf.io.dicom import read_dicom
from mammo_tf.io.errors import MammogramReadError
from mammo_tf.io.raster import read_jpeg, read_pgm, read_png

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_DICOM_SUFFIXES = (".dcm", ".dicom", ".dic", "")


def sniff_format(path):
    """Return "dicom", "png", "jpeg" or "pgm" from the file's first bytes (extension as a fallback)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise MammogramReadError(path, "file does not exist")
    if os.path.isdir(path):
        raise MammogramReadError(path, "is a folder, not an image file")
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError as exc:
        raise MammogramReadError(path, f"cannot read file ({exc.strerror or exc})") from exc
    if not head:
        raise MammogramReadError(path, "file is empty")
    if head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(_PNG_MAGIC):
        return "png"
    if head.startswith(_JPEG_MAGIC):
        return "jpeg"
    if head[:2] in (b"P5", b"P2"):
        return "pgm"
    if os.path.splitext(path)[1].lower() in _DICOM_SUFFIXES:
        return "dicom"  # DICOM without the 128-byte preamble; pydicom decides
    raise MammogramReadError(path, "unrecognised image format (expected DICOM, PNG, JPEG or PGM)")


def read_mammogram(path, apply_voi=True, frame=None):
    """Read a mammogram as ``(float32 array (H, W), MammogramMetadata)``.

    DICOM (pydicom 3): modality LUT, VOI LUT / window when present (``apply_voi``),
    MONOCHROME1 / INVERSE inverted so dense tissue is bright; compressed pixel data without an
    installed decoder raises :class:`MissingDecoderError` naming the package to install.
    PNG 8/16-bit (16 bits kept), 8-bit JPEG and PGM (P5/P2, 8 or 16 bit). Use :func:`to_uint16` for the
    0..65535 scale. Every failure raises :class:`MammogramReadError` naming the file.
    ``frame`` picks one frame of a multi-frame DICOM (single-frame files and PNG/PGM ignore it).
    """
    kind = sniff_format(path)
    if kind == "dicom":
        return read_dicom(path, apply_voi=apply_voi, frame=frame)
    if kind == "png":
        return read_png(path)
    if kind == "jpeg":
        return read_jpeg(path)
    return read_pgm(path)
