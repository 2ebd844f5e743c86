# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The paper's heatmap + random-forest baseline (Shen et al., section 2.3, Fig. 1, Table 2).

Section 2.3: "first altering the input size from 224x224 to 1152x896 ... If we take 7x7 average
pooling, we will have a feature map of 30x22. We can then copy the softmax output layer from
the patch classifier to add on top of this average pooling layer and get probabilistic outputs
for the five classes for each of the 30x22 elements, i.e. producing a probabilistic heatmap. If
we add a random forest classifier on top of the heatmap, that will give the solution of our
entry in the challenge". ``build_heatmap_model`` builds exactly that conversion by default
(``build_heatmap_classifier(mode="fcn")``'s ``heatmap`` layer: the backbone at the whole-image
size, patch-window average pooling with stride 1, the patch softmax as a 1x1 convolution);
``mode="sliding"`` (an addition) runs the patch classifier on every window instead. The lesion
probability maps are binarised at the paper's cutoffs ("0.3, 0.5, 0.7, 0.9"), regional features
are extracted per cutoff and a 500-tree random forest classifies the whole image. The paper
reports a test AUC of 0.73 on DDSM with a ResNet50 s10 patch classifier.
"""
import logging

import numpy as np

from mammo_tf.constants import PATCH_CLASSES
from mammo_tf.errors import DataError

logger = logging.getLogger(__name__)

CUTOFFS = (0.3, 0.5, 0.7, 0.9)

# Lesion maps built from the 5 patch classes: the sum of the probabilities of their classes.
DEFAULT_MAPS = {
    "malignant": ("calc_malignant", "mass_malignant"),
    "benign": ("calc_benign", "mass_benign"),
}

# Per map and cutoff; all areas are fractions of the heatmap area so features do not depend on
# the image size.
REGION_FEATURES = (
    "n_regions",
    "total_area",
    "largest_area",
    "largest_max",
    "largest_mean",
    "largest_extent",
    "largest_solidity",
    "largest_eccentricity",
    "largest_major_axis",
)
GLOBAL_FEATURES = ("max", "mean", "p99")


def lesion_maps(heatmap, maps=None, class_names=PATCH_CLASSES):
    """(H, W, C) patch-class heatmap -> dict map name -> (H, W) probability map.

    ``maps``: name -> tuple of class names summed into that map (default malignant and benign).
    """
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.ndim != 3 or heatmap.shape[-1] != len(class_names):
        raise ValueError(
            f"heatmap must be (H, W, {len(class_names)}) for classes {class_names}, got {heatmap.shape}"
        )
    index = {name: i for i, name in enumerate(class_names)}
    out = {}
    for name, classes in (maps or DEFAULT_MAPS).items():
        unknown = [c for c in classes if c not in index]
        if unknown:
            raise ValueError(f"map {name!r}: unknown classes {unknown}; known: {list(class_names)}")
        out[name] = heatmap[..., [index[c] for c in classes]].sum(axis=-1)
    return out


def _largest_region_shape(region_mask):
    """Extent, solidity, eccentricity and major axis length (pixels) of one binary region."""
    import cv2

    ys, xs = np.nonzero(region_mask)
    area = len(ys)
    bbox_area = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    extent = area / bbox_area
    # Convex hull filled on the pixel grid (boundary included) so a 1-pixel or a line region
    # gets solidity 1 rather than a division by a zero polygon area.
    hull = cv2.convexHull(np.stack([xs, ys], axis=1).astype(np.int32))
    hull_mask = np.zeros(region_mask.shape, np.uint8)
    cv2.fillConvexPoly(hull_mask, hull, 1)
    solidity = area / max(int(hull_mask.sum()), area)
    # Second central moments of the pixel coordinates (as skimage's regionprops does).
    if area > 1:
        cov = np.cov(np.stack([ys, xs]).astype(np.float64), bias=True)
        small, large = np.sort(np.linalg.eigvalsh(cov))
        eccentricity = float(np.sqrt(1.0 - small / large)) if large > 0 else 0.0
        major_axis = 4.0 * np.sqrt(max(large, 0.0))
    else:
        eccentricity, major_axis = 0.0, 0.0
    return float(extent), float(solidity), eccentricity, float(major_axis)


def region_features(prob_map, cutoff):
    """Regional features of ``prob_map`` (H, W) binarised at ``prob_map >= cutoff``.

    Returns a dict over ``REGION_FEATURES``: number of 8-connected regions, total and largest
    region area (fractions of the map), max / mean probability inside the largest region, its
    extent (area / bounding box), solidity (area / convex hull), eccentricity and major axis
    length (relative to the map's longer side). All zero when no pixel passes the cutoff.
    """
    import cv2

    prob_map = np.asarray(prob_map, dtype=np.float32)
    if prob_map.ndim != 2:
        raise ValueError(f"prob_map must be 2-D, got shape {prob_map.shape}")
    binary = (prob_map >= cutoff).astype(np.uint8)
    features = dict.fromkeys(REGION_FEATURES, 0.0)
    n_labels, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n_labels <= 1:
        return features
    areas = stats[1:, cv2.CC_STAT_AREA]
    largest = 1 + int(np.argmax(areas))
    region = labels == largest
    values = prob_map[region]
    extent, solidity, eccentricity, major_axis = _largest_region_shape(region)
    total = float(prob_map.size)
    features.update(
        n_regions=float(n_labels - 1),
        total_area=float(areas.sum()) / total,
        largest_area=float(areas.max()) / total,
        largest_max=float(values.max()),
        largest_mean=float(values.mean()),
        largest_extent=extent,
        largest_solidity=solidity,
        largest_eccentricity=eccentricity,
        largest_major_axis=major_axis / max(prob_map.shape),
    )
    return features


def feature_names(maps=None, cutoffs=CUTOFFS):
    """Column names of ``heatmap_features`` in order."""
    names = []
    for map_name in maps or DEFAULT_MAPS:
        names += [f"{map_name}_{g}" for g in GLOBAL_FEATURES]
        for cutoff in cutoffs:
            names += [f"{map_name}_t{cutoff:g}_{f}" for f in REGION_FEATURES]
    return names


def heatmap_features(heatmap, cutoffs=CUTOFFS, maps=None, class_names=PATCH_CLASSES):
    """Feature vector (float32) of one (H, W, C) heatmap, columns as ``feature_names``."""
    values = []
    for prob_map in lesion_maps(heatmap, maps, class_names).values():
        values += [float(prob_map.max()), float(prob_map.mean()), float(np.percentile(prob_map, 99))]
        for cutoff in cutoffs:
            values += list(region_features(prob_map, cutoff).values())
    return np.asarray(values, dtype=np.float32)


def build_heatmap_model(patch_model, image_shape, mode="fcn", stride=32):
    """Keras model: network input (N, H, W, 3) -> the patch classifier's heatmap (N, h, w, C).

    ``mode="fcn"`` (default): the paper's conversion (section 2.3; 30x22 cells for a 224 px
    ResNet50 patch classifier at 1152x896). ``mode="sliding"``: the patch classifier on every
    window at ``stride`` pixels (an addition). Uses ``build_heatmap_classifier``'s heatmap
    (patch weights carried over); the classifier's FC layers are not used.
    """
    import keras

    from mammo_tf.shen import build_heatmap_classifier

    height, width = int(image_shape[0]), int(image_shape[1])
    classifier = build_heatmap_classifier(
        patch_model, input_shape=(height, width, 3), pool_size=1, hidden=(), shortcut=False,
        mode=mode, stride=stride,
    )
    # sliding mode: "heatmap" is the per-window softmax, "heatmap_grid" its (h, w, C) grid
    names = {layer.name for layer in classifier.layers}
    layer = classifier.get_layer("heatmap_grid" if "heatmap_grid" in names else "heatmap")
    return keras.Model(classifier.inputs, layer.output, name="patch_heatmap")


def compute_window_heatmaps(heatmap_model, images, pixel_mean, batch_size=2, progress=True):
    """Heatmaps (N, h, w, C) of 16-bit grey images at the heatmap model's input size: one cell
    PER WINDOW of the grid (all patch classes), unlike ``nyu.heatmaps.compute_pixel_heatmaps``
    (window probabilities averaged into every pixel).

    ``images``: a uint16 array (N, H, W[, 1]) already at that size, or a sequence of image
    files, read batch by batch (``mammo_tf.io.images.load_image``) and resized to it.
    """
    from mammo_tf.io.images import load_image
    from mammo_tf.preprocess import to_network_input

    size = tuple(int(s) for s in heatmap_model.input_shape[1:3])
    out = []
    steps = range(0, len(images), batch_size)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="heatmaps", unit="batch", leave=False)
    for start in steps:
        batch = images[start : start + batch_size]
        if not isinstance(batch, np.ndarray):
            batch = np.stack([load_image(path, size) for path in batch])
        out.append(np.asarray(heatmap_model.predict_on_batch(to_network_input(batch, pixel_mean))))
    return np.concatenate(out, axis=0)


# The paper's forest (Shen, Table 2): "#trees=500, max depth=9, min samples split=300".
RF_TREES, RF_MAX_DEPTH, RF_MIN_SAMPLES_SPLIT = 500, 9, 300


def fit_random_forest(features, labels, n_estimators=RF_TREES, seed=0, n_jobs=None,
                      max_depth=RF_MAX_DEPTH, min_samples_split=RF_MIN_SAMPLES_SPLIT):
    """scikit-learn RandomForestClassifier fitted on the features; defaults are the paper's
    (500 trees, max depth 9, min samples split 300; ``max_depth=None`` / ``min_samples_split=2``
    are scikit-learn's unlimited trees). With fewer than ``min_samples_split`` training images
    every tree is a single leaf (constant scores): the paper's forest needs a DDSM-sized set."""
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=n_jobs,
                                    max_depth=max_depth, min_samples_split=min_samples_split)
    forest.fit(np.asarray(features), np.asarray(labels).astype(np.int64))
    return forest


