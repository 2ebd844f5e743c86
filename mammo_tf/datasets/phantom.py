# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Deterministic phantom mammograms: the embedded default dataset of mammo_tf.

The images are synthetic but built so that a classifier has something real to learn:

* a breast silhouette on a dark background, against the LEFT image edge for side ``"L"``
  and the RIGHT edge for side ``"R"`` (the radiologists' back-to-back hanging);
* a pectoral muscle triangle in the upper chest-wall corner of MLO views;
* fibroglandular texture (band-pass filtered noise, weighted by tissue thickness);
* lesions whose APPEARANCE carries the label (``mammo_tf.constants.PATCH_CLASSES``):

  - ``mass_benign``: round/oval, circumscribed (smooth, sharp edge);
  - ``mass_malignant``: irregular outline with spicules radiating outwards;
  - ``calc_benign``: a few (2-5) coarse, round, very bright dots;
  - ``calc_malignant``: a cluster of many (12-30) fine, pleomorphic (elongated, variably
    oriented) dots.

An intensity ``profile`` imitates the acquisition: ``"ddsm"`` (digitised film: grey film base,
linear response, coarse grain) or ``"inbreast"`` (digital detector: black background, gamma
0.7, little noise), so the transfer-learning demo has a real domain shift.

``write_phantom_cbis`` writes a CBIS-DDSM download (TCIA tree of DICOM files and the four
official case-description CSVs, quirks included) so the demo runs the real loaders end to end.
Normal images do not exist in CBIS-DDSM; the phantom lists them in an extra ``normals.csv``.
Everything is a pure function of the seed: same arguments, byte-identical files.
"""
import csv
import dataclasses
import functools
import json
import os

import cv2
import numpy as np

from mammo_tf.constants import PATCH_CLASSES, UINT16_MAX
from mammo_tf.utils import atomic_dir

DEFAULT_SIZE = (288, 224)  # (height, width): the 1152x896 aspect ratio at a quarter of the size
SIDES = ("L", "R")
VIEWS = ("CC", "MLO")
FOUR_VIEWS = ("L-CC", "R-CC", "L-MLO", "R-MLO")
LESION_CLASSES = PATCH_CLASSES[1:]  # every patch class except background

# Official CBIS-DDSM column names (checked against the published CSVs): note the density column
# spelled differently in the mass and calc files.
MASS_COLUMNS = (
    "patient_id", "breast_density", "left or right breast", "image view", "abnormality id",
    "abnormality type", "mass shape", "mass margins", "assessment", "pathology", "subtlety",
    "image file path", "cropped image file path", "ROI mask file path",
)
CALC_COLUMNS = (
    "patient_id", "breast density", "left or right breast", "image view", "abnormality id",
    "abnormality type", "calc type", "calc distribution", "assessment", "pathology", "subtlety",
    "image file path", "cropped image file path", "ROI mask file path",
)
CSV_FILES = {
    ("mass", "Training"): "mass_case_description_train_set.csv",
    ("mass", "Test"): "mass_case_description_test_set.csv",
    ("calc", "Training"): "calc_case_description_train_set.csv",
    ("calc", "Test"): "calc_case_description_test_set.csv",
}
NORMALS_CSV = "normals.csv"
NORMALS_COLUMNS = ("patient_id", "side", "view", "path", "split")


@dataclasses.dataclass(frozen=True)
class Profile:
    """How the phantom's tissue density in [0, 1] becomes 16-bit pixel values."""

    background: float  # value of the area outside the breast (film base / detector air)
    gamma: float
    contrast: float
    noise: float  # standard deviation of the additive grain, on the 0-1 scale
    grain_blur: float  # film grain is blurred a little; detector noise is white (0)
    bits: int  # values are quantised to this many bits, then scaled to the 16-bit range


PROFILES = {
    "ddsm": Profile(background=0.015, gamma=1.0, contrast=0.85, noise=0.015, grain_blur=0.8, bits=12),
    "inbreast": Profile(background=0.0, gamma=0.7, contrast=0.97, noise=0.004, grain_blur=0.0, bits=14),
}


@dataclasses.dataclass(frozen=True)
class Lesion:
    """One lesion of a breast, in coordinates relative to the breast (shared by CC and MLO).

    ``depth``: distance from the chest wall as a fraction of the breast's depth (0-1);
    ``lateral``: position across the breast, -1..1 (drawn per view when None);
    ``size``: lesion radius as a fraction of the image height; ``shape_seed`` fixes its outline.
    """

    patch_class: str
    depth: float = 0.45
    lateral: float | None = None
    size: float = 0.045
    shape_seed: int = 0


def _rng(*keys):
    """A generator seeded from a tuple of non-negative ints (order matters, never collides)."""
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def random_lesion(rng, patch_class):
    """Draw a lesion of ``patch_class`` with a plausible size and position."""
    if patch_class not in LESION_CLASSES:
        raise ValueError(f"unknown lesion class {patch_class!r}; expected one of {LESION_CLASSES}")
    size = rng.uniform(0.035, 0.06) if patch_class.startswith("mass") else rng.uniform(0.025, 0.04)
    return Lesion(patch_class=patch_class, depth=float(rng.uniform(0.25, 0.7)), lateral=None,
                  size=float(size), shape_seed=int(rng.integers(2**31)))


@functools.lru_cache(maxsize=8)
def _grid(height, width):
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy.flags.writeable = False
    xx.flags.writeable = False
    return yy, xx


def _band_noise(rng, height, width, cell):
    """Smooth noise with features about ``cell`` pixels wide, zero mean, unit std."""
    small = rng.standard_normal((max(2, height // cell + 2), max(2, width // cell + 2))).astype(np.float32)
    small = cv2.GaussianBlur(small, (0, 0), 0.8)
    noise = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return (noise - noise.mean()) / (noise.std() + 1e-6)


def _anatomy(rng, height, width, view):
    """Breast mask, normalised radius (0 centre .. 1 skin), pectoral mask; chest wall on the left."""
    yy, xx = _grid(height, width)
    if view == "MLO":
        cy, ay, ax = height * rng.uniform(0.52, 0.6), height * rng.uniform(0.44, 0.5), width * rng.uniform(0.66, 0.86)
    else:
        cy, ay, ax = height * rng.uniform(0.46, 0.54), height * rng.uniform(0.4, 0.47), width * rng.uniform(0.6, 0.82)
    radius = np.sqrt(((yy - cy) / ay) ** 2 + (xx / ax) ** 2)
    breast = radius < 1.0
    pectoral = np.zeros_like(breast)
    if view == "MLO":
        # Axillary tail: the breast reaches the top edge along the chest wall.
        tail_width = ax * rng.uniform(0.4, 0.55)
        tail = (yy < cy) & (xx < tail_width * (1.0 - 0.35 * (cy - yy) / cy))
        radius = np.where(tail & ~breast, np.minimum(radius, 0.98), radius)
        breast = breast | tail
        pw, ph = width * rng.uniform(0.3, 0.45), height * rng.uniform(0.45, 0.65)
        pectoral = breast & (xx / pw + yy / ph < 1.0)
    geometry = {"cy": cy, "ay": ay, "ax": ax}
    return breast, np.clip(radius, 0.0, 1.0), pectoral, geometry


def _lesion_centre(rng, lesion, geometry, pectoral, view, placed=()):
    """Pixel centre of a lesion inside the breast, outside the pectoral muscle and apart from
    the lesions already ``placed`` ((y, x, radius) triples) where possible."""
    cy, ay, ax = geometry["cy"], geometry["ay"], geometry["ax"]
    height, width = pectoral.shape
    radius = lesion.size * height
    fallback = None
    for _ in range(50):
        lateral = lesion.lateral if lesion.lateral is not None else rng.uniform(-0.6, 0.6)
        depth = float(np.clip(lesion.depth, 0.05, 0.85))
        y = cy + lateral * ay * np.sqrt(max(0.0, 1.0 - depth**2))
        x = depth * ax
        if view == "MLO":
            x = x + rng.uniform(-0.05, 0.05) * ax
        yi, xi = int(round(y)), int(round(x))
        if 0 <= yi < height and 0 <= xi < width and not pectoral[yi, xi]:
            fallback = fallback or (float(y), float(x))
            if all(np.hypot(y - py, x - px) > 1.3 * (radius + pr) for py, px, pr in placed):
                return float(y), float(x)
            lesion = dataclasses.replace(lesion, lateral=None)
        else:
            lesion = dataclasses.replace(lesion, lateral=None, depth=lesion.depth + 0.05)
    return fallback or (float(cy), float(0.5 * ax))


def _add_blob(canvas, cy, cx, sigma_y, sigma_x, angle, amplitude, hard=False):
    """Add an oriented Gaussian (or flat-topped disk when ``hard``) blob in a local window."""
    height, width = canvas.shape
    half = int(np.ceil(3.0 * max(sigma_y, sigma_x))) + 1
    y0, y1 = max(0, int(cy) - half), min(height, int(cy) + half + 2)
    x0, x1 = max(0, int(cx) - half), min(width, int(cx) + half + 2)
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy
    r2 = (u / sigma_x) ** 2 + (v / sigma_y) ** 2
    if hard:  # coarse calcification: flat top, soft 1-pixel rim
        blob = np.clip((1.0 - np.sqrt(r2)) * max(sigma_x, 1.0) + 0.5, 0.0, 1.0)
    else:
        blob = np.exp(-0.5 * r2)
    canvas[y0:y1, x0:x1] += amplitude * blob


def _draw_mass(rng, canvas, roi, cy, cx, radius, malignant):
    """Draw a mass; fill its outline into ``roi`` (uint8)."""
    height = canvas.shape[0]
    angles = np.linspace(0.0, 2.0 * np.pi, 96, endpoint=False)
    if malignant:
        r = np.ones_like(angles)
        for k in range(2, 8):  # irregular outline: several random harmonics
            r += rng.uniform(0.04, 0.14) * np.cos(k * angles + rng.uniform(0, 2 * np.pi))
        r *= radius * (1.0 + 0.06 * rng.standard_normal(angles.size)).clip(0.85, 1.15)
        ry, rx, rot = r, r, 0.0
    else:
        aspect = rng.uniform(0.65, 1.0)  # round (1) to oval
        ry, rx, rot = radius * aspect, radius, rng.uniform(0, np.pi)
    px = cx + rx * np.cos(angles) * np.cos(rot) - ry * np.sin(angles) * np.sin(rot)
    py = cy + rx * np.cos(angles) * np.sin(rot) + ry * np.sin(angles) * np.cos(rot)
    polygon = np.round(np.stack([px, py], axis=1) * 16).astype(np.int32)  # 4 fractional bits
    body = np.zeros(canvas.shape, np.uint8)
    cv2.fillPoly(body, [polygon], 255, lineType=cv2.LINE_AA, shift=4)
    roi |= (body > 127).astype(np.uint8)
    body_f = body.astype(np.float32) / 255.0
    if malignant:
        body_f = cv2.GaussianBlur(body_f, (0, 0), max(0.6, radius * 0.08))
        spicules = np.zeros(canvas.shape, np.float32)
        thickness = max(1, int(round(height / 400)))
        for angle in rng.uniform(0, 2 * np.pi, int(rng.integers(7, 15))):
            length = radius * rng.uniform(1.6, 2.7)
            end = (cx + length * np.cos(angle), cy + length * np.sin(angle))
            cv2.line(spicules, (int(round(cx * 16)), int(round(cy * 16))),
                     (int(round(end[0] * 16)), int(round(end[1] * 16))), 1.0, thickness, cv2.LINE_AA, 4)
        spicules = cv2.GaussianBlur(spicules, (0, 0), 0.6)
        canvas += rng.uniform(0.2, 0.28) * body_f + 0.16 * spicules
    else:
        body_f = cv2.GaussianBlur(body_f, (0, 0), 0.5)  # circumscribed: sharp edge
        canvas += rng.uniform(0.18, 0.26) * body_f


def _draw_calcs(rng, canvas, roi, cy, cx, radius, malignant):
    """Draw a calcification cluster; its ROI is the dilated convex hull of the dots."""
    height = canvas.shape[0]
    n = int(rng.integers(12, 31)) if malignant else int(rng.integers(2, 6))
    spread = radius * (1.2 if malignant else 0.7)
    offsets = rng.normal(0.0, spread * 0.5, size=(n, 2)).clip(-spread, spread)
    points = np.array([cy, cx]) + offsets
    for y, x in points:
        if malignant:  # fine and pleomorphic: small, elongated, random orientation
            sigma = max(0.55, height * rng.uniform(0.0016, 0.0028))
            _add_blob(canvas, y, x, sigma, sigma * rng.uniform(1.0, 2.8), rng.uniform(0, np.pi),
                      rng.uniform(0.3, 0.5))
        else:  # coarse: large, round, very bright
            r = max(1.6, height * rng.uniform(0.0065, 0.0095))
            _add_blob(canvas, y, x, r, r * rng.uniform(0.85, 1.0), rng.uniform(0, np.pi),
                      rng.uniform(0.55, 0.8), hard=True)
    hull = cv2.convexHull(np.round(points[:, ::-1] * 16).astype(np.int32))
    region = np.zeros(canvas.shape, np.uint8)
    cv2.fillConvexPoly(region, hull, 1, lineType=cv2.LINE_8, shift=4)
    margin = max(3, int(round(height * 0.012)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    roi |= cv2.dilate(region, kernel)


def render_view(seed, side, view, lesions=(), size=DEFAULT_SIZE, profile="ddsm"):
    """Render one phantom mammogram.

    Args:
      seed: int; the image is a pure function of all arguments.
      side: ``"L"`` (breast against the left edge) or ``"R"`` (right edge).
      view: ``"CC"`` or ``"MLO"`` (MLO adds the pectoral muscle and the axillary tail).
      lesions: iterable of ``Lesion`` or patch class names (a name draws a random lesion).
      size: (height, width) in pixels.
      profile: ``"ddsm"`` or ``"inbreast"`` (see ``PROFILES``).

    Returns:
      ``(image, rois)``: ``image`` uint16 (H, W), dense tissue bright; ``rois`` a list, one per
      lesion in order, of ``(mask, patch_class)`` with ``mask`` a bool (H, W) array.
    """
    if side not in SIDES:
        raise ValueError(f"side must be 'L' or 'R', got {side!r}")
    if view not in VIEWS:
        raise ValueError(f"view must be 'CC' or 'MLO', got {view!r}")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {sorted(PROFILES)}")
    height, width = (int(s) for s in size)
    if height < 16 or width < 16:
        raise ValueError(f"size must be at least 16x16, got {size}")
    prof = PROFILES[profile]
    rng = _rng(seed, SIDES.index(side), VIEWS.index(view))
    breast, radius, pectoral, geometry = _anatomy(rng, height, width, view)

    thickness = np.sqrt(np.clip(1.0 - radius**2, 0.0, 1.0))  # compressed breast: thinner at the skin
    density = rng.uniform(0.15, 0.45)  # fraction of fibroglandular tissue, per breast
    coarse = _band_noise(rng, height, width, max(4, height // 12))
    fine = _band_noise(rng, height, width, max(2, height // 48))
    streaks = _band_noise(rng, height, max(2, width // 3), max(2, height // 40))
    streaks = cv2.resize(streaks, (width, height), interpolation=cv2.INTER_LINEAR)  # ducts run to the nipple
    field = 0.8 * coarse + 0.35 * fine + 0.25 * streaks + 3.0 * (density - 0.3) - 1.2 * radius
    glandular = 1.0 / (1.0 + np.exp(-2.5 * field))  # fraction of fibroglandular tissue, 0-1
    tissue = 0.2 + 0.22 * thickness**0.5 + 0.32 * glandular * thickness
    tissue = tissue + pectoral * (0.28 + 0.04 * fine)
    tissue *= breast

    # Drawn before the lesions so that adding a lesion changes nothing else in the image.
    grain = rng.standard_normal((height, width)).astype(np.float32)
    if prof.grain_blur > 0:
        grain = cv2.GaussianBlur(grain, (0, 0), prof.grain_blur)
        grain /= grain.std() + 1e-6

    canvas = np.zeros((height, width), np.float32)
    rois, placed = [], []
    for item in lesions:
        lesion = item if isinstance(item, Lesion) else random_lesion(rng, item)
        if lesion.patch_class not in LESION_CLASSES:
            raise ValueError(f"unknown lesion class {lesion.patch_class!r}; expected one of {LESION_CLASSES}")
        cy, cx = _lesion_centre(rng, lesion, geometry, pectoral, view, placed)
        placed.append((cy, cx, lesion.size * height))
        roi = np.zeros((height, width), np.uint8)
        shape_rng = _rng(lesion.shape_seed, VIEWS.index(view))
        malignant = lesion.patch_class.endswith("malignant")
        draw = _draw_mass if lesion.patch_class.startswith("mass") else _draw_calcs
        draw(shape_rng, canvas, roi, cy, cx, lesion.size * height, malignant)
        rois.append((roi.astype(bool) & breast, lesion.patch_class))
    tissue = tissue + canvas * breast

    value = np.clip(tissue, 0.0, 1.0) ** prof.gamma * prof.contrast
    value = prof.background + (1.0 - prof.background) * value
    value = np.where(breast, value, prof.background * (1.0 + 0.15 * (prof.background > 0) * grain))
    value = np.clip(value + prof.noise * grain * breast, 0.0, 1.0)
    levels = 2**prof.bits - 1
    image = np.round(value * levels) * (UINT16_MAX / levels)
    image = np.clip(np.round(image), 0, UINT16_MAX).astype(np.uint16)
    if side == "R":
        image = image[:, ::-1].copy()
        rois = [(mask[:, ::-1].copy(), cls) for mask, cls in rois]
    return image, rois


def generate_case(seed, patient_index, size=DEFAULT_SIZE, profile="ddsm", abnormal_fraction=0.5,
                  mass_fraction=0.5, malignant_fraction=0.5, two_lesion_fraction=0.2,
                  both_breasts_fraction=0.15, lesions=None):
    """Generate one patient's four-view screening exam.

    Args:
      seed, patient_index: ints; the case is a pure function of both (and the other arguments).
      size, profile: as in ``render_view``.
      abnormal_fraction: probability that the patient has at least one lesion.
      mass_fraction: probability that an abnormal breast has masses (else calcifications).
      malignant_fraction: probability that a lesion is malignant.
      two_lesion_fraction: probability that an abnormal breast has two lesions (same type).
      both_breasts_fraction: probability that an abnormal patient has lesions in both breasts.
      lesions: optional ``{"L": [class names or Lesion], "R": [...]}`` overriding the draw.

    Returns:
      A dict::

        {
          "patient_id": "P_00001",                      # from patient_index (1-based id)
          "profile": "ddsm", "size": (H, W),
          "lesions": {"L": [Lesion, ...], "R": [...]},  # per breast, shared by its CC and MLO
          "labels": {"L": {"benign": 0|1, "malignant": 0|1}, "R": {...}},
          "views": {                                    # keys in FOUR_VIEWS order
            "L-CC": {"side": "L", "view": "CC",
                     "image": uint16 (H, W),
                     "rois": [{"mask": bool (H, W), "patch_class": str, "lesion_index": int}, ...]},
            "R-CC": {...}, "L-MLO": {...}, "R-MLO": {...},
          },
        }

      Each lesion of a breast appears in both of its views (``lesion_index`` = position in
      ``lesions[side]``); per-breast labels are 1 when the breast has a benign / malignant
      lesion (NYU's four outputs: left_benign, right_benign, left_malignant, right_malignant).
    """
    rng = _rng(seed, patient_index, 7919)
    if lesions is None:
        lesions = {"L": [], "R": []}
        if rng.random() < abnormal_fraction:
            sides = list(SIDES) if rng.random() < both_breasts_fraction else [SIDES[int(rng.integers(2))]]
            for side in sides:
                kind = "mass" if rng.random() < mass_fraction else "calc"
                count = 2 if rng.random() < two_lesion_fraction else 1
                for _ in range(count):
                    grade = "malignant" if rng.random() < malignant_fraction else "benign"
                    lesions[side].append(random_lesion(rng, f"{kind}_{grade}"))
    else:
        lesions = {side: [item if isinstance(item, Lesion) else random_lesion(rng, item)
                          for item in lesions.get(side, [])] for side in SIDES}
    views = {}
    for key in FOUR_VIEWS:
        side, view = key.split("-")
        view_seed = int(_rng(seed, patient_index, SIDES.index(side), VIEWS.index(view)).integers(2**31))
        image, rois = render_view(view_seed, side, view, lesions[side], size=size, profile=profile)
        views[key] = {"side": side, "view": view, "image": image,
                      "rois": [{"mask": m, "patch_class": c, "lesion_index": i}
                               for i, (m, c) in enumerate(rois)]}
    labels = {side: {"benign": int(any(l.patch_class.endswith("_benign") for l in lesions[side])),
                     "malignant": int(any(l.patch_class.endswith("_malignant") for l in lesions[side]))}
              for side in SIDES}
    return {"patient_id": f"P_{patient_index + 1:05d}", "profile": profile, "size": tuple(size),
            "lesions": lesions, "labels": labels, "views": views}


# ---------------------------------------------------------------------------------------------
# CBIS-DDSM on-disk layout

_SOP_CLASS_MG_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"  # Digital Mammography X-Ray, For Presentation
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def _uid(*parts):
    import pydicom.uid
    return pydicom.uid.generate_uid(entropy_srcs=[str(p) for p in parts])


def _write_dicom(path, pixels, *, patient_id, study_uid, series_uid, sop_uid, side, view,
                 series_description, instance_number):
    """Write a single-frame MONOCHROME2 DICOM (8-bit or 16-bit unsigned) with fixed dates."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    sop_class = _SOP_CLASS_MG_PRESENTATION if pixels.dtype == np.uint16 else _SECONDARY_CAPTURE
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = _uid("mammo_tf", "implementation")
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientID = patient_id
    ds.PatientName = patient_id
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20260101"
    ds.Modality = "MG"
    ds.BodyPartExamined = "BREAST"
    ds.Laterality = ds.ImageLaterality = side
    ds.ViewPosition = view
    ds.SeriesDescription = series_description
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance_number
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    bits = 16 if pixels.dtype == np.uint16 else 8
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def _bbox(mask, margin):
    ys, xs = np.nonzero(mask)
    y0, y1 = max(0, ys.min() - margin), min(mask.shape[0], ys.max() + 1 + margin)
    x0, x1 = max(0, xs.min() - margin), min(mask.shape[1], xs.max() + 1 + margin)
    return y0, y1, x0, x1


_DESCRIPTORS = {  # official CBIS-DDSM vocabulary: (shape|type, margins|distribution)
    "mass_benign": (("ROUND", "OVAL"), ("CIRCUMSCRIBED",)),
    "mass_malignant": (("IRREGULAR",), ("SPICULATED",)),
    "calc_benign": (("ROUND_AND_REGULAR", "DYSTROPHIC", "COARSE"), ("CLUSTERED",)),
    "calc_malignant": (("PLEOMORPHIC", "FINE_LINEAR_BRANCHING"), ("CLUSTERED",)),
}


def write_phantom_cbis(out_dir, n_patients=40, seed=0, profile="ddsm", size=DEFAULT_SIZE,
                       abnormal_fraction=0.6, test_fraction=0.25, progress=False, **case_kwargs):
    """Write a phantom CBIS-DDSM download (DICOM tree + the four case-description CSVs).

    Layout under ``out_dir`` (written atomically: a temporary folder renamed into place)::

      mass_case_description_train_set.csv, mass_case_description_test_set.csv,
      calc_case_description_train_set.csv, calc_case_description_test_set.csv,
      normals.csv, phantom.json,
      <Mass|Calc>-<Training|Test>_P_XXXXX_<LEFT|RIGHT>_<CC|MLO>/<StudyUID>/<SeriesUID>/000000.dcm
      <Mass|Calc>-<Training|Test>_P_XXXXX_<LEFT|RIGHT>_<CC|MLO>_<N>/<StudyUID>/<SeriesUID>/00000{0,1}.dcm
      Normal-<Training|Test>_P_XXXXX_<LEFT|RIGHT>_<CC|MLO>/<StudyUID>/<SeriesUID>/000000.dcm

    Full images are 16-bit MONOCHROME2 DICOMs. Abnormality N has one series with two files:
    its ROI mask (full size, 8-bit, 0/255) and its cropped lesion (16-bit). As in the real
    data, which of ``000000.dcm`` / ``000001.dcm`` is the mask is random, and the CSVs name
    them the way the official CSVs usually do (mass: crop 000000, mask 000001; calc: the
    reverse), so about half the CSV file names are wrong: index by SeriesInstanceUID and tell
    mask from crop by content. CSV quirks kept: CRLF line ends, ``breast_density`` (mass) vs
    ``breast density`` (calc), a newline inside the quoted path that ends in ``000001.dcm``
    (mass: ROI mask column; calc: cropped image column), pathology BENIGN_WITHOUT_CALLBACK for
    some benign lesions. A breast has one abnormality type (mass or calc), 1-2 lesions.

    ``normals.csv`` (not part of CBIS-DDSM, which has no normal images) lists the images
    without any abnormality: columns ``patient_id, side (LEFT|RIGHT), view (CC|MLO), path
    (relative to out_dir, same style as the CSVs), split (Training|Test)``.

    ``out_dir`` is replaced as a whole; a non-empty folder without ``phantom.json`` is refused.
    Returns a summary dict (also written as ``phantom.json``).
    """
    height, width = (int(s) for s in size)
    out_dir = os.fspath(out_dir)
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not os.path.exists(os.path.join(out_dir, "phantom.json")):
        # the folder is replaced as a whole: never do that to something the phantom did not write
        raise FileExistsError(f"{out_dir}: folder exists, is not empty and holds no phantom.json; "
                              "refusing to replace it with a phantom dataset")
    split_rng = _rng(seed, 104729)
    n_test = int(round(n_patients * test_fraction))
    test_patients = set(split_rng.permutation(n_patients)[:n_test].tolist())
    rows = {key: [] for key in CSV_FILES}
    normals = []
    counts = {cls: 0 for cls in LESION_CLASSES}
    n_images = 0
    iterator = range(n_patients)
    if progress:
        from tqdm import tqdm
        iterator = tqdm(iterator, desc="phantom patients", unit="patient")
    with atomic_dir(out_dir) as tmp:
        for index in iterator:
            case = generate_case(seed, index, size=(height, width), profile=profile,
                                 abnormal_fraction=abnormal_fraction, **case_kwargs)
            pid = case["patient_id"]
            split = "Test" if index in test_patients else "Training"
            meta_rng = _rng(seed, index, 15485863)
            breast_density = {side: int(meta_rng.integers(1, 5)) for side in SIDES}
            for key in FOUR_VIEWS:
                entry = case["views"][key]
                side, view = entry["side"], entry["view"]
                side_word = "LEFT" if side == "L" else "RIGHT"
                rois = entry["rois"]
                kind = rois[0]["patch_class"].split("_")[0] if rois else "normal"
                prefix = {"mass": "Mass", "calc": "Calc", "normal": "Normal"}[kind]
                folder = f"{prefix}-{split}_{pid}_{side_word}_{view}"
                study, series = _uid(seed, folder, "study"), _uid(seed, folder, "series")
                image_rel = f"{folder}/{study}/{series}/000000.dcm"
                _write_dicom(os.path.join(tmp, image_rel), entry["image"], patient_id=folder,
                             study_uid=study, series_uid=series, sop_uid=_uid(seed, folder, "sop"),
                             side=side, view=view, series_description="full mammogram images",
                             instance_number=1)
                n_images += 1
                if not rois:
                    normals.append({"patient_id": pid, "side": side_word, "view": view,
                                    "path": image_rel, "split": split})
                    continue
                for number, roi in enumerate(rois, start=1):
                    cls = roi["patch_class"]
                    counts[cls] += 1
                    roi_folder = f"{folder}_{number}"
                    r_study, r_series = _uid(seed, roi_folder, "study"), _uid(seed, roi_folder, "series")
                    mask = roi["mask"]
                    if not mask.any():  # lesion fell outside the breast: keep a 1-pixel ROI
                        mask = mask.copy()
                        mask[height // 2, width // 4 if side == "L" else 3 * width // 4] = True
                    y0, y1, x0, x1 = _bbox(mask, margin=max(2, height // 64))
                    mask_first = bool(meta_rng.integers(2))
                    files = {"mask": "000000.dcm" if mask_first else "000001.dcm",
                             "crop": "000001.dcm" if mask_first else "000000.dcm"}
                    base = f"{roi_folder}/{r_study}/{r_series}"
                    _write_dicom(os.path.join(tmp, base, files["mask"]), mask.astype(np.uint8) * 255,
                                 patient_id=roi_folder, study_uid=r_study, series_uid=r_series,
                                 sop_uid=_uid(seed, roi_folder, "mask"), side=side, view=view,
                                 series_description="ROI mask images",
                                 instance_number=1 + int(files["mask"][-5]))
                    _write_dicom(os.path.join(tmp, base, files["crop"]),
                                 np.ascontiguousarray(entry["image"][y0:y1, x0:x1]),
                                 patient_id=roi_folder, study_uid=r_study, series_uid=r_series,
                                 sop_uid=_uid(seed, roi_folder, "crop"), side=side, view=view,
                                 series_description="cropped images",
                                 instance_number=1 + int(files["crop"][-5]))
                    malignant = cls.endswith("malignant")
                    shapes, margins = _DESCRIPTORS[cls]
                    if malignant:
                        pathology, assessment = "MALIGNANT", int(meta_rng.integers(4, 6))
                    elif meta_rng.random() < 0.3:
                        pathology, assessment = "BENIGN_WITHOUT_CALLBACK", 2
                    else:
                        pathology, assessment = "BENIGN", int(meta_rng.integers(3, 5))
                    if kind == "mass":
                        crop_name, mask_name = "000000.dcm", "000001.dcm\n"
                    else:
                        crop_name, mask_name = "000001.dcm\n", "000000.dcm"
                    row = {
                        "patient_id": pid,
                        ("breast_density" if kind == "mass" else "breast density"): breast_density[side],
                        "left or right breast": side_word, "image view": view,
                        "abnormality id": number,
                        "abnormality type": "mass" if kind == "mass" else "calcification",
                        ("mass shape" if kind == "mass" else "calc type"): shapes[int(meta_rng.integers(len(shapes)))],
                        ("mass margins" if kind == "mass" else "calc distribution"): margins[0],
                        "assessment": assessment, "pathology": pathology,
                        "subtlety": int(meta_rng.integers(2, 6)),
                        "image file path": image_rel,
                        "cropped image file path": f"{base}/{crop_name}",
                        "ROI mask file path": f"{base}/{mask_name}",
                    }
                    rows[(kind, split)].append(row)
        for (kind, split), name in CSV_FILES.items():
            columns = MASS_COLUMNS if kind == "mass" else CALC_COLUMNS
            with open(os.path.join(tmp, name), "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\r\n")
                writer.writeheader()
                writer.writerows(rows[(kind, split)])
        with open(os.path.join(tmp, NORMALS_CSV), "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=NORMALS_COLUMNS, lineterminator="\r\n")
            writer.writeheader()
            writer.writerows(normals)
        summary = {
            "seed": seed, "profile": profile,
            "size": [height, width], "n_patients": n_patients,
            "n_test_patients": n_test, "n_images": n_images, "n_normal_images": len(normals),
            "abnormalities": counts,
            "csv_rows": {name: len(rows[key]) for key, name in CSV_FILES.items()},
        }
        with open(os.path.join(tmp, "phantom.json"), "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
    return dict(summary, out_dir=os.path.abspath(os.fspath(out_dir)))


def write_phantom_manifest(out_dir, n_patients=8, seed=0, profile="ddsm", size=DEFAULT_SIZE,
                           split_fractions=(("train", 0.6), ("val", 0.2), ("test", 0.2)),
                           manifest_name="manifest.csv", **case_kwargs):
    """Write phantom whole images straight to 16-bit PNGs + a manifest (no DICOM round trip).

    A shortcut for tests, benchmarks and quick experiments; the demo goes through
    ``write_phantom_cbis`` and the CBIS-DDSM loader instead. Files: ``images/<image_id>.png``,
    ``masks/<image_id>_roi<k>.png`` and ``manifest_name`` (docs/DESIGN.md columns). Patients
    are assigned to splits in order of a seeded permutation. Returns the manifest path.
    """
    from mammo_tf.datasets.manifest import write_manifest
    from mammo_tf.io import write_mask_png, write_png16

    order = _rng(seed, 3571).permutation(n_patients)
    bounds, acc = [], 0.0
    for name, fraction in split_fractions:
        acc += fraction
        bounds.append((name, int(round(acc * n_patients))))
    rows = []
    for rank, index in enumerate(order.tolist()):
        split = next(name for name, bound in bounds if rank < bound) if bounds else "train"
        case = generate_case(seed, index, size=size, profile=profile, **case_kwargs)
        for key in FOUR_VIEWS:
            entry = case["views"][key]
            image_id = f"{case['patient_id']}_{entry['side']}_{entry['view']}"
            image_rel = f"images/{image_id}.png"
            write_png16(os.path.join(out_dir, image_rel), entry["image"])
            mask_rels, classes = [], []
            for k, roi in enumerate(entry["rois"]):
                mask_rel = f"masks/{image_id}_roi{k}.png"
                write_mask_png(os.path.join(out_dir, mask_rel), roi["mask"])
                mask_rels.append(mask_rel)
                classes.append(roi["patch_class"])
            malignant = any(c.endswith("malignant") for c in classes)
            rows.append({
                "image_id": image_id, "patient_id": case["patient_id"], "side": entry["side"],
                "view": entry["view"], "label": int(malignant),
                "pathology": "MALIGNANT" if malignant else ("BENIGN" if classes else "NORMAL"),
                "abnormality": sorted({"mass" if c.startswith("mass") else "calcification" for c in classes}),
                "image_path": image_rel, "roi_mask_paths": mask_rels, "roi_classes": classes,
                "split": split,
            })
    path = os.path.join(out_dir, manifest_name)
    write_manifest(path, rows)
    return path
