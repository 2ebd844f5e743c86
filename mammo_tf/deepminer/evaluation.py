# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Checks of class maps against ROI masks, beyond DeepMiner.

* pointing game: the map's maximum (or a model's chosen point: ``pointing_hit``) lies inside
  the ROI;
* energy share: share of the map's positive mass inside the ROI;
* deletion curve: breast pixels are replaced by the pixel mean (network input 0), most salient
  first, ``step`` (default 1%) of the breast area per step; AUC of the class probability over the
  deleted fraction (lower = map found what matters), against a random deletion order;
* sanity check (Adebayo et al.): the top layers' weights are randomised and the Spearman rank
  correlation between the original and the randomised maps reported (it should be low).
"""
import cv2
import numpy as np
from tqdm import tqdm

from mammo_tf.deepminer.maps import class_maps, upsample
from mammo_tf.deepminer.probe import probe_size, resize_item
from mammo_tf.errors import DataError
from mammo_tf.preprocess import to_network_input
from mammo_tf.utils import write_json_atomic


def breast_mask(image):
    """Boolean breast region: Otsu threshold on the display image, largest connected component."""
    grey = cv2.normalize(np.asarray(image, np.float32), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    _, binary = cv2.threshold(cv2.GaussianBlur(grey, (5, 5), 0), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8))
    if n <= 1:
        return np.ones(grey.shape, bool)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def pointing_hit(point, roi, tolerance=0):
    """The pointing game's test of one point: True when ``point`` = (y, x) lies inside ``roi``
    (boolean (H, W)) or, with ``tolerance`` > 0 pixels, inside the ROI dilated by a disk of that
    radius (Zhang et al.'s tolerance for coarse maps)."""
    y, x = int(point[0]), int(point[1])
    if tolerance <= 0:
        return bool(roi[y, x])
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1, 2 * tolerance + 1))
    return bool(cv2.dilate(np.asarray(roi, np.uint8), disk)[y, x])


def pointing_game(saliency, roi, tolerance=0):
    """True when the saliency maximum lies inside ``roi`` (within ``tolerance`` pixels)."""
    point = np.unravel_index(int(np.argmax(saliency)), saliency.shape)
    return pointing_hit(point, roi, tolerance)


def energy_share(saliency, roi):
    """Share of the positive saliency inside ``roi`` (0 when the map has no positive mass)."""
    positive = np.maximum(saliency, 0.0)
    total = float(positive.sum())
    return float(positive[roi].sum() / total) if total > 0 else 0.0


def deletion_curve(predict, x, order, class_index, step_pixels, batch_size=8):
    """Probabilities of ``class_index`` as pixels ``order`` (flat indices) are set to 0, ``step_pixels``
    per step. Returns (fractions deleted, probabilities, AUC by the trapezoid rule)."""
    steps = int(np.ceil(len(order) / step_pixels))
    cut = [min(len(order), s * step_pixels) for s in range(steps + 1)]
    probs = []
    h, w = x.shape[:2]
    for start in range(0, len(cut), batch_size):
        batch = np.repeat(x[None], len(cut[start:start + batch_size]), axis=0)
        for b, n in enumerate(cut[start:start + batch_size]):
            flat = batch[b].reshape(h * w, -1)
            flat[order[:n]] = 0.0
        probs.append(np.asarray(predict(batch))[:, class_index])
    probs = np.concatenate(probs)
    fractions = np.asarray(cut, np.float64) / max(len(order), 1)
    return fractions, probs, float(np.trapezoid(probs, fractions))


def spearman(a, b):
    from scipy.stats import spearmanr

    rho = spearmanr(np.ravel(a), np.ravel(b)).statistic
    return float(rho) if np.isfinite(rho) else 0.0


def randomized_layers(split, names=None):
    """Layers randomised by the sanity check: ``names`` or the weighted layers of the head."""
    if names:
        return [split.model.get_layer(n) for n in names]
    return [layer for layer in split.head.layers if layer.weights]


def _randomize(layers, seed):
    rng = np.random.default_rng(seed)
    saved = []
    for layer in layers:
        for var in layer.weights:
            value = np.asarray(var.numpy() if hasattr(var, "numpy") else var)
            saved.append((var, value))
            scale = float(value.std()) or 0.05
            var.assign(rng.normal(0.0, scale, value.shape).astype(value.dtype))
    return saved


def evaluate_maps(split, probe, pixel_mean, class_index=None, step=0.01, seed=0, randomize=None,
                  deletion=True, progress=True):
    """Evaluate class maps on the probe items that have ROI masks; returns a summary dict."""
    rng = np.random.default_rng(seed)
    per_image = []
    size = probe_size(probe, split)
    predict = split.model.predict_on_batch
    for index in tqdm(range(len(probe)), desc="evaluate", unit="image", disable=not progress):
        try:
            item = probe.item(index)
        except Exception as exc:
            probe.failures.append((index, str(exc)))
            continue
        image, rois = resize_item(item, size)
        roi = np.zeros(image.shape, bool)
        for mask, _ in rois:
            roi |= mask
        if not roi.any():
            continue
        x = to_network_input(image[None], pixel_mean)
        outputs = np.asarray(predict(x))
        c = (1 if split.num_classes == 2 else int(np.argmax(outputs[0]))) if class_index is None else class_index
        maps, _, _ = class_maps(split, x, c)
        method = next(iter(maps))
        small = maps[method][0]
        saliency = upsample(small, image.shape)
        random_map = rng.random(small.shape)
        random_up = upsample(random_map, image.shape)
        row = {"index": index, "image_id": item.image_id, "class": c, "method": method,
               "pointing": pointing_game(saliency, roi), "pointing_random": pointing_game(random_up, roi),
               "energy": energy_share(saliency, roi), "energy_random": energy_share(random_up, roi),
               "roi_fraction": float(roi.mean())}
        if deletion:
            breast = np.flatnonzero(breast_mask(image).ravel())
            step_pixels = max(1, int(round(step * len(breast))))
            order = breast[np.argsort(-saliency.ravel()[breast], kind="stable")]
            _, _, row["deletion_auc"] = deletion_curve(predict, x[0], order, c, step_pixels)
            _, _, row["deletion_auc_random"] = deletion_curve(predict, x[0], rng.permutation(breast), c, step_pixels)
        layers = randomized_layers(split, randomize)
        saved = _randomize(layers, seed + index)
        try:
            rand_maps, _, _ = class_maps(split, x, c)
        finally:
            for var, value in saved:
                var.assign(value)
        row["randomized_spearman"] = spearman(small, rand_maps[method][0])
        per_image.append(row)
    if not per_image:
        raise DataError(f"{probe.description}: no image with a non-empty ROI mask")
    mean = lambda key: float(np.mean([r[key] for r in per_image])) if key in per_image[0] else None
    summary = {
        "num_images": len(per_image), "layer": split.layer_name, "method": per_image[0]["method"],
        "pointing_game": mean("pointing"), "pointing_game_random": mean("pointing_random"),
        "energy_share": mean("energy"), "energy_share_random": mean("energy_random"),
        "roi_fraction": mean("roi_fraction"),
        "deletion_auc": mean("deletion_auc"), "deletion_auc_random": mean("deletion_auc_random"),
        "deletion_step": step,
        "randomized_layers": [l.name for l in randomized_layers(split, randomize)],
        "randomized_spearman": mean("randomized_spearman"),
        "images": per_image,
        "failures": [{"index": i, "error": e} for i, e in probe.failures],
    }
    return summary


def write_evaluation(summary, path):
    write_json_atomic(path, summary)
    return path
