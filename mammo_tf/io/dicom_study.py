# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DICOM files, folders and studies as mammography exams: which images are mammograms a model
may read, their side and view (and where each came from), and their grouping into exams.

``scan_dicom(paths, allow_for_processing=False) -> (images, problems)``: every DICOM file among
``paths`` (files, or folders searched recursively; files are recognised by their ``DICM``
preamble or a DICOM extension) becomes a :class:`DicomImage` or a :class:`Problem` (refused,
with a message naming the file); one bad instance never stops the others.

Checks (per instance): Modality must be MG; Presentation Intent Type FOR PROCESSING (raw
detector data) is refused unless ``allow_for_processing``; one frame, one grey channel; and,
with ``check_image`` (default), the pixels must decode with the one reader
(:func:`mammo_tf.io.images.load_image`: modality LUT, VOI LUT / window, MONOCHROME1
inversion). Noted on the image (``DicomImage.notes``), not refused: MONOCHROME1 (inverted),
the VOI LUT or window applied, BurnedInAnnotation YES, a Secondary Capture SOP class
(digitised film / converted image), a missing Presentation Intent Type.

Side and view, first source that gives them (``laterality_source`` / ``view_source``):
``"tags"`` (ImageLaterality, else Laterality; ViewPosition, else ViewCodeSequence),
``"patient_orientation"`` (a PatientOrientation holding a view code, as CBIS-DDSM writes, or
the lateral direction of a standard MG orientation such as ``A\\R`` for a left breast),
``"series_description"`` (e.g. ``R MLO``), ``"patient_id"`` (CBIS-DDSM style
``Mass-Test_P_00173_LEFT_CC``), then ``"image"`` for the side only: the edge the breast lies
against (standard orientation: a left breast's chest wall at the image's left edge). With
``check_image`` the image side is compared with the header's: a contradiction is noted and the
image's side is used.

