# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Whole-image conversion: source mammogram -> resized 16-bit PNG + ROI mask PNGs + manifest.

Layout under ``out_dir``: ``images/<image_id>.png`` (uint16, default 1152x896 height x width,
cubic), ``masks/<image_id>_roi<k>.png`` (8-bit 0/255, same size, nearest neighbour),
``records/<image_id>.json`` (written last: marks the image as done, so an interrupted run
resumes where it stopped), ``manifest.csv`` and ``prepare_report.json``. Every file is written
atomically (temp file + rename).
"""
import concurrent.futures
import dataclasses
import json
import os
import re
from typing import Callable

import cv2
import numpy as np

from mammo_tf.errors import DataError
from mammo_tf.constants import WHOLE_IMAGE_SIZE
from mammo_tf.datasets import subgroups
from mammo_tf.datasets.manifest import write_manifest
from mammo_tf.datasets.report import PrepareReport
from mammo_tf.io import MammogramReadError, read_mammogram, to_uint16, write_mask_png, write_png16
from mammo_tf.io.images import INTERPOLATIONS, resize_image
from mammo_tf.utils import write_json_atomic

_SAFE_ID = re.compile(r"[^A-Za-z0-9_.\-]+")


class RoiError(DataError):
    """An ROI cannot be turned into a usable mask (empty, wrong size, unreadable, ...)."""


@dataclasses.dataclass
class Roi:
    """One region of interest; ``make_mask(shape)`` returns a boolean mask of the full-size
    image (``shape`` = source (rows, columns)) or raises :class:`RoiError`."""

    roi_class: str  # one of constants.PATCH_CLASSES (not "background")
    make_mask: Callable
    description: str = ""


@dataclasses.dataclass
class ImageRecord:
    """One source image and everything the manifest needs about it."""

    image_id: str
    patient_id: str
    side: str
    view: str
    label: int
    pathology: str
    abnormality: list
    source: str
    rois: list = dataclasses.field(default_factory=list)
    split: str = ""
    # subgroup columns the dataset's tables give (density, age; mammo_tf.datasets.subgroups);
    # the DICOM header's manufacturer, model and age are added while converting
    subgroups: dict = dataclasses.field(default_factory=dict)
    # True: the source is an inverted rendering (white background; the image-folder loader's
    # border-median check): the converted image is 65535 - source
    invert: bool = False


def safe_id(text):
    """File-system-safe image id (letters, digits, ``_.-``)."""
    return _SAFE_ID.sub("_", str(text)).strip("_") or "image"


def resize_mask(mask, size=WHOLE_IMAGE_SIZE):
    """Nearest-neighbour resize of a boolean mask; an ROI too small to survive it is kept by
    falling back to area averaging (any covered output pixel is in)."""
    height, width = size
    small = cv2.resize(mask.astype(np.uint8), (int(width), int(height)), interpolation=cv2.INTER_NEAREST) > 0
    if not small.any() and mask.any():
        small = cv2.resize(mask.astype(np.float32), (int(width), int(height)), interpolation=cv2.INTER_AREA) > 0
    return small


def checked_mask(mask, shape, what="ROI mask"):
    """Validate a full-size mask: same shape as the image and not empty."""
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise RoiError(f"{what} is {mask.shape[0]}x{mask.shape[1]} but the image is {shape[0]}x{shape[1]}")
    mask = mask > 0
    if not mask.any():
        raise RoiError(f"{what} is empty")
    return mask


def _params(record, size, interpolation, crop="none", frame=None):
    params = {"size": [int(size[0]), int(size[1])], "interpolation": interpolation,
              "source": os.path.abspath(record.source), "n_rois": len(record.rois)}
    if crop != "none":
        params["crop"] = crop
    if frame is not None:
        params["frame"] = int(frame)
    if record.invert:
        params["inverted"] = True
    return params


def _row(record, image_path, mask_paths, classes, crop_box="", source_facts=None):
    row = {
        "image_id": record.image_id, "patient_id": record.patient_id, "side": record.side,
        "view": record.view, "label": int(record.label), "pathology": record.pathology,
        "abnormality": list(record.abnormality), "image_path": image_path,
        "roi_mask_paths": mask_paths, "roi_classes": classes, "split": record.split,
    }
    if crop_box:
        row["crop_box"] = crop_box
    row.update(subgroups.merged(record.subgroups, subgroups.from_dicom_facts(source_facts)))
    return row


def _source_facts(record, done):
    """DICOM facts of a resumed image: from its sidecar, or (sidecars written before these
    were recorded) from the DICOM header."""
    facts = done.get("source_metadata") or {}
    if facts.get("format") != "dicom" or "manufacturer" in facts:
        return facts
    from mammo_tf.io.dicom import header_facts, read_dicom_header

    try:
        return header_facts(read_dicom_header(record.source))
    except MammogramReadError:
        return {}


def _load_done(out_dir, record, params):
    sidecar = os.path.join(out_dir, "records", record.image_id + ".json")
    if not os.path.exists(sidecar):
        return None
    try:
        with open(sidecar, encoding="utf-8") as f:
            done = json.load(f)
    except (OSError, ValueError):
        return None
    if done.get("params") != params or "roi_indices" not in done:
        return None
    row = done["row"]
    if not all(os.path.exists(os.path.join(out_dir, p)) for p in [row["image_path"], *row["roi_mask_paths"]]):
        return None
    return done


def convert_record(record, out_dir, size=WHOLE_IMAGE_SIZE, interpolation="cubic", crop="none", frame=None):
    """Convert one image and its ROIs; returns ``(row, roi_problems, resumed)``.

    ``crop="breast"`` crops image and masks to the breast box
    (:mod:`mammo_tf.datasets.breast_region`) before resizing; the box goes to ``crop_box``.
    ``frame`` picks the frame of multi-frame (tomosynthesis) DICOMs.

    Raises :class:`MammogramReadError` when the image itself cannot be read. ROI problems
    (``[(roi_index, reason), ...]``) drop that ROI only.
    """
    params = _params(record, size, interpolation, crop, frame)
    done = _load_done(out_dir, record, params)
    if done is not None:
        # Labels, classes and split come from the current record (tables may have been fixed,
        # --split changed); only what the pixels decided (which ROIs survived) is reused.
        indices = done["roi_indices"]
        row = _row(record, done["row"]["image_path"], done["row"]["roi_mask_paths"],
                   [record.rois[i].roi_class for i in indices], done["row"].get("crop_box", ""),
                   _source_facts(record, done))
        return row, [tuple(p) for p in done["roi_problems"]], True
    image, metadata = read_mammogram(record.source, frame=frame)
    full = to_uint16(image, metadata)
    del image
    if record.invert:
        full = np.uint16(65535) - full
    shape = full.shape
    crop_box, region = "", None
    if crop == "breast":
        from mammo_tf.datasets.breast_region import breast_box, format_box

        region = breast_box(full)
        crop_box = format_box(region)
        full = full[region.slices()]
    elif crop != "none":
        raise ValueError(f"crop must be 'none' or 'breast', got {crop!r}")
    image_path = f"images/{record.image_id}.png"
    write_png16(os.path.join(out_dir, image_path), resize_image(full, size, interpolation))
    del full
    mask_paths, classes, indices, problems = [], [], [], []
    for index, roi in enumerate(record.rois):
        try:
            mask = checked_mask(roi.make_mask(shape), shape)
            if region is not None:
                mask = checked_mask(mask[region.slices()], (region.height, region.width),
                                    "ROI mask inside the breast crop")
            mask_path = f"masks/{record.image_id}_roi{index}.png"
            write_mask_png(os.path.join(out_dir, mask_path), resize_mask(mask, size))
        except (RoiError, MammogramReadError) as exc:
            problems.append((index, f"{roi.description + ': ' if roi.description else ''}{exc}"))
            continue
        mask_paths.append(mask_path)
        classes.append(roi.roi_class)
        indices.append(index)
    row = _row(record, image_path, mask_paths, classes, crop_box, metadata.to_dict())
    write_json_atomic(os.path.join(out_dir, "records", record.image_id + ".json"),
                      {"row": row, "roi_indices": indices, "roi_problems": problems, "params": params,
                       "source_metadata": metadata.to_dict()})
    return row, problems, False


def convert_records(records, out_dir, size=WHOLE_IMAGE_SIZE, interpolation="cubic", report=None,
                    workers=1, progress=True, crop="none", desc="converting", frame=None):
    """Convert many records (skip-and-report; ``report.strict`` stops at the first problem).

    Returns the manifest rows of the images converted or resumed, in the order of ``records``.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation {interpolation!r} not one of {sorted(INTERPOLATIONS)}")
    report = report if report is not None else PrepareReport()
    os.makedirs(out_dir, exist_ok=True)
    rows = [None] * len(records)

    def work(index):
        return index, convert_record(records[index], out_dir, size, interpolation, crop, frame)

    bar = _progress(len(records), progress, desc)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        futures = {pool.submit(work, i): i for i in range(len(records))}
        try:
            for future in concurrent.futures.as_completed(futures):
                record = records[futures[future]]
                bar.update(1)
                try:
                    index, (row, problems, resumed) = future.result()
                except MammogramReadError as exc:
                    report.bad(record.image_id, exc)
                    continue
                except Exception as exc:  # noqa: BLE001 - batch tool: skip, report, go on
                    report.bad(record.image_id, f"{record.source}: {type(exc).__name__}: {exc}")
                    continue
                for roi_index, reason in problems:
                    report.skip_roi(record.image_id, roi_index, reason)
                rows[index] = row
                if resumed:
                    report.resumed += 1
                else:
                    report.converted += 1
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        finally:
            bar.close()
    return [row for row in rows if row is not None]


def finish(rows, out_dir, report, manifest_name="manifest.csv"):
    """Write the manifest and the JSON report; returns the manifest path."""
    path = os.path.join(out_dir, manifest_name)
    write_manifest(path, rows)
    write_json_atomic(os.path.join(out_dir, "prepare_report.json"), report.to_dict())
    return path


def _progress(total, enabled, desc="converting"):
    """tqdm bar: done/total, rate and the ETA (``[elapsed<remaining]``)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="image", disable=not enabled, dynamic_ncols=True)
