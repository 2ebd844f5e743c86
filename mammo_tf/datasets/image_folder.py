# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Any folder of labelled mammograms (``prepare image-folder``): class subfolders and/or a
labels CSV, 8/16-bit PNG, JPEG, PGM or DICOM (read by ``mammo_tf.io.images.load_image``).

Layouts:

- class subfolders: ``<src>/<label>/.../<image>`` (the first folder below ``src`` is the label);
- a labels CSV (``--labels``, or ``<src>/labels.csv`` when present): columns ``file`` (path
  relative to the CSV's folder; also ``path``, ``filename``, ``image_path``), ``patient_id``
  (also ``patient``), ``label`` (also ``class``; without it the file's first folder is the
  label), optional ``image_id``, ``view``, ``laterality`` (or ``side``). Image files under
  ``src`` that the CSV does not list are left out (counted in a note).

Labels: a label named in ``positive`` (default: malignant, cancer, positive, abnormal, 1, yes,
true) is 1 (pathology MALIGNANT, or BENIGN for a label called benign); every other label is 0
(NORMAL, or BENIGN for benign). Without patient ids every image is its own patient (a note
says so: a patient-level split then cannot keep a patient's views together).

Inverted images (white background: MONOCHROME1 rendered as is, negatives) are found by the
border median (``mammo_tf.io.images.is_inverted``) and converted as 65535 - image; each one is
listed in the report (notes) and ``<out>/inverted_images.csv``. ``fix_inversion=False``
(``--keep-inverted``) leaves them as they are. Unreadable files, missing files, duplicate image
ids and rows without a label are skipped and reported (``--strict`` stops at the first).
"""
import csv
import os

from mammo_tf.datasets.convert import ImageRecord, safe_id
from mammo_tf.datasets.report import PrepareReport
from mammo_tf.errors import DataError, MissingFileError
from mammo_tf.io.images import IMAGE_EXTENSIONS, border_median, image_id_from_path, is_inverted

DEFAULT_POSITIVE = ("malignant", "cancer", "positive", "abnormal", "1", "yes", "true")
LABELS_CSV = "labels.csv"
FILE_COLUMNS = ("file", "path", "filename", "image_path", "image")
PATIENT_COLUMNS = ("patient_id", "patient")
LABEL_COLUMNS = ("label", "class")
SIDE_COLUMNS = ("laterality", "side")
INVERTED_LIST = "inverted_images.csv"


def _column(fields, names):
    lower = {f.strip().lower(): f for f in fields or ()}
    return next((lower[n] for n in names if n in lower), None)


def label_of(name, positive=DEFAULT_POSITIVE):
    """(label 0/1, pathology) of a class name."""
    key = str(name).strip().lower()
    label = int(key in {p.strip().lower() for p in positive})
    pathology = "BENIGN" if key == "benign" else ("MALIGNANT" if label else "NORMAL")
    return label, pathology


def _first_folder(relative):
    parts = os.path.normpath(relative).split(os.sep)
    return parts[0] if len(parts) > 1 else None


def _listed_images(src):
    found = []
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.relpath(os.path.join(root, f), src) for f in sorted(files)
                  if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS and not f.startswith(".")]
    return found


def _entries_from_csv(path, report):
    """[(file relative to the CSV folder, patient, label name, image id, view, side, line)]."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or ()
        file_col = _column(fields, FILE_COLUMNS)
        if file_col is None:
            raise DataError(f"{path}: labels CSV needs a file column (one of {', '.join(FILE_COLUMNS)}); "
                            f"found {', '.join(fields) or 'no header'}")
        cols = {"patient": _column(fields, PATIENT_COLUMNS), "label": _column(fields, LABEL_COLUMNS),
                "image_id": _column(fields, ("image_id",)), "view": _column(fields, ("view",)),
                "side": _column(fields, SIDE_COLUMNS)}
        entries = []
        for line, row in enumerate(reader, start=2):
            value = {k: (row.get(c) or "").strip() if c else "" for k, c in cols.items()}
            entries.append(((row.get(file_col) or "").strip(), value["patient"], value["label"],
                            value["image_id"], value["view"], value["side"], f"{path} line {line}"))
    if cols["patient"] is None:
        report.note(f"{path}: no patient_id column: every image is its own patient")
    return entries


def load_image_folder(src, report=None, labels_csv=None, positive=DEFAULT_POSITIVE, fix_inversion=True,
                      out=None):
    """Image records (without splits) of a labelled image folder; see the module docstring."""
    report = report if report is not None else PrepareReport()
    src = os.path.abspath(os.fspath(src))
    if not os.path.isdir(src):
        raise MissingFileError(f"--src {src} is not a folder")
    if labels_csv is None and os.path.isfile(os.path.join(src, LABELS_CSV)):
        labels_csv = os.path.join(src, LABELS_CSV)
    if labels_csv is not None:
        if not os.path.isfile(labels_csv):
            raise MissingFileError(f"labels CSV {labels_csv} not found")
        base = os.path.dirname(os.path.abspath(labels_csv))
        entries = _entries_from_csv(labels_csv, report)
        listed = {os.path.normpath(os.path.join(base, e[0])) for e in entries}
        unlisted = [f for f in _listed_images(src) if os.path.join(src, f) not in listed]
        if unlisted:
            report.note(f"{len(unlisted)} image file(s) under {src} not in {labels_csv}: left out "
                        f"(e.g. {unlisted[0]})")
    else:
        base = src
        entries = [(f, "", "", "", "", "", f) for f in _listed_images(src)]
        report.note(f"{src}: class subfolders, no labels CSV: every image is its own patient")
    positive = tuple(positive or DEFAULT_POSITIVE)
    records, seen, inverted = [], set(), []
    for relative, patient, label_name, image_id, view, side, where in entries:
        path = os.path.normpath(os.path.join(base, relative))
        image_id = safe_id(image_id or image_id_from_path(relative))
        label_name = label_name or _first_folder(relative) or ""
        if not relative:
            report.bad(where, "no file name")
            continue
        if not label_name:
            report.bad(image_id, f"{where}: no label (no label column value and not in a class subfolder)")
            continue
        if image_id in seen:
            report.bad(image_id, f"{where}: duplicate image id {image_id!r} (first one kept)")
            continue
        if not os.path.isfile(path):
            report.bad(image_id, f"{where}: {path} not found")
            continue
        invert = False
        if fix_inversion:
            from mammo_tf.io import MammogramReadError
            from mammo_tf.io.images import load_image

            try:
                image = load_image(path)
            except (MammogramReadError, OSError, ValueError) as exc:
                report.bad(image_id, f"{path}: {exc}")
                continue
            invert = is_inverted(image)
            if invert:
                inverted.append((image_id, relative, border_median(image)))
        seen.add(image_id)
        label, pathology = label_of(label_name, positive)
        records.append(ImageRecord(
            image_id=image_id, patient_id=safe_id(patient or image_id), side=side.upper()[:1],
            view=view.upper(), label=label, pathology=pathology, abnormality=[], source=path,
            invert=invert))
    names = sorted({label_of(e[2] or _first_folder(e[0]) or "", positive)[1] for e in entries})
    report.note(f"labels: positive (1) = {', '.join(positive)}; classes found -> {', '.join(names)}")
    if fix_inversion:
        shown = ", ".join(i for i, _, _ in inverted[:10]) + (" ..." if len(inverted) > 10 else "")
        report.note(f"inverted images (border median above half scale) corrected: {len(inverted)} of "
                    f"{len(records)}" + (f": {shown}" if inverted else ""))
        if out is not None:
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, INVERTED_LIST), "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f, lineterminator="\n")
                writer.writerow(["image_id", "file", "border_median_uint16"])
                writer.writerows([(i, r, f"{m:.0f}") for i, r, m in inverted])
    else:
        report.note("inversion check off (--keep-inverted): images converted as they are")
    return records