``group_exams(images)`` groups by StudyInstanceUID; ``merge_split_studies=True`` also merges
studies that hold one image each of the same patient and study date into one exam (CBIS-DDSM's
conversion gave every image its own study). ``check_exams(exams)`` reports exams with fewer
than four standard views or several images of one view (the NYU four-view model needs L-CC,
R-CC, L-MLO and R-MLO; image- and breast-level predictions use the views present).
"""
import dataclasses
import os
import re
from collections import defaultdict

import cv2
import numpy as np
from pydicom.multival import MultiValue

from mammo_tf.io.errors import MammogramReadError

SOURCES = ("tags", "patient_orientation", "series_description", "patient_id", "image")
STANDARD_VIEWS = ("CC", "MLO")
FOUR_VIEWS = (("L", "CC"), ("R", "CC"), ("L", "MLO"), ("R", "MLO"))
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
DICOMDIR = "1.2.840.10008.1.3.10"
_DICOM_EXTENSIONS = (".dcm", ".dicom", ".dic")
# ViewCodeSequence (CID 4014): SNOMED-RT (old) and SNOMED CT codes -> the ViewPosition term
_VIEW_CODES = {
    "R-10242": "CC", "399162004": "CC", "R-10226": "MLO", "399368009": "MLO",
    "R-10224": "ML", "399260004": "ML", "R-10230": "LM", "399352003": "LM",
    "R-1024A": "XCCL", "399099002": "XCCL", "R-1024B": "XCCM", "399192003": "XCCM",
    "R-10228": "LMO", "399101009": "LMO", "R-10232": "SIO", "399188001": "SIO",
    "R-10220": "FB", "399196006": "FB", "Y-X1770": "ISO", "441555000": "ISO",
}
_VIEW_TERMS = ("XCCL", "XCCM", "MLO", "LMO", "CC", "ML", "LM", "FB", "SIO", "ISO")
_SIDE_WORDS = {"L": "L", "LEFT": "L", "R": "R", "RIGHT": "R"}
# "LEFT_CC", "R MLO", "L-CC", "RCC", "LMLO" inside a longer text
_SIDE_VIEW_TEXT = re.compile(r"(?:^|[^A-Z])(LEFT|RIGHT|L|R)[ _\-.]?(XCCL|XCCM|MLO|CC|ML|LM)(?=$|[^A-Z])")
_CBIS_PATIENT = re.compile(r"^(.*?)[_\- ](LEFT|RIGHT)[_\- ](CC|MLO|ML|XCCL)\s*$", re.I)


@dataclasses.dataclass
class Problem:
    """An instance refused (or an exam reported): ``path`` and a message that names the cause."""

    path: str
    message: str

    def __str__(self):
        return f"{self.path}: {self.message}"


@dataclasses.dataclass
class DicomImage:
    """One mammogram of a DICOM scan: identifiers, side and view with their sources, notes."""

    path: str
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    patient_id: str  # PatientID as stored
    laterality: str | None  # "L" | "R" | None (unknown)
    view: str | None  # "CC", "MLO", "ML", "XCCL", ... | None (unknown)
    laterality_source: str | None  # one of SOURCES
    view_source: str | None
    patient: str = ""  # the patient key: PatientID without a CBIS-DDSM side/view suffix
    study_date: str = ""
    instance_number: int | None = None
    photometric_interpretation: str = "MONOCHROME2"
    presentation_intent: str | None = None
    burned_in_annotation: bool = False
    notes: list = dataclasses.field(default_factory=list)
    exam_id: str = ""  # key of the exam it was grouped into (group_exams)
    sop_class_uid: str = ""  # for references from derived objects (SR, SEG)

    @property
    def side_view(self):
        """``"L-CC"``-style label (``?`` for an unknown part)."""
        return f"{self.laterality or '?'}-{self.view or '?'}"


# --------------------------------------------------------------------------- finding files


def is_dicom_file(path):
    """True for a file with the DICOM preamble (``DICM`` at byte 128) or a DICOM extension."""
    if os.path.splitext(path)[1].lower() in _DICOM_EXTENSIONS:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM"


def find_dicom_files(paths):
    """``(files, problems)``: DICOM files among ``paths`` (files; folders walked recursively,
    hidden entries skipped, files sniffed), in a stable order. A named file that does not exist
    or is not DICOM is a problem; non-DICOM files inside folders are left to other readers."""
    files, problems = [], []
    for entry in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
        entry = os.fspath(entry)
        if os.path.isdir(entry):
            for root, dirs, names in os.walk(entry):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    path = os.path.join(root, name)
                    if not name.startswith(".") and is_dicom_file(path):
                        files.append(path)
        elif os.path.isfile(entry):
            if is_dicom_file(entry):
                files.append(entry)
            else:
                problems.append(Problem(entry, "not a DICOM file (no DICM preamble, no .dcm extension)"))
        else:
            problems.append(Problem(entry, "does not exist"))
    return list(dict.fromkeys(files)), problems


# --------------------------------------------------------------------------- side and view


def _values(value):
    """A DICOM value as a list of strings (multi-valued elements give several)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return [str(v).strip() for v in value]
    return [str(value).strip()]


def _text(ds, tag):
    """An element's value(s) as one upper-case string (multiple values joined by a backslash)."""
    return "\\".join(_values(ds.get(tag))).strip().upper()


def _view_term(text):
    text = (text or "").strip().upper()
    return text if text in _VIEW_TERMS else None


def _view_from_code(ds):
    for item in ds.get("ViewCodeSequence") or ():
        code = str(item.get("CodeValue") or "").strip().upper()
        if code in _VIEW_CODES:
            return _VIEW_CODES[code]
        meaning = str(item.get("CodeMeaning") or "").lower().replace("-", "")
        if "craniocaudal" in meaning and "exaggerated" not in meaning:
            return "CC"
        if "mediolateral oblique" in meaning:
            return "MLO"
    return None


def _side_view_from_text(text):
    match = _SIDE_VIEW_TEXT.search((text or "").upper())
    if not match:
        return None, None
    return _SIDE_WORDS[match.group(1)], match.group(2)


def _from_orientation(ds):
    """(side, view) from PatientOrientation: a view code stored there (CBIS-DDSM), or the
    column direction of a standard MG orientation (``A\\R``: left breast; ``P\\L``: right)."""
    parts = [v.upper() for v in _values(ds.get("PatientOrientation")) if v]
    if len(parts) == 1:
        side, view = _side_view_from_text(parts[0])
        return side, view or _view_term(parts[0])
    if len(parts) == 2:
        lateral = set(parts[1]) & {"L", "R"}
        if len(lateral) == 1:  # columns run towards the patient's other side: medial
            return ("L" if lateral == {"R"} else "R"), None
    return None, None


