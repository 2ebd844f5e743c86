"""Draw the breast crops of the four real NYU samples (issue 15) into docs/nyu_crops.png.

Run from the repository root: ``python docs/nyu_crops.py [samples folder]`` (default
``../shared/data/nyu_ffdm_samples``). Green: ``prepare --crop breast`` box
(``mammo_tf.datasets.breast_region.breast_box``); red: outline of the NYU pipeline's breast
mask (``mammo_tf.nyu.crop.breast_mask``); blue: the largest connected non-zero component's
bounding box (the whole breast), which the green box must contain.
"""
import os
import sys

import cv2
import numpy as np

from mammo_tf.datasets.breast_region import breast_box
from mammo_tf.io import read_png16
from mammo_tf.nyu import crop as C

SAMPLES = ("1_L_CC", "1_R_CC", "2_L_CC", "2_R_CC")


def main(folder):
    tiles = []
    scale = 0.125
    for name in SAMPLES:
        image = read_png16(os.path.join(folder, name + ".png"))
        box, mask = breast_box(image), C.breast_mask(image)
        _, labels, stats, _ = cv2.connectedComponentsWithStats((image > 0).astype(np.uint8), connectivity=8)
        k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        x, y, w, h = stats[k, :4]
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        tile = cv2.cvtColor((small >> 8).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        contours, _ = cv2.findContours(cv2.resize(mask.astype(np.uint8), tile.shape[1::-1],
                                                  interpolation=cv2.INTER_NEAREST), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(tile, contours, -1, (0, 0, 255), 1)
        s = lambda v: int(round(v * scale))  # noqa: E731
        cv2.rectangle(tile, (s(x), s(y)), (s(x + w) - 1, s(y + h) - 1), (255, 0, 0), 1)
        cv2.rectangle(tile, (s(box.left), s(box.top)), (s(box.right) - 1, s(box.bottom) - 1), (0, 255, 0), 2)
        cv2.putText(tile, name, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 255), 1)
        tiles.append(tile)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nyu_crops.png")
    gap = np.full((tiles[0].shape[0], 6, 3), 128, np.uint8)
    row = np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)
    if not cv2.imwrite(out, row):
        raise OSError(f"{out}: could not write the PNG")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join("..", "shared", "data", "nyu_ffdm_samples"))
