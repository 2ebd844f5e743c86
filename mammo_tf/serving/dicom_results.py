# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DICOM results of one study (highdicom): a Structured Report, a Segmentation and a secondary
capture per image, referencing the source instances. Keras-free: numbers and maps in, DICOM out.

Per study (:func:`write_study_results`):

- **SR** (Comprehensive 3D SR, TID 1500 *Measurement Report*): one TID 1501 measurement group per
  image (tracking identifier ``image <view> <side>``, the source image referenced, finding site
  breast + laterality), per breast (its images referenced) and per exam, each with the
  malignancy probability as DCM 111047 *Probability of cancer* (unit UCUM ``1``), the model as
  the group's *Algorithm Identification* (name, version; calibration as a parameter) and, where
  the run has a calibration (``mammo_tf.screening.calibration``, ``calibration.json``), a second
  *Probability of cancer* with the measurement method ``CALIBRATED`` (coding scheme
  ``99MAMMOTF``; the uncalibrated one has method ``AS-PREDICTED``). Breast = mean over the
  breast's images, exam = max over its breasts (``mammo_tf.screening.levels``, the screening
  report's rule); calibrated levels reduce the calibrated image probabilities, as the report does.
- **SEG** (Segmentation, FRACTIONAL, PROBABILITY), one per image with a class map: the map
  (values in [0, 1], any size; resized bilinearly to the source image) as one segment
  *Neoplasm* of the source image's geometry, referencing it; RLE Lossless.
- **SC** (Secondary Capture, RGB), one per image with a class map: the image with the map as a
  colour overlay (for viewers without SEG support), at most ``OVERLAY_MAX_ROWS`` rows.

:func:`read_sr_results` reads an SR back to the same numbers (what the tests compare).
"""
import contextlib
import dataclasses
import os
import warnings

import numpy as np

from mammo_tf import __version__
from mammo_tf.errors import DataError

MANUFACTURER = "mammo_tf"
CODING_SCHEME = "99MAMMOTF"  # a private coding scheme ("99" prefix: PS3.16 section 8.1)
SERIES_NUMBERS = {"sr": 9101, "seg": 9102, "sc": 9103}
OVERLAY_MAX_ROWS = 2048
_SIDES = {"L": "left", "R": "right"}


@contextlib.contextmanager
def _quiet_names():
    """highdicom warns about a one-component Patient's Name (e.g. CBIS-DDSM's); the results copy
    the source's name as it is, so the warning says nothing about them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name.*")
        yield


class DicomResultError(DataError):
    """A result that cannot be written as DICOM (the message names the cause)."""


@dataclasses.dataclass
class ModelInfo:
    """What the SR says about the model: name, version, the calibration record (or None)."""

    name: str
    version: str = __version__
    calibration: dict | None = None  # mammo_tf.screening.calibration.Calibration.to_dict()

    @property
    def calibration_text(self):
        cal = self.calibration
        if not cal:
            return None
        if cal.get("method") == "temperature":
            return f"temperature scaling T={cal['temperature']:.6g}"
        return f"{cal.get('method')} calibration"


@dataclasses.dataclass
class ImageResult:
    """One source image's result. ``source``: its pydicom dataset (the header suffices; a copy
    without pixel data is kept), ``probability``: of malignancy, ``side`` L/R, ``view`` (CC,
    MLO...), ``class_map``: (h, w) in [0, 1] or None, ``pixels``: the image for the overlay as
    displayed, brighter = higher (``mammo_tf.io.images.load_image``'s output: MONOCHROME1 and
    VOI already applied)."""

    source: object
    probability: float
    side: str | None = None
    view: str | None = None
    class_map: np.ndarray | None = None
    pixels: np.ndarray | None = None
    calibrated: float | None = None

    def __post_init__(self):
        self.source = source_header(self.source)

    @property
    def sop_instance_uid(self):
        return str(self.source.SOPInstanceUID)


