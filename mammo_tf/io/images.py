# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Whole images as the models see them: read onto the 16-bit scale, resized (aspect ratio not
kept, as the paper), and found in folders.

:func:`load_image` is THE image reader of every method: training (``shen.data``), prediction,
DeepMiner, the baselines (sliding window, heatmap random forest) and the NYU views and their
heatmaps (``nyu.data.read_view_image``) all call it, so every path
reads and resizes an image the same way (tests/inference/test_predict.py checks that training and
prediction give identical network inputs for PNG, DICOM and JPEG files)."""
import os

import cv2
import numpy as np

from mammo_tf.constants import WHOLE_IMAGE_SIZE
from mammo_tf.io.raster import resize_mask  # noqa: F401  (the one mask resize, beside the mask reader)

IMAGE_EXTENSIONS = (".dcm", ".dicom", ".dic", ".png", ".jpg", ".jpeg", ".pgm")
INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


def resize_image(image, size=WHOLE_IMAGE_SIZE, interpolation="cubic"):
    """Resize a 2-D array to ``size`` = (height, width); aspect ratio is not kept (as the paper).
    An image already at ``size`` is returned as it is."""
    height, width = (int(s) for s in size)
    if image.shape[:2] == (height, width):
        return image
    return cv2.resize(image, (width, height), interpolation=INTERPOLATIONS[interpolation])


def load_image(path, size=None, interpolation="cubic"):
    """Read an image file (DICOM, PNG 8/16-bit, JPEG, PGM) as uint16 (H, W) on the 0-65535
    scale (``read_mammogram`` + ``to_uint16``), resized to ``size`` = (height, width) with
    ``interpolation`` when given (an image already at ``size`` is returned as read).

    Raises ``mammo_tf.io.MammogramReadError`` (naming the file) when it cannot be read.
    """
    from mammo_tf.io.metadata import to_uint16
    from mammo_tf.io.reader import read_mammogram

    image, metadata = read_mammogram(path)
    image = to_uint16(image, metadata)
    return image if size is None else resize_image(image, size, interpolation)


# Inverted images (a white background: MONOCHROME1 pixels rendered as they are, a negative
# export): the median of the image's outer border is above the middle of the 16-bit scale.
INVERSION_BORDER_FRACTION = 0.02  # the border band: 2% of each side (at least one pixel)
INVERSION_THRESHOLD = 32768       # 128 of 255 on the 16-bit scale


def border_median(image, fraction=INVERSION_BORDER_FRACTION):
    """Median of the pixels of the image's outer band (``fraction`` of each side, >= 1 px)."""
    image = np.asarray(image)
    rows, cols = image.shape[:2]
    r, c = max(1, int(round(rows * fraction))), max(1, int(round(cols * fraction)))
    band = np.concatenate([image[:r].ravel(), image[-r:].ravel(), image[r:-r, :c].ravel(),
                           image[r:-r, -c:].ravel()])
    return float(np.median(band))


def is_inverted(image, threshold=INVERSION_THRESHOLD):
    """True when a 16-bit mammogram looks inverted: its border median is above ``threshold``
    (the background of a mammogram is dark)."""
    return border_median(image) > threshold


def correct_inversion(image):
    """``(image, inverted)``: a 16-bit image that :func:`is_inverted` flags comes back as
    65535 - image (dense tissue bright again); any other unchanged."""
    if is_inverted(image):
        return (np.uint16(65535) - np.asarray(image, np.uint16)).astype(np.uint16), True
    return image, False


def list_images(folder):
    """Image files (by extension) directly inside ``folder`` and its subfolders, sorted."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, f) for f in sorted(files)
                  if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS and not f.startswith(".")]
    return found


def image_id_from_path(path):
    return os.path.splitext(os.path.basename(os.fspath(path)))[0]
