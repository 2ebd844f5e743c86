# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Crop to the breast before resizing (``prepare ... --crop breast``), for every dataset.

Rule: foreground by threshold (``image > 0`` when the background is truly black, as on
digital detectors; otherwise 5% of the image maximum, for the grey film base of digitised
film), then the breast = the foreground connected to the largest component left after an
erosion (:func:`mammo_tf.imaging.breast.breast_mask`). The erosion detaches labels, markers and
film-edge strips, which are therefore left out of the box; the skin line and nipple are
taken back from the un-eroded foreground, so the box holds the whole breast. The pectoral
muscle (MLO) is breast tissue joined to the breast at the chest wall: it stays inside the
box, never cut. The box is grown by ``margin`` (1% of the height) and clipped to the image.

The mask is computed on a copy at most :data:`WORK_HEIGHT` px tall (the erosion is sized
for the resolution) and the box mapped back outwards, so the crop costs well under a second
even for 6000-px film scans. The box (source pixels, half-open ``top, bottom, left, right``)
is stored in the manifest's ``crop_box`` column: a point ``(y, x)`` of a prepared image of
size ``(H, W)`` lies at ``(top + y * (bottom - top) / H, left + x * (right - left) / W)`` of
the original frame (:func:`to_source`).
"""
import math

import cv2
import numpy as np

from mammo_tf.imaging.breast import Box, breast_mask

WORK_HEIGHT = 1024
CROPS = ("none", "breast")


def breast_box(image, margin=0.01):
    """``Box`` of the breast in ``image`` (2-D array, dense tissue bright); the whole image
    when no foreground is found (a blank frame is left for the reader's checks)."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {image.shape}")
    h, w = image.shape
    scale = min(1.0, WORK_HEIGHT / h)
    small = image if scale == 1.0 else cv2.resize(
        image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    try:
        mask = breast_mask(small)
    except ValueError:
        return Box(0, h, 0, w)
    ys, xs = np.nonzero(mask)
    sy, sx = h / small.shape[0], w / small.shape[1]
    pad = int(round(margin * h))
    return Box(max(0, math.floor(ys.min() * sy) - pad), min(h, math.ceil((ys.max() + 1) * sy) + pad),
               max(0, math.floor(xs.min() * sx) - pad), min(w, math.ceil((xs.max() + 1) * sx) + pad))


def format_box(box):
    """``"top;bottom;left;right"`` for the manifest."""
    return f"{box.top};{box.bottom};{box.left};{box.right}"


def parse_box(text):
    """Inverse of :func:`format_box`; None for an empty cell."""
    if not text:
        return None
    values = [int(v) for v in str(text).split(";")]
    if len(values) != 4:
        raise ValueError(f"crop_box {text!r} is not top;bottom;left;right")
    return Box(*values)


def to_source(y, x, box, size):
    """Map pixel ``(y, x)`` of a prepared image of ``size`` = (H, W) back to the original frame."""
    return box.top + y * box.height / size[0], box.left + x * box.width / size[1]