# Type 2 attributes of the Patient and General Study modules that the results copy from their
# source: a source without them (allowed in a file, not in a stored instance) gets them empty.
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
          "ReferringPhysicianName", "StudyID", "AccessionNumber")


def source_header(dataset):
    """A copy of a source instance's header (no pixel data) with the type 2 patient and study
    attributes present (empty where the source lacks them): what the results copy."""
    from pydicom.dataset import Dataset

    header = Dataset()
    for element in dataset:
        if element.tag.group != 0x7FE0:
            header.add(element)
    if hasattr(dataset, "file_meta"):
        header.file_meta = dataset.file_meta
    for keyword in _TYPE2:
        if keyword not in header:
            setattr(header, keyword, "")
    return header


# --------------------------------------------------------------------------- levels


def study_levels(images, calibration=None):
    """Breast and exam probabilities of one study: ``{"breast": {side: (p, p_cal)}, "exam": (p,
    p_cal)}`` (``p_cal`` None without calibration; breasts only for images with a side). Sets
    each image's ``calibrated``."""
    from mammo_tf.screening.calibration import Calibration
    from mammo_tf.screening.levels import breast_level, exam_level, make_units

    cal = Calibration.from_dict(calibration) if calibration else None
    for image in images:
        image.calibrated = float(cal(image.probability)) if cal else None
    sided = [im for im in images if im.side in _SIDES]
    out = {"breast": {}, "exam": None}
    if not sided:
        return out
    units = make_units("image", [im.sop_instance_uid for im in sided], [im.probability for im in sided],
                       exam=["study"] * len(sided), side=[im.side for im in sided],
                       view=[im.view or "" for im in sided])
    versions = [units] + ([units.with_scores([im.calibrated for im in sided])] if cal else [])
    results = []
    for version in versions:
        breasts, _ = breast_level(version)
        exam = exam_level(breasts)
        results.append(({s: float(p) for s, p in zip(breasts.side, breasts.score)}, float(exam.score[0])))
    for side, p in results[0][0].items():
        out["breast"][side] = (p, results[1][0][side] if cal else None)
    out["exam"] = (results[0][1], results[1][1] if cal else None)
    return out


# --------------------------------------------------------------------------- SR


def _codes():
    from highdicom.sr import CodedConcept
    from pydicom.sr.codedict import codes

    return {
        "probability": codes.DCM.ProbabilityOfCancer,
        "unit": codes.UCUM.NoUnits,
        "breast": codes.SCT.Breast,
        "L": codes.SCT.Left, "R": codes.SCT.Right, "both": codes.SCT.RightAndLeft,
        "calibrated": CodedConcept("CALIBRATED", CODING_SCHEME, "Calibrated probability"),
        "raw": CodedConcept("AS-PREDICTED", CODING_SCHEME, "Probability as predicted"),
    }


def _group(tracking, model, sources, p, p_cal, laterality, c):
    import highdicom as hd
    from highdicom.sr import (FindingSite, Measurement, MeasurementsAndQualitativeEvaluations,
                              SourceImageForMeasurementGroup, TrackingIdentifier)

    parameters = [f"calibration: {model.calibration_text}"] if model.calibration_text else None
    algorithm = hd.sr.AlgorithmIdentification(name=model.name[:64], version=model.version[:64],
                                              parameters=parameters)
    site = FindingSite(anatomic_location=c["breast"], laterality=c[laterality])
    measurements = [Measurement(name=c["probability"], value=float(p), unit=c["unit"], method=c["raw"])]
    if p_cal is not None:
        measurements.append(Measurement(name=c["probability"], value=float(p_cal), unit=c["unit"],
                                        method=c["calibrated"]))
    return MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(identifier=tracking),
        algorithm_id=algorithm, finding_sites=[site], measurements=measurements,
        source_images=[SourceImageForMeasurementGroup.from_source_image(s) for s in sources],
    )


