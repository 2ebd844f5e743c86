"""The training scripts' screening report of their test split (issue 14: "the training scripts
call the same code for their test split"): mammo_tf.screening.runs.write_run_report and
train_whole's test_split_report (also used by transfer), on tiny inputs."""
import csv
import json

import numpy as np
import pytest

from mammo_tf.screening.runs import auto_subgroups, image_prediction_rows, write_run_report


def _manifest(path, n_patients=16):
    rows = []
    for p in range(n_patients):
        for side in "LR":
            for view in ("CC", "MLO"):
                split = "val" if p % 2 else "test"
                label = int((p // 2) % 3 == 0 and side == "L")
                rows.append({"image_id": f"p{p}{side}{view}", "patient_id": f"p{p}", "side": side, "view": view,
                             "label": label, "split": split, "density": "AC"[p % 4 // 2],
                             "manufacturer": "HOLOGIC", "age": str(40 + p), "image_path": f"images/p{p}{side}{view}.png",
                             "pathology": "MALIGNANT" if label else "NORMAL", "abnormality": "",
                             "roi_mask_paths": "", "roi_classes": ""})
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _rows(rows, split, shift, rng):
    chosen = [r for r in rows if r["split"] == split]
    logits = np.array([2.5 * r["label"] - 1.0 + shift for r in chosen]) + rng.normal(0, 1.0, len(chosen))
    p = 1 / (1 + np.exp(-3 * logits))  # over-confident: calibration has work to do
    return image_prediction_rows([r["image_id"] for r in chosen], [r["label"] for r in chosen], p)


def test_write_run_report_calibrates_and_thresholds_on_validation(tmp_path):
    rows = _manifest(tmp_path / "manifest.csv")
    rng = np.random.default_rng(0)
    test = {"model": _rows(rows, "test", 0, rng), "model + TTA": _rows(rows, "test", 0.2, rng)}
    val = {"model": _rows(rows, "val", 0, rng), "model + TTA": _rows(rows, "val", 0.2, rng)}
    run = tmp_path / "run"
    # manufacturer has one value only: no table; age in years never; view: an image manifest
    assert auto_subgroups(str(tmp_path / "manifest.csv")) == ["view", "density"]
    summary = write_run_report(run, test, val, manifest=str(tmp_path / "manifest.csv"), n_boot=30)
    assert "error" not in summary
    report = json.loads((run / summary["json"]).read_text())
    assert (run / summary["html"]).is_file()
    assert list(report["models"]) == ["model", "model + TTA"]
    model = report["models"]["model"]
    assert model["calibration"]["fitted_on"] == {"split": "validation", "level": "image", "n": 32, "n_positive": 6}
    assert summary["calibration_file"] == "calibration.json"  # relative to the run folder
    assert json.loads((run / "calibration.json").read_text())["temperature"] == model["calibration"]["temperature"]
    exam = model["levels"]["exam"]
    assert exam["n"] == 8 and exam["probabilities"] == "calibrated"
    assert exam["calibration"]["after"]["ece"] == summary["levels"]["model"]["exam"]["ece"]
    assert {t["chosen_on"] for t in exam["validation_thresholds"]} == {"validation"}
    assert set(exam["subgroups"]) == {"density"}  # view varies within an exam: no table
    assert set(model["levels"]["image"]["subgroups"]) == {"view", "density"}
    assert [r["value"] for r in exam["subgroups"]["density"]] == ["A", "C"]
    assert {c["level"] for c in report["comparisons"]} == {"image", "breast", "exam"}
    assert summary["comparisons"][0]["models"] == ["model", "model + TTA"]
    # the predictions it evaluated are kept: `mammo-tf evaluate` can redo the report
    with open(run / "report" / "val_model.csv", newline="") as f:
        assert {r["image_id"] for r in csv.DictReader(f)} == {r["image_id"] for r in rows if r["split"] == "val"}


def test_run_report_without_a_separate_validation_split_and_when_it_cannot_be_made(tmp_path):
    rows = _manifest(tmp_path / "manifest.csv")
    rng = np.random.default_rng(1)
    test = {"model": _rows(rows, "test", 0, rng)}
    summary = write_run_report(tmp_path / "run", test, test, manifest=str(tmp_path / "manifest.csv"), n_boot=20)
    assert "validation split is the test split" in summary["note"] and "calibration" not in summary
    assert not (tmp_path / "run" / "calibration.json").exists()
    assert summary["levels"]["model"]["exam"]["probabilities"] == "as predicted"
    one_class = [dict(r, label=0) for r in _rows(rows, "val", 0, rng)]
    failed = write_run_report(tmp_path / "run2", test, {"model": one_class}, n_boot=20)
    assert "both classes" in failed["error"]  # logged and recorded; the run is kept


def test_train_whole_test_split_report_with_a_keras_model(tmp_path):
    """train_whole / transfer: the model and the model + TTA on the test split, calibrated on
    the validation split, as their training step calls it."""
    from mammo_tf.io import write_png16
    from mammo_tf.runs import RunFolder
    from mammo_tf.shen import data
    from mammo_tf.shen.train_whole import evaluate_whole, test_split_report
    from predict_fixtures import position_sensitive_model, synthetic_images

    rows = _manifest(tmp_path / "manifest.csv", n_patients=8)
    (tmp_path / "images").mkdir()
    for image, row in zip(synthetic_images(len(rows), (32, 32), seed=3), rows):
        write_png16(tmp_path / row["image_path"], image)
    manifest = str(tmp_path / "manifest.csv")
    val = data.whole_image_dataset(manifest, "val", 40.0, 4, (32, 32), training=False)
    test = data.whole_image_dataset(manifest, "test", 40.0, 4, (32, 32), training=False)
    model = position_sensitive_model()
    run = RunFolder(tmp_path / "run")
    predictions = {}
    metrics = evaluate_whole(model, test, run, tta=True, n_boot=20, predictions=predictions)
    assert set(predictions) == {"labels", "model", "model + TTA"}
    summary = test_split_report(model, run, val, test, predictions, manifest, tta=True, n_boot=20)
    assert "error" not in summary, summary.get("error")
    report = json.loads((tmp_path / "run" / "report" / "report.json").read_text())
    image = report["models"]["model"]["levels"]["image"]
    assert image["auc_uncalibrated"] == pytest.approx(metrics["test_auc"], abs=1e-6)  # same predictions
    assert image["auc"] == pytest.approx(metrics["test_auc"], abs=1e-6)  # temperature keeps the AUC
    tta = report["models"]["model + TTA"]["levels"]["image"]
    assert tta["auc_uncalibrated"] == pytest.approx(metrics["test_auc_tta"], abs=1e-6)
    assert report["models"]["model"]["calibration"]["fitted_on"]["n"] == 16  # the val images
    assert (tmp_path / "run" / "calibration.json").is_file()
    assert [c["model_2"] for c in report["comparisons"]] == ["model + TTA"] * 3
