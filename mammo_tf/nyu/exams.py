# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Four-view exam manifest: one row per screening exam (L-CC, R-CC, L-MLO, R-MLO).

Columns (``EXAM_COLUMNS``)::

    exam_id, patient_id, study_id, split, l_cc, r_cc, l_mlo, r_mlo,
    left_benign, right_benign, left_malignant, right_malignant

``l_cc`` ... ``r_mlo``: image paths relative to the manifest's folder (16-bit PNG or anything
``mammo_tf.io.read_mammogram`` reads), in their acquired orientation; labels 0/1 per breast
(a breast can be both benign and malignant). ``study_id`` may be empty. An optional last
column ``birads`` (0, 1, 2 or empty) holds the screening BI-RADS class for pretraining.

Builders: ``exams_from_image_manifest`` (CBIS-DDSM / INbreast image manifests of
docs/DESIGN.md, grouped by patient and, when the manifest has a ``study_id`` / ``study_date``
column, by study) and ``write_phantom_exams`` (the phantom generator's four-view exams).
"""
import csv
import io
import os
from collections import defaultdict

import numpy as np

from mammo_tf.errors import DataError
from mammo_tf.constants import BENIGN_PATCH_CLASSES, MALIGNANT_PATCH_CLASSES
from mammo_tf.datasets.manifest import read_csv_checked
from mammo_tf.nyu.constants import OUTPUT_NAMES, VIEWS
from mammo_tf.utils import atomic_dir, write_text_atomic

EXAM_COLUMNS = ("exam_id", "patient_id", "study_id", "split") + VIEWS + OUTPUT_NAMES
OPTIONAL_COLUMNS = ("birads",)
STUDY_COLUMNS = ("study_id", "study_date", "study")
_VIEW_ALIASES = {"CC": "cc", "MLO": "mlo", "ML": "mlo"}


class ExamManifestError(DataError):
    """An exam manifest is missing columns or holds an invalid value (message names the file)."""


def write_exam_manifest(path, rows):
    """Write exam rows (dicts with ``EXAM_COLUMNS``, optionally ``birads``) atomically."""
    columns = EXAM_COLUMNS + OPTIONAL_COLUMNS
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})
    write_text_atomic(path, buffer.getvalue())


def read_exam_manifest(path):
    """Read an exam manifest: list of dicts, labels as int, image paths absolute.

    Raises ``ExamManifestError`` naming the file (and line) on missing columns, empty image
    paths or labels that are not 0/1.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    raw_rows = read_csv_checked(path, EXAM_COLUMNS, ExamManifestError, "exam manifest")
    rows = []
    for number, raw in enumerate(raw_rows, start=2):
        row = {c: (raw.get(c) or "").strip() for c in EXAM_COLUMNS}
        for view in VIEWS:
            if not row[view]:
                raise ExamManifestError(f"{path}, line {number}: no image for view {view}")
            row[view] = os.path.normpath(os.path.join(folder, row[view]))
        for name in OUTPUT_NAMES:
            if row[name] not in ("0", "1"):
                raise ExamManifestError(f"{path}, line {number}: {name} {raw.get(name)!r} is not 0 or 1")
            row[name] = int(row[name])
        birads = (raw.get("birads") or "").strip()
        if birads not in ("", "0", "1", "2"):
            raise ExamManifestError(f"{path}, line {number}: birads {birads!r} is not 0, 1, 2 or empty")
        row["birads"] = int(birads) if birads else None
        rows.append(row)
    return rows


def exam_labels(row):
    """(4,) int array in ``OUTPUT_NAMES`` order."""
    return np.array([row[name] for name in OUTPUT_NAMES], dtype=np.int64)


def phantom_birads(labels):
    """Stand-in screening BI-RADS class of a phantom exam (no radiologist read exists):
    0 (recall) with a malignant finding, 2 (benign) with benign findings only, else 1."""
    if any(side["malignant"] for side in labels.values()):
        return 0
    return 2 if any(side["benign"] for side in labels.values()) else 1


def is_positive(row):
    """True when any breast of the exam has a benign or malignant finding (biopsied)."""
    return bool(exam_labels(row).any())


def _study_column(fieldnames):
    return next((c for c in STUDY_COLUMNS if c in (fieldnames or ())), None)


def exams_from_image_manifest(manifest_path, out_path, strict=False):
    """Group an image manifest (docs/DESIGN.md columns) into four-view exams and write them.

    Exams are keyed by patient (and study when the manifest has a ``study_id``,
    ``study_date`` or ``study`` column). An exam needs all four views; when a view has
    several images the first by ``image_id`` is used. Per-breast labels come from all of the
    breast's images: malignant if ``label`` is 1, pathology MALIGNANT or an ROI class is
    malignant; benign if pathology BENIGN or an ROI class is benign.

    Returns ``(rows, skipped)`` where ``skipped`` lists ``(exam key, reason)``; with
    ``strict`` the first skipped exam raises ``ExamManifestError`` instead.
    """
    from mammo_tf.datasets.manifest import read_manifest, resolve_path  # image-manifest owner

    manifest_path = os.fspath(manifest_path)
    images = read_manifest(manifest_path)
    with open(manifest_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        study_col = _study_column(reader.fieldnames)
        studies = [(r.get(study_col) or "").strip() if study_col else "" for r in reader]
    out_folder = os.path.dirname(os.path.abspath(os.fspath(out_path)))
    groups = defaultdict(list)
    for image, study in zip(images, studies):
        groups[(image["patient_id"], study)].append(image)
    rows, skipped = [], []
    for (patient, study), members in sorted(groups.items()):
        key = f"{patient}/{study}" if study else patient
        row, reason = _exam_row(patient, study, members, manifest_path, out_folder, resolve_path)
        if reason:
            if strict:
                raise ExamManifestError(f"{manifest_path}: exam {key}: {reason}")
            skipped.append((key, reason))
        else:
            rows.append(row)
    write_exam_manifest(out_path, rows)
    return rows, skipped


def exams_from_dicom(paths, allow_for_processing=False, strict=False):
    """Four-view exams straight from DICOM files / folders (``mammo_tf.io.dicom_study``):
    instances checked, grouped by study (studies of one image each, as CBIS-DDSM's, merged by
    patient and date), side and view from the headers or the image.

    Returns ``(rows, problems)``: exam rows as :func:`read_exam_manifest` gives them (absolute
    image paths; no labels: ``labelled`` False and the label columns 0, unused in prediction)
    and the refused instances and exams (``Problem``; the NYU rule: an exam needs all four
    standard views, the first image of a view is used). ``strict``: the first problem raises
    ``ExamManifestError``.
    """
    from mammo_tf.io.dicom_study import check_exams, four_views, group_exams, scan_dicom

    images, problems = scan_dicom(paths, allow_for_processing=allow_for_processing)
    exams = group_exams(images, merge_split_studies=True)
    problems += check_exams(exams)
    if strict and problems:
        raise ExamManifestError(str(problems[0]))
    rows = []
    for key, members in exams.items():
        chosen, missing, _ = four_views(members)
        if missing:
            continue
        row = {"exam_id": key, "patient_id": members[0].patient, "study_id": key, "split": "all",
               "birads": None, "labelled": False}
        for (side, view), image in chosen.items():
            row[f"{side.lower()}_{view.lower()}"] = os.path.abspath(image.path)
        row.update({name: 0 for name in OUTPUT_NAMES})
        rows.append(row)
    return rows, problems


def _exam_row(patient, study, members, manifest_path, out_folder, resolve_path):
    by_view = {}
    for image in sorted(members, key=lambda r: r["image_id"]):
        side, view = image["side"].upper(), _VIEW_ALIASES.get(image["view"].upper())
        if side in ("L", "R") and view:
            by_view.setdefault(f"{side.lower()}_{view}", image)
    missing = [v for v in VIEWS if v not in by_view]
    if missing:
        return None, "missing views " + ", ".join(m.upper().replace("_", "-") for m in missing)
    splits = {image["split"] for image in members}
    if len(splits) > 1:
        return None, f"images in several splits {sorted(splits)}"
    labels = {f"{s}_{k}": 0 for s in ("left", "right") for k in ("benign", "malignant")}
    for image in members:
        breast = {"L": "left", "R": "right"}.get(image["side"].upper())
        if breast is None:
            continue
        classes = set(image["roi_classes"])
        if image["label"] == 1 or image["pathology"] == "MALIGNANT" or classes & set(MALIGNANT_PATCH_CLASSES):
            labels[f"{breast}_malignant"] = 1
        if image["pathology"] == "BENIGN" or classes & set(BENIGN_PATCH_CLASSES):
            labels[f"{breast}_benign"] = 1
    row = {"exam_id": f"{patient}_{study}" if study else patient, "patient_id": patient,
           "study_id": study, "split": splits.pop()}
    for view, image in by_view.items():
        absolute = resolve_path(manifest_path, image["image_path"])
        row[view] = os.path.relpath(absolute, out_folder)
    row.update(labels)
    return row, None


def write_phantom_exams(out_dir, n_exams, seed=0, size=(64, 48), profile="inbreast",
                        val_fraction=0.2, test_fraction=0.2, **case_kwargs):
    """Write ``n_exams`` phantom four-view exams (16-bit PNGs + ``exams.csv``) into ``out_dir``.

    Uses ``mammo_tf.datasets.phantom.generate_case(seed, i, size, profile, **case_kwargs)``;
    patients are split with ``stratified_patient_split`` (stratified on any finding). The
    ``birads`` column gets the stand-in class of ``phantom_birads``.
    Returns the manifest path. The folder is written atomically.
    """
    from mammo_tf.datasets.phantom import generate_case
    from mammo_tf.datasets.splits import stratified_patient_split
    from mammo_tf.io import write_png16

    out_dir = os.fspath(out_dir)
    cases = [generate_case(seed, i, size=tuple(size), profile=profile, **case_kwargs)
             for i in range(n_exams)]
    positive = {c["patient_id"]: int(any(v for side in c["labels"].values() for v in side.values()))
                for c in cases}
    split_of = stratified_patient_split(positive, test_fraction=test_fraction,
                                        val_fraction=val_fraction / max(1e-9, 1 - test_fraction),
                                        seed=seed)
    with atomic_dir(out_dir) as tmp:
        os.makedirs(os.path.join(tmp, "images"))
        rows = []
        for case in cases:
            pid = case["patient_id"]
            row = {"exam_id": pid, "patient_id": pid, "study_id": "", "split": split_of[pid]}
            for key, view in case["views"].items():
                name = f"{key.lower().replace('-', '_')}"
                rel = os.path.join("images", f"{pid}_{name}.png")
                write_png16(os.path.join(tmp, rel), view["image"])
                row[name] = rel
            for side, breast in (("L", "left"), ("R", "right")):
                row[f"{breast}_benign"] = case["labels"][side]["benign"]
                row[f"{breast}_malignant"] = case["labels"][side]["malignant"]
            row["birads"] = phantom_birads(case["labels"])
            rows.append(row)
        write_exam_manifest(os.path.join(tmp, "exams.csv"), rows)
    return os.path.join(out_dir, "exams.csv")