def build_sr(images, model, levels=None, series_uid=None, sop_uid=None):
    """The study's TID 1500 measurement report (``highdicom.sr.Comprehensive3DSR``)."""
    import highdicom as hd
    from pydicom.dataset import Dataset
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    if not images:
        raise DicomResultError("no image results to report")
    studies = {str(im.source.StudyInstanceUID) for im in images}
    if len(studies) != 1:
        raise DicomResultError(f"one SR per study: the images belong to {len(studies)} studies")
    levels = levels if levels is not None else study_levels(images, model.calibration)
    c = _codes()
    groups = []
    for n, im in enumerate(images, start=1):
        name = " ".join(x for x in ("image", str(n), im.side or "", im.view or "") if x)
        groups.append(_group(name[:64], model, [im.source], im.probability,
                             im.calibrated, im.side if im.side in _SIDES else "both", c))
    for side, (p, p_cal) in sorted(levels["breast"].items()):
        sources = [im.source for im in images if im.side == side]
        groups.append(_group(f"breast {side}", model, sources, p, p_cal, side, c))
    if levels["exam"] is not None:
        p, p_cal = levels["exam"]
        groups.append(_group("exam", model, [im.source for im in images], p, p_cal, "both", c))
    observer = hd.sr.DeviceObserverIdentifyingAttributes(uid=generate_uid(), name=MANUFACTURER,
                                                         model_name=model.name[:64])
    context = hd.sr.ObservationContext(observer_person_context=None,
                                       observer_device_context=hd.sr.ObserverContext(
                                           observer_type=codes.DCM.Device,
                                           observer_identifying_attributes=observer))
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=codes.LN.Mammogram if hasattr(codes.LN, "Mammogram") else codes.SCT.Mammography,
        imaging_measurements=groups,
        title=codes.DCM.ImagingMeasurementReport,
    )
    with _quiet_names():
        sr = _sr(hd, images, report, model, series_uid, sop_uid)
    scheme = Dataset()  # the private coding scheme of the measurement methods, declared
    scheme.CodingSchemeDesignator = CODING_SCHEME
    scheme.CodingSchemeName = "mammo_tf local codes"
    scheme.CodingSchemeResponsibleOrganization = "mammo_tf"
    sr.CodingSchemeIdentificationSequence = [scheme]
    return sr


def _sr(hd, images, report, model, series_uid, sop_uid):
    from pydicom.uid import generate_uid

    return hd.sr.Comprehensive3DSR(
        evidence=[im.source for im in images], content=report[0],
        series_instance_uid=series_uid or generate_uid(), series_number=SERIES_NUMBERS["sr"],
        sop_instance_uid=sop_uid or generate_uid(), instance_number=1, manufacturer=MANUFACTURER,
        is_complete=True, series_description=f"mammo_tf results ({model.name})"[:64],
    )


