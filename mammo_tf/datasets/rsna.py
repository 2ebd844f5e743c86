# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""RSNA Screening Mammography Breast Cancer Detection (Kaggle 2022): ``train.csv`` +
``train_images/<patient_id>/<image_id>.dcm`` (JPEG 2000 / JPEG-LS DICOMs, decoded by the
install dependencies).

- ``train.csv`` columns: site_id, patient_id, image_id, laterality, view, age, cancer, biopsy,
  invasive, BIRADS, implant, density, machine_id, difficult_negative_case.
- Label rule: ``cancer`` (biopsy-proven cancer of that breast) -> 1 (MALIGNANT); cancer 0 with
  ``biopsy`` 1 -> 0 (BENIGN); otherwise 0 (NORMAL).
- No official split (Kaggle's test set is hidden): the patient-level paper split is used.
- No ROIs (the dataset has no lesion annotations).
- ``density`` (A-D) and ``age`` fill the manifest's subgroup columns.
"""
import os

from mammo_tf.datasets.convert import ImageRecord
from mammo_tf.datasets.report import PrepareReport, find_source_file
from mammo_tf.datasets.subgroups import subgroup_values
from mammo_tf.datasets.tables import read_table

COLUMNS = ("site_id", "patient_id", "image_id", "laterality", "view", "age", "cancer", "biopsy", "invasive",
           "BIRADS", "implant", "density", "machine_id", "difficult_negative_case")
REQUIRED = ("patient_id", "image_id", "laterality", "view", "cancer", "biopsy")


def load_rsna(src, report=None):
    """Image records of the RSNA screening download (without splits)."""
    report = report if report is not None else PrepareReport()
    table = find_source_file(src, "train.csv", "the RSNA screening folder (train.csv, train_images/)")
    root = os.path.dirname(table)
    rows = read_table(table, REQUIRED, "RSNA train.csv")
    images = os.path.join(root, "train_images")
    records = []
    for number, row in enumerate(rows, start=2):
        image_id = f"{row['patient_id']}_{row['image_id']}"
        if row["cancer"] not in ("0", "1") or row["biopsy"] not in ("0", "1"):
            report.bad(image_id, f"{table} line {number}: cancer {row['cancer']!r} / biopsy {row['biopsy']!r} "
                                 "is not 0 or 1")
            continue
        path = os.path.join(images, row["patient_id"], row["image_id"] + ".dcm")
        if not os.path.isfile(path):
            report.bad(image_id, f"no train_images/{row['patient_id']}/{row['image_id']}.dcm under {root}")
            continue
        label = int(row["cancer"])
        pathology = "MALIGNANT" if label else ("BENIGN" if row["biopsy"] == "1" else "NORMAL")
        records.append(ImageRecord(
            image_id=image_id, patient_id=row["patient_id"], side=row["laterality"].upper()[:1],
            view=row["view"].upper(), label=label, pathology=pathology,
            abnormality=["invasive"] if row.get("invasive") == "1" else [], source=path,
            subgroups=subgroup_values(density=row.get("density"), age=row.get("age")),
        ))
    return records
