# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Four-view exam batches for the NYU models (``keras.utils.PyDataset``, backend-neutral).

Batches: ``({"l_cc", "r_cc", "l_mlo", "r_mlo"}: float32 (B, h, w, C), {"cc": y, "mlo": y})``
with ``y`` (B, 4) int labels in ``OUTPUT_NAMES`` order (the same targets for both heads), or
with ``task="birads"`` ``y`` (B,) the BI-RADS class 0/1/2.
"""
import keras
import numpy as np

from mammo_tf.errors import MissingFileError
from mammo_tf.io.images import load_image
from mammo_tf.nyu.four_view import VIEWS
from mammo_tf.nyu import heatmaps as H
from mammo_tf.nyu.exams import exam_labels, is_positive
from mammo_tf.nyu.views import PreprocessConfig, prepare_view, view_geometry
from mammo_tf.training.environment import local_part, sharded_batch_count


def read_view_image(path):
    """The image of one view as uint16 (H, W) on the 0-65535 scale, at its own size: read with
    ``mammo_tf.io.images.load_image``, the one image reader of every method, so a 12-bit DICOM
    view and the same image stored as 16-bit PNG give the same array, and a Shen patch
    classifier used for the heatmaps sees the grey scale it was trained on. (The NYU view input
    is standardised per crop, so the scale does not change it.) Errors name the file."""
    return load_image(path)


class ExamDataset(keras.utils.PyDataset):
    """Batches of four-view exams.

    Args:
        rows: exam dicts from ``read_exam_manifest`` (one split).
        config: ``PreprocessConfig`` (input sizes, crop and augmentation sizes).
        batch_size: exams per batch (paper: 4).
        channels: 1 (image) or 3 (image + cached malignant/benign heatmaps, see
            ``mammo_tf.nyu.heatmaps``; missing caches are an error).
        augment: random window shift/size per exam and epoch (seeded).
        balanced: each epoch uses every positive exam plus as many randomly drawn negative
            exams (all negatives when there are fewer) -- the paper's sampling (cancer task);
            the draw is a function of (seed, epoch), see ``set_epoch``.
        shuffle: shuffle exam order every epoch.
        draw: index of a test-time augmentation draw: with ``augment`` and ``shuffle=False``
            the windows are a pure function of (seed, draw, exam).
        heatmap_patch_size, heatmap_stride: settings the heatmap caches must match.
        cache_images: keep decoded images in memory (small data sets).
        task: ``"cancer"`` (four breast labels) or ``"birads"`` (exams without a BI-RADS
            class are an error when ``require_labels``, else labelled -1 for prediction).
        geometry_cache: a dict shared between datasets over the same images (crop boxes and
            windows are deterministic), e.g. across test-time augmentation draws and epochs.
        shard: ``(index, count)``: read only this process's slice of every global batch
            (several processes, ``mammo_tf.training.environment.process_shard``).
    """

    def __init__(self, rows, config=PreprocessConfig(), batch_size=4, channels=1, augment=False,
                 balanced=False, shuffle=False, seed=0, draw=0,
                 heatmap_patch_size=H.HEATMAP_PATCH_SIZE, heatmap_stride=H.HEATMAP_STRIDE,
                 cache_images=False, geometry_cache=None, task="cancer",
                 require_labels=True, shard=None, **kwargs):
        super().__init__(**kwargs)
        if not rows:
            raise ValueError("ExamDataset: no exams")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if task not in ("cancer", "birads"):
            raise ValueError(f"task must be 'cancer' or 'birads', got {task!r}")
        self.rows = list(rows)
        if task == "birads" and require_labels:
            unlabelled = [r["exam_id"] for r in self.rows if r.get("birads") is None]
            if unlabelled:
                raise ValueError(f"exams without a BI-RADS class: {unlabelled[:5]}")
        self.task = task
        self.config = config
        self.batch_size = int(batch_size)
        self.channels = channels
        self.augment = augment
        self.balanced = balanced
        self.shuffle = shuffle
        self.seed = int(seed)
        self.draw = int(draw)
        self.heatmap_patch_size = heatmap_patch_size
        self.heatmap_stride = heatmap_stride
        self.cache_images = cache_images
        self._images = {}
        self._geometry = {} if geometry_cache is None else geometry_cache
        self.shard = tuple(shard) if shard else None
        local_part(self.batch_size, self.shard)  # the batch must split over the processes
        self._epoch = 0
        self._order = self._epoch_order()

    def _epoch_order(self):
        rng = np.random.default_rng([self.seed, self._epoch, 1])
        indices = np.arange(len(self.rows))
        if self.balanced and self.task == "cancer":
            positive = np.array([i for i in indices if is_positive(self.rows[i])], dtype=int)
            negative = np.array([i for i in indices if not is_positive(self.rows[i])], dtype=int)
            if len(negative) > len(positive) and len(positive) > 0:
                negative = rng.choice(negative, size=len(positive), replace=False)
            indices = np.concatenate([positive, negative])
        if self.shuffle:
            indices = rng.permutation(indices)
        return [int(i) for i in indices]

    @property
    def exam_indices(self):
        """Exams of the current epoch, in batch order."""
        return list(self._order)

    def __len__(self):
        return sharded_batch_count(len(self._order), self.batch_size, self.shard)

    def set_epoch(self, epoch):
        """Produce epoch ``epoch``'s exams, order and windows: a pure function of (seed, epoch),
        so a resumed run (a fresh dataset) sees the same epoch as an uninterrupted one."""
        self._epoch = int(epoch)
        self._order = self._epoch_order()

    def on_epoch_end(self):
        self.set_epoch(self._epoch + 1)

    def _image(self, path):
        if path in self._images:
            return self._images[path]
        image = read_view_image(path)
        if self.cache_images:
            self._images[path] = image
        return image

    def view_input(self, exam_index, view):
        """Model input (h, w, C) of one view of one exam."""
        path = self.rows[exam_index][view]
        image = self._image(path)
        view_type = view.split("_")[1].upper()
        geometry = self._geometry.get(path)
        if geometry is None:
            geometry = self._geometry[path] = view_geometry(image, view_type, self.config)
        maps = None
        if self.channels == 3:
            maps = H.read_cached_heatmaps(path, geometry.crop, self.heatmap_patch_size,
                                          self.heatmap_stride)
            if maps is None:
                raise MissingFileError(
                    f"{H.cache_path(path)}: no heatmaps for this crop/patch size/stride; "
                    "generate them first (mammo_tf.nyu.heatmaps / train_multiview.py --heatmap-model)")
        rng = None
        if self.augment:
            rng = np.random.default_rng([self.seed, self._epoch, self.draw, exam_index,
                                         VIEWS.index(view)])
        return prepare_view(image, view_type, self.config, heatmaps=maps, rng=rng, geometry=geometry)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(index)
        chosen = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        chosen = chosen[local_part(len(chosen), self.shard)]  # augmentation keys on the exam
        x = {view: np.stack([self.view_input(i, view) for i in chosen]) for view in VIEWS}
        if self.task == "birads":
            y = np.array([-1 if self.rows[i].get("birads") is None else self.rows[i]["birads"]
                          for i in chosen], dtype=np.int64)
        else:
            y = np.stack([exam_labels(self.rows[i]) for i in chosen])
        return x, {"cc": y, "mlo": y}
