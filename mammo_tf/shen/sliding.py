# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The patch baseline: a patch classifier slid over whole images at its own scale.

Every whole-image result is reported beside this baseline: window = the patch classifier's
input size, a configurable stride, the image scored by the maximum over its windows of
P(malignant) (sum of the malignant patch classes) and of P(lesion) (1 - P(background)).
A whole-image model that does not beat it has learnt nothing the patch classifier did not
already know.

Where the windows lie comes from the one window grid, ``mammo_tf.imaging.windows`` (valid
windows only: ``range(0, length - window + 1, stride)`` per axis); the converted heatmap
classifier (``mammo_tf.shen.classifiers.build_heatmap_classifier``) uses the same functions, so
the two heatmaps agree window for window.
"""
import logging

import numpy as np

from mammo_tf.constants import BENIGN_PATCH_CLASSES, MALIGNANT_PATCH_CLASSES
# the one window grid (names kept here for the heatmap classifier and callers)
from mammo_tf.imaging.windows import grid_shape as heatmap_shape
from mammo_tf.imaging.windows import pair as _pair
from mammo_tf.imaging.windows import window_indices, window_starts  # noqa: F401

log = logging.getLogger(__name__)

BACKGROUND_CLASS = "background"


def patch_window_size(patch_model):
    """(height, width) of a patch classifier's fixed input."""
    shape = tuple(patch_model.input_shape[1:3])
    if None in shape:
        raise ValueError(f"patch classifier {patch_model.name!r} has no fixed input size; "
                         "its window is undefined")
    return int(shape[0]), int(shape[1])


def sliding_window_heatmap(patch_model, images, stride, batch_size=256):
    """Class probabilities of ``patch_model`` on every window: (N, rows, cols, classes).

    ``images`` are network inputs (N, H, W, C) (``mammo_tf.preprocess.to_network_input``: the
    same preprocessing as the patches the classifier was trained on). Windows are cut without
    padding; inference mode (BatchNormalization uses its moving statistics).
    """
    from mammo_tf.training.metrics import predict_padded

    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C), got shape {images.shape}")
    n, height, width, channels = images.shape
    window = patch_window_size(patch_model)
    rows, cols = heatmap_shape((height, width), window, stride)
    index = window_indices((height, width), window, stride)
    flat = images.reshape(n, height * width, channels)
    # every batch has the same size (the last one padded): the predict function traces once
    windows = (image[index].reshape(rows * cols, window[0], window[1], channels) for image in flat)
    pending, probs = [], []
    for item in windows:
        pending.extend(item)
        while len(pending) >= batch_size:
            probs.append(predict_padded(patch_model, np.stack(pending[:batch_size]), batch_size))
            del pending[:batch_size]
    if pending:
        probs.append(predict_padded(patch_model, np.stack(pending), batch_size))
    return np.concatenate(probs).reshape(n, rows, cols, -1)


def class_groups(class_names):
    """Column indices of the malignant, benign and background patch classes."""
    names = list(class_names)
    malignant = [names.index(c) for c in MALIGNANT_PATCH_CLASSES if c in names]
    benign = [names.index(c) for c in BENIGN_PATCH_CLASSES if c in names]
    if not malignant:
        raise ValueError(f"no malignant class among the patch classes {names}")
    background = names.index(BACKGROUND_CLASS) if BACKGROUND_CLASS in names else None
    return malignant, benign, background


def heatmap_scores(heatmaps, class_names):
    """Image scores from (N, rows, cols, classes) heatmaps: max P(malignant), max P(lesion)."""
    heatmaps = np.asarray(heatmaps, dtype=np.float64)
    malignant, _, background = class_groups(class_names)
    p_malignant = heatmaps[..., malignant].sum(-1)
    p_lesion = 1.0 - heatmaps[..., background] if background is not None else heatmaps.sum(-1)
    axes = (1, 2)
    return {"max_malignant": p_malignant.max(axis=axes), "max_lesion": p_lesion.max(axis=axes)}