def evaluate_features(train_features, train_labels, test_features, test_labels,
                      n_estimators=RF_TREES, seed=0, n_boot=1000, max_depth=RF_MAX_DEPTH,
                      min_samples_split=RF_MIN_SAMPLES_SPLIT, test_groups=None):
    """Fit the forest on train features, score the test set -> (result dict, test scores, forest).
    ``test_groups`` (patient ids of the test images) makes the CI a cluster bootstrap."""
    from mammo_tf.evaluate import bootstrap_auc_ci

    if len(train_labels) < min_samples_split:
        logger.warning("heatmap random forest: %d training images < min_samples_split=%d, every "
                       "tree is one leaf (constant scores, AUC 0.5)", len(train_labels),
                       min_samples_split)
    forest = fit_random_forest(train_features, train_labels, n_estimators, seed,
                               max_depth=max_depth, min_samples_split=min_samples_split)
    positive = list(forest.classes_).index(1) if 1 in forest.classes_ else None
    if positive is None:
        raise ValueError("the training labels contain no positive (1) image")
    scores = forest.predict_proba(np.asarray(test_features))[:, positive]
    auc, lo, hi = bootstrap_auc_ci(test_labels, scores, n_boot=n_boot, seed=seed,
                                   groups=test_groups)
    result = {"auc": auc, "auc_ci95": [lo, hi],
              "ci_resamples": "patients" if test_groups is not None else "images",
              "n_trees": n_estimators, "max_depth": max_depth,
              "min_samples_split": min_samples_split}
    return result, scores, forest


