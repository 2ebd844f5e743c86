# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""EMBED, the Emory Breast Imaging Dataset (AWS Open Data): ``tables/EMBED_OpenData_clinical.csv``
(one row per finding) + ``tables/EMBED_OpenData_metadata.csv`` (one row per file) +
``images/cohort_<k>/<empi_anon>/<acc_anon>/<SOPInstanceUID>.dcm``.

- Metadata columns used: empi_anon, acc_anon, anon_dicom_path, FinalImageType ("2D" kept;
  C-view and others excluded), ImageLateralityFinal (L/R), ViewPosition, spot_mag (1 =
  spot/magnification view, excluded), ROI_coords ("[[ymin, xmin, ymax, xmax], ...]").
- Clinical columns used: empi_anon, acc_anon, side (L/R/B of the finding), asses (exam
  BI-RADS letter: A=0, N=1, B=2, P=3, S=4, M=5, K=6), path_severity (0 invasive cancer,
  1 non-invasive cancer, 2 high-risk, 3 borderline, 4 benign, 5 normal tissue, 6 non-breast
  cancer), massshape, calcfind.
- Files and findings are joined on empi_anon + acc_anon + laterality (the finding's side, B
  matching both), as the EMBED documentation prescribes.
- Label rule (biopsy-proven cancer): a matching finding with path_severity 0 or 1 -> 1
  (MALIGNANT); else pathology 2-6 -> 0 (BENIGN); else an exam BI-RADS of N or B -> 0 (NORMAL
  or BENIGN); everything else (BI-RADS 0/3/4/5/6 without a pathology result) is excluded.
- ``anon_dicom_path`` is a path on Emory's servers: it is resolved from its ``cohort_*``
  part onwards below ``<src>/images`` (or ``<src>``), or used as it is when it exists.
- Optional clinical columns ``tissueden`` (density 1-4 -> A-D) and ``age_at_study`` fill the
  manifest's subgroup columns; the manufacturer comes from the DICOMs.
- ROI boxes become rectangular masks (calc_* when the finding has calcifications and no mass
  shape, else mass_*); images labelled NORMAL keep no ROI.
"""
import os

from mammo_tf.datasets.convert import ImageRecord, Roi, RoiError, safe_id
from mammo_tf.datasets.report import PrepareReport, find_source_file
from mammo_tf.datasets.subgroups import subgroup_values
from mammo_tf.datasets.tables import TableFormatError, box_mask, parse_box_list, read_table

METADATA_REQUIRED = ("empi_anon", "acc_anon", "anon_dicom_path", "FinalImageType", "ImageLateralityFinal",
                     "ViewPosition", "spot_mag", "ROI_coords")
CLINICAL_REQUIRED = ("empi_anon", "acc_anon", "side", "asses", "path_severity", "massshape", "calcfind")
MALIGNANT_SEVERITY = (0, 1)
BENIGN_SEVERITY = (2, 3, 4, 5, 6)


def _severity(text):
    try:
        return int(float(text))
    except (TypeError, ValueError):
        return None


def label_of_findings(findings):
    """``(label, pathology, kind)`` for the findings of one breast in one exam, or None
    (excluded); ``kind`` is "calc" or "mass" for ROI classes."""
    severities = [s for s in (_severity(f["path_severity"]) for f in findings) if s is not None]
    calc = any(f["calcfind"] and not f["massshape"] for f in findings)
    kind = "calc" if calc else "mass"
    if any(s in MALIGNANT_SEVERITY for s in severities):
        return 1, "MALIGNANT", kind
    if any(s in BENIGN_SEVERITY for s in severities):
        return 0, "BENIGN", kind
    assessments = {f["asses"].strip().upper() for f in findings}
    if assessments and assessments <= {"N", "B"}:
        return 0, ("NORMAL" if assessments == {"N"} else "BENIGN"), kind
    return None


def resolve_dicom(src, anon_path):
    parts = anon_path.replace("\\", "/").split("/")
    cohort = next((i for i, p in enumerate(parts) if p.lower().startswith("cohort")), None)
    candidates = []
    if cohort is not None:
        tail = os.path.join(*parts[cohort:])
        candidates += [os.path.join(src, "images", tail), os.path.join(src, tail)]
    candidates.append(anon_path)
    return next((c for c in candidates if os.path.isfile(c)), None)


def _box_roi(box, roi_class):
    ymin, xmin, ymax, xmax = box

    def make(shape):
        mask = box_mask(shape, xmin, ymin, xmax, ymax)
        if not mask.any():
            raise RoiError(f"ROI box {box} lies outside the {shape[0]}x{shape[1]} image")
        return mask
    return Roi(roi_class=roi_class, make_mask=make, description=f"ROI_coords box {box}")


def load_embed(src, report=None):
    """Image records of an EMBED download (without splits)."""
    report = report if report is not None else PrepareReport()
    expected = "an EMBED folder (tables/EMBED_OpenData_clinical.csv, tables/EMBED_OpenData_metadata.csv, images/)"
    clinical_csv = find_source_file(src, "EMBED_OpenData_clinical.csv", expected)
    metadata_csv = find_source_file(src, "EMBED_OpenData_metadata.csv", expected)
    findings = {}
    for row in read_table(clinical_csv, CLINICAL_REQUIRED, "EMBED clinical table"):
        side = row["side"].strip().upper()
        for s in (("L", "R") if side in ("B", "") else (side,)):
            findings.setdefault((row["empi_anon"], row["acc_anon"], s), []).append(row)
    records = []
    for number, row in enumerate(read_table(metadata_csv, METADATA_REQUIRED, "EMBED metadata table"), start=2):
        anon = row["anon_dicom_path"]
        image_id = safe_id(f"{row['empi_anon']}_{row['acc_anon']}_{os.path.splitext(os.path.basename(anon))[0]}")
        side, view = row["ImageLateralityFinal"].upper()[:1], row["ViewPosition"].upper()
        if row["FinalImageType"] != "2D":
            report.exclude(image_id, f"FinalImageType {row['FinalImageType']!r} (only 2D images are used)")
            continue
        if _severity(row["spot_mag"]) == 1:
            report.exclude(image_id, "spot compression / magnification view")
            continue
        labelled = label_of_findings(findings.get((row["empi_anon"], row["acc_anon"], side), []))
        if labelled is None:
            report.exclude(image_id, "no biopsy result and exam BI-RADS not 1/2 (excluded by the labelling rule)")
            continue
        path = resolve_dicom(src, anon)
        if path is None:
            report.bad(image_id, f"{metadata_csv} line {number}: DICOM {anon} not found below {src}/images")
            continue
        label, pathology, kind = labelled
        try:
            boxes = parse_box_list(row["ROI_coords"], metadata_csv, f"line {number} ROI_coords")
        except TableFormatError as exc:
            report.bad(image_id, exc)
            boxes = []
        roi_class = f"{kind}_{'malignant' if label else 'benign'}"
        exam = findings.get((row["empi_anon"], row["acc_anon"], side), [])
        density = next((f.get("tissueden", "") for f in exam if f.get("tissueden")), "")
        age = next((f.get("age_at_study", "") for f in exam if f.get("age_at_study")), "")
        records.append(ImageRecord(
            image_id=image_id, patient_id=row["empi_anon"], side=side, view=view, label=label,
            pathology=pathology, abnormality=[kind] if pathology != "NORMAL" else [], source=path,
            rois=[] if pathology == "NORMAL" else [_box_roi(b, roi_class) for b in boxes],
            subgroups=subgroup_values(density=density, age=age),
        ))
    return records
