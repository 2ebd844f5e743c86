# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Shared helpers for tests/test_explain_*.py: tiny Keras models and phantom probe sets."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

SIZE = (64, 48)  # phantom (height, width): the 1152x896 aspect at a small size


def gap_dense_model(size=(32, 32), units=6, classes=3, seed=0):
    """Flattened conv net -> global_pool -> head_dropout -> predictions (softmax)."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((*size, 3))
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="block1_conv")(x)
    h = keras.layers.Conv2D(units, 3, strides=2, padding="same", activation="relu", name="feat")(h)
    g = keras.layers.GlobalAveragePooling2D(name="global_pool")(h)
    g = keras.layers.Dropout(0.2, name="head_dropout")(g)
    out = keras.layers.Dense(classes, activation="softmax", name="predictions")(g)
    return keras.Model(x, out, name="tiny_gap_dense")


def nested_model(size=(32, 32), units=6, classes=3, seed=1):
    """The backbone is a NESTED model (the case the keras.io Grad-CAM recipe fails on)."""
    keras.utils.set_random_seed(seed)
    bi = keras.Input((*size, 3))
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv_a")(bi)
    h = keras.layers.Conv2D(units, 3, strides=2, padding="same", activation="relu", name="conv_b")(h)
    backbone = keras.Model(bi, h, name="backbone")
    x = keras.Input((*size, 3))
    g = keras.layers.GlobalAveragePooling2D(name="global_pool")(backbone(x))
    g = keras.layers.Dropout(0.0, name="head_dropout")(g)
    out = keras.layers.Dense(classes, activation="softmax", name="predictions")(g)
    return keras.Model(x, out, name="tiny_nested")


def top_block_model(size=(32, 32), units=6, classes=2, seed=2):
    """A whole-image-like model: backbone cut, conv top blocks ``top1_*``/``top2_*``, GAP head."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((*size, 3))
    h = keras.layers.Conv2D(units, 3, strides=2, padding="same", activation="relu", name="cut")(x)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="top1_conv")(h)
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="top2_conv")(h)
    g = keras.layers.GlobalAveragePooling2D(name="global_pool")(h)
    g = keras.layers.Dropout(0.0, name="head_dropout")(g)
    out = keras.layers.Dense(classes, activation="softmax", name="predictions")(g)
    return keras.Model(x, out, name="tiny_top_blocks")


BLOB_PIXEL_MEAN = 120.0


def blob_detector_model(size=SIZE):
    """A model whose class map is known: a fixed centre-surround (difference of Gaussians) filter plus
    a brightness term -> ReLU -> GAP -> Dense with a positive weight for class 1. Bright compact
    phantom lesions give its CAM maximum (use ``BLOB_PIXEL_MEAN`` as the pixel mean)."""
    x = keras.Input((*size, 3))
    k = 9
    yy, xx = np.mgrid[:k, :k] - k // 2
    r2 = yy**2 + xx**2
    centre = np.exp(-r2 / (2 * 1.5**2))
    surround = np.exp(-r2 / (2 * 4.0**2))
    kernel2d = centre / centre.sum() - surround / surround.sum()
    kernel2d[k // 2, k // 2] += 0.3  # brightness term: lesions are the brightest compact structures
    kernel = np.zeros((k, k, 3, 1), np.float32)
    kernel[..., 0, 0] = kernel2d
    h = keras.layers.Conv2D(1, k, padding="same", activation="relu", name="feat")(x)
    g = keras.layers.GlobalAveragePooling2D(name="global_pool")(h)
    g = keras.layers.Dropout(0.0, name="head_dropout")(g)
    out = keras.layers.Dense(2, activation="softmax", name="predictions")(g)
    model = keras.Model(x, out, name="blob_detector")
    model.get_layer("feat").set_weights([kernel, np.array([-0.3 * (150.0 - BLOB_PIXEL_MEAN)], np.float32)])
    model.get_layer("predictions").set_weights([np.array([[-1.0, 1.0]], np.float32), np.zeros(2, np.float32)])
    return model


def write_phantom_manifest(folder, n=6, size=SIZE, seed=0, lesions=("mass_malignant",), split="test"):
    """Render ``n`` phantom views with known lesions; write PNGs, ROI masks and a manifest."""
    from mammo_tf.datasets.manifest import write_manifest
    from mammo_tf.datasets.phantom import render_view
    from mammo_tf.io import write_mask_png, write_png16

    rows = []
    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    for i in range(n):
        side, view = ("L", "R")[i % 2], ("CC", "MLO")[(i // 2) % 2]
        image, rois = render_view(seed + i, side, view, lesions=list(lesions), size=size)
        image_path = f"images/p{i:03d}.png"
        write_png16(os.path.join(folder, image_path), image)
        masks = []
        for j, (mask, _) in enumerate(rois):
            masks.append(f"images/p{i:03d}_roi{j}.png")
            write_mask_png(os.path.join(folder, masks[-1]), mask)
        rows.append({"image_id": f"p{i:03d}", "patient_id": f"pt{i // 2}", "side": side, "view": view,
                     "label": int(any(c.endswith("malignant") for _, c in rois)),
                     "pathology": "MALIGNANT" if rois else "NORMAL", "abnormality": ["mass"] * len(rois),
                     "image_path": image_path, "roi_mask_paths": masks, "roi_classes": [c for _, c in rois],
                     "split": split})
    path = os.path.join(folder, "manifest.csv")
    write_manifest(path, rows)
    return path


def write_patch_h5(path, n=20, size=32, seed=0):
    """A small patch HDF5 in the DESIGN.md format (random uint16 texture)."""
    import h5py

    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        f["patches"] = rng.integers(0, 65535, (n, size, size), dtype=np.uint16)
        f["labels"] = rng.integers(0, 3, n)
        f["image_id"] = np.array([f"img{i % 4}" for i in range(n)], dtype="S")
        f["roi_index"] = np.full(n, -1)
        f["center_y"] = rng.integers(20, 40, n)
        f["center_x"] = rng.integers(20, 40, n)
        f.attrs["class_names"] = '["a", "b", "c"]'
    return path
