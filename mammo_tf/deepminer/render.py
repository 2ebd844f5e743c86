# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Pictures: display windowing, masked (dimmed) patches, heat-map overlays, montages, PNG writing."""
import os

import cv2
import numpy as np

from mammo_tf.utils import atomic_path

DIM = 0.2  # DeepMiner keeps the region outside a unit's mask at 20% intensity


def to_display(image):
    """uint16/float (H, W) -> uint8 grey, windowed at the 0.5 / 99.5 percentiles."""
    image = np.asarray(image, dtype=np.float32)
    lo, hi = np.percentile(image, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1.0
    return (np.clip((image - lo) / (hi - lo), 0.0, 1.0) * 255).astype(np.uint8)


def dimmed(grey, mask, keep=DIM, outline=(255, 64, 64)):
    """RGB uint8: ``grey`` with the region outside ``mask`` kept at ``keep`` intensity, mask outlined."""
    grey = np.asarray(grey, np.float32)
    out = grey * np.where(mask, 1.0, keep)
    rgb = np.repeat(out[..., None], 3, axis=-1).astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(rgb, contours, -1, outline, 1)
    return rgb


def overlay(grey, heat, alpha=0.45, positive_only=True):
    """RGB uint8 heat-map overlay of ``heat`` (same H, W) on ``grey``; scaled by its max |value|."""
    heat = np.asarray(heat, np.float32)
    if positive_only:
        heat = np.maximum(heat, 0.0)
    scale = float(np.abs(heat).max()) or 1.0
    norm = heat / scale if positive_only else 0.5 + 0.5 * heat / scale
    colour = cv2.applyColorMap((np.clip(norm, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    base = np.repeat(np.asarray(grey, np.float32)[..., None], 3, axis=-1)
    weight = alpha * np.clip(norm, 0, 1)[..., None] if positive_only else alpha
    return (base * (1 - weight) + colour * weight).astype(np.uint8)


def fit(image, max_side):
    """Shrink so the longer side is at most ``max_side`` (area interpolation); never enlarges."""
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def thumbnail(tile, side=96):
    """Square ``side`` x ``side`` copy of an RGB tile (area interpolation)."""
    return cv2.resize(tile, (side, side), interpolation=cv2.INTER_AREA)


def montage(tiles, columns=8, tile_side=96, gap=2):
    """Grid of RGB tiles (each resized to ``tile_side`` squares) on a white background."""
    rows = max(1, -(-len(tiles) // columns))
    columns = min(columns, max(1, len(tiles)))
    canvas = np.full((rows * (tile_side + gap) + gap, columns * (tile_side + gap) + gap, 3), 255, np.uint8)
    for n, tile in enumerate(tiles):
        r, c = divmod(n, columns)
        small = tile if tile.shape[:2] == (tile_side, tile_side) else thumbnail(tile, tile_side)
        y, x = gap + r * (tile_side + gap), gap + c * (tile_side + gap)
        canvas[y:y + tile_side, x:x + tile_side] = small
    return canvas


def write_png(path, image, atomic=True):
    """Write an RGB (H, W, 3) or grey uint8 image as PNG (fast compression).

    ``atomic=False`` for files inside a folder that is itself written atomically (``atomic_dir``).
    """
    image = np.asarray(image)
    if image.ndim == 3:
        image = image[..., ::-1]
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1]
    if not atomic:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if not cv2.imwrite(path, image, params):
            raise OSError(f"{path}: cannot write PNG")
        return
    with atomic_path(path) as tmp:
        if not cv2.imwrite(tmp, image, params):
            raise OSError(f"{path}: cannot write PNG")
