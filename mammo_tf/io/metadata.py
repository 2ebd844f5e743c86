# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""What a reader knows about an image, and the rule that maps it onto the 16-bit scale."""
import dataclasses
import os
import re

import numpy as np

from mammo_tf.constants import UINT16_MAX

# Side and view in file names such as "1_L_CC.png" or "22678622_x_MG_R_ML_ANON.dcm".
_SIDE_VIEW_RE = re.compile(r"(?:^|[_\-. ])(L|R|LEFT|RIGHT)[_\-. ](CC|MLO|ML|LM|XCCL)(?=$|[_\-. ])", re.I)


@dataclasses.dataclass
class MammogramMetadata:
    """Facts about one image as read.

    ``value_min``/``value_max`` give the image's nominal value range after all grey-level
    transforms (e.g. 0..4095 for 12 bits stored, 0..255 for 8-bit PNG, the VOI LUT's output
    range when a LUT was applied); :func:`to_uint16` maps that range onto 0..65535.
    """

    path: str
    format: str  # "dicom" | "png" | "jpeg" | "pgm"
    bits_stored: int
    value_min: float
    value_max: float
    rows: int
    columns: int
    photometric_interpretation: str = "MONOCHROME2"
    inverted: bool = False  # True when MONOCHROME1 / INVERSE was flipped to "dense = bright"
    laterality: str | None = None  # "L" | "R"
    view: str | None = None  # "CC", "MLO", "ML", ...
    modality_lut_applied: bool = False
    voi_applied: str | None = None  # None, "window" or "lut"
    voi_function: str | None = None  # window's VOI LUT Function: LINEAR, LINEAR_EXACT, SIGMOID
    frame: int | None = None  # frame read from a multi-frame file (0-based)
    presentation_intent: str | None = None
    patient_id: str | None = None
    series_instance_uid: str | None = None
    manufacturer: str | None = None  # DICOM Manufacturer (0008,0070)
    manufacturer_model: str | None = None  # DICOM ManufacturerModelName (0008,1090)
    patient_age: str | None = None  # DICOM PatientAge (0010,1010), e.g. "055Y"

    def to_dict(self):
        return dataclasses.asdict(self)


def side_view_from_name(path):
    """Return (side, view) parsed from a file name (``"L"|"R"|None``, ``"CC"|...|None``)."""
    stem = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    match = _SIDE_VIEW_RE.search(stem)
    if not match:
        return None, None
    return match.group(1)[0].upper(), match.group(2).upper()


def to_uint16(image, metadata):
    """Map an image read by :func:`read_mammogram` onto the 0..65535 scale (uint16).

    Rule: the nominal range ``[metadata.value_min, metadata.value_max]`` is stretched linearly
    onto ``[0, 65535]`` and rounded; values outside are clipped. Consequences: 16-bit sources
    are unchanged, 8-bit sources are multiplied by 257 (255 -> 65535 exactly), 12-bit DICOM by
    65535/4095, 14-bit by 65535/16383. The rule depends on the bit depth, never on the image's
    own min/max, so the same grey value maps to the same 16-bit value in every image.
    """
    low, high = float(metadata.value_min), float(metadata.value_max)
    x = np.asarray(image)
    if high <= low:
        raise ValueError(f"{metadata.path}: empty value range [{low}, {high}]")
    if low == 0 and high == UINT16_MAX and x.dtype == np.uint16:
        return x.copy()
    # float64, a million values at a time: float32 rounds e.g. 12-bit 1229 * 65535 / 4095 =
    # 19668.502 to 19668; 2 bytes per pixel plus one block, less than a whole float32 copy.
    scale = UINT16_MAX / (high - low)
    flat = x.reshape(-1)
    out = np.empty(flat.shape, np.uint16)
    step = 1 << 20
    for start in range(0, flat.size, step):
        block = flat[start : start + step].astype(np.float64)
        block -= low
        block *= scale
        np.rint(block, out=block)
        np.clip(block, 0, UINT16_MAX, out=block)
        out[start : start + step] = block
    return out.reshape(x.shape)
