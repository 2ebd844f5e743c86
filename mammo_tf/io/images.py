# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Whole images as the models see them: read onto the 16-bit scale, resized (aspect ratio not
kept, as the paper), and found in folders. Used by dataset conversion, prediction, DeepMiner
and the baselines alike, so every path reads and resizes an image the same way."""
import os

import cv2

from mammo_tf.constants import WHOLE_IMAGE_SIZE

IMAGE_EXTENSIONS = (".dcm", ".dicom", ".dic", ".png", ".pgm")
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


def load_image(path, size=None):
    """Read an image file as uint16 (H, W) on the 0-65535 scale, resized to ``size`` if given.

    Raises ``mammo_tf.io.MammogramReadError`` (naming the file) when it cannot be read.
    """
    from mammo_tf.io.metadata import to_uint16
    from mammo_tf.io.reader import read_mammogram

    image, metadata = read_mammogram(path)
    image = to_uint16(image, metadata)
    return image if size is None else resize_image(image, size)


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
