# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""NYU view preprocessing: crop, window selection, augmentation windows, standardisation."""
import os

import cv2
import numpy as np
import pytest

from mammo_tf.nyu import crop as C
from mammo_tf.nyu.views import PreprocessConfig, prepare_view, view_geometry

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NYU_SAMPLES = os.path.join(REPO, "..", "shared", "data", "nyu_ffdm_samples")
SAMPLES = ("1_L_CC", "1_R_CC", "2_L_CC", "2_R_CC")


def synthetic_breast(height=120, width=90, side="L", label=True):
    """Half-ellipse breast against the chest-wall edge, plus a detached bright label."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.zeros((height, width), np.uint16)
    breast = ((yy - height * 0.55) / (height * 0.4)) ** 2 + (xx / (width * 0.6)) ** 2 < 1
    image[breast] = 30000
    if label:
        image[4:10, width - 20:width - 6] = 60000  # marker far from the breast
    if side == "R":
        image = image[:, ::-1].copy()
    return image, breast if side == "L" else breast[:, ::-1]


@pytest.mark.parametrize("side", ["L", "R"])
def test_crop_keeps_breast_and_drops_label(side):
    image, breast = synthetic_breast(side=side)
    mask = C.breast_mask(image, iterations=3)
    box = C.crop_box(mask, margin=2)
    ys, xs = np.nonzero(breast)
    assert box.top <= ys.min() and box.bottom > ys.max()
    assert box.left <= xs.min() and box.right > xs.max()
    assert not mask[4:10].any()  # the marker is not part of the breast region
    assert C.chest_wall_side(mask) == ("left" if side == "L" else "right")


def test_cc_window_anchored_at_chest_wall_and_most_tissue():
    image, _ = synthetic_breast(side="R", label=False)
    mask = C.breast_mask(image, iterations=2)
    box = C.crop_box(mask, margin=0)
    crop_mask = mask[box.slices()]
    window = C.select_window(crop_mask, (40, 30), "CC")
    assert window.right == crop_mask.shape[1]  # chest wall on the right for a right breast
    tissue = crop_mask[window.slices()].sum()
    for top in range(0, crop_mask.shape[0] - 40 + 1):
        assert crop_mask[top:top + 40, window.left:window.right].sum() <= tissue


def test_mlo_window_keeps_lowest_breast_row():
    mask = np.zeros((100, 60), bool)
    mask[5:70, :40] = True  # big block high up
    mask[70:95, :8] = True  # thin tail down to row 94
    window = C.select_window(mask, (40, 50), "MLO", chest_wall="left")
    assert window.bottom > 94 and window.left == 0
    cc = C.select_window(mask, (40, 50), "CC", chest_wall="left")
    assert cc.bottom <= 70  # without the constraint the window sits on the block


def test_window_larger_than_crop_is_padded():
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = C.extract_window(image, C.Box(-1, 4, -2, 3))
    assert out.shape == (5, 5)
    np.testing.assert_array_equal(out[1:4, 2:5], image[:, :3])
    assert out[0].sum() == 0 and out[:, :2].sum() == 0


def test_random_windows_are_seeded():
    box = C.Box(10, 50, 20, 60)
    a = C.random_window(box, np.random.default_rng(7), 5, 3)
    b = C.random_window(box, np.random.default_rng(7), 5, 3)
    c = C.random_window(box, np.random.default_rng(8), 5, 3)
    assert a == b and a != c
    assert abs((a.top + a.bottom) / 2 - 30) <= 5.5 and abs(a.height - 40) <= 3.5


def test_prepare_view_standardises_and_stacks_heatmaps():
    image, _ = synthetic_breast()
    config = PreprocessConfig(cc_size=(64, 48), mlo_size=(64, 48), erosion_iterations=2)
    x = prepare_view(image, "CC", config)
    assert x.shape == (64, 48, 1) and x.dtype == np.float32
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3
    geometry = view_geometry(image, "CC", config)
    maps = np.full((geometry.crop.height, geometry.crop.width, 2), 0.25, np.float32)
    x3 = prepare_view(image, "CC", config, heatmaps=maps, rng=np.random.default_rng(0))
    assert x3.shape == (64, 48, 3)
    assert np.isclose(x3[..., 1:].max(), 0.25, atol=1e-5)  # heatmaps are not standardised


def _load_sample(name, scale=4):
    path = os.path.join(NYU_SAMPLES, name + ".png")
    if not os.path.exists(path):
        pytest.skip(f"real NYU samples not found at {NYU_SAMPLES} (../shared/data absent)")
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert image is not None and image.dtype == np.uint16 and image.shape == (3328, 2560)
    return cv2.resize(image, (image.shape[1] // scale, image.shape[0] // scale),
                      interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("name", SAMPLES)
def test_real_nyu_crop_holds_breast_and_window_inside_crop(name):
    image = _load_sample(name)  # 832 x 640, a quarter of the resolution
    mask = C.breast_mask(image)
    box = C.crop_box(mask)
    foreground = C.foreground(image)
    # the crop holds the breast: almost all non-zero pixels (labels and markers excepted)
    inside = foreground[box.slices()].sum() / foreground.sum()
    assert inside > 0.97
    assert C.chest_wall_side(mask) == ("left" if "_L_" in name else "right")
    # a window smaller than the crop lies inside it and covers mostly breast
    size = (box.height * 3 // 4, box.width * 3 // 4)
    window = C.select_window(mask[box.slices()], size, "CC")
    assert 0 <= window.top and window.bottom <= box.height
    assert 0 <= window.left and window.right <= box.width
    assert mask[box.slices()][window.slices()].mean() > 0.6
    # the paper's input size (scaled by 1/4) is larger than this crop: it is padded around it
    x = prepare_view(image, "CC", PreprocessConfig(cc_size=(669, 485)))
    assert x.shape == (669, 485, 1) and np.isfinite(x).all()
