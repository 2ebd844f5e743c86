# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DICOM mammograms via pydicom 3: modality LUT, VOI LUT / window, MONOCHROME1 inversion.

Compressed pixel data is decoded by the install dependencies ``pylibjpeg`` +
``pylibjpeg-libjpeg`` (JPEG baseline, extended, lossless process 14, JPEG-LS),
``pylibjpeg-openjpeg`` (JPEG 2000, HTJ2K), ``pyjpegls`` (JPEG-LS) and ``pylibjpeg-rle`` (RLE
Lossless, 1.5-6x faster than pydicom's own RLE handler, which remains the fallback).
Syntaxes none of them decodes (video, multi-component JPEG 2000, JPIP references) raise
:class:`MissingDecoderError` naming the file, the syntax and a tool that would decode it.
"""
import os
import re
import warnings

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut, apply_voi_lut, get_decoder, pixel_array

from mammo_tf.io.errors import MammogramReadError, MissingDecoderError
from mammo_tf.io.metadata import MammogramMetadata, side_view_from_name

# pydicom names plugins by import name; users install them under these pip names.
_PIP_NAMES = {"gdcm": "python-gdcm"}
_PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_DECOMPRESS_FIRST = ("GDCM (`gdcmconv --raw in.dcm out.dcm`) or DCMTK (`dcmdjpeg`/`dcmdjp2k`) "
                     "to write an uncompressed copy first")
VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")  # DICOM PS3.3 C.11.2.1.2-3


def _unsupported_hint(syntax):
    """What would decode a transfer syntax pydicom has no decoder for at all."""
    name = syntax.name.upper()
    if any(key in name for key in ("MPEG", "HEVC", "H.264", "H.265", "SMPTE")):
        return ("nothing in mammo_tf: it is a video/audio syntax, not a still image; extract the frames with "
                "a video tool (ffmpeg) or export the image from the modality again")
    if "JPIP" in name:
        return ("the pixel data is not in the file (JPIP reference): retrieve the image from the JPIP "
                "server named in the file, e.g. as an uncompressed or JPEG 2000 DICOM")
    return _DECOMPRESS_FIRST


def read_dicom_header(path, specific_tags=None):
    """Read a DICOM header without pixel data (fast indexing of large downloads)."""
    try:
        return pydicom.dcmread(os.fspath(path), stop_before_pixels=True, specific_tags=specific_tags)
    except Exception as exc:  # damaged files make pydicom raise many exception types
        raise MammogramReadError(path, f"not a readable DICOM file ({type(exc).__name__}: {exc})") from exc


def image_pixel_spacing(path):
    """Pixel spacing (mm, the row spacing) from a DICOM header (PixelSpacing, else
    ImagerPixelSpacing), or None for other files (by extension), unreadable headers (reported
    where the pixels are read) and headers without it."""
    if not os.fspath(path).lower().endswith((".dcm", ".dicom")):
        return None
    try:
        ds = read_dicom_header(path, specific_tags=["PixelSpacing", "ImagerPixelSpacing"])
    except MammogramReadError:
        return None
    for tag in ("PixelSpacing", "ImagerPixelSpacing"):
        value = getattr(ds, tag, None)
        if value:
            return float(value[0])
    return None


def read_dicom_pixels(path):
    """The stored pixel values of a DICOM file as decoded, without any grey-level transform
    (no modality LUT, VOI or inversion): for files that are data rather than images to show,
    such as CBIS-DDSM's ROI mask DICOMs. Failures raise :class:`MammogramReadError`."""
    path = os.fspath(path)
    try:
        return pydicom.dcmread(path).pixel_array
    except Exception as exc:  # pydicom raises many types for damaged files
        raise MammogramReadError(path, f"cannot decode pixel data ({type(exc).__name__}: {exc})") from exc


def header_facts(ds):
    """Acquisition facts of a DICOM header used for subgroups: ``manufacturer``,
    ``manufacturer_model`` and ``patient_age`` (strings as stored, ``None`` where absent)."""
    facts = {}
    for key, tag in (("manufacturer", "Manufacturer"), ("manufacturer_model", "ManufacturerModelName"),
                     ("patient_age", "PatientAge")):
        value = str(ds.get(tag) or "").strip()
        facts[key] = value or None
    return facts


def _install_hint(decoder):
    """'pip install a b | pip install c' from pydicom's ``missing_dependencies`` strings."""
    options = []
    for entry in decoder.missing_dependencies:
        requirement = entry.split("requires", 1)[-1]
        names = re.findall(r"([A-Za-z][\w\-]*)\s*>=", requirement)
        names = [_PIP_NAMES.get(n, n) for n in names]
        if names:
            options.append("pip install " + " ".join(names))
    return " | ".join(options) or "a pydicom pixel-data plugin (pylibjpeg or python-gdcm)"


def _check_decodable(path, ds):
    file_meta = getattr(ds, "file_meta", None)
    syntax = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    if syntax is None or not syntax.is_compressed:
        return
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        raise MissingDecoderError(path, f"'{syntax.name}' ({syntax})", _unsupported_hint(syntax)) from exc
    if not decoder.is_available:
        raise MissingDecoderError(path, f"'{syntax.name}' ({syntax})", _install_hint(decoder))


def _nominal_range(ds):
    """Value range of the stored pixels after the modality LUT / rescale (DICOM PS3.3 C.11.1)."""
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16)
    if ds.get("ModalityLUTSequence"):
        return 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1), bits
    if int(ds.get("PixelRepresentation", 0)) == 0:
        low, high = 0.0, float(2**bits - 1)
    else:
        low, high = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if slope is not None and intercept is not None:
        low, high = sorted((low * float(slope) + float(intercept), high * float(slope) + float(intercept)))
    return low, high, bits


