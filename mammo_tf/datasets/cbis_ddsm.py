# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""CBIS-DDSM: the four official case-description CSVs + a TCIA download tree.

CSV quirks handled: ``breast_density`` (mass files) vs ``breast density`` (calc files);
file-path fields with an embedded newline inside the quotes; pathology MALIGNANT, BENIGN or
BENIGN_WITHOUT_CALLBACK (-> benign). One CSV row is one abnormality; an image (patient, side,
view) can have several, in the mass and/or calc files; they become one manifest row with one
ROI mask each.

The download is indexed by each file's SeriesInstanceUID, read from the header only
(``stop_before_pixels``), and matched to the UID in the CSV path (``<case folder>/<Study
UID>/<Series UID>/<file>``), so both the old (``000000.dcm``) and the current TCIA layout
(descriptive folders, ``1-1.dcm`` / ``1-2.dcm``) work; the case folder name
(``Mass-Training_P_00001_LEFT_CC_1``) is the fallback. The ROI mask is told from the cropped
lesion by content: it is the candidate that is binary and has the full image's size.
The breast density (1-4) becomes the manifest's ``density`` column (A-D; 0 = unknown, empty).
"""
import csv
import dataclasses
import json
import os
import re


from mammo_tf.errors import DataError, MissingFileError
from mammo_tf.datasets.convert import ImageRecord, Roi, RoiError
from mammo_tf.datasets.manifest import missing_columns
from mammo_tf.datasets.report import PrepareReport
from mammo_tf.datasets.subgroups import density_category, subgroup_values
from mammo_tf.io import MammogramReadError, read_dicom_header
from mammo_tf.io.dicom import read_dicom_pixels
from mammo_tf.utils import write_json_atomic

DENSITY_COLUMNS = ("breast_density", "breast density")
REQUIRED_COLUMNS = (
    "patient_id", "left or right breast", "image view", "abnormality id", "abnormality type",
    "pathology", "image file path", "cropped image file path", "ROI mask file path",
)
PATHOLOGIES = ("MALIGNANT", "BENIGN", "BENIGN_WITHOUT_CALLBACK")
CSV_NAME_RE = re.compile(r"^(mass|calc)_case_description_(train|test)_set.*\.csv$", re.I)
CASE_FOLDER_RE = re.compile(r"^(Mass|Calc|Normal)-(Training|Test)_(P_\d+)_(LEFT|RIGHT)_(CC|MLO)(?:_(\d+))?$", re.I)
_INDEX_TAGS = ["SeriesInstanceUID", "Rows", "Columns"]
# Optional extension (not in CBIS-DDSM, which has no normal images): images without findings,
# e.g. written by mammo_tf.datasets.phantom. Columns: patient_id, side (LEFT|RIGHT),
# view, path (like "image file path"), split (Training|Test).
NORMALS_CSV = "normals.csv"
NORMALS_COLUMNS = ("patient_id", "side", "view", "path", "split")


class CbisCsvError(DataError):
    """A case-description CSV cannot be used (missing columns are all listed)."""


@dataclasses.dataclass
class CbisCase:
    """One abnormality (one CSV row), normalised."""

    patient_id: str
    side: str  # "L" | "R"
    view: str  # "CC" | "MLO"
    abnormality_id: int
    abnormality_type: str  # "mass" | "calcification"
    pathology: str  # as in the CSV
    density: str
    image_path: str
    cropped_path: str
    roi_path: str
    subset: str  # "train" | "test"
    source_csv: str
    details: dict = dataclasses.field(default_factory=dict)

    @property
    def image_id(self):
        return f"{self.patient_id}_{'LEFT' if self.side == 'L' else 'RIGHT'}_{self.view}"

    @property
    def malignant(self):
        return self.pathology == "MALIGNANT"

    @property
    def roi_class(self):
        kind = "mass" if self.abnormality_type == "mass" else "calc"
        return f"{kind}_{'malignant' if self.malignant else 'benign'}"


def _clean(value):
    # Path fields hold an embedded newline inside the quotes.
    return re.sub(r"\s+", "", value) if value is not None else ""


def _subset_of(path, row):
    match = CSV_NAME_RE.match(os.path.basename(path))
    if match:
        return match.group(2).lower()
    folder = _clean(row.get("image file path")).split("/")[0]
    m = CASE_FOLDER_RE.match(folder)
    return "test" if m and m.group(2).lower() == "test" else "train"


def read_case_csv(path):
    """Read one case-description CSV; returns ``(cases, problems)``.

    Raises :class:`CbisCsvError` naming the file and listing every missing column; rows with
    invalid values are returned in ``problems`` (``"<file> line N: reason"``).
    """
    path = os.fspath(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            fields = [name.strip() for name in (reader.fieldnames or [])]
            reader.fieldnames = fields
            missing = missing_columns(fields, REQUIRED_COLUMNS)
            if not any(c in fields for c in DENSITY_COLUMNS):
                missing.append(" or ".join(DENSITY_COLUMNS))
            if missing:
                raise CbisCsvError(f"{path}: CSV is missing columns: {', '.join(missing)}")
            raw_rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CbisCsvError(f"{path}: cannot read CSV ({exc})") from exc
    cases, problems = [], []
    line = 2
    for row in raw_rows:
        start, line = line, line + 1 + sum(str(v).count("\n") for v in row.values() if v)
        try:
            cases.append(_case_from_row(path, row))
        except ValueError as exc:
            problems.append(f"{path} line {start}: {exc}")
    return cases, problems


def _case_from_row(path, row):
    side = (row.get("left or right breast") or "").strip().upper()
    view = (row.get("image view") or "").strip().upper()
    pathology = (row.get("pathology") or "").strip().upper()
    kind = (row.get("abnormality type") or "").strip().lower()
    if side not in ("LEFT", "RIGHT"):
        raise ValueError(f"'left or right breast' is {side!r}, expected LEFT or RIGHT")
    if not view:
        raise ValueError("'image view' is empty")
    if pathology not in PATHOLOGIES:
        raise ValueError(f"pathology {pathology!r} not one of {PATHOLOGIES}")
    if kind not in ("mass", "calcification"):
        raise ValueError(f"abnormality type {kind!r}, expected mass or calcification")
    try:
        abnormality_id = int(str(row.get("abnormality id")).strip())
    except ValueError:
        raise ValueError(f"abnormality id {row.get('abnormality id')!r} is not an integer") from None
    patient = (row.get("patient_id") or "").strip()
    if not patient:
        raise ValueError("patient_id is empty")
    image_path = _clean(row.get("image file path"))
    if not image_path:
        raise ValueError("image file path is empty")
    density = next((row[c] for c in DENSITY_COLUMNS if c in row and row[c] is not None), "").strip()
    used = set(REQUIRED_COLUMNS) | set(DENSITY_COLUMNS)
    details = {k: (v or "").strip() for k, v in row.items() if k not in used and k is not None}
    return CbisCase(
        patient_id=patient, side=side[0], view=view, abnormality_id=abnormality_id,
        abnormality_type=kind, pathology=pathology, density=density, image_path=image_path,
        cropped_path=_clean(row.get("cropped image file path")), roi_path=_clean(row.get("ROI mask file path")),
        subset=_subset_of(path, row), source_csv=os.path.basename(path), details=details,
    )


def find_case_csvs(src):
    """Official case-description CSVs under ``src`` (any depth), sorted by name."""
    found = []
    for root, _, files in os.walk(os.fspath(src)):
        found.extend(os.path.join(root, f) for f in files if CSV_NAME_RE.match(f))
    return sorted(found, key=lambda p: (os.path.basename(p).lower(), p))


@dataclasses.dataclass
class DicomFile:
    path: str
    rows: int
    columns: int


class DicomIndex:
    """Index of a download tree: SeriesInstanceUID -> files and case folder name -> files."""

    def __init__(self):
        self.by_series = {}
        self.by_folder = {}

    @classmethod
    def build(cls, src, report=None, progress=True, cache_path=None):
        """Read the header (no pixels) of every ``.dcm`` file under ``src``.

        With ``cache_path`` (JSON), headers of files whose size and modification time are
        unchanged since the last run are not read again (large downloads resume fast).
        """
        from tqdm.auto import tqdm

        src = os.path.abspath(os.fspath(src))
        paths = []
        for root, _, files in os.walk(src):
            paths.extend(os.path.join(root, f) for f in files if f.lower().endswith(".dcm"))
        paths.sort()
        cache = _load_cache(cache_path)
        fresh = {}
        index = cls()
        for path in tqdm(paths, desc="indexing DICOM headers", unit="file", disable=not progress):
            relative = os.path.relpath(path, src)
            stat = os.stat(path)
            entry = cache.get(relative)
            if entry is None or entry[:2] != [stat.st_size, stat.st_mtime_ns]:
                try:
                    ds = read_dicom_header(path, specific_tags=_INDEX_TAGS)
                    entry = [stat.st_size, stat.st_mtime_ns, str(ds.get("SeriesInstanceUID", "") or ""),
                             int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)]
                except (MammogramReadError, ValueError, TypeError) as exc:
                    if report is not None:
                        report.bad(path, f"unreadable DICOM header: {exc}")
                    continue
            fresh[relative] = entry
            uid, info = entry[2], DicomFile(path, entry[3], entry[4])
            if uid:
                index.by_series.setdefault(uid, []).append(info)
            folder = _case_folder_of(relative)
            if folder:
                index.by_folder.setdefault(folder.lower(), []).append(info)
        if cache_path is not None and fresh != cache:
            write_json_atomic(cache_path, {"version": _CACHE_VERSION, "files": fresh})
        return index

    def lookup(self, csv_path):
        """Files for a CSV path: by its Series UID (third part), else by its case folder."""
        parts = [p for p in csv_path.replace("\\", "/").split("/") if p]
        if len(parts) >= 3 and parts[-2] in self.by_series:
            return list(self.by_series[parts[-2]])
        if parts and parts[0].lower() in self.by_folder:
            return list(self.by_folder[parts[0].lower()])
        return []


_CACHE_VERSION = 1


def _load_cache(cache_path):
    if cache_path is None or not os.path.exists(cache_path):
        return {}
    try:
        with open(cache_path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data.get("files", {}) if data.get("version") == _CACHE_VERSION else {}


def _case_folder_of(relative_path):
    for part in relative_path.replace("\\", "/").split("/")[:-1]:
        if CASE_FOLDER_RE.match(part):
            return part
    return None


def is_binary(pixels):
    """True when the array has at most two values, one of them 0 (an ROI mask)."""
    top = pixels.max()
    return bool(((pixels == 0) | (pixels == top)).all())


def find_roi_mask(candidates, shape):
    """Pick the ROI mask among candidate files by content: binary and of the image's size.

    Raises :class:`RoiError` when none qualifies (e.g. the only binary file has another size).
    """
    seen = {}
    for item in candidates:
        seen.setdefault(os.path.abspath(item.path), item)
    items = sorted(seen.values(), key=lambda f: ((f.rows, f.columns) != tuple(shape), -(f.rows * f.columns)))
    if not items:
        raise RoiError("no ROI mask file found in the download")
    notes = []
    for item in items:
        pixels = read_dicom_pixels(item.path)
        if not is_binary(pixels):
            notes.append(f"{os.path.basename(item.path)} {pixels.shape[0]}x{pixels.shape[1]} not binary")
            continue
        if pixels.shape != tuple(shape):
            notes.append(f"{os.path.basename(item.path)} is binary but {pixels.shape[0]}x{pixels.shape[1]}")
            continue
        return pixels > 0
    raise RoiError(
        f"no full-size ({shape[0]}x{shape[1]}) binary ROI mask among the candidates: {'; '.join(notes)}"
    )


def _roi(case, candidates):
    def make_mask(shape):
        return find_roi_mask(candidates, shape)

    return Roi(case.roi_class, make_mask, f"{case.source_csv} abnormality {case.abnormality_id}")


def load_cases(src, report=None):
    """All cases of the official CSVs found under ``src`` (bad rows reported)."""
    report = report if report is not None else PrepareReport()
    paths = find_case_csvs(src)
    if not paths:
        raise MissingFileError(
            f"{src}: no CBIS-DDSM case-description CSVs found (mass_case_description_train_set.csv, ...)")
    names = [os.path.basename(p).lower() for p in paths]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        copies = [p for p in paths if os.path.basename(p).lower() in duplicated]
        raise CbisCsvError(f"{src}: several copies of {', '.join(duplicated)} ({'; '.join(copies)}); "
                           "point --src at one CBIS-DDSM download")
    cases = []
    for path in paths:
        found, problems = read_case_csv(path)
        for problem in problems:
            report.bad(os.path.basename(path), problem)
        cases.extend(found)
    kinds = {os.path.basename(p).lower() for p in paths}
    if len(kinds) < 4:
        report.note(f"only {len(kinds)} of the 4 case-description CSVs found: {', '.join(sorted(kinds))}")
    return cases


def read_normals_csv(path):
    """Read the optional ``normals.csv``; returns ``(rows, problems)`` (rows are dicts)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = [name.strip() for name in (reader.fieldnames or [])]
        reader.fieldnames = fields
        missing = missing_columns(fields, NORMALS_COLUMNS)
        if missing:
            raise CbisCsvError(f"{path}: CSV is missing columns: {', '.join(missing)}")
        rows, problems = [], []
        for number, raw in enumerate(reader, start=2):
            row = {c: _clean(raw.get(c)) for c in NORMALS_COLUMNS}
            side = row["side"].upper()
            if side not in ("LEFT", "RIGHT") or not row["patient_id"] or not row["path"]:
                problems.append(f"{path} line {number}: needs patient_id, side LEFT/RIGHT and path")
                continue
            row["side"] = side[0]
            row["view"] = row["view"].upper()
            row["split"] = "test" if row["split"].lower() == "test" else "train"
            rows.append(row)
    return rows, problems