def read_sr_results(dataset):
    """An SR written by :func:`build_sr` (a path or a dataset), read back with highdicom ->
    ``{tracking identifier: {"probability", "calibrated", "referenced": [SOP instance UIDs],
    "model", "version"}}``; ``calibrated`` is None where the SR has none."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    if isinstance(dataset, (str, os.PathLike)):
        sr = hd.sr.srread(dataset)
    else:
        sr = hd.sr.Comprehensive3DSR.from_dataset(dataset, copy=True)
    out = {}
    for group in sr.content.get_image_measurement_groups():
        entry = {"probability": None, "calibrated": None, "model": None, "version": None,
                 "referenced": [str(s.referenced_sop_instance_uid) for s in group.source_images]}
        for item in group[0].ContentSequence:  # the group's TID 4019 algorithm identification
            code = item.ConceptNameCodeSequence[0].CodeValue
            if code in ("111001", "111003"):  # Algorithm Name, Algorithm Version
                entry["model" if code == "111001" else "version"] = str(item.TextValue)
        for m in group.get_measurements(name=codes.DCM.ProbabilityOfCancer):
            calibrated = m.method is not None and m.method.value == "CALIBRATED"
            entry["calibrated" if calibrated else "probability"] = float(m.value)
        out[str(group.tracking_identifier)] = entry
    return out


# --------------------------------------------------------------------------- SEG / SC


def _patient_orientation(source):
    value = source.get("PatientOrientation")
    values = list(value) if value is not None and not isinstance(value, str) else ([value] if value else [])
    valid = len(values) == 2 and all(v and set(str(v)) <= set("APRLHF") for v in values)
    return tuple(str(v) for v in values) if valid else None


def resize_map(class_map, shape):
    """A class map (h, w) resized bilinearly to ``shape`` (rows, columns), clipped to [0, 1]."""
    import cv2

    class_map = np.asarray(class_map, dtype=np.float32)
    if class_map.ndim != 2:
        raise DicomResultError(f"a class map must be 2-D, got shape {class_map.shape}")
    if not np.all(np.isfinite(class_map)):
        raise DicomResultError("the class map has non-finite values")
    if class_map.shape != tuple(shape):
        class_map = cv2.resize(class_map, (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)
    return np.clip(class_map, 0.0, 1.0)


def build_segmentation(image, model, series_uid=None, sop_uid=None, instance_number=1,
                       label="malignancy class map"):
    """The image's class map as a FRACTIONAL (PROBABILITY) Segmentation of the source image."""
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import RLELossless, generate_uid

    if image.class_map is None:
        raise DicomResultError(f"{image.sop_instance_uid}: no class map")
    source = image.source
    prob = resize_map(image.class_map, (source.Rows, source.Columns))
    algorithm = hd.AlgorithmIdentificationSequence(name=model.name[:64], version=model.version[:64],
                                                   family=codes.DCM.ArtificialIntelligence)
    segment = hd.seg.SegmentDescription(
        segment_number=1, segment_label=label[:64],
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algorithm)
    with _quiet_names():
        seg = hd.seg.Segmentation(
            source_images=[source], pixel_array=prob, segmentation_type="FRACTIONAL",
            fractional_type="PROBABILITY", segment_descriptions=[segment],
            series_instance_uid=series_uid or generate_uid(), series_number=SERIES_NUMBERS["seg"],
            sop_instance_uid=sop_uid or generate_uid(), instance_number=instance_number,
            manufacturer=MANUFACTURER, manufacturer_model_name=model.name[:64],
            software_versions=model.version[:64], device_serial_number="none",
            transfer_syntax_uid=RLELossless, omit_empty_frames=False,
            series_description=f"mammo_tf class map ({model.name})"[:64],
        )
    _set_orientation(seg, source)
    return seg


def _set_orientation(dataset, source):
    """General Image's Patient Orientation (type 2C without a frame of reference): the source's
    where valid, else empty (never guessed)."""
    if "FrameOfReferenceUID" not in source or "PatientOrientation" not in dataset:
        orientation = _patient_orientation(source)
        dataset.PatientOrientation = list(orientation) if orientation else ""


