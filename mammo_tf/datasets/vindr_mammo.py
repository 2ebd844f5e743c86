# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""VinDr-Mammo (PhysioNet, 5,000 exams): ``breast-level_annotations.csv`` +
``finding_annotations.csv`` + ``images/<study_id>/<image_id>.dicom``.

- ``breast-level_annotations.csv``: one row per image; columns used: study_id, series_id,
  image_id, laterality, view_position, breast_birads ("BI-RADS 1".."BI-RADS 5"), split
  ("training" / "test": the official split, kept by ``--split official``).
- ``finding_annotations.csv``: one row per finding; columns used: image_id,
  finding_categories (a list literal such as "['Mass']"), finding_birads, xmin, ymin, xmax,
  ymax (source pixels; empty for "No Finding").
- Patient: VinDr-Mammo holds one exam per patient, so ``study_id`` is the patient id.
- Label rule (there is no pathology): BI-RADS 4 or 5 of the breast -> 1 (MALIGNANT,
  i.e. suspicious); BI-RADS 1 -> 0 (NORMAL); 2 -> 0 (BENIGN); 3 -> excluded (reported),
  as the INbreast rule of Shen et al.
- ``breast_density`` ("DENSITY A".."DENSITY D", optional) fills the manifest's ``density``;
  age (PatientAge) and manufacturer come from the DICOM headers.
- Boxes become rectangular ROI masks: "Suspicious Calcification" -> calc_*, every other
  category (Mass, asymmetries, architectural distortion, ...) -> mass_*; malignant when the
  finding's BI-RADS is 4 or 5, else benign.
"""
import ast
import os

from mammo_tf.datasets.convert import ImageRecord, Roi, RoiError
from mammo_tf.datasets.report import PrepareReport, find_source_file
from mammo_tf.datasets.subgroups import subgroup_values
from mammo_tf.datasets.tables import TableFormatError, box_mask, index_files, parse_number, read_table

BREAST_COLUMNS = ("study_id", "series_id", "image_id", "laterality", "view_position", "breast_birads", "split")
FINDING_COLUMNS = ("image_id", "finding_categories", "finding_birads", "xmin", "ymin", "xmax", "ymax")
OFFICIAL_SPLITS = {"training": "train", "train": "train", "test": "test"}


def birads_number(text):
    """"BI-RADS 4" / "4" -> 4; None for empty; ValueError otherwise."""
    value = str(text or "").upper().replace("BI-RADS", "").strip()
    if not value:
        return None
    if not value[0].isdigit():
        raise ValueError(f"unknown BI-RADS value {text!r}")
    return int(value[0])


def label_of_birads(birads):
    """(label, pathology) or None (excluded) for a breast BI-RADS number."""
    if birads in (4, 5, 6):
        return 1, "MALIGNANT"
    if birads == 1:
        return 0, "NORMAL"
    if birads == 2:
        return 0, "BENIGN"
    if birads == 3:
        return None
    raise ValueError(f"unknown BI-RADS value {birads!r}")


def _categories(text, path):
    text = (text or "").strip()
    if not text:
        return []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = [text]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise TableFormatError(f"{path}: finding_categories {text!r} is not a list")
    return [str(v).strip() for v in value if str(v).strip() and str(v).strip().lower() != "no finding"]


def _box_roi(box, roi_class, description):
    def make(shape):
        mask = box_mask(shape, *box)
        if not mask.any():
            raise RoiError(f"box {box} lies outside the {shape[0]}x{shape[1]} image")
        return mask
    return Roi(roi_class=roi_class, make_mask=make, description=description)


def load_vindr_mammo(src, report=None):
    """Image records of a VinDr-Mammo download (``record.split`` holds the official split)."""
    report = report if report is not None else PrepareReport()
    expected = "a VinDr-Mammo folder (breast-level_annotations.csv, finding_annotations.csv, images/)"
    breast_csv = find_source_file(src, "breast-level_annotations.csv", expected)
    finding_csv = find_source_file(os.path.dirname(breast_csv), "finding_annotations.csv", expected)
    breasts = read_table(breast_csv, BREAST_COLUMNS, "VinDr-Mammo breast-level table")
    findings = read_table(finding_csv, FINDING_COLUMNS, "VinDr-Mammo finding table")
    rois, abnormalities = {}, {}
    for number, row in enumerate(findings, start=2):
        try:
            categories = _categories(row["finding_categories"], finding_csv)
            if not categories or not row["xmin"]:
                continue
            box = tuple(parse_number(row[k], finding_csv, k) for k in ("xmin", "ymin", "xmax", "ymax"))
            birads = birads_number(row["finding_birads"])
        except (TableFormatError, ValueError) as exc:
            report.bad(f"{os.path.basename(finding_csv)} line {number}", exc)
            continue
        kind = "calc" if any("calcification" in c.lower() for c in categories) else "mass"
        roi_class = f"{kind}_{'malignant' if birads in (4, 5, 6) else 'benign'}"
        rois.setdefault(row["image_id"], []).append(_box_roi(box, roi_class, f"{', '.join(categories)} box {box}"))
        abnormalities.setdefault(row["image_id"], []).extend(categories)
    dicoms = index_files(os.path.dirname(breast_csv), (".dicom", ".dcm"))
    records = []
    for number, row in enumerate(breasts, start=2):
        image_id = row["image_id"]
        try:
            labelled = label_of_birads(birads_number(row["breast_birads"]))
        except ValueError as exc:
            report.bad(image_id, f"{breast_csv} line {number}: {exc}")
            continue
        if labelled is None:
            report.exclude(image_id, f"{row['breast_birads']} (excluded by the labelling rule)")
            continue
        split = OFFICIAL_SPLITS.get(row["split"].strip().lower())
        if split is None:
            report.bad(image_id, f"{breast_csv} line {number}: split {row['split']!r} is not training/test")
            continue
        if image_id not in dicoms:
            report.bad(image_id, f"no images/{row['study_id']}/{image_id}.dicom under {os.path.dirname(breast_csv)}")
            continue
        label, pathology = labelled
        view = row["view_position"].strip().upper()
        records.append(ImageRecord(
            image_id=image_id, patient_id=row["study_id"], side=row["laterality"].strip().upper()[:1],
            view=view, label=label, pathology=pathology,
            abnormality=list(dict.fromkeys(abnormalities.get(image_id, []))), source=dicoms[image_id],
            rois=rois.get(image_id, []) if label or pathology == "BENIGN" else [], split=split,
            subgroups=subgroup_values(density=row.get("breast_density")),
        ))
    return records
