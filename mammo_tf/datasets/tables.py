# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Helpers shared by the table-driven loaders (VinDr-Mammo, RSNA, CMMD, EMBED): checked CSV
reading, DICOM path indexing, box ROIs, view names from DICOM headers."""
import ast
import csv
import os

import numpy as np

from mammo_tf.errors import DataError
from mammo_tf.datasets.manifest import missing_columns


class TableFormatError(DataError):
    """A dataset table lacks documented columns or holds a malformed value (names the file)."""


def read_table(path, required, what):
    """Rows (dicts, values stripped) of a CSV file whose header must hold ``required``.

    Excel files (``.xlsx``, e.g. CMMD's clinical sheet) are read with openpyxl when it is
    installed; otherwise the error says to save the sheet as CSV.
    """
    path = os.fspath(path)
    if path.lower().endswith((".xlsx", ".xlsm")):
        return _read_xlsx(path, required, what)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            _check_columns(path, header, required, what)
            return [{(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except OSError as exc:
        raise TableFormatError(f"{path}: cannot read {what} ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise TableFormatError(f"{path}: {what} is not UTF-8 text ({exc})") from exc


def _check_columns(path, header, required, what):
    missing = missing_columns(header, required)
    if missing:
        raise TableFormatError(f"{path}: {what} is missing columns: {', '.join(missing)} "
                               f"(found: {', '.join(header) or 'no header'})")


def _read_xlsx(path, required, what):
    try:
        import openpyxl
    except ImportError:
        raise TableFormatError(f"{path}: reading .xlsx needs openpyxl (pip install openpyxl), or save the "
                               f"sheet as CSV next to it and pass that") from None
    try:
        sheet = openpyxl.load_workbook(path, read_only=True, data_only=True).worksheets[0]
        rows = [["" if v is None else str(v).strip() for v in row] for row in sheet.iter_rows(values_only=True)]
    except Exception as exc:  # openpyxl raises many types for damaged files
        raise TableFormatError(f"{path}: cannot read {what} ({type(exc).__name__}: {exc})") from exc
    header = rows[0] if rows else []
    _check_columns(path, header, required, what)
    return [dict(zip(header, row)) for row in rows[1:] if any(row)]


def index_files(src, suffixes=(".dcm", ".dicom")):
    """``{file stem: path}`` of the files below ``src`` with one of ``suffixes`` (sorted walk)."""
    found = {}
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            stem, ext = os.path.splitext(name)
            if ext.lower() in suffixes and not name.startswith("."):
                found.setdefault(stem, os.path.join(root, name))
    return found


def box_mask(shape, xmin, ymin, xmax, ymax):
    """Boolean mask of the box [ymin, ymax) x [xmin, xmax) (pixel coordinates, clipped)."""
    mask = np.zeros(shape, dtype=bool)
    top, bottom = max(0, int(np.floor(ymin))), min(shape[0], int(np.ceil(ymax)))
    left, right = max(0, int(np.floor(xmin))), min(shape[1], int(np.ceil(xmax)))
    if top < bottom and left < right:
        mask[top:bottom, left:right] = True
    return mask


def parse_number(text, path, what):
    try:
        return float(text)
    except (TypeError, ValueError):
        raise TableFormatError(f"{path}: {what} {text!r} is not a number") from None


def parse_box_list(text, path, what):
    """``"[[a, b, c, d], ...]"`` (lists or tuples of 4 numbers) -> list of 4-tuples of floats.

    ``ast.literal_eval`` reads Python literals only (no code is run)."""
    text = (text or "").strip()
    if not text or text.lower() in ("nan", "none", "[]"):
        return []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise TableFormatError(f"{path}: {what} {text!r} is not a list of boxes") from None
    if value and not isinstance(value[0], (list, tuple)):
        value = [value]
    boxes = []
    for box in value:
        if len(box) != 4:
            raise TableFormatError(f"{path}: {what} {text!r}: each box needs 4 numbers")
        boxes.append(tuple(float(v) for v in box))
    return boxes


_VIEW_MEANINGS = {"cranio-caudal": "CC", "medio-lateral oblique": "MLO", "medio-lateral": "ML",
                  "latero-medial": "LM", "cranio-caudal exaggerated": "XCCL"}


def side_view_of_header(ds):
    """(side "L"/"R"/"", view "CC"/"MLO"/...) from DICOM ImageLaterality / ViewPosition /
    ViewCodeSequence."""
    side = str(ds.get("ImageLaterality") or ds.get("Laterality") or "").strip().upper()[:1]
    view = str(ds.get("ViewPosition") or "").strip().upper()
    if not view and ds.get("ViewCodeSequence"):
        meaning = str(ds.ViewCodeSequence[0].get("CodeMeaning", "")).strip().lower()
        view = _VIEW_MEANINGS.get(meaning, meaning.upper())
    return side, view
