"""examples/real_data.py at toy size: a generated screening folder (labels CSV, inverted images)
and a generated mini-MIAS folder, tiny images, one epoch per stage, every step 2a-2d."""
import csv
import json
import os
import sys

import cv2
import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
import real_data  # noqa: E402


def _mias(root, n_patients=20):
    """mini-MIAS layout: Info.txt + 1024x1024 8-bit PGMs; patients 1-10 have a mass in one breast."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    lines = []
    for p in range(n_patients):
        for k in (1, 2):
            number = 2 * p + k
            image = (rng.random((1024, 1024)) * 40).astype(np.uint8)
            image[200:900, 100:700] += 80
            if p < n_patients // 2 and k == 1:
                x, y = 300 + 10 * p, 500
                cv2.circle(image, (x, 1023 - y), 60, 250, -1)
                lines.append(f"mdb{number:03d} G CIRC {'M' if p % 2 else 'B'} {x} {y} 60")
            else:
                lines.append(f"mdb{number:03d} G NORM ")
            (root / f"mdb{number:03d}.pgm").write_bytes(b"P5\n1024 1024\n255\n" + image.tobytes())
    (root / "Info.txt").write_text("header\n\n" + "\n".join(lines) + "\n")
    return str(root)


def _screening(root, n_patients=30):
    """Two 64x64 JPEGs per patient, 12 cancer patients, every 5th image inverted."""
    rng = np.random.default_rng(1)
    rows = []
    for p in range(n_patients):
        label = "malignant" if p < 12 else "no_cancer"
        for k in range(2):
            image = (rng.random((64, 64)) * 30).astype(np.uint8)
            image[10:54, 5:40] += 90
            if label == "malignant":
                cv2.circle(image, (20, 30), 5, 250, -1)
            if (2 * p + k) % 5 == 0:
                image = 255 - image
            rel = f"{label}/{p}_{k}.jpg"
            os.makedirs(root / label, exist_ok=True)
            cv2.imwrite(str(root / rel), image)
            rows.append([rel, p, f"{p}{k}", label])
    with open(root / "labels.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["file", "patient_id", "image_id", "label"]] + rows)
    return str(root)


def _argv(tmp_path, *extra):
    return ["--rsna", _screening(tmp_path / "rsna"), "--mias", _mias(tmp_path / "mias"),
            "--out", str(tmp_path / "out"), "--seeds", "0", "--size", "64", "64", "--mias-size", "64", "64",
            "--spacing", "3.2", "--patch-size", "32", "--baseline-stride", "16", "--epochs-scale", "0.01",
            "--weights", "none", "--no-savedmodel", *extra]


@pytest.mark.end_to_end  # about 50 s of CPU on TensorFlow (tracing 4 fits); CI's JAX leg skips it
def test_toy_run_2a_to_2c(tmp_path, monkeypatch, capsys):
    """The make-test size: the patch classifier (2a), one whole-image init (2b), the patch
    baseline (2c), the table, the screening report and the learning curves."""
    monkeypatch.setattr(real_data, "N_BOOT", 20)
    monkeypatch.setattr(real_data.check, "N_BOOT", 20)
    assert real_data.main(_argv(tmp_path, "--models", "random", "patch_low_l2", "--transfer-sizes")) == 0
    text = capsys.readouterr().out
    assert "random init -> whole image" in text and "addition: the paper's method" in text
    report = json.load(open(tmp_path / "out" / "real_data_report.json"))
    assert set(report["table"]["rsna"]) == {"random", "patch_low_l2", "baseline_max_malignant",
                                            "baseline_max_lesion"}
    # the addition is its own named experiment: the paper's schedule but L2 1e-4 in the all-layer stage
    addition = tmp_path / "out" / "runs" / "rsna_patch_low_l2_seed0"
    assert json.load(open(addition / "run.json"))["details"]["experiment"] == "rsna_whole_low_l2"
    assert [s["l2"] for s in json.load(open(addition / "config.json"))["stages"]] == [1e-3, 1e-4]
    assert report["transfer_source"]["0"] == "random"  # chosen among the paper's inits only
    assert 0.0 <= report["table"]["rsna"]["random"]["tta"]["mean"] <= 1.0
    assert os.path.isfile(tmp_path / "out" / "learning_curves.png")
    assert os.path.isfile(tmp_path / "out" / "screening" / "report.html")
    run = json.load(open(tmp_path / "out" / "runs" / "rsna_random_seed0" / "run.json"))
    assert run["details"]["inversion_correction"] == "border_median"


def test_transfer_without_a_paper_init_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        real_data.main(_argv(tmp_path, "--models", "patch_low_l2", "--transfer-sizes", "3"))
    assert exc.value.code == 2
    assert "--transfer-sizes needs one of the paper's inits" in capsys.readouterr().err


@pytest.mark.slow
def test_toy_run_covers_2a_to_2d(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(real_data, "N_BOOT", 20)
    monkeypatch.setattr(real_data.check, "N_BOOT", 20)
    out = tmp_path / "out"
    argv = _argv(tmp_path, "--transfer-sizes", "3")
    assert real_data.main(argv) == 0
    text = capsys.readouterr().out
    assert "the paper's method" in text and "RSNA model -> finetuned on mini-MIAS" in text
    report = json.load(open(out / "real_data_report.json"))
    rsna = report["table"]["rsna"]
    assert set(rsna) >= {"patch", "imagenet", "random", "patch_low_l2", "baseline_max_malignant"}
    for row in rsna.values():
        assert 0.0 <= row["plain"]["mean"] <= 1.0
    assert set(rsna["patch"]["tta"]["average_model"]) == {"auc", "ci95"}
    assert set(report["table"]["mias"]) >= {"transfer_n3", "alone_n3", "patch_lesion_vs_normal"}
    assert report["transfer_source"]["0"] in real_data.INITS  # seed 0's best RSNA model by validation
    seed = report["seeds"][0]
    assert seed["transfer"]["3"]["transfer"]["n_train"] == 6  # 3 patients, 2 images each
    assert os.path.isfile(out / "learning_curves.png")
    assert os.path.isfile(out / "screening" / "report.html")
    # every model is a run folder; the RSNA runs record the inversion correction for predict
    run = json.load(open(out / "runs" / "rsna_patch_seed0" / "run.json"))
    assert run["details"]["inversion_correction"] == "border_median"
    assert os.path.isfile(out / "runs" / "mias_transfer_n3_seed0" / "run.json")
    # a second call resumes: nothing is trained again
    assert real_data.main(argv) == 0
