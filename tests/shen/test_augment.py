"""OpenCV affine augmentation with Keras 2 semantics."""
import numpy as np
import pytest

from mammo_tf.shen.augment import (
    AffineParams,
    AugmentConfig,
    augment,
    channel_shift,
    draw_params,
    inverse_map,
    warp,
)


def _image(height=40, width=32, seed=0):
    return np.random.default_rng(seed).integers(0, 65536, (height, width)).astype(np.uint16)


def test_identity_and_flips_are_exact():
    image = _image()
    assert np.array_equal(warp(image, AffineParams()), image)
    assert np.array_equal(warp(image, AffineParams(flip_horizontal=True)), image[:, ::-1])
    assert np.array_equal(warp(image, AffineParams(flip_vertical=True)), image[::-1])
    both = AffineParams(flip_horizontal=True, flip_vertical=True)
    assert np.array_equal(warp(image, both), image[::-1, ::-1])


def test_rotation_by_90_degrees_matches_rot90_clockwise():
    """Keras 2's ``apply_affine_transform`` hands ``[[cos, -sin], [sin, cos]]`` in (row, col)
    index space to ``scipy.ndimage.affine_transform``, which maps OUTPUT indices to INPUT
    indices: output[r, c] = input[centre + R (r, c) - R centre]. For +90 degrees that is
    output[r, c] = input[cy - (c - cx), cx + (r - cy)] = ``np.rot90(image, -1)``: with rows
    pointing down, a positive angle turns the picture clockwise (the top edge goes right).
    cv2 gets the same map in (x, y) order with WARP_INVERSE_MAP."""
    from scipy.ndimage import affine_transform

    image = _image(33, 33)
    rotated = warp(image, AffineParams(rotation=np.pi / 2))
    assert np.array_equal(rotated, np.rot90(image, -1))
    assert not np.array_equal(rotated, np.rot90(image))
    dot = np.zeros((33, 33), np.uint16)
    dot[0, 16] = 1  # top centre -> right centre
    assert np.argwhere(warp(dot, AffineParams(rotation=np.pi / 2))).tolist() == [[16, 32]]
    # Keras 2's call, centred on (16, 16) as here (33 = 2 * 16 + 1)
    matrix = np.array([[0.0, -1.0], [1.0, 0.0]])
    centre = np.array([16.0, 16.0])
    keras2 = affine_transform(image, matrix, offset=centre - matrix @ centre, order=0, mode="nearest")
    assert np.array_equal(rotated, keras2)


def test_shear_is_in_radians():
    matrix = inverse_map(AffineParams(shear=0.2), (101, 101))
    # input row = row - sin(shear) * col: 0.2 rad gives -0.199 (0.2 degrees would give -0.0035)
    assert matrix[1, 0] == pytest.approx(-np.sin(0.2))
    assert matrix[0, 0] == pytest.approx(np.cos(0.2))
    image = np.zeros((101, 101), np.uint16)
    image[50, 50 + 40] = 1000  # a dot 40 columns right of the centre
    sheared = warp(image, AffineParams(shear=0.2))
    ys, xs = np.nonzero(sheared)
    # output (row, col) samples input (row - sin(0.2)*dc, cos(0.2)*dc): the dot lands near
    # col 50 + 40/cos(0.2), row 50 + 40*tan(0.2)
    assert abs(xs.mean() - (50 + 40 / np.cos(0.2))) < 1.5
    assert abs(ys.mean() - (50 + 40 * np.tan(0.2))) < 1.5


def test_same_geometry_on_image_and_mask():
    mask = np.zeros((48, 40), bool)
    mask[10:25, 8:20] = True
    image = (mask * 40000 + 1000).astype(np.uint16)
    config = AugmentConfig(channel_shift_range=0.0)
    for seed in range(10):
        out, out_mask = augment(image, np.random.default_rng(seed), config, mask=mask)
        assert out_mask.dtype == bool and out_mask.shape == mask.shape
        assert np.array_equal(out == 41000, out_mask)


def test_parameter_ranges():
    config = AugmentConfig()
    params = [draw_params(np.random.default_rng(s), config) for s in range(400)]
    rotation = np.array([p.rotation for p in params])
    shear = np.array([p.shear for p in params])
    zoom_y = np.array([p.zoom_y for p in params])
    zoom_x = np.array([p.zoom_x for p in params])
    assert np.abs(rotation).max() <= np.deg2rad(25) and np.abs(rotation).max() > np.deg2rad(22)
    assert np.abs(shear).max() <= 0.2 and np.abs(shear).max() > 0.18
    assert zoom_y.min() >= 0.8 and zoom_y.max() <= 1.2 and zoom_x.min() >= 0.8 and zoom_x.max() <= 1.2
    assert abs(np.corrcoef(zoom_x, zoom_y)[0, 1]) < 0.2  # drawn independently
    flips_h = np.mean([p.flip_horizontal for p in params])
    assert 0.4 < flips_h < 0.6
    assert draw_params(np.random.default_rng(0), AugmentConfig(horizontal_flip=False, vertical_flip=False,
                                                               rotation_range=0, shear_range=0,
                                                               zoom_range=(1, 1))) == AffineParams()


def test_channel_shift_per_channel_clipped_and_scaled():
    x = np.array([[[0.0, 0.0, 0.0], [100.0, 100.0, 100.0]]], np.float32)
    shifted = channel_shift(x, [20.0, -20.0, 5.0])
    assert shifted[0, 0].tolist() == [20.0, 0.0, 5.0] and shifted[0, 1].tolist() == [100.0, 80.0, 100.0]
    image = np.array([[1000, 60000]], np.uint16)
    assert channel_shift(image, [10.0], 65535 / 255).tolist() == [[1000 + 2570, 60000]]
    out, _ = augment(_image(), np.random.default_rng(0))
    assert out.dtype == np.uint16


def test_seeded_reproducibility():
    image = _image()
    a, _ = augment(image, np.random.default_rng(7))
    b, _ = augment(image, np.random.default_rng(7))
    c, _ = augment(image, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_invalid_config():
    with pytest.raises(ValueError, match="zoom_range"):
        AugmentConfig(zoom_range=(1.2, 0.8))
