# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""CMMD, the Chinese Mammography Database (TCIA): the clinical sheet
``CMMD_clinicaldata_revision.xlsx`` (or the same sheet saved as ``.csv``) + the TCIA download
``CMMD/<ID1>/<study>/<series>/1-1.dcm, 1-2.dcm, ...``.

- Clinical columns: ID1 (patient), LeftRight (L/R: the breast with the lesion), Age, number,
  abnormality (calcification / mass / both), classification (Benign / Malignant), subtype.
- Side and view come from each DICOM header (ImageLaterality, ViewPosition or
  ViewCodeSequence), the patient from the folder name (= ID1).
- Label rule: biopsy-confirmed ``classification`` of that breast: Malignant -> 1 (MALIGNANT),
  Benign -> 0 (BENIGN). Images of a breast without a clinical row have no label and are
  excluded (reported).
- No official split, no ROIs (the TCIA release has no lesion outlines).
- ``Age`` fills the manifest's ``age`` / ``age_band``; the manufacturer comes from the DICOMs.
"""
import glob
import os

from mammo_tf.datasets.convert import ImageRecord, safe_id
from mammo_tf.datasets.report import PrepareReport
from mammo_tf.datasets.subgroups import subgroup_values
from mammo_tf.datasets.tables import read_table, side_view_of_header
from mammo_tf.errors import MissingFileError
from mammo_tf.io import MammogramReadError, read_dicom_header

COLUMNS = ("ID1", "LeftRight", "Age", "number", "abnormality", "classification", "subtype")
REQUIRED = ("ID1", "LeftRight", "abnormality", "classification")
CLINICAL_NAMES = ("CMMD_clinicaldata_revision.csv", "CMMD_clinicaldata_revision.xlsx")


def find_clinical(src):
    for name in CLINICAL_NAMES:
        matches = sorted(glob.glob(os.path.join(src, "**", name), recursive=True), key=len)
        if matches:
            return matches[0]
    raise MissingFileError(f"{src}: no {' or '.join(CLINICAL_NAMES)} found (expected the CMMD clinical "
                            "sheet next to the CMMD/ DICOM folder)")


def load_cmmd(src, report=None):
    """Image records of a CMMD download (without splits)."""
    report = report if report is not None else PrepareReport()
    clinical = find_clinical(src)
    breasts = {}
    for number, row in enumerate(read_table(clinical, REQUIRED, "CMMD clinical sheet"), start=2):
        side, kind = row["LeftRight"].upper()[:1], row["classification"].strip().lower()
        if side not in ("L", "R") or kind not in ("benign", "malignant"):
            report.bad(f"{os.path.basename(clinical)} line {number}",
                       f"LeftRight {row['LeftRight']!r} / classification {row['classification']!r} not L|R / Benign|Malignant")
            continue
        breasts[(row["ID1"], side)] = (kind, row["abnormality"].strip().lower(), row.get("Age", ""))
    patients = {pid for pid, _ in breasts}
    records, seen = [], {}
    for path in sorted(glob.glob(os.path.join(src, "**", "*.dcm"), recursive=True)):
        parts = os.path.relpath(path, src).split(os.sep)
        patient = next((p for p in parts if p in patients), None)
        if patient is None:
            report.exclude(path, "not below a folder named after a patient (ID1) of the clinical sheet")
            continue
        try:
            side, view = side_view_of_header(read_dicom_header(path))
        except MammogramReadError as exc:
            report.bad(path, exc)
            continue
        if (patient, side) not in breasts:
            report.exclude(path, f"breast {patient} {side or '?'} has no clinical row (no label)")
            continue
        kind, abnormality, age = breasts[(patient, side)]
        label = int(kind == "malignant")
        stem = os.path.splitext(parts[-1])[0]
        image_id = safe_id(f"{patient}_{side}_{view}_{stem}")
        seen[image_id] = seen.get(image_id, 0) + 1
        if seen[image_id] > 1:  # same view and file name in another series of the patient
            image_id = f"{image_id}_{seen[image_id]}"
        records.append(ImageRecord(
            image_id=image_id, patient_id=patient, side=side, view=view,
            label=label, pathology="MALIGNANT" if label else "BENIGN",
            abnormality=[a for a in ("calcification", "mass") if a in abnormality or abnormality == "both"],
            source=path, subgroups=subgroup_values(age=age),
        ))
    return records