def run_heatmap_rf_baseline(patch_model, train_images, train_labels, test_images, test_labels,
                            pixel_mean, cutoffs=CUTOFFS, maps=None, n_estimators=RF_TREES, seed=0,
                            batch_size=2, n_boot=1000, out_dir=None, progress=True, image_size=None,
                            max_depth=RF_MAX_DEPTH, min_samples_split=RF_MIN_SAMPLES_SPLIT,
                            test_groups=None, mode="fcn"):
    """The heatmap + random-forest baseline end to end; returns a JSON-ready dict.

    ``mode``: the heatmap, "fcn" (the paper's conversion, default) or "sliding" (an addition;
    ``build_heatmap_model``).

    ``train_images`` / ``test_images``: 16-bit grey arrays (N, H, W) at the whole-image size, or
    sequences of image files (read batch by batch, resized to ``image_size``, default 1152x896).
    ``pixel_mean`` is the run's training pixel mean (0-255 scale). With ``out_dir`` it writes
    ``heatmap_rf_metrics.json`` and ``heatmap_rf_roc.png`` there. ``test_groups``: patient ids
    of the test images (cluster-bootstrap CI; None: images resampled). The returned dict also holds
    ``test_scores`` (list, the forest's positive probabilities).
    """
    import os

    from mammo_tf.constants import WHOLE_IMAGE_SIZE
    from mammo_tf.evaluate import plot_roc
    from mammo_tf.utils import write_json_atomic

    shapes = {tuple(x.shape[1:3]) for x in (train_images, test_images) if isinstance(x, np.ndarray)}
    if len(shapes) > 1:
        raise ValueError(f"train and test image arrays differ in size: {sorted(shapes)}")
    shape = shapes.pop() if shapes else tuple(image_size or WHOLE_IMAGE_SIZE)
    heatmap_model = build_heatmap_model(patch_model, shape, mode=mode)
    train_h = compute_window_heatmaps(heatmap_model, train_images, pixel_mean, batch_size, progress)
    test_h = compute_window_heatmaps(heatmap_model, test_images, pixel_mean, batch_size, progress)
    train_f = np.stack([heatmap_features(h, cutoffs, maps) for h in train_h])
    test_f = np.stack([heatmap_features(h, cutoffs, maps) for h in test_h])
    result, scores, forest = evaluate_features(
        train_f, train_labels, test_f, test_labels, n_estimators, seed, n_boot,
        max_depth=max_depth, min_samples_split=min_samples_split, test_groups=test_groups)
    names = feature_names(maps, cutoffs)
    top = np.argsort(forest.feature_importances_)[::-1][:10]
    result.update(
        method="heatmap_random_forest",
        heatmap_mode=mode,
        cutoffs=list(cutoffs),
        maps=list(maps or DEFAULT_MAPS),
        heatmap_shape=list(train_h.shape[1:]),
        n_train=int(len(train_f)),
        n_test=int(len(test_f)),
        n_features=len(names),
        top_features={names[i]: float(forest.feature_importances_[i]) for i in top},
    )
    if out_dir is not None:
        write_json_atomic(os.path.join(out_dir, "heatmap_rf_metrics.json"), result)
        plot_roc(os.path.join(out_dir, "heatmap_rf_roc.png"),
                 {"heatmap + random forest": (test_labels, scores)})
    result["test_scores"] = [float(v) for v in scores]
    return result


