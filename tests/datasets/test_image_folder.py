"""``prepare image-folder``: class subfolders and/or a labels CSV, 8/16-bit PNG, JPEG, DICOM,
inverted images found and corrected, bad files skipped and reported, patient-level splits."""
import csv
import json
import os

import cv2
import numpy as np
import pytest

from mammo_tf.commands.prepare import main_prepare
from mammo_tf.datasets.image_folder import label_of, load_image_folder
from mammo_tf.datasets.manifest import read_manifest
from mammo_tf.datasets.prepare import prepare
from mammo_tf.datasets.report import PrepareError, PrepareReport
from mammo_tf.io.images import border_median, correct_inversion, is_inverted, load_image

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
RSNA = os.path.join(SHARED, "rsna_screening_640")


def _mammogram(seed, size=(40, 32), bits=8):
    """Dark background, a bright blob (the breast) off the border."""
    rng = np.random.default_rng(seed)
    top = 255 if bits == 8 else 65535
    image = (rng.random(size) * 0.05 * top).astype(np.float64)
    image[8:32, 4:24] += 0.7 * top
    return np.clip(image, 0, top).astype(np.uint8 if bits == 8 else np.uint16)


def _folder(root):
    """Class subfolders + labels.csv: 8-bit PNG, 16-bit PNG, JPEG, DICOM, one inverted image, a
    corrupt file and patient p3 with images of both labels."""
    from data_layer_fixtures import make_dicom

    files = {}

    def put(rel, image, patient, label, **extra):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if rel.endswith(".dcm"):
            make_dicom(path, image)
        elif image is not None:
            cv2.imwrite(path, image)
        files[rel] = {"patient_id": patient, "label": label, **extra}

    put("malignant/a.png", _mammogram(0), "p1", "malignant", view="CC", laterality="L")
    put("malignant/b.png", _mammogram(1, bits=16), "p1", "malignant", view="MLO", laterality="L")
    put("no_cancer/c.jpg", _mammogram(2), "p2", "no_cancer")
    put("no_cancer/d.png", 255 - _mammogram(3), "p2", "no_cancer")            # inverted
    put("malignant/e.dcm", _mammogram(4, bits=16), "p3", "malignant", laterality="R")
    put("no_cancer/f.png", _mammogram(5), "p3", "no_cancer", laterality="L")  # both labels
    for k in range(6):
        put(f"no_cancer/n{k}.png", _mammogram(10 + k), f"q{k}", "no_cancer")
        put(f"malignant/m{k}.png", _mammogram(20 + k), f"r{k}", "malignant")
    path = os.path.join(root, "no_cancer", "broken.png")
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\nnot a png")
    files["no_cancer/broken.png"] = {"patient_id": "p4", "label": "no_cancer"}
    with open(os.path.join(root, "labels.csv"), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "patient_id", "label", "view", "laterality"])
        for rel, row in files.items():
            writer.writerow([rel, row["patient_id"], row["label"], row.get("view", ""),
                             row.get("laterality", "")])
    return root


def test_inversion_check_uses_the_border_median():
    image = _mammogram(0, bits=16)
    assert not is_inverted(image) and border_median(image) < 5000
    inverted = (65535 - image).astype(np.uint16)
    assert is_inverted(inverted)
    fixed, flag = correct_inversion(inverted)
    assert flag and np.array_equal(fixed, image)
    same, flag = correct_inversion(image)
    assert not flag and same is image


def test_labels_map_to_the_manifest_pathologies():
    assert label_of("malignant") == (1, "MALIGNANT")
    assert label_of("no_cancer") == (0, "NORMAL")
    assert label_of("Benign") == (0, "BENIGN")
    assert label_of("benign", positive=("benign", "malignant")) == (1, "BENIGN")


