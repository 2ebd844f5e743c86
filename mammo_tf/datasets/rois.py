# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Rasterising ROI outlines (circles, polygons, points) into full-size boolean masks.

Parts of an ROI outside the image are clipped; an ROI entirely outside gives an empty mask,
which the converter reports and skips.
"""
import cv2
import numpy as np

# A single-point ROI (INbreast "Type 19", e.g. one calcification) becomes a disc of this
# radius in source pixels: 10 px = 0.7 mm at INbreast's 0.07 mm spacing, still >= 2 px
# after resizing to 1152x896.
POINT_RADIUS_PX = 10


def circle_mask(shape, center_xy, radius):
    """Disc of ``radius`` pixels around ``center_xy`` = (column, row) on an image of ``shape``."""
    mask = np.zeros(shape, dtype=np.uint8)
    cx, cy = (int(round(v)) for v in center_xy)
    cv2.circle(mask, (cx, cy), max(int(round(radius)), 0), 1, thickness=-1)
    return mask.astype(bool)


def polygon_mask(shape, points_xy):
    """Filled polygon (points = [(column, row), ...]); 1 point -> disc, 2 points -> thick line."""
    points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    if len(points) == 0:
        return np.zeros(shape, dtype=bool)
    if len(points) == 1:
        return circle_mask(shape, points[0], POINT_RADIUS_PX)
    mask = np.zeros(shape, dtype=np.uint8)
    # cv2 needs int32 coordinates; clamping keeps far-away points from overflowing.
    pts = np.clip(np.rint(points), -(2**20), 2**20).astype(np.int32)
    if len(points) == 2:
        cv2.line(mask, tuple(pts[0]), tuple(pts[1]), 1, thickness=POINT_RADIUS_PX)
    else:
        cv2.fillPoly(mask, [pts], 1)
    return mask.astype(bool)