def run_heatmap_rf_from_manifest(patch_model, manifest_csv, pixel_mean, image_size=None,
                                 train_split="train", test_split="test", **kwargs):
    """``run_heatmap_rf_baseline`` on two splits of a whole-image manifest CSV.

    Images are read from the manifest's ``image_path`` and resized to ``image_size`` (default
    1152x896); labels come from its ``label`` column; the test split's ``patient_id`` column
    (when the manifest has one) makes the CI a cluster bootstrap over patients. ``kwargs`` go to
    ``run_heatmap_rf_baseline``.
    """
    from mammo_tf.datasets.manifest import items_from_manifest

    patients = _patient_ids(manifest_csv)
    splits = {}
    for split in (train_split, test_split):
        items = items_from_manifest(manifest_csv, split)
        if not items:
            raise DataError(f"{manifest_csv}: no images in split {split!r}")
        if any(item.label is None for item in items):
            raise DataError(f"{manifest_csv}: split {split!r} has images without a label")
        splits[split] = ([item.path for item in items], np.array([item.label for item in items]))
    test_ids = [item.image_id for item in items_from_manifest(manifest_csv, test_split)]
    if patients and "test_groups" not in kwargs:
        kwargs["test_groups"] = [patients.get(i) or i for i in test_ids]
    return run_heatmap_rf_baseline(patch_model, *splits[train_split], *splits[test_split],
                                   pixel_mean=pixel_mean, image_size=image_size, **kwargs)


def _patient_ids(manifest_csv):
    """{image_id: patient_id} of a manifest with a ``patient_id`` column ({} without one)."""
    import csv

    with open(manifest_csv, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if "patient_id" not in (reader.fieldnames or ()):
            return {}
        return {row["image_id"]: (row["patient_id"] or "").strip() for row in reader}


if __name__ == "__main__":  # python -m mammo_tf.shen.heatmap_rf: the command (an entry point)
    from mammo_tf.commands.heatmap_rf import main

    raise SystemExit(main())
