# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Random affine augmentation with OpenCV, following Keras 2's ImageDataGenerator semantics.

One affine warp per sample combines rotation, shear, zoom and the flips (nearest-neighbour
interpolation, "nearest" fill = edge replication), so an image and its mask get exactly the
same geometry. As in Keras 2.0.8 (the version the paper used):

* rotation uniform in [-rotation_range, rotation_range] DEGREES;
* shear uniform in [-shear_range, shear_range] RADIANS (0.2 rad is about 11.5 degrees);
* zoom factors for rows and columns drawn independently from ``zoom_range`` (a factor > 1
  samples a larger source area, so the content shrinks);
* channel shift: one offset per channel, uniform in [-channel_shift_range,
  channel_shift_range] on the 0-255 scale, then clipped to the image's min/max;
* flips with probability 0.5 each.

Difference from Keras 2: the warp is centred on the true image centre ((H-1)/2, (W-1)/2);
Keras used (H/2 + 0.5, W/2 + 0.5), a half-pixel-plus shift.
"""
import dataclasses

import cv2
import numpy as np

from mammo_tf.constants import UINT16_MAX


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Augmentation ranges; the defaults are the paper's."""

    horizontal_flip: bool = True
    vertical_flip: bool = True
    rotation_range: float = 25.0  # degrees
    shear_range: float = 0.2  # radians
    zoom_range: tuple = (0.8, 1.2)
    channel_shift_range: float = 20.0  # on the 0-255 scale

    def __post_init__(self):
        low, high = self.zoom_range
        if not 0 < low <= high:
            raise ValueError(f"zoom_range must be (low, high) with 0 < low <= high, got {self.zoom_range}")
        if self.rotation_range < 0 or self.shear_range < 0 or self.channel_shift_range < 0:
            raise ValueError("rotation_range, shear_range and channel_shift_range must be >= 0")

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class AffineParams:
    """One draw of the geometric parameters (angles in radians)."""

    rotation: float = 0.0
    shear: float = 0.0
    zoom_y: float = 1.0
    zoom_x: float = 1.0
    flip_horizontal: bool = False
    flip_vertical: bool = False


def draw_params(rng, config):
    """Draw ``AffineParams`` from ``config`` (same order of draws as Keras 2)."""
    rotation = np.deg2rad(rng.uniform(-config.rotation_range, config.rotation_range)) if config.rotation_range else 0.0
    shear = rng.uniform(-config.shear_range, config.shear_range) if config.shear_range else 0.0
    low, high = config.zoom_range
    zoom_y, zoom_x = (1.0, 1.0) if low == high == 1 else rng.uniform(low, high, 2)
    flip_h = bool(config.horizontal_flip and rng.random() < 0.5)
    flip_v = bool(config.vertical_flip and rng.random() < 0.5)
    return AffineParams(float(rotation), float(shear), float(zoom_y), float(zoom_x), flip_h, flip_v)


def draw_channel_shifts(rng, config, channels):
    """One offset per channel on the 0-255 scale."""
    if not config.channel_shift_range:
        return np.zeros(channels, np.float32)
    return rng.uniform(-config.channel_shift_range, config.channel_shift_range, channels).astype(np.float32)


def inverse_map(params, shape):
    """2x3 matrix mapping OUTPUT (x, y) pixel coordinates to INPUT coordinates (cv2 order).

    Built like Keras 2 in (row, col) index space: rotation @ shear @ zoom around the centre,
    applied after the flips of the output.
    """
    height, width = shape[:2]
    c, s = np.cos(params.rotation), np.sin(params.rotation)
    rotation = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    shear = np.array([[1, -np.sin(params.shear), 0], [0, np.cos(params.shear), 0], [0, 0, 1]])
    zoom = np.array([[params.zoom_y, 0, 0], [0, params.zoom_x, 0], [0, 0, 1]])
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    to_centre = np.array([[1, 0, -cy], [0, 1, -cx], [0, 0, 1]])
    from_centre = np.array([[1, 0, cy], [0, 1, cx], [0, 0, 1]])
    flip = np.diag([1.0, 1.0, 1.0])
    if params.flip_vertical:
        flip[0, 0], flip[0, 2] = -1.0, height - 1
    if params.flip_horizontal:
        flip[1, 1], flip[1, 2] = -1.0, width - 1
    rowcol = from_centre @ rotation @ shear @ zoom @ to_centre @ flip
    swap = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]])  # (row, col) <-> (x, y)
    return (swap @ rowcol @ swap)[:2]


def warp(array, params):
    """Apply the geometry to an image or mask (H, W[, C]): nearest interpolation, edge fill."""
    array = np.asarray(array)
    matrix = inverse_map(params, array.shape)
    is_bool = array.dtype == bool
    source = array.astype(np.uint8) if is_bool else array
    out = cv2.warpAffine(source, matrix, (array.shape[1], array.shape[0]),
                         flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    if out.ndim < array.ndim:  # cv2 drops a trailing channel axis of size 1
        out = out.reshape(array.shape)
    return out.astype(bool) if is_bool else out


def channel_shift(x, offsets, value_scale=1.0, out=None, value_range=None):
    """Keras 2 channel shift: add one offset per channel (last axis, or the whole image when
    2-D), clip to the image's min/max. ``offsets`` are on the 0-255 scale; ``value_scale``
    converts them to the image's scale (65535/255 for 16-bit). Returns float32; pass
    ``out=x`` (a float32 array) to shift in place and ``value_range=(min, max)`` when the
    caller already knows the image's range."""
    x = np.asarray(x)
    low, high = value_range if value_range is not None else (float(x.min()), float(x.max()))
    offsets = np.asarray(offsets, np.float32) * np.float32(value_scale)
    channels = 1 if x.ndim == 2 else x.shape[-1]
    if offsets.size != channels:
        raise ValueError(f"{channels} channel(s) but {offsets.size} channel offsets")
    if x.ndim == 2:
        offsets = offsets.reshape(())
    if out is None:
        out = np.empty(x.shape, np.float32)
    np.add(x, offsets, out=out, dtype=np.float32)
    return np.clip(out, low, high, out=out)


def augment(image, rng, config=None, mask=None):
    """Augment one image (and optionally its mask) with a single random affine warp.

    Args:
      image: (H, W) or (H, W, C) array; uint16 images are on the 0-65535 scale (the channel
        shift is rescaled by 65535/255), uint8 and float images on the 0-255 scale.
      rng: ``numpy.random.Generator`` (the result is a pure function of its state).
      config: ``AugmentConfig`` (default: the paper's ranges).
      mask: optional (H, W) mask warped with the same geometry (no channel shift).

    Returns ``(image, mask)`` (``mask`` None when not given); the image keeps its dtype.
    """
    config = config or AugmentConfig()
    image = np.asarray(image)
    params = draw_params(rng, config)
    warped = warp(image, params)
    channels = 1 if image.ndim == 2 else image.shape[-1]
    offsets = draw_channel_shifts(rng, config, channels)
    if config.channel_shift_range:
        scale = UINT16_MAX / 255.0 if image.dtype == np.uint16 else 1.0
        shifted = channel_shift(warped, offsets, scale)
        if np.issubdtype(image.dtype, np.integer):
            shifted = np.rint(shifted)
        warped = shifted.astype(image.dtype)
    out_mask = warp(mask, params) if mask is not None else None
    return warped, out_mask
