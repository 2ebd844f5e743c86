# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""NYU-style preprocessing of one view (numpy + OpenCV).

1. ``crop_box``: largest connected breast region after an erosion (removes labels, markers
   and thin artefacts joined to the breast), taken back from the un-eroded foreground
   (skin line and nipple kept), plus margins (the shared breast segmentation,
   ``mammo_tf.imaging.breast``, re-exported here).
2. ``select_window``: the window of the model's input size that covers the most breast
   tissue inside the crop. CC: anchored at the chest-wall side. MLO: anchored at the chest
   wall and constrained to keep the lowest breast row (the inframammary fold).
3. ``extract_window`` (zero padding where the window leaves the crop), ``random_window`` for
   training/test-time augmentation (shift and size noise, cubic resize back to the input size),
   and ``standardize`` ((x - mean) / std per image, image channel only).

Sizes of morphological operations and noise are given for NYU's full resolution (3328 px tall
images); ``scaled`` adapts them to other resolutions.
"""
import cv2
import numpy as np

from mammo_tf.imaging.breast import (  # noqa: F401  (re-exported: step 1 of the preprocessing)
    EROSION_ITERATIONS,
    FULL_RESOLUTION_HEIGHT,
    Box,
    breast_mask,
    crop_box,
    foreground,
    scaled,
)

MAX_SHIFT = 100  # px at full resolution
MAX_SIZE_NOISE = 100  # px at full resolution
TTA_DRAWS = 10


def chest_wall_side(mask):
    """``"left"`` or ``"right"``: the image edge the breast touches (more tissue in the
    outer 5% of columns)."""
    w = mask.shape[1]
    band = max(1, w // 20)
    return "left" if mask[:, :band].sum() >= mask[:, w - band:].sum() else "right"


def select_window(mask, window_size, view, chest_wall=None):
    """Window (a ``Box`` in ``mask`` coordinates) of ``window_size`` covering the most breast.

    Args:
        mask: breast mask of the CROPPED image.
        window_size: (height, width) of the model input.
        view: ``"CC"`` or ``"MLO"``.
        chest_wall: ``"left"`` / ``"right"``; detected from the mask when None.

    The window is anchored at the chest-wall edge (it may extend past the other edges, which
    ``extract_window`` pads with zeros). Vertically it takes the position with the most breast
    pixels (ties: closest to the breast's centre of mass); for MLO it must also keep the
    lowest breast row. When the window is taller than the crop, the crop is centred in it.
    """
    mask = np.asarray(mask, dtype=bool)
    view = view.upper()
    if view not in ("CC", "MLO"):
        raise ValueError(f"view must be 'CC' or 'MLO', got {view!r}")
    side = chest_wall or chest_wall_side(mask)
    canonical = mask if side == "left" else mask[:, ::-1]
    hc, wc = canonical.shape
    h, w = (int(s) for s in window_size)
    left = 0
    if h >= hc:
        top = -((h - hc) // 2)
    else:
        rows = canonical[:, : min(w, wc)].sum(axis=1).astype(np.int64)
        sums = np.convolve(rows, np.ones(h, dtype=np.int64), mode="valid")  # len hc - h + 1
        tops = np.arange(sums.size)
        feasible = np.ones(sums.size, dtype=bool)
        ys = np.nonzero(rows)[0]
        if view == "MLO" and ys.size:
            feasible = tops + h > ys.max()
        best = sums[feasible].max()
        candidates = tops[feasible & (sums == best)]
        centre = (ys.mean() if ys.size else hc / 2.0) - h / 2.0
        top = int(candidates[np.argmin(np.abs(candidates - centre))])
    if side == "right":
        left = wc - (left + w)
    return Box(top, top + h, left, left + w)


def extract_window(image, box, fill=0):
    """``image[box]`` with ``fill`` where the box leaves the image; works on (H, W[, C])."""
    image = np.asarray(image)
    out = np.full((box.height, box.width) + image.shape[2:], fill, dtype=image.dtype)
    t, b = max(box.top, 0), min(box.bottom, image.shape[0])
    l, r = max(box.left, 0), min(box.right, image.shape[1])
    if t < b and l < r:
        out[t - box.top:b - box.top, l - box.left:r - box.left] = image[t:b, l:r]
    return out


def random_window(box, rng, max_shift, max_size_noise):
    """A randomly shifted and resized copy of ``box`` (uniform noise, px), for augmentation:
    the centre moves by up to ``max_shift`` per axis and the size by up to
    ``max_size_noise`` (same amount on both axes, as in the authors' description)."""
    dy, dx = rng.uniform(-max_shift, max_shift, size=2)
    ds = rng.uniform(-max_size_noise, max_size_noise)
    h = max(2, int(round(box.height + ds)))
    w = max(2, int(round(box.width + ds)))
    cy = (box.top + box.bottom) / 2.0 + dy
    cx = (box.left + box.right) / 2.0 + dx
    top, left = int(round(cy - h / 2.0)), int(round(cx - w / 2.0))
    return Box(top, top + h, left, left + w)


def resize(image, size, interpolation=cv2.INTER_CUBIC):
    """Resize (H, W[, C]) float image to ``size`` = (height, width)."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    out = cv2.resize(np.ascontiguousarray(image), (w, h), interpolation=interpolation)
    return out.reshape((h, w) + image.shape[2:])


def standardize(image):
    """(x - mean) / std over the whole image (float32); a constant image maps to zeros."""
    x = np.asarray(image, dtype=np.float32)
    std = float(x.std())
    return (x - x.mean()) / std if std > 0 else np.zeros_like(x)
