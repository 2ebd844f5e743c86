# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Patch sampling from one whole image: the paper's s1 / sN rules, vectorised.

Overlap of a patch with an ROI = intersection / min(ROI area, patch area), computed for many
candidate windows at once from an integral image. Windows always lie inside the image: a
centre too close to the border is moved inwards and the patch's real centre is recorded.
"""
import dataclasses

import cv2
import numpy as np

BREAST_THRESHOLD = 0.05  # fraction of 255 on the 8-bit image, as in the original code
CUTOFF_STEP = 0.05
MAX_FAILURES = 1000
CANDIDATE_BATCH = 64


@dataclasses.dataclass
class SampledPatches:
    """Patches of one image: arrays of equal length plus notes for the report."""

    patches: np.ndarray  # (N, P, P), the image's dtype
    labels: np.ndarray  # (N,) int64, index into PATCH_CLASSES
    roi_index: np.ndarray  # (N,) int64, -1 = background
    center_y: np.ndarray  # (N,) int64, patch centre in image coordinates
    center_x: np.ndarray
    overlap: np.ndarray  # (N,) float32, overlap with its ROI (0 for background)
    cutoff_lowered: list  # [{"roi_index", "cutoff"}] when the overlap rule had to be relaxed
    notes: list  # human-readable problems (skipped ROIs, missing background patches)


def pad_to_patch(array, patch_size):
    """Pad an image or mask at the bottom/right so both sides are >= patch_size.

    Padding at the bottom/right keeps pixel coordinates unchanged. Returns (array, padded?).
    """
    height, width = array.shape[:2]
    pad_y, pad_x = max(0, patch_size - height), max(0, patch_size - width)
    if not pad_y and not pad_x:
        return array, False
    return np.pad(array, ((0, pad_y), (0, pad_x))), True


def breast_mask(image, threshold=BREAST_THRESHOLD):
    """Breast region: 8-bit image (scaled by its maximum) > threshold*255, largest contour filled."""
    image = np.asarray(image)
    peak = float(image.max()) if image.size else 0.0
    mask = np.zeros(image.shape, np.uint8)
    if peak <= 0:
        return mask.astype(bool)
    img8 = np.clip(image.astype(np.float32) * (255.0 / peak), 0, 255).astype(np.uint8)
    binary = (img8 > threshold * 255).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if contours:
        largest = max(contours, key=cv2.contourArea)
        cv2.drawContours(mask, [largest], -1, 1, thickness=cv2.FILLED)
    return mask.astype(bool)


def integral(mask):
    """Summed-area table (H+1, W+1) of a boolean/0-1 mask."""
    return cv2.integral(np.asarray(mask, np.uint8), sdepth=cv2.CV_32S)


def window_origins(center_y, center_x, shape, patch_size):
    """Top-left corners of windows centred as close as possible to the given centres."""
    half = patch_size // 2
    y0 = np.clip(np.asarray(center_y, np.int64) - half, 0, shape[0] - patch_size)
    x0 = np.clip(np.asarray(center_x, np.int64) - half, 0, shape[1] - patch_size)
    return y0, x0


def window_sums(table, y0, x0, patch_size):
    """Sum of the mask inside each window (vectorised box sums on the integral image)."""
    y1, x1 = y0 + patch_size, x0 + patch_size
    return table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]


def overlap_fraction(intersection, roi_area, patch_size):
    """The paper's overlap: intersection / min(ROI area, patch area)."""
    return np.asarray(intersection, np.float64) / float(min(roi_area, patch_size * patch_size))


def _sample_roi(rng, table, roi_area, bbox, shape, patch_size, n, cutoff, max_failures):
    """n windows whose overlap with the ROI >= cutoff; the cutoff drops by CUTOFF_STEP after
    max_failures consecutive failed draws. Returns (y0, x0, overlaps, lowered cutoffs)."""
    (ys0, ys1), (xs0, xs1) = bbox
    origins, overlaps, lowered = [], [], []
    failures = 0
    while len(origins) < n:
        cy = rng.integers(ys0, ys1 + 1, CANDIDATE_BATCH)
        cx = rng.integers(xs0, xs1 + 1, CANDIDATE_BATCH)
        y0, x0 = window_origins(cy, cx, shape, patch_size)
        ratio = overlap_fraction(window_sums(table, y0, x0, patch_size), roi_area, patch_size)
        for k in range(CANDIDATE_BATCH):
            if ratio[k] >= cutoff - 1e-12:
                origins.append((int(y0[k]), int(x0[k])))
                overlaps.append(float(ratio[k]))
                failures = 0
                if len(origins) == n:
                    break
            else:
                failures += 1
                if failures >= max_failures:
                    cutoff = round(cutoff - CUTOFF_STEP, 10)
                    lowered.append(cutoff)
                    failures = 0
    return origins, overlaps, lowered