def _normal_records(src, index, report, known_ids):
    paths = sorted(p for p in (os.path.join(r, f) for r, _, fs in os.walk(os.fspath(src)) for f in fs)
                   if os.path.basename(p).lower() == NORMALS_CSV)
    records = []
    for path in paths[:1]:
        rows, problems = read_normals_csv(path)
        for problem in problems:
            report.bad(os.path.basename(path), problem)
        for row in rows:
            image_id = f"{row['patient_id']}_{'LEFT' if row['side'] == 'L' else 'RIGHT'}_{row['view']}"
            if image_id in known_ids:
                report.bad(image_id, f"listed in {NORMALS_CSV} but has abnormalities in the case CSVs")
                continue
            files = index.lookup(row["path"])
            if not files:
                report.bad(image_id, f"normal image not found in the download ({row['path']})")
                continue
            records.append(ImageRecord(
                image_id=image_id, patient_id=row["patient_id"], side=row["side"], view=row["view"],
                label=0, pathology="NORMAL", abnormality=[], source=files[0].path, rois=[], split=row["split"],
            ))
    return records


def _image_density(cases):
    """The breast density of an image's abnormalities (the CSVs give it per abnormality; they
    agree per breast): the most frequent known value, ties to the smaller."""
    known = [d for d in (density_category(c.density) for c in cases) if d]
    return min(set(known), key=lambda d: (-known.count(d), d)) if known else ""


