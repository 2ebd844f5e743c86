# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The whole-image manifest CSV (one row per image), columns as in docs/DESIGN.md.

Paths in the file are relative to the manifest's folder; list-valued columns
(``abnormality``, ``roi_mask_paths``, ``roi_classes``) are ``;``-joined.
"""
import csv
import dataclasses
import io
import os

from mammo_tf.errors import DataError
from mammo_tf.constants import PATCH_CLASSES
from mammo_tf.utils import write_text_atomic

COLUMNS = (
    "image_id",
    "patient_id",
    "side",
    "view",
    "label",
    "pathology",
    "abnormality",
    "image_path",
    "roi_mask_paths",
    "roi_classes",
    "split",
)
LIST_COLUMNS = ("abnormality", "roi_mask_paths", "roi_classes")
# Subgroup columns (mammo_tf.datasets.subgroups) filled by the loaders where the data has them:
# density (ACR BI-RADS A-D), age (years), age_band, manufacturer, manufacturer_model (DICOM).
SUBGROUP_COLUMNS = ("density", "age", "age_band", "manufacturer", "manufacturer_model")
# Written only when some row has it; kept by read_manifest when present.
# crop_box: "top;bottom;left;right" of the breast crop in source pixels (prepare --crop breast).
OPTIONAL_COLUMNS = ("crop_box",) + SUBGROUP_COLUMNS
PATHOLOGIES = ("NORMAL", "BENIGN", "MALIGNANT")
SPLITS = ("train", "val", "test")


class ManifestError(DataError):
    """A manifest file is missing columns or holds an invalid value (message names the file)."""


def missing_columns(found, required):
    """Required column names absent from ``found`` (in the order of ``required``)."""
    found = set(found or ())
    return [c for c in required if c not in found]


def read_csv_checked(path, required, error=ValueError, what="manifest"):
    """Rows (dicts) of a CSV file whose header must hold ``required``; errors name the file."""
    path = os.fspath(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = missing_columns(reader.fieldnames, required)
            if missing:
                raise error(f"{path}: {what} is missing columns: {', '.join(missing)}")
            return list(reader)
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc})") from exc


def _format(value):
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    return "" if value is None else str(value)


def write_manifest(path, rows):
    """Write manifest rows (dicts with :data:`COLUMNS`; lists are ``;``-joined) atomically."""
    rows = list(rows)
    columns = COLUMNS + tuple(c for c in OPTIONAL_COLUMNS if any(row.get(c) for row in rows))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _format(row.get(c)) for c in columns})
    write_text_atomic(path, buffer.getvalue())


def _split_list(text):
    return [part for part in (text or "").split(";") if part]


def read_manifest(path):
    """Read a manifest; returns a list of dicts with ``label`` as int and list columns as lists.

    Raises :class:`ManifestError` naming the file when columns are missing (all are listed)
    or a value is invalid (row number given).
    """
    path = os.fspath(path)
    rows = read_csv_checked(path, COLUMNS, ManifestError)
    out = []
    for number, raw in enumerate(rows, start=2):
        row = {c: (raw.get(c) or "").strip() for c in COLUMNS}
        row.update({c: (raw.get(c) or "").strip() for c in OPTIONAL_COLUMNS if c in raw})
        try:
            row["label"] = int(row["label"])
        except ValueError:
            raise ManifestError(f"{path}, line {number}: label {raw.get('label')!r} is not 0 or 1") from None
        for column in LIST_COLUMNS:
            row[column] = _split_list(row[column])
        if len(row["roi_mask_paths"]) != len(row["roi_classes"]):
            raise ManifestError(f"{path}, line {number}: {len(row['roi_mask_paths'])} ROI masks but "
                                f"{len(row['roi_classes'])} ROI classes")
        unknown = [c for c in row["roi_classes"] if c not in PATCH_CLASSES]
        if unknown:
            raise ManifestError(f"{path}, line {number}: unknown ROI classes {unknown}")
        if row["split"] and row["split"] not in SPLITS:
            raise ManifestError(f"{path}, line {number}: split {row['split']!r} not one of {SPLITS}")
        out.append(row)
    return out


def resolve_path(manifest_path, relative):
    """Absolute path of a file named in a manifest (paths are relative to its folder)."""
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(os.fspath(manifest_path))), relative))


def rows_for_split(rows, split):
    """Rows of one split (``"train"``, ``"val"`` or ``"test"``)."""
    return [row for row in rows if row["split"] == split]


@dataclasses.dataclass
class ImageItem:
    """One image of an image list (prediction, baselines): id, file path, 0/1 or class label."""

    image_id: str
    path: str
    label: int | None = None
    # Manifest facts carried into prediction CSVs for the screening report (ITEM_INFO_COLUMNS).
    info: dict = dataclasses.field(default_factory=dict)


# What a prediction CSV carries over from the manifest: the report's patients, breasts, exams
# and subgroups (mammo_tf.screening.report reads them when no manifest is given).
ITEM_INFO_COLUMNS = ("patient_id", "side", "view", "study_id", "study") + SUBGROUP_COLUMNS


def items_from_manifest(manifest_csv, split=None):
    """Items of a manifest CSV; ``image_path`` is relative to the manifest's folder.

    A full manifest (all DESIGN.md columns) is read and validated by
    ``mammo_tf.datasets.manifest.read_manifest``; a minimal one needs only ``image_id`` and
    ``image_path`` (``label`` and ``split`` optional), for lists of new images.
    """
    with open(manifest_csv, newline="", encoding="utf-8") as f:
        columns = csv.DictReader(f).fieldnames or ()
    if not missing_columns(columns, COLUMNS):
        rows = read_manifest(manifest_csv)
    else:
        missing = missing_columns(columns, ("image_id", "image_path"))
        if missing:
            raise ManifestError(f"{manifest_csv}: manifest lacks column(s) {', '.join(missing)}")
        with open(manifest_csv, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        for number, row in enumerate(rows, start=2):
            label = (row.get("label") or "").strip()
            try:
                row["label"] = int(label) if label else None
            except ValueError:
                raise ManifestError(f"{manifest_csv}, line {number}: label {label!r} is not an integer") from None
    if split is not None:
        if "split" not in columns:
            raise ManifestError(f"{manifest_csv}: --split given but the manifest has no 'split' column")
        rows = [row for row in rows if row["split"] == split]
    carried = [c for c in ITEM_INFO_COLUMNS if c in columns]
    raw = {}
    if carried:  # read_manifest keeps only the documented columns: take the facts from the file
        with open(manifest_csv, newline="", encoding="utf-8") as f:
            raw = {r.get("image_id"): r for r in csv.DictReader(f)}
    return [ImageItem(row["image_id"], resolve_path(manifest_csv, row["image_path"]), row.get("label"),
                      {c: str(raw.get(row["image_id"], {}).get(c) or "").strip() for c in carried})
            for row in rows]
