# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Input pipeline: ``keras.utils.PyDataset`` over patch HDF5 files and whole-image manifests.

Each batch is ``(x, y, sample_weight)`` (``(x, y)`` with ``class_balanced=False``):
``x`` float32 (B, H, W, 3) from ``mammo_tf.preprocess.to_network_input`` (16-bit values x
255/65535 minus the scalar training pixel mean, grey copied to 3 channels), ``y`` int64 class
indices, ``sample_weight`` float32 with each class present in the batch getting the same
total weight and the weights summing to the batch size.

Determinism: the order of epoch ``e`` is a permutation drawn from (seed, e) and sample ``k``
of that epoch is augmented with a generator seeded from (seed, e, k), so batches do not depend
on how many worker threads produce them. ``labels`` holds the labels in file order (the batch
order when ``shuffle=False``), for computing AUC on a validation set.
"""
import os
import threading

import keras
import numpy as np

from mammo_tf.shen.augment import AugmentConfig, channel_shift, draw_channel_shifts, draw_params, warp
from mammo_tf.constants import PIXEL_SCALE, WHOLE_IMAGE_CLASSES
from mammo_tf.preprocess import to_network_input
from mammo_tf.errors import UsageError
from mammo_tf.io.images import load_image
from mammo_tf.io.patch_file import PatchFile, patch_input_size  # noqa: F401 (patch_input_size: callers)
from mammo_tf.training.environment import local_part, process_shard, sharded_batch_count


def class_balanced_weights(labels):
    """Per-sample weights: each class present gets total weight B / n_classes_present
    (scikit-learn's ``compute_sample_weight("balanced", labels)``)."""
    from sklearn.utils.class_weight import compute_sample_weight

    labels = np.asarray(labels)
    if labels.size == 0:
        return np.zeros(0, np.float32)
    return compute_sample_weight("balanced", labels.ravel()).astype(np.float32)


class _ImageBatches(keras.utils.PyDataset):
    """Shared batching, shuffling, augmentation and weighting; subclasses load raw images."""

    def __init__(self, labels, batch_size, pixel_mean, augment, class_balanced, shuffle, seed,
                 workers, max_queue_size, num_classes, shard=None):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max_queue_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if pixel_mean is None:
            raise ValueError("pixel_mean is required (compute it with compute_pixel_mean on the training split)")
        self.labels = np.asarray(labels, np.int64)
        self.batch_size = int(batch_size)
        self.pixel_mean = float(pixel_mean)
        self.augment = AugmentConfig() if augment is True else (augment or None)
        self.class_balanced = bool(class_balanced)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.num_classes = int(num_classes)
        # (index, count): this process reads its slice of every global batch of batch_size
        # (several processes, see mammo_tf.training.environment.process_shard)
        self.shard = tuple(shard) if shard else None
        local_part(self.batch_size, self.shard)  # the batch must split over the processes
        self.epoch = 0
        self._order = self._epoch_order(0)

    def _epoch_order(self, epoch):
        if not self.shuffle:
            return np.arange(len(self.labels))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.labels))

    def __len__(self):
        return sharded_batch_count(len(self.labels), self.batch_size, self.shard)

    def set_epoch(self, epoch):
        """Produce epoch ``epoch``'s order and augmentation (a resumed run continues exactly)."""
        self.epoch = int(epoch)
        self._order = self._epoch_order(self.epoch)

    def on_epoch_end(self):
        self.set_epoch(self.epoch + 1)

    def _load(self, indices):
        """Raw 2-D images (16-bit values) for the given file indices, in that order."""
        raise NotImplementedError

    def _prepare(self, image, position):
        if self.augment is None:
            return to_network_input(image, self.pixel_mean)
        rng = np.random.default_rng([self.seed, self.epoch, position, 1])
        warped = warp(image, draw_params(rng, self.augment))
        x = to_network_input(warped, self.pixel_mean)
        if self.augment.channel_shift_range:  # offsets per channel, 0-255 scale like x
            # x's range = the grey image's range mapped the same way (cheaper than x.min/max)
            low, high = to_network_input(np.array([warped.min(), warped.max()]), self.pixel_mean)[:, 0]
            offsets = draw_channel_shifts(rng, self.augment, x.shape[-1])
            x = channel_shift(x, offsets, out=x, value_range=(float(low), float(high)))
        return x

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range (dataset has {len(self)} batches)")
        start = index * self.batch_size
        indices = self._order[start:start + self.batch_size]
        # weights and augmentation draws belong to the global batch, so that several processes
        # reading their slices train exactly like one process reading it whole
        part = local_part(len(indices), self.shard)
        positions = (start + np.arange(len(indices)))[part]
        weights = class_balanced_weights(self.labels[indices])[part] if self.class_balanced \
            else None
        indices = indices[part]
        images = self._load(indices)
        x = np.stack([self._prepare(img, int(p))
                      for p, img in zip(positions, images)]).astype(np.float32)
        y = self.labels[indices]
        if not self.class_balanced:
            return x, y
        return x, y, weights


