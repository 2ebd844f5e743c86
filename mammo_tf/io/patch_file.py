# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The patch HDF5 file (``python -m mammo_tf.shen.patches``; layout in docs/DESIGN.md): the one
class every reader of it uses (training, pixel means, DeepMiner probes, checks).

Datasets: ``patches`` (N, P, P) uint16, ``labels`` (N,) int64, and optionally ``image_id``,
``roi_index``, ``center_y``, ``center_x``, ``overlap``; attributes ``class_names`` (JSON list;
absent in old files: the 5 Shen patch classes) and ``pixel_spacing_mm``.
Writing stays with ``mammo_tf.shen.patches.PatchFileWriter``.
"""
import json
import logging
import os

import numpy as np

from mammo_tf.constants import PATCH_CLASSES
from mammo_tf.errors import DataError, UsageError

logger = logging.getLogger(__name__)

COLUMNS = ("patches", "labels", "roi_index", "center_y", "center_x", "overlap")


class PatchFileError(DataError):
    """A file that is not a readable patch HDF5 (missing, damaged, or without a needed
    dataset); the message names the file."""


class PatchFile:
    """A patch HDF5 file open for reading; use as a context manager or call :meth:`close`.

    ``require``: datasets that must be present (default ``patches``), else
    :class:`PatchFileError`. The handle may be shared by threads (h5py serialises reads).
    """

    def __init__(self, path, require=("patches",)):
        import h5py

        self.path = os.fspath(path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise PatchFileError(f"{self.path}: not a patch HDF5 file ({exc})") from None
        for name in require:
            if name not in self._file:
                self.close()
                raise PatchFileError(f"{self.path}: not a patch file (no '{name}' dataset)")

    @classmethod
    def open(cls, path, require=("patches",)):
        """Same as ``PatchFile(path, require)``."""
        return cls(path, require)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if getattr(self, "_file", None) is not None:
            self._file.close()
            self._file = None

    def __contains__(self, name):
        return name in self._file

    def __len__(self):
        return int(self._file["patches"].shape[0])

    @property
    def patches(self):
        """The ``patches`` dataset itself (h5py; slices read from disk)."""
        return self._file["patches"]

    @property
    def patch_shape(self):
        """Shape of one stored patch, e.g. (P, P)."""
        return tuple(int(s) for s in self._file["patches"].shape[1:])

    @property
    def input_size(self):
        """(height, width) of the stored patches."""
        return self.patch_shape[:2]

    @property
    def class_names(self):
        """The classes the labels index (``class_names`` attribute; the 5 Shen classes when absent)."""
        raw = self._file.attrs.get("class_names")
        return tuple(json.loads(raw)) if raw is not None else tuple(PATCH_CLASSES)

    @property
    def pixel_spacing(self):
        """The ``pixel_spacing_mm`` attribute (float), or None when absent."""
        value = self._file.attrs.get("pixel_spacing_mm")
        return None if value is None else float(value)

    def column(self, name, default=None):
        """A whole per-patch dataset as an array (``default`` when the file has none);
        ``image_id`` as a list of str."""
        if name not in self._file:
            return default
        if name == "image_id":
            return [v.decode() if isinstance(v, bytes) else str(v) for v in self._file[name][()]]
        return self._file[name][()]

    def read(self, indices):
        """Patches at ``indices`` (any order, repeats allowed), as an array in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) and np.all(np.diff(indices) == 1):
            return self._file["patches"][int(indices[0]):int(indices[-1]) + 1]
        unique, inverse = np.unique(indices, return_inverse=True)
        block = self._file["patches"][unique.tolist()]  # h5py wants increasing indices
        return block[inverse.ravel()]

    def chunks(self, size=256):
        """Consecutive blocks of at most ``size`` patches, streamed from disk."""
        patches = self._file["patches"]
        for start in range(0, patches.shape[0], size):
            yield patches[start:start + size]

    def read_all(self):
        """The whole file in memory (small sets, tests): dict of arrays, ``image_id`` (str
        array) and ``class_names`` (list)."""
        out = {name: self._file[name][...] for name in COLUMNS if name in self._file}
        out["image_id"] = self._file["image_id"].asstr()[...]
        out["class_names"] = json.loads(self._file.attrs["class_names"])
        return out


def patch_input_size(path):
    """(height, width) of the patches stored in a patch HDF5 file; UsageError when it is
    missing or not a patch file (a command-line argument)."""
    if not path or not os.path.isfile(path):
        raise UsageError(f"patch file not found: {path}")
    try:
        with PatchFile(path) as f:
            return f.input_size
    except PatchFileError as exc:
        raise UsageError(str(exc)) from None


def patch_class_names(paths):
    """The ``class_names`` the patch files record (the 5 Shen classes, or DeepMiner's 3 of a
    ``--set sliding`` set); UsageError when the files disagree."""
    found = {}
    for path in paths:
        with PatchFile(path, require=()) as f:
            found[path] = f.class_names
    names = set(found.values())
    if len(names) > 1:
        raise UsageError("the patch files have different classes: " + "; ".join(
            f"{p}: {', '.join(c)}" for p, c in found.items()))
    return list(names.pop())


def patch_pixel_spacing(paths):
    """The ``pixel_spacing_mm`` attribute the patch files agree on (None: absent or differing)."""
    values = set()
    for path in paths:
        with PatchFile(path, require=()) as f:
            values.add(f.pixel_spacing)
    if len(values) > 1:
        logger.warning("the training patch files record different pixel spacings %s: none "
                       "recorded", sorted(v for v in values if v is not None))
        return None
    return values.pop() if values else None
