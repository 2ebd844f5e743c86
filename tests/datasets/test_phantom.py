"""Phantom mammograms: determinism, anatomy, labels carried by appearance, CBIS-DDSM layout."""
import csv
import hashlib
import json
import os
import pathlib

import cv2
import numpy as np
import pydicom
import pytest

from mammo_tf.datasets import phantom
from mammo_tf.datasets.phantom import Lesion, generate_case, render_view, write_phantom_cbis

SIZE = (96, 72)


def _lesion_difference(patch_class, seed=3, size=(192, 144), view="CC"):
    """Image with one lesion minus the same image without it (anatomy and noise are shared)."""
    lesion = Lesion(patch_class, depth=0.45, lateral=0.1, size=0.05, shape_seed=11)
    with_lesion, rois = render_view(seed, "L", view, [lesion], size=size, profile="inbreast")
    without, _ = render_view(seed, "L", view, [], size=size, profile="inbreast")
    return with_lesion.astype(np.float64) - without.astype(np.float64), rois[0][0]


def test_render_is_deterministic_and_seed_dependent():
    a, rois_a = render_view(5, "L", "MLO", ["mass_malignant", "calc_benign"], size=SIZE)
    b, rois_b = render_view(5, "L", "MLO", ["mass_malignant", "calc_benign"], size=SIZE)
    c, _ = render_view(6, "L", "MLO", ["mass_malignant", "calc_benign"], size=SIZE)
    assert a.dtype == np.uint16 and a.shape == SIZE
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert [cls for _, cls in rois_a] == ["mass_malignant", "calc_benign"]
    for (ma, _), (mb, _) in zip(rois_a, rois_b):
        assert ma.dtype == bool and ma.shape == SIZE and ma.any() and np.array_equal(ma, mb)


def test_side_puts_breast_against_its_edge_and_mlo_has_pectoral():
    left, _ = render_view(1, "L", "CC", [], size=SIZE)
    right, _ = render_view(1, "R", "CC", [], size=SIZE)
    assert left[:, :5].mean() > 4 * left[:, -5:].mean()
    assert right[:, -5:].mean() > 4 * right[:, :5].mean()
    cc, _ = render_view(2, "L", "CC", [], size=(192, 144))
    mlo, _ = render_view(2, "L", "MLO", [], size=(192, 144))
    corner = (slice(0, 20), slice(0, 15))  # upper chest-wall corner: pectoral muscle in MLO only
    assert mlo[corner].mean() > cc[corner].mean() + 5000


def test_profiles_differ():
    ddsm, _ = render_view(4, "L", "CC", [], size=SIZE, profile="ddsm")
    inbreast, _ = render_view(4, "L", "CC", [], size=SIZE, profile="inbreast")
    assert inbreast[:, -3:].max() == 0 and ddsm[:, -3:].min() > 0  # black vs film-base background
    assert not np.array_equal(ddsm, inbreast)
    with pytest.raises(ValueError, match="profile"):
        render_view(4, "L", "CC", [], size=SIZE, profile="nope")


def test_masses_benign_circumscribed_malignant_spiculated():
    solidity = {}
    for cls in ("mass_benign", "mass_malignant"):
        diff, mask = _lesion_difference(cls)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        contour = max(contours, key=cv2.contourArea)
        solidity[cls] = cv2.contourArea(contour) / cv2.contourArea(cv2.convexHull(contour))
        ring = cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & ~mask
        far = ~cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        solidity[cls + "_spicules"] = int(((diff > 1500) & far).sum())
        assert diff[mask].mean() > 8000  # the mass is denser than its surroundings
        assert ring.any()
    assert solidity["mass_benign"] > 0.95 and solidity["mass_malignant"] < 0.9
    assert solidity["mass_benign_spicules"] < 5 < solidity["mass_malignant_spicules"]


def test_calcifications_benign_few_coarse_malignant_many_fine():
    stats = {}
    for cls in ("calc_benign", "calc_malignant"):
        diff, mask = _lesion_difference(cls)
        bright = (diff > 8000).astype(np.uint8)
        n, _, comp, _ = cv2.connectedComponentsWithStats(bright, connectivity=8)
        areas = comp[1:, cv2.CC_STAT_AREA]
        stats[cls] = (n - 1, float(np.median(areas)), float(diff.max()))
        assert bright[~mask].sum() == 0  # every calcification lies inside its ROI
    n_benign, area_benign, peak_benign = stats["calc_benign"]
    n_malignant, area_malignant, _ = stats["calc_malignant"]
    assert 1 <= n_benign <= 5 and n_malignant >= 6
    assert area_benign > 2 * area_malignant  # coarse vs fine dots
    assert peak_benign > 25000


