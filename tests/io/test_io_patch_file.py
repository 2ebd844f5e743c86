"""The one patch-file class (mammo_tf.io.patch_file.PatchFile) every patch HDF5 reader uses."""
import json

import h5py
import numpy as np
import pytest

from mammo_tf.constants import PATCH_CLASSES
from mammo_tf.errors import UsageError
from mammo_tf.io.patch_file import (PatchFile, PatchFileError, patch_class_names, patch_input_size,
                                    patch_pixel_spacing)


def write(path, n=6, size=(4, 3), class_names=None, spacing=None, labels=True):
    with h5py.File(path, "w") as f:
        f.create_dataset("patches", data=np.arange(n * size[0] * size[1], dtype=np.uint16).reshape(n, *size))
        if labels:
            f.create_dataset("labels", data=np.arange(n) % 2)
        f.create_dataset("image_id", data=[f"im{k}" for k in range(n)], dtype=h5py.string_dtype())
        if class_names is not None:
            f.attrs["class_names"] = json.dumps(class_names)
        if spacing is not None:
            f.attrs["pixel_spacing_mm"] = spacing
    return str(path)


def test_reads_patches_in_the_order_asked_and_the_attributes(tmp_path):
    path = write(tmp_path / "a.h5", class_names=["normal", "benign", "malignant"], spacing=0.2)
    with PatchFile(path, require=("patches", "labels")) as f:
        assert len(f) == 6 and f.input_size == (4, 3) and f.patch_shape == (4, 3)
        assert f.class_names == ("normal", "benign", "malignant") and f.pixel_spacing == 0.2
        every = f.patches[()]
        for order in ([3, 0, 5], [1, 2, 3], [4, 4, 1]):
            np.testing.assert_array_equal(f.read(order), every[order])
        np.testing.assert_array_equal(np.concatenate(list(f.chunks(4))), every)
        assert f.column("image_id") == [f"im{k}" for k in range(6)]
        assert f.column("center_y", "none") == "none"
    old = write(tmp_path / "b.h5")  # no class_names attribute: the Shen classes
    assert patch_class_names([old]) == list(PATCH_CLASSES) and patch_pixel_spacing([old]) is None
    assert patch_input_size(old) == (4, 3)
    with pytest.raises(UsageError, match="different classes"):
        patch_class_names([path, old])
    assert patch_pixel_spacing([path, write(tmp_path / "c.h5", spacing=0.1)]) is None


def test_errors_name_the_file(tmp_path):
    with pytest.raises(PatchFileError, match=r"d.h5: not a patch file \(no 'labels' dataset\)"):
        PatchFile(write(tmp_path / "d.h5", labels=False), require=("patches", "labels"))
    (tmp_path / "e.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="e.h5: not a patch HDF5 file"):
        PatchFile(tmp_path / "e.h5")
    with pytest.raises(UsageError, match="e.h5: not a patch HDF5 file"):
        patch_input_size(str(tmp_path / "e.h5"))
    with pytest.raises(UsageError, match="patch file not found"):
        patch_input_size(str(tmp_path / "missing.h5"))
