# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Datasets of the pipelines, built from ``mammo_tf.pipeline`` (training: augmented,
class-balanced, shuffled per epoch; evaluation: plain, in file order)."""
import os

import keras
import numpy as np

from mammo_tf.training.config import UsageError


class ConcatDataset(keras.utils.PyDataset):
    """Batches of several datasets in one epoch, in an order shuffled per epoch from ``seed``."""

    def __init__(self, datasets, seed=0, shuffle=True):
        super().__init__()
        self.datasets = list(datasets)
        self.seed, self.shuffle = seed, shuffle
        self.index = [(d, i) for d, ds in enumerate(self.datasets) for i in range(len(ds))]
        self.order = np.arange(len(self.index))

    def set_epoch(self, epoch):
        for ds in self.datasets:
            if hasattr(ds, "set_epoch"):
                ds.set_epoch(epoch)
        if self.shuffle:
            self.order = np.random.default_rng([self.seed, epoch]).permutation(len(self.index))

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        d, j = self.index[self.order[i]]
        return self.datasets[d][j]


def _augment_config(enabled):
    if not enabled:
        return None
    from mammo_tf.augment import AugmentConfig

    return AugmentConfig()


def patch_dataset(paths, pixel_mean, batch_size, training, seed=0, augment=True,
                  class_balanced=True, workers=1):
    """PatchDataset over one or more patch HDF5 files."""
    from mammo_tf.pipeline import PatchDataset

    for path in paths:
        if not os.path.isfile(path):
            raise UsageError(f"patch file not found: {path}")
    datasets = [PatchDataset(path, batch_size=batch_size, pixel_mean=pixel_mean,
                             augment=_augment_config(augment and training),
                             class_balanced=class_balanced and training, shuffle=training,
                             seed=seed + k, workers=workers) for k, path in enumerate(paths)]
    return datasets[0] if len(datasets) == 1 else ConcatDataset(datasets, seed, shuffle=training)


def whole_image_dataset(manifest, split, pixel_mean, batch_size, image_size, training, seed=0,
                        augment=True, class_balanced=True, workers=1):
    from mammo_tf.pipeline import WholeImageDataset

    return WholeImageDataset(manifest, split, batch_size=batch_size, pixel_mean=pixel_mean,
                             image_size=tuple(image_size) if image_size else None,
                             augment=_augment_config(augment and training),
                             class_balanced=class_balanced and training, shuffle=training,
                             seed=seed, workers=workers)


def patch_input_size(path):
    """(height, width) of the patches stored in a patch HDF5 file."""
    import h5py

    if not path or not os.path.isfile(path):
        raise UsageError(f"patch file not found: {path}")
    try:
        with h5py.File(path, "r") as f:
            return tuple(int(s) for s in f["patches"].shape[1:3])
    except (OSError, KeyError) as exc:
        raise UsageError(f"{path}: not a patch HDF5 file ({exc})") from None


def pixel_mean_of(source, split=None, image_size=None):
    """``compute_pixel_mean`` of a patch HDF5 file, or of a manifest split at ``image_size``."""
    from mammo_tf.pipeline import compute_pixel_mean

    if split is None:
        return float(compute_pixel_mean(source))
    return float(compute_pixel_mean(source, split,
                                    image_size=tuple(image_size) if image_size else None))


def check_manifest(path, splits=("train", "val", "test")):
    """Read a manifest; UsageError when missing, malformed, or a needed split is empty."""
    from mammo_tf.datasets.manifest import ManifestError, read_manifest

    if not path or not os.path.isfile(path):
        raise UsageError(f"manifest not found: {path}")
    try:
        rows = read_manifest(path)
    except ManifestError as exc:
        raise UsageError(str(exc)) from None
    for split in splits:
        if not any(r["split"] == split for r in rows):
            raise UsageError(f"{path}: no images in the '{split}' split")
    return rows
