"""Helpers for the data-layer tests: synthetic DICOMs, TCIA-like trees, INbreast files."""
import csv
import os
import plistlib

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MG_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"


def make_dicom(path, pixels, photometric="MONOCHROME2", bits_stored=None, series_uid=None,
               transfer_syntax=ExplicitVRLittleEndian, **attributes):
    """Write a small single-frame grey DICOM file; extra keyword args become DICOM attributes."""
    pixels = np.asarray(pixels)
    bits_allocated = 8 if pixels.dtype == np.uint8 else 16
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.file_meta.MediaStorageSOPClassUID = MG_FOR_PRESENTATION
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = MG_FOR_PRESENTATION
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "MG"
    ds.PatientID = attributes.pop("PatientID", "TEST")
    ds.StudyInstanceUID = attributes.pop("StudyInstanceUID", generate_uid())
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored or bits_allocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    for key, value in attributes.items():
        setattr(ds, key, value)
    if "PixelData" not in attributes:
        ds.PixelData = pixels.astype(np.uint8 if bits_allocated == 8 else "<u2").tobytes()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return ds


def write_cbis_csv(path, rows, kind):
    """Write a case-description CSV in the official columns (density spelled per kind)."""
    density = "breast_density" if kind == "mass" else "breast density"
    extra = ("mass shape", "mass margins") if kind == "mass" else ("calc type", "calc distribution")
    columns = ["patient_id", density, "left or right breast", "image view", "abnormality id",
               "abnormality type", *extra, "assessment", "pathology", "subtlety", "image file path",
               "cropped image file path", "ROI mask file path"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\r\n", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({density: 2, extra[0]: "ROUND", extra[1]: "CIRCUMSCRIBED", "assessment": 4,
                             "subtlety": 3, **row})


def cbis_row(patient, side, view, number, kind, pathology, image_rel, crop_rel, mask_rel):
    return {"patient_id": patient, "left or right breast": side, "image view": view,
            "abnormality id": number, "abnormality type": kind, "pathology": pathology,
            "image file path": image_rel, "cropped image file path": crop_rel,
            # the official files hold a newline inside the quoted path
            "ROI mask file path": mask_rel + "\n"}


def inbreast_xml(rois):
    """OsiriX plist bytes; ``rois`` = [(name, type, [(x, y), ...]), ...]."""
    entries = []
    for name, roi_type, points in rois:
        entries.append({
            "Area": 0.0, "Center": "(0.0, 0.0, 0.0)", "Dev": 0.0, "IndexInImage": len(entries),
            "Max": 0.0, "Mean": 0.0, "Min": 0.0, "Name": name, "NumberOfPoints": len(points),
            "Point_mm": ["(0.000000, 0.000000, 0.000000)"] * len(points),
            "Point_px": [f"({x:.6f}, {y:.6f})" for x, y in points],
            "Total": 0.0, "Type": roi_type,
        })
    return plistlib.dumps({"Images": [{"ImageHeight": 64, "ImageIndex": 0, "ImageWidth": 48,
                                       "NumberOfROIs": len(entries), "ROIs": entries}]},
                          fmt=plistlib.FMT_XML)


def write_inbreast(root, images):
    """INbreast release layout: INbreast.csv (';', CRLF), AllDICOMs/, AllXML/.

    ``images`` = [(file_name, patient_hash, side, view, birads, rois or None), ...].
    """
    os.makedirs(os.path.join(root, "AllDICOMs"), exist_ok=True)
    os.makedirs(os.path.join(root, "AllXML"), exist_ok=True)
    lines = ["Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads"]
    rng = np.random.default_rng(0)
    for file_name, patient, side, view, birads, rois in images:
        lines.append(f"removed;removed;{side};{view};201001;{file_name};2;{birads}")
        dicom_view = "ML" if view == "MLO" else view
        pixels = rng.integers(0, 2**14, size=(64, 48)).astype(np.uint16)
        make_dicom(os.path.join(root, "AllDICOMs", f"{file_name}_{patient}_MG_{side}_{dicom_view}_ANON.dcm"),
                   pixels, bits_stored=14)
        if rois is not None:
            with open(os.path.join(root, "AllXML", f"{file_name}.xml"), "wb") as f:
                f.write(rois if isinstance(rois, bytes) else inbreast_xml(rois))
    with open(os.path.join(root, "INbreast.csv"), "w", newline="", encoding="utf-8") as f:
        f.write("\r\n".join(lines) + "\r\n")