def overlay_pixels(pixels, class_map, max_rows=OVERLAY_MAX_ROWS, alpha=0.45):
    """RGB uint8 (rows, columns, 3): the grey image (min-max) with the class map in a jet
    colour map blended where the map is above 0.05; at most ``max_rows`` rows."""
    import cv2

    pixels = np.asarray(pixels, dtype=np.float32)
    scale = min(1.0, max_rows / pixels.shape[0])
    size = (max(1, round(pixels.shape[1] * scale)), max(1, round(pixels.shape[0] * scale)))
    grey = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA) if scale < 1 else pixels
    lo, hi = float(grey.min()), float(grey.max())
    grey = ((grey - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(grey)).astype(np.uint8)
    prob = resize_map(class_map, grey.shape)
    colour = cv2.applyColorMap((prob * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
    weight = (alpha * (prob > 0.05))[..., None]
    return np.clip(rgb * (1 - weight) + colour * weight, 0, 255).astype(np.uint8)


def build_overlay(image, model, series_uid=None, sop_uid=None, instance_number=1):
    """Secondary Capture (RGB) of the image with its class map overlaid, same study and patient."""
    import highdicom as hd
    from pydicom.dataset import Dataset
    from pydicom.uid import RLELossless, generate_uid

    if image.class_map is None or image.pixels is None:
        raise DicomResultError(f"{image.sop_instance_uid}: the overlay needs the class map and the pixels")
    source = image.source
    rgb = overlay_pixels(image.pixels, image.class_map)
    orientation = _patient_orientation(source)
    with _quiet_names():
        sc = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=source, pixel_array=rgb, photometric_interpretation="RGB", bits_allocated=8,
            coordinate_system="PATIENT", series_instance_uid=series_uid or generate_uid(),
            series_number=SERIES_NUMBERS["sc"], sop_instance_uid=sop_uid or generate_uid(),
            instance_number=instance_number, manufacturer=MANUFACTURER,
            patient_orientation=("A", "R"),  # highdicom needs one-letter values; replaced below
            laterality=image.side if image.side in _SIDES else None,
            transfer_syntax_uid=RLELossless,
        )
    sc.PatientOrientation = list(orientation) if orientation else ""  # the source's, never guessed
    sc.SeriesDescription = f"mammo_tf overlay ({model.name})"[:64]
    sc.BurnedInAnnotation = "NO"
    sc.ImageComments = (f"class map of {model.name} {model.version} over SOP instance "
                        f"{image.sop_instance_uid}")[:10240]
    item = Dataset()  # the image the overlay was derived from
    item.ReferencedSOPClassUID = source.SOPClassUID
    item.ReferencedSOPInstanceUID = source.SOPInstanceUID
    sc.SourceImageSequence = [item]
    return sc


# --------------------------------------------------------------------------- one study


@dataclasses.dataclass
class StudyFiles:
    """Paths of what :func:`write_study_results` wrote, and the objects' SOP instance UIDs."""

    study_uid: str
    sr: str
    seg: list
    sc: list
    uids: dict


def write_study_results(images, model, out_dir, overlay=True):
    """Write the study's SR, and a SEG (and with ``overlay`` an SC) per image with a class map,
    into ``out_dir`` (``sr.dcm``, ``seg_<n>.dcm``, ``sc_<n>.dcm``); returns :class:`StudyFiles`."""
    from pydicom.uid import generate_uid

    from mammo_tf.utils import atomic_path

    os.makedirs(out_dir, exist_ok=True)
    levels = study_levels(images, model.calibration)
    series = {kind: generate_uid() for kind in SERIES_NUMBERS}
    written = {"seg": [], "sc": []}
    uids = {}

    def save(dataset, name):
        path = os.path.join(out_dir, name)
        with atomic_path(path) as tmp:
            dataset.save_as(tmp, enforce_file_format=True)
        uids[name] = str(dataset.SOPInstanceUID)
        return path

    sr_path = save(build_sr(images, model, levels, series_uid=series["sr"]), "sr.dcm")
    mapped = [im for im in images if im.class_map is not None]
    for n, im in enumerate(mapped, start=1):
        written["seg"].append(save(build_segmentation(im, model, series["seg"], instance_number=n),
                                   f"seg_{n}.dcm"))
        if overlay and im.pixels is not None:
            written["sc"].append(save(build_overlay(im, model, series["sc"], instance_number=n),
                                      f"sc_{n}.dcm"))
    return StudyFiles(str(images[0].source.StudyInstanceUID), sr_path, written["seg"], written["sc"], uids)


def read_segmentation(path):
    """(probabilities (rows, columns) float in [0, 1], referenced SOP instance UIDs) of a SEG."""
    import highdicom as hd

    seg = hd.seg.segread(path)
    refs = [str(r.ReferencedSOPInstanceUID) for s in seg.ReferencedSeriesSequence
            for r in s.ReferencedInstanceSequence]
    raw = seg.pixel_array.astype(np.float64)
    if raw.ndim == 3:
        raw = raw[0]
    array = raw / float(seg.MaximumFractionalValue)
    return array, refs
