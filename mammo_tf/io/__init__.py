# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Mammogram readers and 16-bit PNG writing.

``read_mammogram(path) -> (float32 image, MammogramMetadata)`` for DICOM, PNG, JPEG and PGM;
``to_uint16(image, metadata)`` maps the image's nominal range onto 0..65535;
``images.load_image`` is the one image reader of every method (16-bit scale, resized);
``write_png16`` / ``read_png16`` store whole images, ``write_mask_png`` / ``read_mask`` ROI masks
(``read_mask`` is the one mask reader); ``patch_file.PatchFile`` reads patch HDF5 files and
``prediction_csv`` holds the prediction-CSV column names; ``dicom_study`` (imported on its own)
turns DICOM files, folders and studies into checked mammograms with side, view and exam.
"""
from mammo_tf.io.dicom import read_dicom, read_dicom_header
from mammo_tf.io.errors import MammogramReadError, MissingDecoderError
from mammo_tf.io.metadata import MammogramMetadata, side_view_from_name, to_uint16
from mammo_tf.io.raster import (read_jpeg, read_mask, read_pgm, read_png, read_png16, write_mask_png,
                                write_png16)
from mammo_tf.io.reader import read_mammogram, sniff_format

__all__ = [
    "MammogramMetadata",
    "MammogramReadError",
    "MissingDecoderError",
    "read_dicom",
    "read_dicom_header",
    "read_jpeg",
    "read_mammogram",
    "read_mask",
    "read_pgm",
    "read_png",
    "read_png16",
    "side_view_from_name",
    "sniff_format",
    "to_uint16",
    "write_mask_png",
    "write_png16",
]
