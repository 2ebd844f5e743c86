# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Probe sets for ranking, dissection and evaluation: patch HDF5, whole-image manifest or folder.

Every probe item is a uint16 (H, W) image on the 16-bit scale; ``batches`` resizes it to
``probe_size(probe, split)`` and applies ``to_network_input``: through a fully convolutional
split, patches go in at the patch classifier's own size and whole mammograms at their own
resolution (DeepMiner's FCN); a fixed-size model gets everything at its input size. An item knows its whole mammogram
(``context_path``) and where it lies in it (``box`` = y0, x0, y1, x1 in that image's pixels) so
the annotation site can show the patch in context. Patch centres in the HDF5 (``center_y``,
``center_x``) are in the pixel frame of the manifest image they were cut from.
"""
import dataclasses
import os

import numpy as np

from mammo_tf.errors import DataError, MissingFileError, UsageError
from mammo_tf.preprocess import to_network_input
from mammo_tf.io.images import image_id_from_path, list_images, load_image, resize_image, resize_mask


@dataclasses.dataclass
class ProbeItem:
    index: int
    image_id: str
    image: np.ndarray  # uint16 (H, W)
    label: int | None = None
    context_path: str | None = None
    box: tuple | None = None  # (y0, x0, y1, x1) in the context image
    rois: list = dataclasses.field(default_factory=list)  # [(bool mask aligned with image, class)]


def concept_of(roi_class):
    """Patch class -> NetDissect pre-label concept ("mass" / "calcification")."""
    return "calcification" if roi_class.startswith("calc") else "mass"


class Probe:
    """Base class; subclasses implement ``__len__``, ``_read(indices)`` and ``item(i)``."""

    description = "probe"

    def __init__(self):
        self.failures = []  # [(index, message)] items that could not be read

    def __len__(self):
        raise NotImplementedError

    def _read(self, indices):
        raise NotImplementedError

    def batches(self, batch_size, size, pixel_mean, indices=None, strict=False):
        """Yield (indices int array, network input float32 (B, H, W, 3)) in index order.

        Unreadable items are skipped and recorded in ``self.failures`` (raised when ``strict``).
        """
        order = np.arange(len(self)) if indices is None else np.asarray(sorted(indices), dtype=np.int64)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            groups = {}  # image shape -> (indices, images): full-resolution images may differ
            for index, image in zip(chunk, self._read(chunk)):
                if isinstance(image, Exception):
                    if strict:
                        raise image
                    self.failures.append((int(index), str(image)))
                    continue
                image = image if size is None or None in size else resize_image(image, size)
                kept, images = groups.setdefault(image.shape, ([], []))
                kept.append(index)
                images.append(image)
            for kept, images in groups.values():
                yield np.asarray(kept), to_network_input(np.stack(images), pixel_mean)


class PatchH5Probe(Probe):
    """Patches of a patch HDF5 (``patches``, ``labels``, ``image_id``, ``center_y/x``)."""

    def __init__(self, h5_path, manifest=None):
        from mammo_tf.io.patch_file import PatchFile

        super().__init__()
        self.path = os.fspath(h5_path)
        self._file = PatchFile(self.path)  # PatchFileError (a ValueError) names a non-patch file
        n = len(self._file)
        self.labels = np.asarray(self._file.column("labels", np.full(n, -1)))
        self.image_ids = self._file.column("image_id", [f"patch_{i}" for i in range(n)])
        self.center_y = np.asarray(self._file.column("center_y", np.full(n, -1)))
        self.center_x = np.asarray(self._file.column("center_x", np.full(n, -1)))
        self.roi_index = np.asarray(self._file.column("roi_index", np.full(n, -1)))
        self.description = f"patch HDF5 {self.path} ({n} patches)"
        self._rows = {}
        if manifest is not None:
            from mammo_tf.datasets.manifest import read_manifest, resolve_path

            for row in read_manifest(manifest):
                row["image_path"] = resolve_path(manifest, row["image_path"])
                row["roi_mask_paths"] = [resolve_path(manifest, p) for p in row["roi_mask_paths"]]
                self._rows[row["image_id"]] = row

    def __len__(self):
        return len(self._file)

    def _read(self, indices):
        return list(np.asarray(self._file.read(indices), dtype=np.uint16))

    def item(self, index):
        image = self._read([index])[0]
        h, w = image.shape
        row = self._rows.get(self.image_ids[index])
        box = rois = None
        cy, cx = int(self.center_y[index]), int(self.center_x[index])
        if cy >= 0 and cx >= 0:
            box = (cy - h // 2, cx - w // 2, cy - h // 2 + h, cx - w // 2 + w)
        rois = []
        if row is not None and box is not None:
            from mammo_tf.io import read_mask

            for path, cls in zip(row["roi_mask_paths"], row["roi_classes"]):
                rois.append((_crop(read_mask(path), box), cls))
        return ProbeItem(index, self.image_ids[index], image, int(self.labels[index]),
                         row["image_path"] if row else None, box, rois)


def _crop(mask, box):
    """Crop ``mask`` at ``box`` (may extend past the border: zero-padded)."""
    y0, x0, y1, x1 = box
    out = np.zeros((y1 - y0, x1 - x0), bool)
    sy0, sx0 = max(y0, 0), max(x0, 0)
    sy1, sx1 = min(y1, mask.shape[0]), min(x1, mask.shape[1])
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = mask[sy0:sy1, sx0:sx1]
    return out


class ImageListProbe(Probe):
    """Whole mammograms: a manifest CSV (optionally one split) or a folder of image files."""

    def __init__(self, paths, image_ids=None, labels=None, roi_paths=None, roi_classes=None, description=""):
        super().__init__()
        self.paths = list(paths)
        self.image_ids = list(image_ids or [image_id_from_path(p) for p in self.paths])
        self.labels = list(labels or [None] * len(self.paths))
        self.roi_paths = list(roi_paths or [[] for _ in self.paths])
        self.roi_classes = list(roi_classes or [[] for _ in self.paths])
        self.description = description or f"{len(self.paths)} images"
        # DeepMiner's scale step (``mammo_tf.deepminer.scale.Scale``): every mammogram is resized
        # to the training scale before the network sees it; None: as read (the caller states
        # the images are at that scale)
        self.scale = None

    def _scaled(self, image, index):
        if self.scale is None:
            return image
        return resize_image(image, self.scale.target_size(image.shape, self.paths[int(index)]))

    @classmethod
    def from_manifest(cls, manifest, split=None):
        from mammo_tf.datasets.manifest import read_manifest, resolve_path, rows_for_split

        rows = read_manifest(manifest)
        if split:
            rows = rows_for_split(rows, split)
        if not rows:
            raise DataError(f"{manifest}: no images" + (f" in split {split!r}" if split else ""))
        return cls([resolve_path(manifest, r["image_path"]) for r in rows], [r["image_id"] for r in rows],
                   [r["label"] for r in rows], [[resolve_path(manifest, p) for p in r["roi_mask_paths"]] for r in rows],
                   [r["roi_classes"] for r in rows], f"manifest {manifest}" + (f" split {split}" if split else ""))

    @classmethod
    def from_folder(cls, folder):
        paths = list_images(folder)
        if not paths:
            raise DataError(f"{folder}: no image files (.dcm, .png, .jpg, .pgm) found")
        return cls(paths, description=f"folder {folder} ({len(paths)} images)")

    def __len__(self):
        return len(self.paths)

    def _read(self, indices):
        out = []
        for i in indices:
            try:
                out.append(self._scaled(load_image(self.paths[int(i)]), i))
            except Exception as exc:  # reported per item by ``batches``; never abort the pass
                out.append(ValueError(f"{self.paths[int(i)]}: {exc}"))
        return out

    def item(self, index):
        from mammo_tf.io import read_mask

        original = load_image(self.paths[index])
        image = self._scaled(original, index)
        rois = [(read_mask(p, image.shape), c) for p, c in zip(self.roi_paths[index], self.roi_classes[index])]
        return ProbeItem(index, self.image_ids[index], image, self.labels[index], self.paths[index],
                         (0, 0) + original.shape, rois)


def probe_size(probe, split):
    """(height, width) the probe's items are resized to for ``split``, or None (as they are).

    A fixed-size model: its input size. A fully convolutional split: patches of a patch HDF5
    at the patch classifier's own size (``split.native_size``; DeepMiner's probes are patches),
    whole mammograms (manifest, folder) as the probe reads them: at the training scale when its
    ``scale`` is set (``ImageListProbe.scale``; the commands set it from the run), else at their
    own resolution."""
    size = tuple(split.input_size)
    if None not in size:
        return size
    if isinstance(probe, PatchH5Probe):
        return split.native_size
    return None


def open_probe(path, manifest=None, split=None):
    """Patch HDF5 (``.h5``/``.hdf5``, with optional ``manifest`` for context), manifest CSV or folder."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise MissingFileError(f"probe set {path!r} does not exist")
    if os.path.isdir(path):
        return ImageListProbe.from_folder(path)
    lower = path.lower()
    if lower.endswith((".h5", ".hdf5")):
        return PatchH5Probe(path, manifest)
    if lower.endswith(".csv"):
        return ImageListProbe.from_manifest(path, split)
    raise UsageError(f"probe set {path!r}: expected a patch HDF5 (.h5), a manifest (.csv) or a folder")


def resize_item(item, size):
    """The item's image and ROI masks at the model input ``size`` (unchanged when None)."""
    if size is None or None in size:
        return item.image, item.rois
    return resize_image(item.image, size), [(resize_mask(m, size), c) for m, c in item.rois]