def _has_voi_lut(ds):
    seq = ds.get("VOILUTSequence")
    return bool(seq) and seq[0].get("LUTDescriptor") is not None and seq[0].get("LUTData") is not None


def _needs_modality_lut(ds):
    if ds.get("ModalityLUTSequence"):
        return True
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    return slope is not None and intercept is not None and (float(slope) != 1 or float(intercept) != 0)


def _number_of_frames(ds):
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def _decode(path, ds, frame):
    frames = _number_of_frames(ds)
    if frame is None and frames > 1:
        raise MammogramReadError(
            path, f"multi-frame DICOM with {frames} frames (tomosynthesis or a cine series): mammo_tf reads "
            f"one 2-D image; choose one with frame=K (0..{frames - 1}), `--frame K` on the command line, "
            "or use the synthetic 2-D view (C-View / V-Preview) of the exam")
    if frame is not None and frames > 1 and not 0 <= int(frame) < frames:
        raise MammogramReadError(path, f"frame {frame} requested but the file has {frames} frame(s) (0..{frames - 1})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if frames > 1:
                return pixel_array(ds, index=int(frame))
            return ds.pixel_array
    except Exception as exc:  # pydicom raises many types for damaged pixel data
        syntax = ds.file_meta.get("TransferSyntaxUID") if getattr(ds, "file_meta", None) is not None else None
        where = f" ({syntax.name})" if syntax is not None else ""
        raise MammogramReadError(
            path, f"pixel data{where} cannot be decoded ({type(exc).__name__}: {exc}); the file may be damaged or truncated"
        ) from exc


def _apply_voi(path, ds, image):
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    if not _has_voi_lut(ds) and function not in VOI_FUNCTIONS:
        raise MammogramReadError(path, f"VOI LUT Function {function!r} is not one of {', '.join(VOI_FUNCTIONS)} "
                                       "(DICOM PS3.3 C.11.2); read with apply_voi=False for the raw values")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return apply_voi_lut(image, ds, index=0, prefer_lut=True), function
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise MammogramReadError(path, f"VOI LUT / window cannot be applied ({type(exc).__name__}: {exc})") from exc


def read_dicom(path, apply_voi=True, frame=None):
    """Read a DICOM mammogram; returns ``(float32 image (H, W), MammogramMetadata)``.

    Steps: modality LUT (rescale slope/intercept or LUT sequence), then the first VOI LUT
    (LUT sequence preferred) or window when present and ``apply_voi``, then inversion when the
    image is MONOCHROME1 or its Presentation LUT Shape is INVERSE (the MG/DX IODs pair the two:
    they describe one inversion, which is applied once), so dense tissue is always bright.
    Windows use the file's VOI LUT Function: LINEAR, LINEAR_EXACT or SIGMOID (PS3.3 C.11.2,
    via pydicom's ``apply_voi_lut``); the output range is the stored range after the
    modality LUT. A multi-frame file raises :class:`MammogramReadError` naming its frame
    count unless ``frame`` (0-based) picks one; single-frame files ignore ``frame``.
    """
    path = os.fspath(path)
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # damaged files make pydicom raise many exception types
        raise MammogramReadError(path, f"not a readable DICOM file ({type(exc).__name__}: {exc})") from exc
    if not any(tag in ds for tag in _PIXEL_TAGS):
        raise MammogramReadError(path, "DICOM file has no PixelData element (a header-only file, or truncated before the pixel data)")
    _check_decodable(path, ds)
    pixels = _decode(path, ds, frame)
    if pixels.ndim == 3 and int(ds.get("SamplesPerPixel", 1) or 1) > 1:
        raise MammogramReadError(
            path, f"colour image ({ds.get('PhotometricInterpretation')}, {ds.get('SamplesPerPixel')} samples per "
            "pixel): a mammogram is one grey-level channel; convert it to MONOCHROME2 first")
    if pixels.ndim != 2:
        raise MammogramReadError(
            path, f"expected one grey-level frame, got pixel array of shape {pixels.shape} "
            f"({ds.get('PhotometricInterpretation')}, {ds.get('NumberOfFrames', 1)} frames)"
        )
    low, high, bits = _nominal_range(ds)
    image = pixels
    modality = _needs_modality_lut(ds)
    if modality:
        image = apply_modality_lut(image, ds)
    voi = voi_function = None
    if apply_voi and (_has_voi_lut(ds) or (ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None)):
        voi = "lut" if _has_voi_lut(ds) else "window"
        image, function = _apply_voi(path, ds, image)
        voi_function = None if voi == "lut" else function
        if voi == "lut":
            low, high = 0.0, float(2 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1)
    image = np.asarray(image, dtype=np.float32)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper()
    inverted = photometric == "MONOCHROME1" or shape == "INVERSE"
    if inverted:
        image = np.float32(low + high) - image
    side = ds.get("ImageLaterality") or ds.get("Laterality")
    view = ds.get("ViewPosition")
    name_side, name_view = side_view_from_name(path)
    return image, MammogramMetadata(
        path=path,
        format="dicom",
        bits_stored=bits,
        value_min=low,
        value_max=high,
        rows=int(image.shape[0]),
        columns=int(image.shape[1]),
        photometric_interpretation=photometric,
        inverted=inverted,
        laterality=(str(side).strip().upper()[:1] or None) if side else name_side,
        view=(str(view).strip().upper() or None) if view else name_view,
        modality_lut_applied=modality,
        voi_applied=voi,
        voi_function=voi_function,
        frame=None if frame is None or _number_of_frames(ds) == 1 else int(frame),
        presentation_intent=ds.get("PresentationIntentType"),
        patient_id=ds.get("PatientID"),
        series_instance_uid=ds.get("SeriesInstanceUID"),
        **header_facts(ds),
    )