def test_generate_case_four_views_and_labels():
    case = generate_case(0, 3, size=SIZE, lesions={"L": ["mass_malignant"], "R": ["calc_benign", "calc_benign"]})
    assert list(case["views"]) == list(phantom.FOUR_VIEWS)
    assert case["labels"] == {"L": {"benign": 0, "malignant": 1}, "R": {"benign": 1, "malignant": 0}}
    for key, entry in case["views"].items():
        assert key == f"{entry['side']}-{entry['view']}"
        assert entry["image"].shape == SIZE and entry["image"].dtype == np.uint16
        expected = [l.patch_class for l in case["lesions"][entry["side"]]]
        assert [r["patch_class"] for r in entry["rois"]] == expected
        assert [r["lesion_index"] for r in entry["rois"]] == list(range(len(expected)))
    again = generate_case(0, 3, size=SIZE, lesions={"L": ["mass_malignant"], "R": ["calc_benign", "calc_benign"]})
    assert np.array_equal(again["views"]["R-MLO"]["image"], case["views"]["R-MLO"]["image"])
    normal = generate_case(0, 3, size=SIZE, abnormal_fraction=0.0)
    assert all(not e["rois"] for e in normal["views"].values())


def _tree_digest(root):
    digest = hashlib.sha256()
    for path in sorted(pathlib.Path(root).rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def cbis_tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom") / "cbis"
    summary = write_phantom_cbis(out, n_patients=8, seed=1, size=SIZE, abnormal_fraction=0.9)
    return out, summary


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames), list(reader)


def test_cbis_layout_csvs_and_dicoms(cbis_tree):
    out, summary = cbis_tree
    assert summary["n_images"] == 8 * 4
    n_rows = 0
    for (kind, split), name in phantom.CSV_FILES.items():
        raw = (out / name).read_bytes()
        assert raw.endswith(b"\r\n")
        header, rows = _read_csv(out / name)
        assert tuple(header) == (phantom.MASS_COLUMNS if kind == "mass" else phantom.CALC_COLUMNS)
        n_rows += len(rows)
        newline_column = "ROI mask file path" if kind == "mass" else "cropped image file path"
        for row in rows:
            assert row[newline_column].endswith("\n")  # the official CSVs' embedded newline
            assert row["pathology"] in ("BENIGN", "BENIGN_WITHOUT_CALLBACK", "MALIGNANT")
            prefix = "Mass" if kind == "mass" else "Calc"
            side, view = row["left or right breast"], row["image view"]
            top = f"{prefix}-{split}_{row['patient_id']}_{side}_{view}"
            assert row["image file path"].startswith(top + "/")
            image = pydicom.dcmread(out / row["image file path"])
            assert image.pixel_array.shape == SIZE and image.pixel_array.dtype == np.uint16
            assert image.PhotometricInterpretation == "MONOCHROME2" and image.Modality == "MG"
            _, study, series, _ = row["image file path"].split("/")
            assert (image.StudyInstanceUID, image.SeriesInstanceUID) == (study, series)
            roi_folder = out / os.path.dirname(row["ROI mask file path"].strip())
            assert roi_folder.parts[-3] == f"{top}_{row['abnormality id']}"
            files = sorted(roi_folder.glob("*.dcm"))
            assert [f.name for f in files] == ["000000.dcm", "000001.dcm"]
            by_content = {}
            for f in files:
                ds = pydicom.dcmread(f)
                assert ds.SeriesInstanceUID == roi_folder.name
                pixels = ds.pixel_array
                is_mask = pixels.shape == SIZE and set(np.unique(pixels)) <= {0, 255}
                by_content["mask" if is_mask else "crop"] = pixels
            assert set(by_content) == {"mask", "crop"}
            assert by_content["crop"].shape[0] < SIZE[0] or by_content["crop"].shape[1] < SIZE[1]
    assert n_rows == sum(summary["abnormalities"].values()) == sum(summary["csv_rows"].values())
    header, normals = _read_csv(out / "normals.csv")
    assert tuple(header) == phantom.NORMALS_COLUMNS and len(normals) == summary["n_normal_images"]
    for row in normals:
        assert (out / row["path"]).is_file() and row["path"].startswith(f"Normal-{row['split']}_")
    assert json.loads((out / "phantom.json").read_text())["n_images"] == summary["n_images"]


def test_cbis_file_names_do_not_tell_mask_from_crop(tmp_path):
    # Both orders occur, so a loader must look at the content (as with the real download).
    write_phantom_cbis(tmp_path / "t", n_patients=12, seed=0, size=(32, 24), abnormal_fraction=1.0)
    first_files = {pydicom.dcmread(folder / "000000.dcm").SeriesDescription
                   for folder in (tmp_path / "t").glob("*_[0-9]/*/*")}
    assert first_files == {"ROI mask images", "cropped images"}


def test_cbis_write_is_byte_identical(tmp_path, cbis_tree):
    out, _ = cbis_tree
    again = tmp_path / "again"
    write_phantom_cbis(again, n_patients=8, seed=1, size=SIZE, abnormal_fraction=0.9)
    assert _tree_digest(again) == _tree_digest(out)


def test_cbis_columns_match_the_official_files(shared_data):
    for (kind, _), name in phantom.CSV_FILES.items():
        header, _ = _read_csv(shared_data / "cbis_ddsm_csv" / name)
        assert tuple(header) == (phantom.MASS_COLUMNS if kind == "mass" else phantom.CALC_COLUMNS), name


def test_cbis_refuses_to_replace_a_foreign_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="refusing"):
        write_phantom_cbis(tmp_path, n_patients=1, size=(32, 24))
    assert (tmp_path / "keep.txt").read_text() == "user data"
