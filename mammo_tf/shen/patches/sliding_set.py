# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DeepMiner's sliding-window patch set (Wu et al., DeepMiner, section 2.1), 3 classes.

"The dimensions of each image patch are 25% of the width of the original mammogram, and
overlapping patches are extracted using a stride of 50% of the patch width. We use a background
texture classifier to discard any patch containing less than 50% breast tissue. We create three
class labels (normal, benign, malignant) for each image patch based on (1) whether at least 30%
of the patch contains benign or malignant tissue and (2) whether at least 30% of a benign or
malignant finding is located in that patch."

Here: square windows of ``window`` x the image width at ``stride`` x the window; the breast
mask (``sampling.breast_mask``, the threshold rule of the Shen sampler, standing in for the
texture classifier) must cover at least half the window; a window is malignant (benign) when
a malignant (benign) ROI covers at least 30% of it OR at least 30% of that ROI lies in it
(either condition, the reading that labels both large and small findings); malignant wins
over benign. Windows are resized to ``patch_size`` (at 1152x896 the window is 224 px: no
resize) and written in the patch HDF5 layout with ``class_names`` ["normal", "benign",
"malignant"].
"""
import cv2
import numpy as np

from mammo_tf.imaging.windows import window_grid
from mammo_tf.shen.patches.sampling import SampledPatches, breast_mask, integral, window_sums

DEEPMINER_CLASSES = ("normal", "benign", "malignant")
WINDOW_FRACTION = 0.25   # "25% of the width of the original mammogram"
STRIDE_FRACTION = 0.5    # "a stride of 50% of the patch width"
MIN_BREAST = 0.5         # "discard any patch containing less than 50% breast tissue"
MIN_LESION = 0.3         # "at least 30% of the patch" / "at least 30% of a ... finding"


def pathology_of(roi_class):
    """Shen patch class name of an ROI -> DeepMiner class index (benign 1, malignant 2)."""
    name = str(roi_class).lower()
    if "malignant" in name:
        return DEEPMINER_CLASSES.index("malignant")
    if "benign" in name:
        return DEEPMINER_CLASSES.index("benign")
    raise ValueError(f"ROI class {roi_class!r} is neither benign nor malignant")


def sliding_patches(image, masks, roi_classes, patch_size=224, window=WINDOW_FRACTION,
                    stride=STRIDE_FRACTION, min_breast=MIN_BREAST, min_lesion=MIN_LESION):
    """``SampledPatches`` of one image (labels index ``DEEPMINER_CLASSES``; ``roi_index`` the
    ROI that gave the label, -1 for normal; ``overlap`` the larger of the two 30% fractions of
    that ROI, 0 for normal)."""
    image = np.asarray(image)
    height, width = image.shape[:2]
    size = max(1, int(round(window * width)))
    step = max(1, int(round(stride * size)))
    if height < size or width < size:
        pad = ((0, max(0, size - height)), (0, max(0, size - width)))
        image = np.pad(image, pad)
        masks = [np.pad(np.asarray(m, bool), pad) for m in masks]
    breast = integral(breast_mask(image))
    tables = [integral(m) for m in masks]
    areas = [float(np.asarray(m, bool).sum()) for m in masks]
    pathologies = [pathology_of(c) for c in roi_classes]
    y0, x0 = window_grid(image.shape[:2], size, step)
    window_area = float(size * size)
    keep = window_sums(breast, y0, x0, size) / window_area >= min_breast
    y0, x0 = y0[keep], x0[keep]
    labels = np.zeros(len(y0), np.int64)
    roi_index = np.full(len(y0), -1, np.int64)
    overlap = np.zeros(len(y0), np.float32)
    for i, (table, area, pathology) in enumerate(zip(tables, areas, pathologies)):
        if area == 0:
            continue
        inside = window_sums(table, y0, x0, size).astype(np.float64)
        fraction = np.maximum(inside / window_area, inside / area)
        hit = fraction >= min_lesion
        better = hit & ((pathology > labels) | ((pathology == labels) & (fraction > overlap)))
        labels[better], roi_index[better], overlap[better] = pathology, i, fraction[better]
    patches = [image[y:y + size, x:x + size] for y, x in zip(y0, x0)]
    if size != patch_size:
        patches = [cv2.resize(p, (patch_size, patch_size), interpolation=cv2.INTER_AREA) for p in patches]
    stacked = np.stack(patches).astype(image.dtype) if patches else \
        np.zeros((0, patch_size, patch_size), image.dtype)
    notes = [] if len(y0) else [f"no window with >= {min_breast:.0%} breast tissue"]
    return SampledPatches(stacked, labels, roi_index, y0 + size // 2, x0 + size // 2, overlap,
                          [], notes)