def load_cbis_ddsm(src, report=None, index=None, progress=True, cache_path=None):
    """Image records of a CBIS-DDSM download (CSVs + DICOM tree under ``src``).

    An optional ``normals.csv`` (see :data:`NORMALS_COLUMNS`) adds images without findings.

    Each record's ``split`` holds the official subset ("train"/"test"; "test" when any of its
    abnormalities comes from a test CSV); :func:`mammo_tf.datasets.prepare` replaces it.
    """
    report = report if report is not None else PrepareReport()
    cases = load_cases(src, report)
    if index is None:
        index = DicomIndex.build(src, report=report, progress=progress, cache_path=cache_path)
    by_image = {}
    for case in cases:
        by_image.setdefault(case.image_id, []).append(case)
    records = []
    for image_id, group in by_image.items():
        full = []
        for case in group:
            full.extend(f for f in index.lookup(case.image_path) if f not in full)
        if not full:
            report.bad(image_id, "full mammogram not found in the download (Series UID / folder of "
                                 f"{group[0].image_path})")
            continue
        # A full-image series holds one file; several (mass and calc copies) are the same image.
        source = max(full, key=lambda f: f.rows * f.columns).path
        rois, seen = [], set()
        for case in group:
            key = (case.roi_path, case.abnormality_type, case.abnormality_id)
            if key in seen:
                continue
            seen.add(key)
            candidates = index.lookup(case.roi_path) + index.lookup(case.cropped_path)
            candidates = [c for c in candidates if c.path not in {f.path for f in full}]
            rois.append(_roi(case, candidates))
        malignant = any(c.malignant for c in group)
        records.append(ImageRecord(
            image_id=image_id, patient_id=group[0].patient_id, side=group[0].side, view=group[0].view,
            label=int(malignant), pathology="MALIGNANT" if malignant else "BENIGN",
            abnormality=list(dict.fromkeys(c.abnormality_type for c in group)), source=source, rois=rois,
            split="test" if any(c.subset == "test" for c in group) else "train",
            subgroups=subgroup_values(density=_image_density(group)),
        ))
    return records + _normal_records(src, index, report, set(by_image))
