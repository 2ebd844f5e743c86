# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""mini-MIAS: ``Info.txt`` + ``mdbNNN.pgm`` (1024x1024, 8-bit, 200 micron pixels).

Facts used: y counts from the bottom (row = 1023 - y); an image can have several rows;
NORM rows have no severity/coordinates; some CALC rows have no coordinates ("*NOTE 3*",
widely distributed calcifications) and get no ROI; images mdb(2k-1) and mdb(2k) are the right
and left breast of one patient; all views are MLO.

Per image: label 1 if any row is malignant; pathology = worst severity; ``abnormality`` keeps
the MIAS classes. ROI class mapping to the five patch classes: CALC -> calc_benign /
calc_malignant; CIRC, SPIC, MISC, ARCH, ASYM -> mass_benign / mass_malignant (by severity).
"""
import dataclasses
import glob
import os
import re

from mammo_tf.datasets.convert import ImageRecord, Roi
from mammo_tf.datasets.report import PrepareReport, find_source_file
from mammo_tf.datasets.rois import circle_mask

MIAS_CLASSES = ("CALC", "CIRC", "SPIC", "MISC", "ARCH", "ASYM", "NORM")
TISSUES = ("F", "G", "D")
_REF_RE = re.compile(r"^mdb(\d{3})$")
_NOTE_RE = re.compile(r"\*[^*]*\*")


@dataclasses.dataclass(frozen=True)
class MiasRow:
    """One row of Info.txt; x, y (from the bottom) and radius are None when not given."""

    refnum: str
    tissue: str
    abnormality: str
    severity: str | None = None
    x: int | None = None
    y: int | None = None
    radius: int | None = None

    @property
    def has_location(self):
        return self.x is not None


def patch_class(abnormality, severity):
    """Patch class of a MIAS abnormality (CALC -> calc_*, every other class -> mass_*)."""
    kind = "calc" if abnormality == "CALC" else "mass"
    return f"{kind}_{'malignant' if severity == 'M' else 'benign'}"


def parse_info_line(line):
    """Parse one table line (``mdbNNN T CLASS [S [x y r]]``); raises ValueError when malformed."""
    tokens = _NOTE_RE.sub(" ", line).split()  # "*NOTE 3*" = no coordinates (see Info.txt note 3)
    if len(tokens) < 3 or not _REF_RE.match(tokens[0]):
        raise ValueError(f"not an Info.txt table row: {line.strip()!r}")
    refnum, tissue, klass = tokens[0], tokens[1].upper(), tokens[2].upper()
    if tissue not in TISSUES:
        raise ValueError(f"{refnum}: unknown background tissue {tokens[1]!r}")
    if klass not in MIAS_CLASSES:
        raise ValueError(f"{refnum}: unknown abnormality class {tokens[2]!r}")
    if klass == "NORM":
        return MiasRow(refnum, tissue, klass)
    rest = tokens[3:]
    if not rest or rest[0].upper() not in ("B", "M"):
        raise ValueError(f"{refnum}: {klass} row without severity B/M: {line.strip()!r}")
    severity = rest[0].upper()
    numbers = rest[1:]
    if not numbers:
        return MiasRow(refnum, tissue, klass, severity)
    if len(numbers) != 3:
        raise ValueError(f"{refnum}: expected x y radius, got {numbers}")
    try:
        x, y, radius = (int(v) for v in numbers)
    except ValueError:
        raise ValueError(f"{refnum}: x y radius must be integers, got {numbers}") from None
    return MiasRow(refnum, tissue, klass, severity, x, y, radius)


def parse_info_txt(text):
    """Parse Info.txt; returns ``(rows, problems)`` where problems are malformed table lines."""
    rows, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip().lower().startswith("mdb"):
            continue
        try:
            rows.append(parse_info_line(line))
        except ValueError as exc:
            problems.append(f"Info.txt line {number}: {exc}")
    return rows, problems


def image_number(refnum):
    return int(_REF_RE.match(refnum).group(1))


def patient_of(refnum):
    """mdb(2k-1) and mdb(2k) are one patient: ``mias_p<k>``."""
    return f"mias_p{(image_number(refnum) + 1) // 2:03d}"


def side_of(refnum):
    """Even numbers are left breasts, odd numbers right (Info.txt, note 1)."""
    return "L" if image_number(refnum) % 2 == 0 else "R"


def _circle_roi(row):
    def make_mask(shape):
        # y is measured from the bottom-left corner: row = (height - 1) - y (1023 - y).
        return circle_mask(shape, (row.x, shape[0] - 1 - row.y), row.radius)

    return Roi(patch_class(row.abnormality, row.severity), make_mask,
               f"{row.abnormality} {row.severity} at x={row.x} y={row.y} r={row.radius}")


def images_from_rows(rows):
    """Group Info.txt rows per image: ``{refnum: [MiasRow, ...]}`` in file order."""
    grouped = {}
    for row in rows:
        grouped.setdefault(row.refnum, []).append(row)
    return grouped


def image_label(rows):
    """(label, pathology) of an image from its rows: the worst severity wins."""
    severities = {r.severity for r in rows if r.abnormality != "NORM"}
    if "M" in severities:
        return 1, "MALIGNANT"
    if "B" in severities:
        return 0, "BENIGN"
    return 0, "NORMAL"


def find_info_txt(src):
    """Info.txt in ``src`` or below it (e.g. the ``mini_mias/`` folder of the extracted archive)."""
    return find_source_file(src, "Info.txt", "the mini-MIAS folder")


def load_mini_mias(src, report=None):
    """Image records of a mini-MIAS folder (``Info.txt`` + ``mdbNNN.pgm``), without splits."""
    report = report if report is not None else PrepareReport()
    info_path = find_info_txt(src)
    folder = os.path.dirname(info_path)
    with open(info_path, encoding="latin-1") as f:
        rows, problems = parse_info_txt(f.read())
    for problem in problems:
        report.bad(info_path, problem)
    records, unlocated = [], 0
    for refnum, image_rows in images_from_rows(rows).items():
        source = os.path.join(folder, refnum + ".pgm")
        if not os.path.exists(source):
            report.bad(refnum, f"image file {source} not found")
            continue
        label, pathology = image_label(image_rows)
        abnormal = [r for r in image_rows if r.abnormality != "NORM"]
        unlocated += sum(not r.has_location for r in abnormal)
        records.append(ImageRecord(
            image_id=refnum, patient_id=patient_of(refnum), side=side_of(refnum), view="MLO",
            label=label, pathology=pathology,
            abnormality=list(dict.fromkeys(r.abnormality for r in abnormal)) or ["NORM"],
            source=source, rois=[_circle_roi(r) for r in abnormal if r.has_location],
        ))
    listed = {r.image_id for r in records}
    extra = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(folder, "mdb*.pgm")))
    extra = [e for e in extra if e not in listed and e not in {row.refnum for row in rows}]
    if extra:
        report.note(f"{len(extra)} .pgm files not listed in Info.txt were ignored: {', '.join(extra[:10])}")
    if unlocated:
        report.note(f"{unlocated} mini-MIAS abnormalities have no coordinates (no ROI mask; image label kept)")
    return records


__all__ = ["MiasRow", "load_mini_mias", "parse_info_txt", "parse_info_line", "patch_class"]
