# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Benign / malignant heatmaps from a patch classifier, as extra input channels.

A patch classifier slides over the CROPPED image (patch 256 px, stride 70 by default);
each patch's malignant and benign probabilities are added to every pixel it covers and divided
by the number of patches covering the pixel. Two kinds of classifier:

- the authors' DenseNet-121 (``mammo_tf.nyu.densenet``, told by its model name): output 0 is
  the malignant probability, output 1 the benign one; the crop is standardised once (zero mean,
  unit standard deviation) and stacked to 3 channels, as in the authors' ``run_producer.py``;
  no pixel mean;
- a mammo_tf Shen patch classifier (softmax over ``mammo_tf.constants.PATCH_CLASSES``):
  benign = sum of ``BENIGN_PATCH_CLASSES``, malignant = sum of ``MALIGNANT_PATCH_CLASSES``,
  patches through ``to_network_input`` with the classifier's pixel mean, cut from the view as
  the one image reader gives it (``nyu.data.read_view_image`` = ``io.images.load_image``: the
  16-bit scale the classifier was trained on, whatever the file's bit depth).

Channel order in the model input follows the paper: [image, malignant, benign].

Scale check (``check_heatmap_scale``): the classifier's recorded training pixel spacing
(run.json ``details.pixel_spacing_mm``, or ``--heatmap-pixel-spacing``) must match the image's
(DICOM header, or ``--image-pixel-spacing``) within 10%, unless ``--allow-scale-mismatch``; an
unknown spacing on either side is an error naming the flag that states it.

Windows are cut at the classifier's own input size: a classifier with a fixed input of S px
needs ``patch_size`` S (the windows are never resized, which would change the scale the
classifier sees; the paper's 256 px windows fit the authors' 256 px DenseNet, a 224 px Shen
classifier slides 224 px windows).

Maps are cached as HDF5 next to the image (``<image>.heatmaps.h5``: datasets ``malignant``
and ``benign`` float32 (Hc, Wc), attrs ``crop`` [top, bottom, left, right], ``patch_size``,
``stride``, ``classifier``); a cache whose attributes differ is recomputed.
"""
import json
import os

import h5py
import numpy as np
from tqdm.auto import tqdm

from mammo_tf.errors import RunError, UsageError
from mammo_tf.constants import BENIGN_PATCH_CLASSES, MALIGNANT_PATCH_CLASSES, PATCH_CLASSES
from mammo_tf.imaging.windows import window_grid
from mammo_tf.io.dicom import image_pixel_spacing  # noqa: F401 (read through io; callers use it from here)
from mammo_tf.nyu import crop as C
from mammo_tf.nyu.constants import HEATMAP_PATCH_SIZE, HEATMAP_STRIDE
from mammo_tf.preprocess import to_network_input
from mammo_tf.utils import atomic_path

HEATMAP_CHANNELS = ("malignant", "benign")
# A heatmap classifier whose training pixel spacing differs from the image's by more than this
# (relative) sees windows of another physical size than it was trained on.
SCALE_TOLERANCE = 0.10


class HeatmapScaleError(UsageError):
    """The patch classifier was trained at another pixel spacing than the image's."""


def classifier_pixel_spacing(model_path):
    """The pixel spacing (mm) recorded in the patch classifier's run.json (``details``
    ``pixel_spacing_mm``, written by train_patch.py from --pixel-spacing or the patch files),
    or None when the run records none / the model has no run folder."""
    from mammo_tf.runs import RunFolder, run_folder_of

    path = os.fspath(model_path)
    run = RunFolder(path, create=False) if os.path.isdir(path) else run_folder_of(path)
    if run is None or not run.has_info():
        return None
    try:
        info = run.read_info()
    except RunError:
        return None
    value = (info.details or {}).get("pixel_spacing_mm")
    return None if value is None else float(value)


def check_heatmap_scale(classifier_spacing, image_spacing, image="the image", classifier="the "
                        "heatmap classifier", allow_mismatch=False, tolerance=SCALE_TOLERANCE):
    """HeatmapScaleError when the two pixel spacings (mm) differ by more than ``tolerance``
    (relative to the image's), or when either is unknown, unless ``allow_mismatch`` is set;
    returns the ratio classifier / image spacing (None when allowed with an unknown spacing).

    Wu et al.: the heatmap patch classifier works on 256x256 patches at full resolution; a Shen
    classifier trained on 1152x896 downsized DDSM images (about 0.18 mm) slid over 0.05-0.1 mm
    images sees windows 2-3.5 times smaller in tissue than it was trained on. An unknown spacing
    cannot be checked, so it is an error that names the flag stating it."""
    if classifier_spacing is None or image_spacing is None:
        if allow_mismatch:
            return None
        missing = []
        if classifier_spacing is None:
            missing.append(f"{classifier} records no training pixel spacing (state it with "
                           "--heatmap-pixel-spacing MM, or train it with train_patch.py "
                           "--pixel-spacing MM)")
        if image_spacing is None:
            missing.append(f"{image} has no pixel spacing (no DICOM header: state it with "
                           "--image-pixel-spacing MM)")
        raise HeatmapScaleError(
            "; ".join(missing) + ": the heatmap scale cannot be checked; or pass "
            "--allow-scale-mismatch to compute the heatmaps unchecked")
    ratio = float(classifier_spacing) / float(image_spacing)
    if abs(ratio - 1.0) > tolerance and not allow_mismatch:
        raise HeatmapScaleError(
            f"{classifier} was trained on images of {classifier_spacing:.4g} mm/pixel but "
            f"{image} has {image_spacing:.4g} mm/pixel ({ratio:.2f}x, more than "
            f"{100 * tolerance:.0f}% off): its windows would cover another tissue size than it "
            "was trained on; use a classifier trained at this resolution, or pass "
            "--allow-scale-mismatch to compute the heatmaps anyway")
    return ratio


def _class_indices(class_names):
    benign = [class_names.index(c) for c in BENIGN_PATCH_CLASSES]
    malignant = [class_names.index(c) for c in MALIGNANT_PATCH_CLASSES]
    return benign, malignant


def compute_pixel_heatmaps(image, classifier, pixel_mean, patch_size=HEATMAP_PATCH_SIZE,
                           stride=HEATMAP_STRIDE, batch_size=32, class_names=PATCH_CLASSES,
                           progress=True):
    """(H, W, 2) float32 [malignant, benign] averaged patch probabilities over ``image``: one
    value PER PIXEL (the mean over the windows covering it; Wu et al.'s heatmaps), unlike
    ``shen.heatmap_rf.compute_window_heatmaps`` (one cell per window, all classes).

    Args:
        image: grey image (H, W) on the 16-bit scale -- normally the cropped breast of a view
            read by ``nyu.data.read_view_image`` (``io.images.load_image``), so that a Shen
            classifier's patches match its training whatever the file's bit depth.
        classifier: Keras patch classifier: the NYU DenseNet-121 (standardised 3-channel
            patches, outputs 0 malignant / 1 benign) or a Shen patch classifier taking
            ``to_network_input`` patches. A fixed input size must equal ``patch_size``
            (ValueError naming the size otherwise: windows are never resized).
        pixel_mean: a Shen classifier's training pixel mean (0-255 scale); unused for the
            DenseNet.
        patch_size, stride: sliding window (paper: 256, 70).
        batch_size: patches per ``predict`` call.
        class_names: the classifier's classes, index = output unit.
    """
    from mammo_tf.nyu import densenet

    image = np.asarray(image)
    h, w = image.shape[:2]
    nyu = densenet.is_nyu_patch_classifier(classifier)
    if nyu:  # the authors standardise the whole crop once, before cutting patches
        image = densenet.standardise_image(image)
        benign_idx, malignant_idx = [densenet.BENIGN_INDEX], [densenet.MALIGNANT_INDEX]
    else:
        if pixel_mean is None:
            raise ValueError("a Shen patch classifier needs its training pixel_mean")
        benign_idx, malignant_idx = _class_indices(list(class_names))
    if h < patch_size or w < patch_size:  # pad small crops so one patch fits
        image = C.extract_window(image, C.Box(0, max(h, patch_size), 0, max(w, patch_size)))
    ph, pw = image.shape[:2]
    origins = list(zip(*(a.tolist() for a in window_grid((ph, pw), patch_size, stride, cover=True))))
    in_size = tuple(classifier.input_shape[1:3])
    if None not in in_size and in_size != (patch_size, patch_size):
        # Resizing the windows to the classifier's input would show it tissue at another scale
        # (256 -> 224: 1.14x) than it was trained on: cut windows of its own size instead.
        raise ValueError(
            f"the heatmap classifier takes {in_size[0]}x{in_size[1]} px patches but the windows "
            f"are {patch_size} px: pass --heatmap-patch-size {in_size[0]} (windows at the "
            "classifier's own size; they are not resized)")
    sums = np.zeros((ph, pw, 2), np.float64)
    counts = np.zeros((ph, pw), np.float64)
    bar = tqdm(total=len(origins), desc="heatmap patches", unit="patch", disable=not progress)
    for start in range(0, len(origins), batch_size):
        chunk = origins[start:start + batch_size]
        patches = np.stack([image[y:y + patch_size, x:x + patch_size] for y, x in chunk])
        inputs = densenet.to_patch_input(patches) if nyu else to_network_input(patches, pixel_mean)
        probs = np.asarray(classifier.predict_on_batch(inputs))
        malignant = probs[:, malignant_idx].sum(axis=1)
        benign = probs[:, benign_idx].sum(axis=1)
        for (y, x), m, b in zip(chunk, malignant, benign):
            sums[y:y + patch_size, x:x + patch_size, 0] += m
            sums[y:y + patch_size, x:x + patch_size, 1] += b
            counts[y:y + patch_size, x:x + patch_size] += 1
        bar.update(len(chunk))
    bar.close()
    maps = sums / np.maximum(counts, 1)[..., None]
    return maps[:h, :w].astype(np.float32)


def cache_path(image_path):
    """Where the heatmaps of ``image_path`` are cached: ``<image_path>.heatmaps.h5``."""
    return os.fspath(image_path) + ".heatmaps.h5"


def _attrs(crop, patch_size, stride, classifier_id):
    return {"crop": json.dumps([crop.top, crop.bottom, crop.left, crop.right]),
            "patch_size": int(patch_size), "stride": int(stride),
            "classifier": str(classifier_id), "channels": json.dumps(HEATMAP_CHANNELS)}


def read_cached_heatmaps(image_path, crop, patch_size=HEATMAP_PATCH_SIZE, stride=HEATMAP_STRIDE,
                         classifier_id=None):
    """Cached (Hc, Wc, 2) maps when the cache matches these settings, else None.

    ``classifier_id=None`` accepts a cache from any classifier (training reads caches that
    ``heatmaps_for_image`` wrote earlier).
    """
    path = cache_path(image_path)
    if not os.path.exists(path):
        return None
    want = _attrs(crop, patch_size, stride, classifier_id)
    with h5py.File(path, "r") as f:
        for key, value in want.items():
            if key == "classifier" and classifier_id is None:
                continue
            if f.attrs.get(key) != value:
                return None
        return np.stack([f["malignant"][()], f["benign"][()]], axis=-1).astype(np.float32)


def heatmaps_for_image(image_path, image, crop, classifier, pixel_mean, classifier_id,
                       patch_size=HEATMAP_PATCH_SIZE, stride=HEATMAP_STRIDE, batch_size=32,
                       progress=True):
    """Heatmaps of the cropped image, from the HDF5 cache when valid, else computed and cached.
    ``image``: the view read by ``nyu.data.read_view_image`` (16-bit scale, see
    ``compute_pixel_heatmaps``)."""
    maps = read_cached_heatmaps(image_path, crop, patch_size, stride, classifier_id)
    if maps is not None:
        return maps
    maps = compute_pixel_heatmaps(np.asarray(image)[crop.slices()], classifier, pixel_mean,
                                  patch_size, stride, batch_size, progress=progress)
    with atomic_path(cache_path(image_path)) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("malignant", data=maps[..., 0], compression="gzip")
            f.create_dataset("benign", data=maps[..., 1], compression="gzip")
            for key, value in _attrs(crop, patch_size, stride, classifier_id).items():
                f.attrs[key] = value
    return maps
