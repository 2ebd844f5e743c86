# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""INbreast: ``INbreast.csv`` + ``AllDICOMs/*.dcm`` + ``AllXML/*.xml`` (OsiriX plists).

- ``INbreast.csv``: ``;``-separated, CRLF; columns used: Laterality, View, File Name, Bi-Rads
  (Patient ID is optional: the released file says "removed"); ACR (breast density 1-4) and
  Patient age, where given, fill the manifest's ``density`` (A-D) and ``age`` / ``age_band``.
- DICOMs are named ``<File Name>_<patient hash>_MG_<L|R>_<CC|ML>_ANON.dcm``; the hash is the
  patient (case) id used for the patient-level split.
- Labels (Shen et al.): BI-RADS 1, 2 -> 0 (negative); 4 (4a, 4b, 4c), 5, 6 -> 1 (positive);
  3 -> excluded (reported as excluded, not as an error).
- ROIs: ``Images[0].ROIs[*]`` with ``Name``, ``Point_px`` ("(x, y)" strings), ``Type`` (15
  polygon, 19 point). Polygons are filled; single points become discs of
  :data:`~mammo_tf.datasets.rois.POINT_RADIUS_PX` pixels; all point ROIs of one class in an
  image are merged into one mask (INbreast marks calcifications one by one). ROI classes:
  names with "calc" or "cluster" -> calc_*, everything else (Mass, Spiculated Region,
  Asymmetry, Distortion, ...) -> mass_*; benign/malignant from the image's BI-RADS label
  (INbreast has no per-lesion pathology).
"""
import csv
import dataclasses
import glob
import io
import os
import plistlib
import re
import xml.parsers.expat

import numpy as np

from mammo_tf.errors import DataError
from mammo_tf.datasets.convert import ImageRecord, Roi
from mammo_tf.datasets.manifest import missing_columns
from mammo_tf.datasets.report import PrepareReport, find_source_file
from mammo_tf.datasets.rois import polygon_mask
from mammo_tf.datasets.splits import draw_patient_subset  # noqa: F401  (re-exported)
from mammo_tf.datasets.subgroups import subgroup_values

REQUIRED_COLUMNS = ("Laterality", "View", "File Name", "Bi-Rads")
NEGATIVE_BIRADS = ("1", "2")
EXCLUDED_BIRADS = ("3",)
POSITIVE_BIRADS = ("4", "4a", "4b", "4c", "5", "6")
DICOM_NAME_RE = re.compile(r"^(\d+)_([^_]+)_MG_([LR])_(CC|MLO|ML)_ANON\.dcm$", re.I)
POINT_TYPE = 19
_NUMBER_RE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class InbreastFormatError(DataError):
    """INbreast.csv or an XML file does not have the documented format (names the file)."""


@dataclasses.dataclass
class InbreastRow:
    file_name: str
    laterality: str
    view: str
    birads: str
    patient_id: str = ""
    acr: str = ""  # ACR breast density 1-4 -> manifest "density" A-D
    age: str = ""  # "Patient age" (the released file may say "removed")


@dataclasses.dataclass
class XmlRoi:
    name: str
    roi_type: int
    points: list  # [(x, y), ...] in source pixels

    @property
    def is_point(self):
        return self.roi_type == POINT_TYPE or len(self.points) == 1


def label_of_birads(birads):
    """1 (positive), 0 (negative) or None (excluded: BI-RADS 3); ValueError if unknown."""
    value = str(birads).strip().lower()
    if value in NEGATIVE_BIRADS:
        return 0
    if value in POSITIVE_BIRADS:
        return 1
    if value in EXCLUDED_BIRADS:
        return None
    raise ValueError(f"unknown Bi-Rads value {birads!r}")


def parse_inbreast_csv(text, name="INbreast.csv"):
    """Parse the ``;``-separated CSV text; returns ``(rows, problems)``.

    Raises :class:`InbreastFormatError` listing every missing column.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=";")
    fields = [f.strip() for f in (reader.fieldnames or [])]
    reader.fieldnames = fields
    missing = missing_columns(fields, REQUIRED_COLUMNS)
    if missing:
        raise InbreastFormatError(f"{name}: CSV is missing columns: {', '.join(missing)} "
                                  f"(found: {', '.join(fields) or 'none'}; is it ';'-separated?)")
    rows, problems = [], []
    for number, raw in enumerate(reader, start=2):
        values = {k: (v or "").strip() for k, v in raw.items() if k}
        if not any(values.values()):
            continue
        file_name = values.get("File Name", "")
        if not file_name.isdigit():
            problems.append(f"{name} line {number}: File Name {file_name!r} is not a number")
            continue
        side = values.get("Laterality", "").upper()[:1]
        if side not in ("L", "R"):
            problems.append(f"{name} line {number}: Laterality {values.get('Laterality')!r}")
            continue
        rows.append(InbreastRow(file_name, side, values.get("View", "").upper(), values.get("Bi-Rads", ""),
                                values.get("Patient ID", ""), values.get("ACR", ""),
                                values.get("Patient age", "")))
    return rows, problems