def _sample_background(rng, table_rois, breast, shape, patch_size, n, max_draws):
    """n windows centred in the breast that overlap no ROI (fewer when impossible)."""
    candidates = np.flatnonzero(breast)
    origins = []
    if candidates.size == 0 or n == 0:
        return origins
    draws = 0
    while len(origins) < n and draws < max_draws:
        picks = candidates[rng.integers(0, candidates.size, CANDIDATE_BATCH)]
        cy, cx = np.divmod(picks, shape[1])
        y0, x0 = window_origins(cy, cx, shape, patch_size)
        free = window_sums(table_rois, y0, x0, patch_size) == 0
        inside = breast[y0 + patch_size // 2, x0 + patch_size // 2]
        for k in np.flatnonzero(free & inside):
            origins.append((int(y0[k]), int(x0[k])))
            if len(origins) == n:
                break
        draws += CANDIDATE_BATCH
    return origins


def sample_patches(image, roi_masks, roi_labels, n, patch_size, rng, *, centred=False,
                   n_background=None, cutoff=0.9, max_failures=MAX_FAILURES, breast=None):
    """Sample the patches of one whole image.

    Args:
      image: (H, W) array (any dtype; patches keep it). Smaller than the patch -> zero-padded
        at the bottom/right (coordinates unchanged).
      roi_masks: list of (H, W) masks (non-zero = ROI), same size as ``image``.
      roi_labels: class index of each ROI (``PATCH_CLASSES`` index).
      n: patches per ROI (ignored when ``centred``: s1 takes one patch per ROI).
      patch_size: side of the square patches.
      rng: ``numpy.random.Generator``.
      centred: s1 rule - one patch centred on each ROI's centroid, no overlap test.
      n_background: background patches per image (default: 1 for s1, else n); their centres
        lie in the breast mask and the windows overlap no ROI of the image.
      cutoff: minimum overlap for sN ROI patches; lowered by 0.05 after ``max_failures``
        consecutive failed draws (recorded in ``cutoff_lowered``).
      breast: optional precomputed breast mask (default ``breast_mask(image)``).

    Empty ROI masks are skipped and noted; if no background window is free of ROIs the image
    gets fewer background patches (noted). Returns ``SampledPatches``.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (H, W), got shape {image.shape}")
    for index, mask in enumerate(roi_masks):
        if np.shape(mask) != image.shape:
            raise ValueError(f"ROI mask {index} has shape {np.shape(mask)}, image has {image.shape}")
    if breast is None:
        breast = breast_mask(image)
    image, _ = pad_to_patch(image, patch_size)
    breast, _ = pad_to_patch(np.asarray(breast, bool), patch_size)
    shape = image.shape
    if n_background is None:
        n_background = 1 if centred else n

    origins, labels, roi_index, overlaps, lowered, notes = [], [], [], [], [], []
    union = np.zeros(shape, np.uint8)
    for index, (mask, label) in enumerate(zip(roi_masks, roi_labels)):
        mask, _ = pad_to_patch(np.asarray(mask) > 0, patch_size)
        area = int(mask.sum())
        if area == 0:
            notes.append(f"ROI {index}: empty mask, skipped")
            continue
        union |= mask.astype(np.uint8)
        table = integral(mask)
        ys, xs = np.nonzero(mask)
        if centred:
            y0, x0 = window_origins([int(round(ys.mean()))], [int(round(xs.mean()))], shape, patch_size)
            ratio = overlap_fraction(window_sums(table, y0, x0, patch_size), area, patch_size)
            found, ratios, drops = [(int(y0[0]), int(x0[0]))], [float(ratio[0])], []
        else:
            bbox = ((int(ys.min()), int(ys.max())), (int(xs.min()), int(xs.max())))
            found, ratios, drops = _sample_roi(rng, table, area, bbox, shape, patch_size, n, cutoff,
                                               max_failures)
        if drops:
            lowered.append({"roi_index": index, "cutoff": drops[-1]})
            notes.append(f"ROI {index}: overlap cutoff lowered to {drops[-1]:.2f}")
        origins += found
        overlaps += ratios
        labels += [int(label)] * len(found)
        roi_index += [index] * len(found)

    background = _sample_background(rng, integral(union), breast, shape, patch_size, n_background,
                                    max_draws=max(MAX_FAILURES, 100 * n_background))
    if len(background) < n_background:
        where = "no breast found" if not breast.any() else "no window inside the breast is free of ROIs"
        notes.append(f"only {len(background)} of {n_background} background patches ({where})")
    origins += background
    overlaps += [0.0] * len(background)
    labels += [0] * len(background)
    roi_index += [-1] * len(background)

    count = len(origins)
    patches = np.empty((count, patch_size, patch_size), image.dtype)
    for k, (y0, x0) in enumerate(origins):
        patches[k] = image[y0:y0 + patch_size, x0:x0 + patch_size]
    y0s = np.array([o[0] for o in origins], np.int64)
    x0s = np.array([o[1] for o in origins], np.int64)
    return SampledPatches(
        patches=patches, labels=np.array(labels, np.int64), roi_index=np.array(roi_index, np.int64),
        center_y=y0s + patch_size // 2, center_x=x0s + patch_size // 2,
        overlap=np.array(overlaps, np.float32), cutoff_lowered=lowered, notes=notes,
    )
