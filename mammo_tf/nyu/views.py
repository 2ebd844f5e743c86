# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""One view from the file to the model input: crop, window, (augment), standardise, heatmaps."""
import dataclasses

import cv2
import numpy as np

from mammo_tf.nyu.constants import CC_INPUT_SIZE, MLO_INPUT_SIZE
from mammo_tf.nyu import crop as C


@dataclasses.dataclass(frozen=True)
class ViewGeometry:
    """Where the model's input window lies: ``crop`` in image pixels, ``window`` in crop pixels."""

    crop: C.Box
    window: C.Box


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    """Input sizes and the size of the crop / augmentation operations.

    ``erosion_iterations``, ``margin``, ``max_shift`` and ``max_size_noise`` default (None) to
    the NYU full-resolution values scaled to the image height (see ``crop.scaled``).
    """

    cc_size: tuple = CC_INPUT_SIZE
    mlo_size: tuple = MLO_INPUT_SIZE
    erosion_iterations: int | None = None
    margin: int | None = None
    threshold: float | None = None
    max_shift: float | None = None
    max_size_noise: float | None = None

    def input_size(self, view):
        return tuple(self.cc_size if view.upper() == "CC" else self.mlo_size)


def view_geometry(image, view, config=PreprocessConfig()):
    """Crop box (largest breast region) and best window (most breast, view's anchor)."""
    mask = C.breast_mask(image, config.erosion_iterations, config.threshold)
    box = C.crop_box(mask, config.margin)
    window = C.select_window(mask[box.slices()], config.input_size(view), view)
    return ViewGeometry(box, window)


def prepare_view(image, view, config=PreprocessConfig(), heatmaps=None, rng=None, geometry=None):
    """Model input (h, w, 1 or 3) float32 for one view.

    Args:
        image: 2-D grey image (any dtype), in its acquired orientation.
        view: ``"CC"`` or ``"MLO"``.
        heatmaps: optional (Hc, Wc, 2) [malignant, benign] maps over the CROPPED image
            (``mammo_tf.nyu.heatmaps``); appended as channels 2 and 3 (not standardised).
        rng: ``numpy.random.Generator`` -> random window shift / size (augmentation, TTA);
            None -> the best window itself.
        geometry: a precomputed ``ViewGeometry`` (cached by the data pipeline).
    """
    image = np.asarray(image)
    geometry = geometry or view_geometry(image, view, config)
    size = config.input_size(view)
    window = geometry.window
    if rng is not None:
        shift = config.max_shift if config.max_shift is not None else C.scaled(C.MAX_SHIFT, image.shape[0])
        noise = (config.max_size_noise if config.max_size_noise is not None
                 else C.scaled(C.MAX_SIZE_NOISE, image.shape[0]))
        window = C.random_window(window, rng, shift, noise)
    cropped = image[geometry.crop.slices()].astype(np.float32)
    x = C.standardize(C.resize(C.extract_window(cropped, window), size))[..., None]
    if heatmaps is not None:
        heatmaps = np.asarray(heatmaps, dtype=np.float32)
        if heatmaps.shape[:2] != cropped.shape[:2]:
            raise ValueError(f"heatmaps of shape {heatmaps.shape[:2]} do not match the crop "
                             f"{cropped.shape[:2]}")
        maps = C.resize(C.extract_window(heatmaps, window), size, interpolation=cv2.INTER_LINEAR)
        x = np.concatenate([x, maps.reshape(size + (2,))], axis=-1)
    return x.astype(np.float32)