class PatchDataset(_ImageBatches):
    """Batches of patches from a patch HDF5 file (``python -m mammo_tf.shen.patches``).

    Args:
      h5_path: patch file (datasets ``patches`` (N, P, P) uint16 and ``labels``).
      batch_size, pixel_mean (0-255 scale, from ``compute_pixel_mean``), augment (None,
      True for the paper's ranges, or an ``AugmentConfig``), class_balanced, shuffle, seed,
      workers (threads), max_queue_size, shard ((index, count): read only this process's
      slice of every global batch of ``batch_size``; see ``environment.process_shard``).
    """

    def __init__(self, h5_path, batch_size=32, pixel_mean=None, augment=None, class_balanced=True,
                 shuffle=True, seed=0, workers=1, max_queue_size=10, shard=None):
        self.h5_path = str(h5_path)
        with PatchFile(self.h5_path, require=("patches", "labels")) as f:
            labels = f.column("labels")
            self.class_names = f.class_names
            self.patch_shape = f.patch_shape
        self._file = None
        self._open_lock = threading.Lock()
        super().__init__(labels, batch_size, pixel_mean, augment, class_balanced, shuffle, seed,
                         workers, max_queue_size, num_classes=len(self.class_names), shard=shard)

    def _load(self, indices):
        with self._open_lock:  # worker threads share one handle (h5py serialises reads)
            if self._file is None:
                self._file = PatchFile(self.h5_path)
        return list(self._file.read(indices))

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


class WholeImageDataset(_ImageBatches):
    """Batches of whole images from a manifest CSV, labels in {0, 1}; images (16-bit PNGs, or
    any file ``mammo_tf.io.images.load_image`` reads) are read with that one reader.

    Args:
      manifest_csv, split ("train" | "val" | "test"), batch_size, pixel_mean, image_size
      ((height, width) to resize to with cubic interpolation; None keeps the stored size, which
      must then be the same for all images of a batch), augment, class_balanced, shuffle,
      seed, workers, max_queue_size, shard (as for ``PatchDataset``).
    """

    def __init__(self, manifest_csv, split, batch_size=2, pixel_mean=None, image_size=None,
                 augment=None, class_balanced=True, shuffle=True, seed=0, workers=1,
                 max_queue_size=10, shard=None):
        from mammo_tf.datasets.manifest import read_manifest, resolve_path

        self.manifest_csv = str(manifest_csv)
        rows = [r for r in read_manifest(self.manifest_csv) if r["split"] == split]
        if not rows:
            raise ValueError(f"{self.manifest_csv}: no images in split {split!r}")
        self.split = split
        self.rows = rows
        self.image_paths = [resolve_path(self.manifest_csv, r["image_path"]) for r in rows]
        self.image_ids = [r["image_id"] for r in rows]
        self.image_size = tuple(int(s) for s in image_size) if image_size else None
        self.class_names = WHOLE_IMAGE_CLASSES
        super().__init__([r["label"] for r in rows], batch_size, pixel_mean, augment, class_balanced,
                         shuffle, seed, workers, max_queue_size, num_classes=len(WHOLE_IMAGE_CLASSES),
                         shard=shard)

    def _load(self, indices):
        images = [load_image(self.image_paths[i], self.image_size) for i in indices]
        shapes = {img.shape for img in images}
        if len(shapes) > 1:
            names = ", ".join(f"{self.image_paths[i]} {img.shape[1]}x{img.shape[0]}"
                              for i, img in zip(indices, images))
            raise ValueError(f"images of different sizes in one batch ({names}); pass image_size=(H, W)")
        return images


