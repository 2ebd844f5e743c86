# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Build the paper's s1 / s10 / s30 patch sets from a whole-image manifest into HDF5 files.

Output folder: one ``<split>.h5`` per split (format in docs/DESIGN.md, plus an ``overlap``
dataset) and ``patch_set.json`` with the parameters, the seed, counts per class and every
skipped item / relaxed overlap cutoff. Each image is sampled with its own generator seeded
from (seed, crc32(image_id)), so the result does not depend on the order of the images and
the same seed gives byte-identical files.
"""
import json
import os
import re
import zlib

import h5py
import numpy as np

from mammo_tf.constants import PATCH_CLASSES, PATCH_SIZE
from mammo_tf.datasets.manifest import read_manifest, resolve_path
from mammo_tf.errors import DataError, UsageError
from mammo_tf.io import read_mask
from mammo_tf.io.images import load_image
from mammo_tf.io.patch_file import PatchFile
from mammo_tf.shen.patches.sampling import BREAST_THRESHOLD, CUTOFF_STEP, MAX_FAILURES, pad_to_patch, sample_patches
from mammo_tf.utils import atomic_path, write_json_atomic

MANIFEST_NAME = "patch_set.json"


def parse_set_name(name):
    """``"s1"`` -> (1, centred=True); ``"s10"`` -> (10, False); any ``s<N>`` with N >= 1."""
    match = re.fullmatch(r"s(\d+)", str(name))
    if not match or int(match.group(1)) < 1:
        raise UsageError(f"patch set name must look like s1, s10, s30 (s<N>), got {name!r}")
    n = int(match.group(1))
    return n, n == 1


COMPRESSIONS = ("none", "gzip", "lzf")


def _compression_args(compression):
    """h5py arguments for the patch dataset: none (fastest reads), gzip (level 4) or lzf."""
    if compression in (None, "none"):
        return {}
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    if compression == "lzf":
        return {"compression": "lzf", "shuffle": True}
    raise UsageError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")


class PatchFileWriter:
    """Append patches to an HDF5 file with the DESIGN layout (resizable, one chunk per patch).

    Written to a temporary file renamed into place by ``close()``; no timestamps are stored
    (``track_times=False``) so identical content gives identical bytes.
    """

    def __init__(self, path, patch_size, dtype=np.uint16, attrs=None, compression=None,
                 class_names=PATCH_CLASSES):
        self.path = os.fspath(path)
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        self._file = h5py.File(tmp, "w", libver="earliest")
        common = {"track_times": False, "maxshape": (None,), "chunks": (4096,)}
        f = self._file
        f.create_dataset("patches", shape=(0, patch_size, patch_size), dtype=dtype,
                         maxshape=(None, patch_size, patch_size), chunks=(1, patch_size, patch_size),
                         track_times=False, **_compression_args(compression))
        f.create_dataset("labels", shape=(0,), dtype=np.int64, **common)
        f.create_dataset("image_id", shape=(0,), dtype=h5py.string_dtype("utf-8"), **common)
        for name in ("roi_index", "center_y", "center_x"):
            f.create_dataset(name, shape=(0,), dtype=np.int64, **common)
        f.create_dataset("overlap", shape=(0,), dtype=np.float32, **common)
        f.attrs["class_names"] = json.dumps(list(class_names))
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
        self.count = 0

    def append(self, image_id, sampled):
        """Append the ``SampledPatches`` of one image."""
        n = len(sampled.labels)
        if n == 0:
            return
        start, end = self.count, self.count + n
        columns = {"patches": sampled.patches, "labels": sampled.labels, "image_id": [image_id] * n,
                   "roi_index": sampled.roi_index, "center_y": sampled.center_y,
                   "center_x": sampled.center_x, "overlap": sampled.overlap}
        for name, values in columns.items():
            dataset = self._file[name]
            dataset.resize(end, axis=0)
            dataset[start:end] = values
        self.count = end

    def close(self, ok=True):
        """Finish the file (rename into place when ``ok``, else discard it)."""
        self._file.close()
        if ok:
            self._atomic.__exit__(None, None, None)
        else:
            self._atomic.__exit__(RuntimeError, RuntimeError("aborted"), None)


def image_seed(seed, image_id):
    """Seed of one image's generator: independent of the order images are processed in."""
    return np.random.SeedSequence([int(seed), zlib.crc32(str(image_id).encode("utf-8"))])


def load_image_and_rois(manifest_path, row):
    """Read a manifest row's 16-bit image (``load_image``, the one image reader) and its ROI
    masks (bool) with class indices."""
    image = load_image(resolve_path(manifest_path, row["image_path"]))
    masks = [read_mask(resolve_path(manifest_path, p)) for p in row["roi_mask_paths"]]
    labels = [PATCH_CLASSES.index(c) for c in row["roi_classes"]]
    for path, mask in zip(row["roi_mask_paths"], masks):
        if mask.shape != image.shape:
            raise DataError(f"{resolve_path(manifest_path, path)}: ROI mask is {mask.shape[1]}x"
                             f"{mask.shape[0]} but its image is {image.shape[1]}x{image.shape[0]}")
    return image, masks, labels