def test_csv_folder_is_prepared_with_inversion_fixed_and_bad_files_reported(tmp_path):
    src = _folder(str(tmp_path / "src"))
    manifest, report = prepare("image-folder", src, str(tmp_path / "out"), size=(40, 32), progress=False)
    rows = {r["image_id"]: r for r in read_manifest(manifest)}
    assert "broken" not in rows and len(rows) == 18
    assert [b["item"] for b in report.bad_items] == ["broken"]
    assert rows["a"]["label"] == 1 and rows["a"]["view"] == "CC" and rows["a"]["side"] == "L"
    assert rows["c"]["pathology"] == "NORMAL" and rows["e"]["pathology"] == "MALIGNANT"
    # the patient with both labels: one split for all its images, counted as malignant
    assert rows["e"]["split"] == rows["f"]["split"] and rows["e"]["patient_id"] == "p3"
    assert rows["a"]["split"] == rows["b"]["split"]
    assert {r["split"] for r in rows.values()} == {"train", "val", "test"}
    # the inverted image: listed and converted as 65535 - image
    assert any("corrected: 1 of 18: d" in n for n in report.notes)
    with open(tmp_path / "out" / "inverted_images.csv", encoding="utf-8") as f:
        assert [r["image_id"] for r in csv.DictReader(f)] == ["d"]
    out = os.path.dirname(manifest)
    converted = load_image(os.path.join(out, rows["d"]["image_path"]))
    assert not is_inverted(converted)
    np.testing.assert_allclose(converted.astype(float), _mammogram(3).astype(float) * 257, atol=257 * 2)
    # 16-bit PNG and DICOM kept at 16 bits
    np.testing.assert_array_equal(load_image(os.path.join(out, rows["b"]["image_path"])),
                                  _mammogram(1, bits=16))
    with open(os.path.join(out, "dataset.json"), encoding="utf-8") as f:
        info = json.load(f)
    assert info["dataset"] == "image-folder" and info["fix_inversion"] is True
    # the same seed, the same split
    again, _ = prepare("image-folder", src, str(tmp_path / "again"), size=(40, 32), progress=False)
    assert [r["split"] for r in read_manifest(again)] == [r["split"] for r in read_manifest(manifest)]


def test_strict_stops_and_keep_inverted_leaves_images(tmp_path):
    src = _folder(str(tmp_path / "src"))
    with pytest.raises(PrepareError, match="broken"):
        load_image_folder(src, PrepareReport(strict=True))
    records = load_image_folder(src, PrepareReport(), fix_inversion=False)
    assert not any(r.invert for r in records)
    assert len(records) == 19  # nothing is read: the corrupt file fails at conversion instead


def test_class_subfolders_without_csv(tmp_path):
    src = _folder(str(tmp_path / "src"))
    os.remove(os.path.join(src, "labels.csv"))
    report = PrepareReport()
    records = {r.image_id: r for r in load_image_folder(src, report)}
    assert records["a"].label == 1 and records["c"].label == 0
    assert records["a"].patient_id == "a"  # no patient ids: every image its own patient
    assert any("own patient" in n for n in report.notes)
    assert [b["item"] for b in report.bad_items] == ["broken"]


def test_csv_without_label_column_takes_the_subfolder_and_reports_missing_files(tmp_path):
    src = tmp_path / "src"
    (src / "malignant").mkdir(parents=True)
    cv2.imwrite(str(src / "malignant" / "x.png"), _mammogram(1))
    cv2.imwrite(str(src / "y.png"), _mammogram(2))
    (src / "list.csv").write_text("path,patient\nmalignant/x.png,A\ny.png,B\nmissing/z.png,C\n")
    report = PrepareReport()
    records = load_image_folder(str(src), report, labels_csv=str(src / "list.csv"))
    assert [(r.image_id, r.label, r.patient_id) for r in records] == [("x", 1, "A")]
    assert {b["item"] for b in report.bad_items} == {"y", "z"}


def test_command_prepares_a_folder_and_rejects_folder_flags_elsewhere(tmp_path, capsys):
    src = _folder(str(tmp_path / "src"))
    assert main_prepare(["image-folder", "--src", src, "--out", str(tmp_path / "out"), "--size", "40", "32",
                         "--no-progress", "--keep-inverted"]) == 0
    text = capsys.readouterr().out
    assert "bad items skipped: 1" in text and "inversion check off" in text
    with pytest.raises(SystemExit) as exc:
        main_prepare(["mini-mias", "--src", src, "--out", str(tmp_path / "o2"), "--keep-inverted"])
    assert exc.value.code == 2


@pytest.mark.slow  # reads all 2,535 JPEGs: about 45 s on 2 cores
@pytest.mark.skipif(not os.path.isdir(RSNA), reason=f"real data not present: {RSNA} (../shared/data)")
def test_real_rsna_folder_loads_with_its_inverted_images():
    """The RSNA screening JPEGs: 2,535 images, 722 patients, about 1 in 6 inverted."""
    report = PrepareReport()
    records = load_image_folder(RSNA, report)
    assert len(records) == 2535 and not report.bad_items
    assert len({r.patient_id for r in records}) == 722
    assert sum(r.label for r in records) == 862
    inverted = sum(r.invert for r in records)
    assert 2535 / 10 < inverted < 2535 / 4