def side_and_view(ds):
    """``(side, side_source, view, view_source)`` from a DICOM header (no pixels)."""
    side = _SIDE_WORDS.get(_text(ds, "ImageLaterality")) or _SIDE_WORDS.get(_text(ds, "Laterality"))
    view = _view_term(_text(ds, "ViewPosition")) or _view_from_code(ds)
    found = {"side": (side, "tags" if side else None), "view": (view, "tags" if view else None)}
    candidates = (("patient_orientation", _from_orientation(ds)),
                  ("series_description", _side_view_from_text(_text(ds, "SeriesDescription"))),
                  ("patient_id", _side_view_from_text(_text(ds, "PatientID"))))
    for source, (s, v) in candidates:
        if found["side"][0] is None and s:
            found["side"] = (s, source)
        if found["view"][0] is None and v:
            found["view"] = (v, source)
    return found["side"][0], found["side"][1], found["view"][0], found["view"][1]


def patient_key(patient_id):
    """The patient of a PatientID: CBIS-DDSM's ``Mass-Test_P_00173_LEFT_CC`` -> ``Mass-Test_P_00173``."""
    patient_id = str(patient_id or "").strip()
    match = _CBIS_PATIENT.match(patient_id)
    return match.group(1) if match else patient_id


def side_from_image(image, target_height=512):
    """``"L"``, ``"R"`` or None: the side of a mammogram in standard orientation from the edge
    its breast lies against (chest wall at the left edge: a left breast), on a copy shrunk to
    about ``target_height`` rows; None when neither edge clearly holds more breast (twice)."""
    from mammo_tf.imaging.breast import breast_mask

    image = np.asarray(image)
    factor = max(1, image.shape[0] // target_height)
    if factor > 1:
        image = cv2.resize(image, (max(1, image.shape[1] // factor), max(1, image.shape[0] // factor)),
                           interpolation=cv2.INTER_AREA)
    try:
        mask = breast_mask(image)
    except ValueError:
        return None
    band = max(1, mask.shape[1] // 20)
    left, right = int(mask[:, :band].sum()), int(mask[:, -band:].sum())
    if left > 2 * right:
        return "L"
    if right > 2 * left:
        return "R"
    return None


# --------------------------------------------------------------------------- scanning


def _read_header(path):
    import pydicom

    return pydicom.dcmread(path, stop_before_pixels=True)


def _check_header(ds, allow_for_processing):
    """(refusal message or None, notes) of one header."""
    notes = []
    sop_class = str(ds.get("SOPClassUID") or getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", "") or "")
    if sop_class == DICOMDIR:
        return "a DICOMDIR (an index of files), not an image", notes
    modality = _text(ds, "Modality")
    if modality != "MG":
        what = f"Modality {modality}" if modality else "no Modality"
        return f"{what}, not MG (mammography): not a mammogram, skipped", notes
    if "Rows" not in ds or "Columns" not in ds:
        return "no image (no Rows/Columns): not an image instance", notes
    frames = (_values(ds.get("NumberOfFrames")) or ["1"])[0]
    frames = int(frames) if frames.isdigit() else 1
    if frames > 1:
        return (f"{frames} frames (tomosynthesis or a cine series): one 2-D mammogram per instance is "
                "read; use the synthetic 2-D view (C-View / V-Preview) of the exam"), notes
    samples = int(ds.get("SamplesPerPixel") or 1)
    photometric = _text(ds, "PhotometricInterpretation") or "MONOCHROME2"
    if samples > 1 or not photometric.startswith("MONOCHROME"):
        return f"colour image ({photometric}, {samples} samples per pixel), not a grey mammogram", notes
    intent = _text(ds, "PresentationIntentType")
    if intent == "FOR PROCESSING":
        if not allow_for_processing:
            return ("Presentation Intent Type FOR PROCESSING (raw detector data, before the vendor's "
                    "image processing): models are trained on FOR PRESENTATION images; refused "
                    "(--allow-for-processing reads it anyway)"), notes
        notes.append("FOR PROCESSING image read as stored (--allow-for-processing): the model was "
                     "trained on FOR PRESENTATION images")
    elif not intent:
        notes.append("no Presentation Intent Type: read as FOR PRESENTATION")
    if sop_class == SECONDARY_CAPTURE:
        notes.append("Secondary Capture (a digitised film or converted image), not a Digital "
                     "Mammography X-Ray image")
    if photometric == "MONOCHROME1":
        notes.append("MONOCHROME1: inverted so that dense tissue is bright")
    seq = ds.get("VOILUTSequence")
    if seq:
        notes.append(f"VOI LUT applied (the first of {len(seq)})")
    elif ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
        function = _text(ds, "VOILUTFunction") or "LINEAR"
        centre, width = _values(ds.WindowCenter)[0], _values(ds.WindowWidth)[0]
        notes.append(f"window applied (centre {centre}, width {width}, {function})")
    if _text(ds, "BurnedInAnnotation") == "YES":
        notes.append("BurnedInAnnotation YES: text is burned into the pixels (it can identify the "
                     "patient and it is part of what the model sees)")
    return None, notes


def scan_dicom(paths, allow_for_processing=False, check_image=True):
    """Scan DICOM files / folders: ``(images: list[DicomImage], problems: list[Problem])``.

    Each instance is checked on its own (module docstring); a refused one becomes a
    :class:`Problem` and the scan goes on. Instances seen twice (same SOPInstanceUID) are kept
    once. ``check_image`` decodes each image with the one reader (a truncated or undecodable
    file is refused here) and takes or checks its side from the image.
    """
    files, problems = find_dicom_files(paths)
    images, seen = [], {}
    for path in files:
        try:
            ds = _read_header(path)
        except Exception as exc:  # damaged files make pydicom raise many exception types
            problems.append(Problem(path, f"not a readable DICOM file ({type(exc).__name__}: {exc})"))
            continue
        if len(ds) == 0:
            problems.append(Problem(path, "not a readable DICOM file (no data elements after the preamble)"))
            continue
        refusal, notes = _check_header(ds, allow_for_processing)
        if refusal:
            problems.append(Problem(path, refusal))
            continue
        sop = str(ds.get("SOPInstanceUID") or "")
        if sop and sop in seen:
            problems.append(Problem(path, f"the same instance (SOPInstanceUID {sop}) as {seen[sop]}: skipped"))
            continue
        side, side_source, view, view_source = side_and_view(ds)
        if check_image:
            from mammo_tf.io.images import load_image

            try:
                pixels = load_image(path)
            except (MammogramReadError, OSError, ValueError) as exc:
                reason = exc.reason if isinstance(exc, MammogramReadError) else str(exc)
                problems.append(Problem(path, reason))
                continue
            seen_side = side_from_image(pixels)
            del pixels
            if side is None and seen_side is not None:
                side, side_source = seen_side, "image"
            elif side is not None and seen_side is not None and seen_side != side:
                notes.append(f"side {side} from {side_source} contradicts the image (breast against the "
                             f"{'left' if seen_side == 'L' else 'right'} edge: {seen_side} in standard "
                             f"orientation); using {seen_side} from the image")
                side, side_source = seen_side, "image"
        if side is None:
            notes.append("side unknown (no tag, description or patient id gives it, and the image "
                         "does not show it)")
        if view is None:
            notes.append("view unknown (no ViewPosition, view code, orientation, description or "
                         "patient id gives it)")
        elif view not in STANDARD_VIEWS:
            notes.append(f"view {view}: not a standard screening view (CC, MLO); not used as one")
        number = ds.get("InstanceNumber")
        image = DicomImage(
            path=path, sop_instance_uid=sop, series_instance_uid=str(ds.get("SeriesInstanceUID") or ""),
            study_instance_uid=str(ds.get("StudyInstanceUID") or ""), patient_id=str(ds.get("PatientID") or ""),
            laterality=side, view=view, laterality_source=side_source, view_source=view_source,
            patient=patient_key(ds.get("PatientID")), study_date=str(ds.get("StudyDate") or ""),
            instance_number=int(number) if str(number or "").strip().lstrip("-").isdigit() else None,
            photometric_interpretation=_text(ds, "PhotometricInterpretation") or "MONOCHROME2",
            presentation_intent=_text(ds, "PresentationIntentType") or None,
            burned_in_annotation=_text(ds, "BurnedInAnnotation") == "YES", notes=notes,
            sop_class_uid=str(ds.get("SOPClassUID") or ""))
        image.exam_id = image.study_instance_uid or image.path
        seen[sop] = path
        images.append(image)
    return images, problems


# --------------------------------------------------------------------------- exams


def _order(image):
    return (image.laterality or "~", image.view or "~", image.instance_number or 0, image.path)


def group_exams(images, merge_split_studies=False):
    """``{exam key: [DicomImage, ...]}`` grouped by StudyInstanceUID (the key), images ordered
    by side, view, instance number. ``merge_split_studies``: studies holding one image each, of
    the same patient (:func:`patient_key`) and study date, with different side/views, become
    one exam keyed ``<patient>/<study date>`` (CBIS-DDSM gives every image its own study).
    Sets each image's ``exam_id`` to its key."""
    studies = defaultdict(list)
    for image in images:
        studies[image.study_instance_uid or image.path].append(image)
    if merge_split_studies:
        singles = defaultdict(list)
        for key, members in studies.items():
            if len(members) == 1:
                singles[(members[0].patient, members[0].study_date)].append(key)
        for (patient, date), keys in singles.items():
            members = [studies[k][0] for k in keys]
            pairs = [(m.laterality, m.view) for m in members]
            if len(keys) < 2 or not patient or len(set(pairs)) < len(pairs):
                continue
            for k in keys:
                del studies[k]
            studies[f"{patient}/{date}" if date else patient] = members
    exams = {}
    for key in sorted(studies, key=lambda k: (studies[k][0].patient, studies[k][0].study_date, k)):
        exams[key] = sorted(studies[key], key=_order)
        for image in exams[key]:
            image.exam_id = key
    return exams


def four_views(members):
    """``({(side, view): DicomImage}, missing [(side, view)], extra [DicomImage])``: the first
    image (by instance number) of each standard view; the views absent; the images not used."""
    chosen, extra = {}, []
    for image in members:
        key = (image.laterality, image.view)
        if key in FOUR_VIEWS and key not in chosen:
            chosen[key] = image
        else:
            extra.append(image)
    return chosen, [k for k in FOUR_VIEWS if k not in chosen], extra


def check_exams(exams):
    """Problems of exams: fewer than four standard views (which are missing), several images
    of a view (which one the four-view model uses), more than four images. ``path`` is the
    exam's first image."""
    problems = []
    for key, members in exams.items():
        chosen, missing, extra = four_views(members)
        where = members[0].path
        name = f"exam {key} (patient {members[0].patient or '?'})"
        if missing:
            problems.append(Problem(where, f"{name}: {len(chosen)} of the 4 standard views; missing "
                                           + ", ".join(f"{s}-{v}" for s, v in missing)
                                           + " (image and breast levels use the views present; the "
                                             "NYU four-view model needs all four: exam not predicted by it)"))
        if extra:
            problems.append(Problem(where, f"{name}: {len(extra)} image(s) beyond one per standard view ("
                                           + ", ".join(f"{os.path.basename(e.path)} {e.side_view}" for e in extra)
                                           + "); the four-view model uses the first of each view"))
    return problems


def image_inputs(path, allow_for_processing=False):
    """``(paths, problems)`` for commands that take one image or a folder (``explain image``):
    a file is itself; a folder gives its DICOM mammograms that pass :func:`scan_dicom` (by
    exam, side, view) followed by its other images (PNG, JPEG, PGM), and the refused DICOM
    instances as problems."""
    from mammo_tf.io.images import list_images

    path = os.fspath(path)
    if not os.path.isdir(path):
        return [path], []
    images, problems = scan_dicom([path], allow_for_processing=allow_for_processing)
    ordered = [image.path for members in group_exams(images, merge_split_studies=True).values()
               for image in members]
    return ordered + [p for p in list_images(path) if not is_dicom_file(p)], problems