def _points(strings):
    points = []
    for text in strings or []:
        numbers = _NUMBER_RE.findall(str(text))
        if len(numbers) < 2:
            raise ValueError(f"point {text!r} is not '(x, y)'")
        points.append((float(numbers[0]), float(numbers[1])))
    return points


def parse_inbreast_xml(data, name="ROI XML"):
    """ROIs of an OsiriX plist (bytes); raises :class:`InbreastFormatError` naming ``name``."""
    try:
        plist = plistlib.loads(data, fmt=plistlib.FMT_XML)
    except (plistlib.InvalidFileException, xml.parsers.expat.ExpatError, ValueError, TypeError) as exc:
        raise InbreastFormatError(f"{name}: malformed XML property list ({exc})") from exc
    if not isinstance(plist, dict) or not isinstance(plist.get("Images"), list):
        raise InbreastFormatError(f"{name}: no 'Images' list in the property list")
    rois = []
    for image in plist["Images"]:
        for entry in (image or {}).get("ROIs", []) or []:
            try:
                points = _points(entry.get("Point_px"))
                rois.append(XmlRoi(str(entry.get("Name", "")).strip(), int(entry.get("Type", 0)), points))
            except (ValueError, TypeError, AttributeError) as exc:
                raise InbreastFormatError(f"{name}: bad ROI entry ({exc})") from exc
    return rois


def read_inbreast_xml(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise InbreastFormatError(f"{path}: cannot read ({exc})") from exc
    return parse_inbreast_xml(data, name=path)


def roi_kind(name):
    lowered = name.lower()
    return "calc" if ("calc" in lowered or "cluster" in lowered) else "mass"


def _rois_for_image(xml_rois, label, image_id):
    severity = "malignant" if label == 1 else "benign"
    rois, merged_points = [], {}
    for roi in xml_rois:
        kind = roi_kind(roi.name)
        if roi.is_point:
            merged_points.setdefault(kind, []).append(roi)
            continue
        rois.append(Roi(f"{kind}_{severity}", _polygon_maker(roi.points),
                        f"{roi.name or 'ROI'} ({len(roi.points)} points)"))
    for kind, points in merged_points.items():
        rois.append(Roi(f"{kind}_{severity}", _points_maker([p.points[0] for p in points]),
                        f"{len(points)} point ROI(s) ({', '.join(sorted({p.name for p in points}))})"))
    return rois


def _polygon_maker(points):
    return lambda shape: polygon_mask(shape, points)


def _points_maker(points):
    def make_mask(shape):
        mask = np.zeros(shape, dtype=bool)
        for point in points:
            mask |= polygon_mask(shape, [point])
        return mask

    return make_mask


def index_dicoms(src):
    """``{File Name: (path, patient hash, side, view)}`` for DICOMs named as in the release."""
    found = {}
    for path in sorted(glob.glob(os.path.join(os.fspath(src), "**", "*.dcm"), recursive=True)):
        match = DICOM_NAME_RE.match(os.path.basename(path))
        if match:
            found[match.group(1)] = (path, match.group(2), match.group(3).upper(), match.group(4).upper())
    return found


def index_xmls(src):
    """``{File Name: path}`` for ``<File Name>.xml`` files."""
    found = {}
    for path in sorted(glob.glob(os.path.join(os.fspath(src), "**", "*.xml"), recursive=True)):
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem.isdigit():
            found[stem] = path
    return found


def find_csv(src):
    return find_source_file(src, "INbreast.csv", "the INbreast release folder")


def load_inbreast(src, report=None):
    """Image records of an INbreast release folder (without splits)."""
    report = report if report is not None else PrepareReport()
    csv_path = find_csv(src)
    with open(csv_path, encoding="utf-8-sig", errors="replace", newline="") as f:
        rows, problems = parse_inbreast_csv(f.read(), name=csv_path)
    for problem in problems:
        report.bad(os.path.basename(csv_path), problem)
    dicoms, xmls = index_dicoms(src), index_xmls(src)
    records = []
    for row in rows:
        try:
            label = label_of_birads(row.birads)
        except ValueError as exc:
            report.bad(row.file_name, exc)
            continue
        if label is None:
            report.exclude(row.file_name, f"BI-RADS {row.birads} (excluded by the labelling rule)")
            continue
        if row.file_name not in dicoms:
            report.bad(row.file_name, f"no DICOM named {row.file_name}_*_MG_*_ANON.dcm under {src}")
            continue
        path, patient_hash, name_side, name_view = dicoms[row.file_name]
        xml_rois = []
        if row.file_name in xmls:
            try:
                xml_rois = read_inbreast_xml(xmls[row.file_name])
            except InbreastFormatError as exc:
                report.bad(xmls[row.file_name], exc)
        view = row.view or name_view
        records.append(ImageRecord(
            image_id=row.file_name, patient_id=patient_hash, side=row.laterality or name_side,
            view="MLO" if view == "ML" else view, label=label,
            pathology="MALIGNANT" if label else ("NORMAL" if row.birads == "1" else "BENIGN"),
            abnormality=list(dict.fromkeys(roi.name for roi in xml_rois if roi.name)),
            source=path, rois=_rois_for_image(xml_rois, label, row.file_name),
            subgroups=subgroup_values(density=row.acr, age=row.age),
        ))
    return records