def compute_pixel_mean(source, split="train", image_size=None, chunk=256):
    """Scalar pixel mean on the 0-255 scale, streamed (never all images in memory at once).

    ``source``: a patch HDF5 file (all its patches; pass the training split's file), a list of
    them (the mean over their union: every pixel counts once, so a large file weighs more
    than a small one), or a whole-image manifest CSV (images of ``split``, resized to
    ``image_size`` when given).
    """
    sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    total, count = 0.0, 0
    for one in sources:
        one_total, one_count = _pixel_sum(str(one), split, image_size, chunk)
        total, count = total + one_total, count + one_count
    if count == 0:
        names = ", ".join(str(s) for s in sources)
        raise ValueError(f"{names}: no pixels to average (empty file or no images in split {split!r})")
    return total / count * PIXEL_SCALE


def _pixel_sum(source, split, image_size, chunk):
    """(sum of pixel values on the 0-1 scale, pixel count) of one HDF5 file or manifest split."""
    total, count = 0.0, 0
    if source.endswith((".h5", ".hdf5")):
        with PatchFile(source) as f:
            for block in f.chunks(chunk):
                total += float(block.sum(dtype=np.float64))
                count += block.size
    else:
        from mammo_tf.datasets.manifest import read_manifest, resolve_path

        for row in read_manifest(source):
            if row["split"] != split:
                continue
            image = load_image(resolve_path(source, row["image_path"]), image_size)
            total += float(image.sum(dtype=np.float64))
            count += image.size
    return total, count


# --------------------------------------------------------------------------- pipeline factories
# Datasets of the pipelines (training: augmented, class-balanced, shuffled per epoch;
# evaluation: plain, in file order).


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


def _training_shard(training):
    """Training batches are split over the processes of a multi-process job; evaluation batches
    are read whole by every process (each predicts them on its own devices)."""
    return process_shard() if training else None


def _augment_config(enabled):
    if not enabled:
        return None
    from mammo_tf.shen.augment import AugmentConfig

    return AugmentConfig()


def patch_dataset(paths, pixel_mean, batch_size, training, seed=0, augment=True,
                  class_balanced=True, workers=1):
    """PatchDataset over one or more patch HDF5 files."""
    from mammo_tf.shen.data import PatchDataset

    for path in paths:
        if not os.path.isfile(path):
            raise UsageError(f"patch file not found: {path}")
    datasets = [PatchDataset(path, batch_size=batch_size, pixel_mean=pixel_mean,
                             augment=_augment_config(augment and training),
                             class_balanced=class_balanced and training, shuffle=training,
                             seed=seed + k, workers=workers, shard=_training_shard(training))
                for k, path in enumerate(paths)]
    return datasets[0] if len(datasets) == 1 else ConcatDataset(datasets, seed, shuffle=training)


def whole_image_dataset(manifest, split, pixel_mean, batch_size, image_size, training, seed=0,
                        augment=True, class_balanced=True, workers=1):
    from mammo_tf.shen.data import WholeImageDataset

    return WholeImageDataset(manifest, split, batch_size=batch_size, pixel_mean=pixel_mean,
                             image_size=tuple(image_size) if image_size else None,
                             augment=_augment_config(augment and training),
                             class_balanced=class_balanced and training, shuffle=training,
                             seed=seed, workers=workers, shard=_training_shard(training))


def pixel_mean_of(source, split=None, image_size=None):
    """``compute_pixel_mean`` of patch HDF5 file(s) (several: over their union), or of a
    manifest split at ``image_size``."""
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
