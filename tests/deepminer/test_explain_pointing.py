"""The one pointing game (deepminer.evaluation): a map's maximum, or a model's chosen point,
inside an ROI, optionally within a tolerance (used by DeepMiner's evaluation and make demo)."""
import numpy as np

from mammo_tf.deepminer.evaluation import pointing_game, pointing_hit


def test_pointing_hit_inside_outside_and_within_tolerance():
    roi = np.zeros((20, 20), bool)
    roi[5:8, 5:8] = True
    assert pointing_hit((6, 6), roi) and not pointing_hit((10, 6), roi)
    # 3 px below the ROI's last row: outside, inside a 3 px disk, not a 2 px one
    assert pointing_hit((10, 6), roi, tolerance=3) and not pointing_hit((10, 6), roi, tolerance=2)
    # diagonal distance from (7, 7) to (10, 10) is 4.2 px: the tolerance is a disk, not a square
    assert not pointing_hit((10, 10), roi, tolerance=3) and pointing_hit((10, 10), roi, tolerance=5)
    assert pointing_hit((10, 6), roi, tolerance=0) is False


def test_pointing_game_uses_the_map_maximum():
    roi = np.zeros((10, 10), bool)
    roi[2:4, 2:4] = True
    saliency = np.zeros((10, 10))
    saliency[3, 3] = 1.0
    assert pointing_game(saliency, roi)
    saliency[8, 8] = 2.0
    assert not pointing_game(saliency, roi) and pointing_game(saliency, roi, tolerance=7)