def patch_baseline_scores(patch_model, images, stride, class_names, batch_size=256):
    """``heatmap_scores`` of ``sliding_window_heatmap``: {"max_malignant": (N,), "max_lesion": (N,)}."""
    return heatmap_scores(sliding_window_heatmap(patch_model, images, stride, batch_size), class_names)


def baseline_on_dataset(patch_model, dataset, stride, class_names, groups=None, n_boot=1000, seed=0):
    """The patch baseline on a whole-image dataset (``WholeImageDataset``, not shuffled).

    Returns {"max_malignant": {"auc", "auc_ci95"}, "max_lesion": {...}, "stride", "window"}
    with a cluster bootstrap CI over ``groups`` (patient ids; image-level without them).
    """
    from mammo_tf.evaluate import bootstrap_auc_ci

    scores = {"max_malignant": [], "max_lesion": []}
    labels = []
    for batch in (dataset[i] for i in range(len(dataset))):
        x, y = batch[0], batch[1]
        for key, value in patch_baseline_scores(patch_model, x, stride, class_names).items():
            scores[key].append(value)
        labels.append(np.asarray(y))
    labels = np.concatenate(labels)
    report = {"window": list(patch_window_size(patch_model)), "stride": int(stride)}
    for key, parts in scores.items():
        values = np.concatenate(parts)
        try:
            auc, lo, hi = bootstrap_auc_ci(labels, values, n_boot=n_boot, seed=seed, groups=groups)
            report[key] = {"auc": auc, "auc_ci95": [lo, hi]}
        except ValueError as exc:  # one class only in this split
            log.warning("patch baseline %s: AUC undefined (%s)", key, exc)
            report[key] = {"auc": None, "auc_ci95": None}
        report[key]["scores"] = values.tolist()
    return report


def _window_grid(map_shape, image_shape, window, stride):
    """((wy, wx), row starts, col starts) of the windows a (rows, cols) map was computed on;
    ValueError when the map does not match them."""
    height, width = int(image_shape[0]), int(image_shape[1])
    wy, wx = _pair(window)
    ys, xs = window_starts(height, wy, stride), window_starts(width, wx, stride)
    if tuple(map_shape[:2]) != (len(ys), len(xs)):
        raise ValueError(f"heatmap {tuple(map_shape[:2])} does not match {len(ys)}x{len(xs)} windows "
                         f"of {wy}x{wx} at stride {stride} on a {height}x{width} image")
    return (wy, wx), ys, xs


def heatmap_to_pixels(heatmap, image_shape, window, stride):
    """A (rows, cols) window map back on the (H, W) image: every pixel gets the mean of the
    windows that cover it (0 where none does), as the NYU heatmaps average overlapping windows."""
    heatmap = np.asarray(heatmap, dtype=np.float64)
    height, width = int(image_shape[0]), int(image_shape[1])
    (wy, wx), ys, xs = _window_grid(heatmap.shape, image_shape, window, stride)
    total = np.zeros((height, width), np.float64)
    count = np.zeros((height, width), np.float64)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            total[y:y + wy, x:x + wx] += heatmap[i, j]
            count[y:y + wy, x:x + wx] += 1.0
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def most_probable_window_centre(cells, image_shape, window, stride):
    """(y, x) pixel centre of the window with the highest value of a (rows, cols) map.

    The point a patch classifier "points at": it was trained on patches centred on their lesion,
    so its windows fire when the lesion lies near their centre. (The maximum of the pixel map of
    ``heatmap_to_pixels`` is biased to the borders, where fewer windows are averaged.)"""
    cells = np.asarray(cells)
    (wy, wx), ys, xs = _window_grid(cells.shape, image_shape, window, stride)
    i, j = np.unravel_index(int(np.argmax(cells)), cells.shape[:2])
    return int(ys[i] + wy // 2), int(xs[j] + wx // 2)


def malignant_map(heatmap, class_names):
    """P(malignant) per cell of a (rows, cols, classes) heatmap."""
    malignant, _, _ = class_groups(class_names)
    return np.asarray(heatmap, dtype=np.float64)[..., malignant].sum(-1)