def make_patch_set(manifest_path, out_dir, set_name="s10", patch_size=PATCH_SIZE, seed=0,
                   splits=("train", "val", "test"), cutoff=0.9, n_background=None, strict=False,
                   progress=True, compression=None, pixel_spacing=None, window=None, stride=None):
    """Sample an s1 / sN patch set for every image of the given splits of a manifest.

    Bad items (unreadable image, ROI mask of another size, empty ROI mask) are skipped and
    listed in the summary; ``strict=True`` raises at the first one instead. Splits without
    images in the manifest are left out. ``compression``: None/"none", "gzip" or "lzf" for the
    patches. ``pixel_spacing``: mm per pixel of the manifest's images, stored as the files'
    ``pixel_spacing_mm`` attribute (train_patch.py records it for the NYU heatmap scale check).
    ``set_name="sliding"``: DeepMiner's sliding-window set instead (``sliding_set``; windows of
    ``window`` x the image width, default 0.25, at ``stride`` x the window, default 0.5; classes
    normal / benign / malignant). Returns the summary written to ``patch_set.json``.
    """
    from mammo_tf.shen.patches import sliding_set

    sliding = set_name == "sliding"
    window = sliding_set.WINDOW_FRACTION if window is None else float(window)
    stride = sliding_set.STRIDE_FRACTION if stride is None else float(stride)
    if sliding and not (0 < window <= 1 and 0 < stride <= 1):
        raise UsageError(f"--window and --stride must lie in (0, 1], got {window} and {stride}")
    n, centred = (0, False) if sliding else parse_set_name(set_name)
    class_names = sliding_set.DEEPMINER_CLASSES if sliding else PATCH_CLASSES
    _compression_args(compression)  # fail early on a bad value
    rows = read_manifest(manifest_path)
    params = {"set": set_name, "patches_per_roi": n, "centred": centred,
              "background_per_image": (1 if centred else n) if n_background is None else n_background,
              "patch_size": int(patch_size), "seed": int(seed),
              "overlap_cutoff": None if centred else float(cutoff), "cutoff_step": CUTOFF_STEP,
              "max_failures": MAX_FAILURES, "breast_threshold": BREAST_THRESHOLD,
              "class_names": list(class_names), "compression": compression or "none",
              "manifest": os.path.basename(os.fspath(manifest_path)),
              "pixel_spacing_mm": None if pixel_spacing is None else float(pixel_spacing)}
    if sliding:  # DeepMiner's rules replace the Shen ones
        for key in ("patches_per_roi", "centred", "background_per_image", "overlap_cutoff",
                    "cutoff_step", "max_failures"):
            params.pop(key)
        params.update(window_fraction=window, stride_fraction=stride,
                      min_breast_fraction=sliding_set.MIN_BREAST,
                      min_lesion_fraction=sliding_set.MIN_LESION)
    summary = dict(params, splits={}, skipped=[], cutoff_lowered=[], notes=[])
    os.makedirs(out_dir, exist_ok=True)
    for split in splits:
        split_rows = [r for r in rows if r["split"] == split]
        if not split_rows:
            continue
        writer = PatchFileWriter(os.path.join(out_dir, f"{split}.h5"), patch_size,
                                 attrs={"set": set_name, "split": split, "seed": int(seed),
                                        "patch_size": int(patch_size),
                                        **({} if pixel_spacing is None else
                                           {"pixel_spacing_mm": float(pixel_spacing)})},
                                 compression=compression, class_names=class_names)
        counts = np.zeros(len(class_names), np.int64)
        padded = 0
        iterator = split_rows
        if progress:
            from tqdm import tqdm
            iterator = tqdm(split_rows, desc=f"{set_name} {split}", unit="image")
        ok = False
        try:
            for row in iterator:
                image_id = row["image_id"]
                try:
                    image, masks, labels = load_image_and_rois(manifest_path, row)
                except (OSError, ValueError) as exc:
                    if strict:
                        raise
                    summary["skipped"].append({"image_id": image_id, "reason": str(exc)})
                    continue
                rng = np.random.default_rng(image_seed(seed, image_id))
                if sliding:
                    sampled = sliding_set.sliding_patches(
                        image, masks, [PATCH_CLASSES[i] for i in labels], patch_size, window, stride)
                else:
                    sampled = sample_patches(image, masks, labels, n, patch_size, rng, centred=centred,
                                             n_background=n_background, cutoff=cutoff)
                padded += int(pad_to_patch(image, patch_size)[1])
                for note in sampled.notes:
                    if strict and "empty mask" in note:
                        raise DataError(f"image {image_id}: {note}")
                    entry = {"image_id": image_id, "reason": note}
                    (summary["skipped"] if "skipped" in note else summary["notes"]).append(entry)
                for item in sampled.cutoff_lowered:
                    summary["cutoff_lowered"].append(dict(item, image_id=image_id))
                writer.append(image_id, sampled)
                counts += np.bincount(sampled.labels, minlength=len(class_names))
            ok = True
        finally:
            writer.close(ok=ok)
        summary["splits"][split] = {
            "file": f"{split}.h5", "n_images": len(split_rows), "n_patches": int(writer.count),
            "n_padded_images": padded,
            "class_counts": {name: int(c) for name, c in zip(class_names, counts)},
        }
    write_json_atomic(os.path.join(out_dir, MANIFEST_NAME), summary)
    return summary


def read_patch_file(path):
    """Load a whole patch HDF5 file into memory (for small sets and tests): dict of arrays."""
    with PatchFile(path) as f:
        return f.read_all()
