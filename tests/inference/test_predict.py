"""Tests for mammo_tf.inference.predict and the predict.py script: preprocessing, TTA, averaging, CLI."""
import csv
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from mammo_tf.inference import predict as lib
from mammo_tf.io import write_png16
from mammo_tf.io.images import load_image
from mammo_tf.inference.tta import flip_batch
from mammo_tf.preprocess import to_network_input
from data_layer_fixtures import make_dicom

from predict_fixtures import (PIXEL_MEAN, REPO_ROOT, load_predict_script as _load_script,
                              position_sensitive_model, save_in_run, synthetic_images)


def flip_invariant_model(size=(32, 32)):
    """Conv with a kernel symmetric under both flips + 'same' zero padding -> GAP -> softmax."""
    inputs = keras.Input((*size, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")
    x = conv(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs)
    kernel, bias = conv.get_weights()
    kernel = (kernel + kernel[::-1] + kernel[:, ::-1] + kernel[::-1, ::-1]) / 4
    conv.set_weights([kernel * 0.05, bias])
    return model


def write_dicom(path, image12):
    """A minimal 12-bit MONOCHROME2 MG DICOM file."""
    make_dicom(path, image12, bits_stored=12)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """3 PNGs (48x40, not the model size), 1 DICOM, 1 unreadable file, a manifest with labels."""
    folder = tmp_path_factory.mktemp("images")
    images = synthetic_images(3, (48, 40))
    for i, image in enumerate(images):
        write_png16(folder / f"img{i}.png", image)
    rng = np.random.default_rng(5)
    write_dicom(folder / "scan.dcm", rng.integers(0, 4096, (50, 44)))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    manifest = folder / "manifest.csv"
    rows = [("img0", "img0.png", 0, "test"), ("img1", "img1.png", 1, "test"),
            ("img2", "img2.png", 0, "train"), ("scan", "scan.dcm", 1, "test")]
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image_id", "patient_id", "label", "image_path", "split"])
        for image_id, path, label, split in rows:
            writer.writerow([image_id, "p", label, path, split])
    return folder


def test_flip_batch_order():
    x = np.arange(2 * 3).reshape(1, 2, 3, 1)
    flips = flip_batch(x)
    np.testing.assert_array_equal(flips[1, :, :, 0], x[0, :, ::-1, 0])  # horizontal: width axis
    np.testing.assert_array_equal(flips[2, :, :, 0], x[0, ::-1, :, 0])  # vertical: height axis
    np.testing.assert_array_equal(flips[3, :, :, 0], x[0, ::-1, ::-1, 0])


def test_tta_on_flip_invariant_model_returns_plain_prediction():
    predictor = lib.Predictor(flip_invariant_model(), pixel_mean=PIXEL_MEAN)
    images = synthetic_images(3)
    plain = predictor(images)
    np.testing.assert_allclose(predictor(images, tta=True), plain, atol=1e-6)
    # The check can fail: a position-sensitive model changes under TTA.
    sensitive = lib.Predictor(position_sensitive_model(), pixel_mean=PIXEL_MEAN)
    assert np.abs(sensitive(images, tta=True) - sensitive(images)).max() > 1e-4


def test_tta_is_one_batched_call_equal_to_four_separate_calls():
    model = position_sensitive_model()
    calls = []

    def forward(x):
        calls.append(len(x))
        return model.predict_on_batch(x)

    predictor = lib.Predictor(model, pixel_mean=PIXEL_MEAN, forward=forward)
    images = synthetic_images(3)
    tta = predictor(images, tta=True)
    assert calls == [12]  # one forward pass over 4 flips x 3 images
    x = to_network_input(images, PIXEL_MEAN)
    separate = [model.predict_on_batch(v) for v in
                (x, x[:, :, ::-1], x[:, ::-1, :], x[:, ::-1, ::-1])]
    np.testing.assert_allclose(tta, np.mean(separate, axis=0), atol=1e-6)


def test_predictor_requires_pixel_mean():
    with pytest.raises(lib.PredictionError, match="pixel mean"):
        lib.Predictor(flip_invariant_model())


def training_inputs(paths, size, folder, pixel_mean=PIXEL_MEAN):
    """Network inputs of ``paths`` as the TRAINING data layer makes them: a full manifest
    (one test-split row per file) read by ``shen.data.whole_image_dataset`` (the pipelines'
    whole-image dataset; no augmentation, file order), one image per batch."""
    from mammo_tf.datasets.manifest import write_manifest
    from mammo_tf.shen.data import whole_image_dataset

    manifest = folder / "training_manifest.csv"
    write_manifest(manifest, [
        {"image_id": f"t{k}", "patient_id": f"p{k}", "side": "L", "view": "CC", "label": k % 2,
         "pathology": "NORMAL", "abnormality": [], "image_path": os.path.relpath(path, folder),
         "roi_mask_paths": [], "roi_classes": [], "split": "test"}
        for k, path in enumerate(paths)])
    dataset = whole_image_dataset(str(manifest), "test", pixel_mean, batch_size=1, image_size=size,
                                  training=False)
    assert len(dataset) == len(paths)
    return [dataset[k][0][0] for k in range(len(paths))]


def predict_inputs(paths, size, pixel_mean=PIXEL_MEAN):
    """Network inputs of ``paths`` as PREDICTION makes them: ``collect_items`` +
    ``predict_items`` with a recording forward pass (what the model is given)."""
    model = flip_invariant_model(size)
    seen = []

    def forward(x):
        seen.extend(np.array(x))
        return model.predict_on_batch(x)

    predictor = lib.Predictor(model, pixel_mean=pixel_mean, forward=forward)
    result = lib.predict_items([predictor], lib.collect_items(paths), batch_size=2, progress=False)
    assert not result.failures and len(seen) == len(paths)
    return seen


def test_training_and_prediction_give_identical_network_inputs_for_png_dicom_and_jpeg(tmp_path):
    """The train/serve skew check: the same file becomes the SAME network input (array-equal)
    through the training data layer and through prediction, for a 16-bit PNG, a 12-bit DICOM,
    an 8-bit JPEG and an 8-bit PNG, each stored at another size than the model's."""
    import cv2

    rng = np.random.default_rng(11)
    paths = [tmp_path / "a16.png", tmp_path / "b.dcm", tmp_path / "c.jpg", tmp_path / "d8.png"]
    write_png16(paths[0], synthetic_images(1, (48, 40))[0])
    write_dicom(paths[1], rng.integers(0, 4096, (50, 44)))
    jpeg = cv2.GaussianBlur(rng.integers(0, 256, (45, 37)).astype(np.uint8), (5, 5), 0)
    assert cv2.imwrite(str(paths[2]), jpeg)
    assert cv2.imwrite(str(paths[3]), rng.integers(0, 256, (36, 30)).astype(np.uint8))
    size = (32, 32)
    trained = training_inputs(paths, size, tmp_path)
    predicted = predict_inputs(paths, size)
    for path, a, b in zip(paths, trained, predicted):
        assert a.shape == (32, 32, 3) and a.dtype == np.float32, path
        np.testing.assert_array_equal(a, b, err_msg=str(path))
    # the inputs are the files' own pixels on the 16-bit scale, not a constant both sides share
    assert len({float(x.std()) for x in trained}) == len(paths)
    decoded = cv2.imread(str(paths[2]), cv2.IMREAD_GRAYSCALE)  # the JPEG as decoded (lossy)
    expected = cv2.resize(decoded.astype(np.uint16) * 257, (32, 32), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_allclose(trained[2][..., 0], expected * (255 / 65535) - PIXEL_MEAN, atol=1e-3)


def test_predict_items_reads_png_and_dicom_with_training_preprocessing(image_folder, tmp_path):
    model = position_sensitive_model()
    predictor = lib.Predictor.load(save_in_run(model, tmp_path / "runs" / "a"))
    assert predictor.pixel_mean == PIXEL_MEAN and predictor.input_size == (32, 32)
    items = lib.collect_items([image_folder])
    assert sorted(i.image_id for i in items) == ["broken", "img0", "img1", "img2", "scan"]
    result = lib.predict_items([predictor], items, batch_size=2, progress=False)
    assert [f[0] for f in result.failures] == [str(image_folder / "broken.png")]
    assert [i.image_id for i in result.items] == ["img0", "img1", "img2", "scan"]
    # expectation from the training data layer (not from prediction's own reader)
    inputs = training_inputs([item.path for item in result.items], (32, 32), tmp_path)
    expected = [model.predict_on_batch(x[None])[0] for x in inputs]
    np.testing.assert_allclose(result.probabilities, expected, atol=1e-5)
    with pytest.raises(Exception, match="broken.png"):
        lib.predict_items([predictor], items, strict=True, progress=False)


def test_dicom_is_scaled_to_16_bits(image_folder):
    import pydicom

    image = load_image(image_folder / "scan.dcm")
    assert image.dtype == np.uint16 and image.shape == (50, 44)
    # 12-bit values stretched onto 0..65535: v -> round(v * 65535 / 4095), in integers here
    stored = pydicom.dcmread(image_folder / "scan.dcm").pixel_array.astype(np.int64)
    assert stored.max() > 4000
    np.testing.assert_array_equal(image, (2 * stored * 65535 + 4095) // (2 * 4095))
    assert int(image.max()) == (2 * int(stored.max()) * 65535 + 4095) // (2 * 4095)


def test_model_averaging_is_the_mean_of_the_models(image_folder, tmp_path):
    paths = [save_in_run(position_sensitive_model(seed=s), tmp_path / f"run{s}", 30.0 + s)
             for s in range(2)]
    predictors = lib.load_predictors(paths)
    assert [p.pixel_mean for p in predictors] == [30.0, 31.0]  # each run's own mean
    items = lib.collect_items([image_folder / "img0.png", image_folder / "img1.png"])
    both = lib.predict_items(predictors, items, tta=True, progress=False)
    singles = [lib.predict_items([p], items, tta=True, progress=False).probabilities
               for p in predictors]
    assert not np.allclose(singles[0], singles[1])
    np.testing.assert_allclose(both.probabilities, np.mean(singles, axis=0), atol=1e-6)
    np.testing.assert_allclose(both.per_model, singles, atol=1e-6)


def test_script_on_manifest_with_labels_writes_csv_metrics_and_roc(image_folder, tmp_path, capsys):
    model_paths = [save_in_run(position_sensitive_model(seed=s), tmp_path / f"r{s}") for s in range(2)]
    out = tmp_path / "out" / "preds.csv"
    argv = [str(image_folder / "manifest.csv"), "--split", "test", "--tta", "--out", str(out),
            "--n-boot", "50", "--no-progress"]
    for path in model_paths:
        argv += ["--model", str(path)]
    assert _load_script().main(argv) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["image_id"] for r in rows] == ["img0", "img1", "scan"]
    assert list(rows[0]) == ["image_id", "path", "prob_negative", "prob_positive", "n_models",
                             "tta", "label", "patient_id"]  # + the manifest's patient (for evaluate)
    assert {r["n_models"] for r in rows} == {"2"} and {r["tta"] for r in rows} == {"1"}
    for r in rows:
        assert float(r["prob_negative"]) + float(r["prob_positive"]) == pytest.approx(1, abs=1e-5)
    metrics = json.loads((tmp_path / "out" / "preds_metrics.json").read_text())
    assert metrics["n_images"] == 3 and metrics["n_models"] == 2 and metrics["tta"] is True
    lo, hi = metrics["auc_ci95"]
    assert lo <= metrics["auc"] <= hi
    assert set(metrics["auc_per_model"]) == {str(p) for p in model_paths}
    assert (tmp_path / "out" / "preds_roc.png").read_bytes()[:4] == b"\x89PNG"
    assert "AUC" in capsys.readouterr().out


def test_script_on_folder_with_labels_csv_and_skip_summary(image_folder, tmp_path, capsys):
    model_path = save_in_run(flip_invariant_model(), tmp_path / "run")
    labels = tmp_path / "labels.csv"
    labels.write_text("image_id,label\nimg0,0\nimg1,1\nimg2,0\nscan,1\n")
    out = tmp_path / "p.csv"
    code = _load_script().main([str(image_folder), "-m", str(model_path), "--labels", str(labels),
                                "--out", str(out), "--n-boot", "20", "--no-progress"])
    assert code == 0
    captured = capsys.readouterr()
    assert "skipped 1 unreadable image" in captured.err and "broken.png" in captured.err
    assert len(list(csv.DictReader(open(out)))) == 4
    assert (tmp_path / "p_roc.png").exists()
    code = _load_script().main([str(image_folder), "-m", str(model_path), "--out", str(out),
                                "--strict", "--no-progress"])
    err = capsys.readouterr().err  # an unreadable input with --strict is bad input: exit 2, one line
    assert code == 2 and "broken.png" in err and err.startswith("predict.py: error:")


@pytest.mark.parametrize("case", ["missing_model", "missing_input", "no_pixel_mean", "bad_size",
                                  "not_a_model", "folder_not_saved_model", "unknown_flag"])
def test_script_bad_arguments_exit_2_with_one_line(case, image_folder, tmp_path, capsys):
    good_model = save_in_run(flip_invariant_model(), tmp_path / "run")
    image = str(image_folder / "img0.png")
    orphan = tmp_path / "orphan.keras"  # outside any run folder: no run.json, no pixel mean
    flip_invariant_model().save(orphan)
    text_file = tmp_path / "model.txt"
    text_file.write_text("x")
    argv = {
        "missing_model": [image, "-m", str(tmp_path / "nope.keras")],
        "missing_input": [str(tmp_path / "nope.png"), "-m", str(good_model)],
        "no_pixel_mean": [image, "-m", str(orphan)],
        "bad_size": [image, "-m", str(good_model), "--size", "0", "10"],
        "not_a_model": [image, "-m", str(text_file)],
        "folder_not_saved_model": [image, "-m", str(tmp_path)],
        "unknown_flag": [image, "-m", str(good_model), "--frobnicate"],
    }[case]
    with pytest.raises(SystemExit) as info:
        _load_script().main(argv + ["--out", str(tmp_path / "o.csv")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("predict.py: error:")
    assert not (tmp_path / "o.csv").exists()


def test_script_subprocess_exit_code_and_help(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "predict.py"), "x.png", "-m",
                           str(tmp_path / "missing.keras")], capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"predict.py: error: model {str(tmp_path / 'missing.keras')!r} does not exist"]


def test_saved_model_with_embedded_preprocessing_matches_keras_model(image_folder, tmp_path):
    pytest.importorskip("tensorflow")
    from mammo_tf.serving.savedmodel import export_saved_model

    model = flip_invariant_model()
    run = tmp_path / "run"
    keras_path = save_in_run(model, run)
    export_saved_model(model, run / "saved_model", pixel_mean=PIXEL_MEAN)
    exported = lib.Predictor.load(run / "saved_model")
    assert exported.raw_input and exported.input_size == (32, 32)
    items = lib.collect_items([image_folder / "img0.png", image_folder / "scan.dcm"])
    from_keras = lib.predict_items([lib.Predictor.load(keras_path)], items, tta=True, progress=False)
    from_export = lib.predict_items([exported], items, tta=True, progress=False)
    np.testing.assert_allclose(from_export.probabilities, from_keras.probabilities, atol=1e-5)


def test_real_files_mini_mias_pgm_and_vendor_dicoms(shared_data, tmp_path):
    """Real mini-MIAS PGMs and vendor MG DICOMs: read, predicted; the header-only one is reported."""
    pgms = sorted((shared_data / "mini_mias").glob("mdb*.pgm"))[:2]
    if not pgms or not (shared_data / "dicom_mg_headers").is_dir():
        pytest.skip("mini_mias PGMs or dicom_mg_headers missing from ../shared/data")
    image = load_image(pgms[0])
    assert image.shape == (1024, 1024) and image.dtype == np.uint16
    assert image.max() % 257 == 0  # 8-bit PGM values mapped by x257 onto the 16-bit scale
    predictor = lib.Predictor.load(save_in_run(flip_invariant_model(), tmp_path / "run"))
    items = lib.collect_items([*pgms, shared_data / "dicom_mg_headers"])
    result = lib.predict_items([predictor], items, tta=True, progress=False)
    assert len(result.items) == len(items) - 1
    assert [pathlib.Path(p).name for p, _ in result.failures] == ["MG-Im-Hologic-PropProj.dcm"]
    assert "no PixelData" in result.failures[0][1]
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_full_manifest_is_read_and_validated_by_the_data_layer(image_folder, tmp_path):
    from mammo_tf.datasets.manifest import ManifestError, write_manifest

    row = {"image_id": "img1", "patient_id": "p1", "side": "L", "view": "CC", "label": 1,
           "pathology": "MALIGNANT", "abnormality": ["mass"],
           "image_path": str(image_folder / "img1.png"), "roi_mask_paths": [], "roi_classes": [],
           "split": "test"}
    manifest = tmp_path / "manifest.csv"
    write_manifest(manifest, [row, dict(row, image_id="img0", label=0, split="train",
                                        image_path=str(image_folder / "img0.png"))])
    items = lib.collect_items([manifest], split="test")
    assert [(i.image_id, i.label, i.path) for i in items] == [("img1", 1, str(image_folder / "img1.png"))]
    write_manifest(manifest, [dict(row, split="holdout")])
    with pytest.raises(ManifestError, match="holdout"):
        lib.collect_items([manifest])


def test_free_size_model_uses_the_requested_size(image_folder):
    seen = []
    model = flip_invariant_model(size=(None, None))

    def forward(x):
        seen.append(x.shape)
        return model.predict_on_batch(x)

    predictor = lib.Predictor(model, pixel_mean=PIXEL_MEAN, forward=forward)
    assert predictor.input_size is None
    items = lib.collect_items([image_folder / "img0.png"])
    lib.predict_items([predictor], items, size=(40, 36), progress=False)
    lib.predict_items([predictor], items, size=(40, 36), tta=True, progress=False)
    assert seen == [(1, 40, 36, 3), (4, 40, 36, 3)]


def test_load_takes_kind_and_mean_from_run_json_and_a_lone_file_needs_pixel_mean(tmp_path):
    model = flip_invariant_model()
    keras_path = save_in_run(model, tmp_path / "run", pixel_mean=33.0)
    for path in (keras_path, tmp_path / "run"):  # the .keras file or its run folder
        predictor = lib.Predictor.load(path)
        assert predictor.pixel_mean == 33.0 and predictor.class_names == ["negative", "positive"]
    assert lib.Predictor.load(keras_path, pixel_mean=12.0).pixel_mean == 12.0  # the flag wins
    lone = tmp_path / "lone.keras"
    model.save(lone)
    with pytest.raises(lib.PredictionError, match="no run.json"):
        lib.Predictor.load(lone)
    assert lib.Predictor.load(lone, pixel_mean=12.0).pixel_mean == 12.0
    from mammo_tf.runs import RunFolder, RunInfo

    nyu = RunFolder(tmp_path / "nyu")  # a four-view run is refused by its recorded kind
    model.save(nyu.best_model)
    nyu.write_info(RunInfo(kind="nyu_view_wise", classes=["a"], input_size={"cc": [32, 32]},
                           channels=3))
    with pytest.raises(lib.PredictionError, match="'nyu_view_wise' model"):
        lib.Predictor.load(nyu.path)


def test_script_report_option_writes_the_screening_report(image_folder, tmp_path, capsys):
    """predict --report runs the same report as 'mammo-tf evaluate' on the CSV just written;
    the manifest among the inputs gives the patients (one here: no bootstrap CI, said so)."""
    model_path = save_in_run(position_sensitive_model(seed=0), tmp_path / "run")
    out = tmp_path / "preds.csv"
    argv = [str(image_folder / "manifest.csv"), "--split", "test", "--model", str(model_path),
            "--out", str(out), "--n-boot", "20", "--no-progress", "--report", str(tmp_path / "report")]
    assert _load_script().main(argv) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    image = report["models"]["preds"]["levels"]["image"]
    assert (image["n"], image["n_positive"], image["n_patients"]) == (3, 2, 1)
    assert image["note"] == "one patient: no bootstrap CI" and image["auc_ci95"] is None
    assert report["models"]["preds"]["calibration"] is None  # no --val-predictions
    metrics = json.loads((tmp_path / "preds_metrics.json").read_text())
    assert metrics["ci_resamples"] == "images"  # one patient: nothing to cluster
    assert "screening report:" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        _load_script().main(argv[:-2] + ["--val-predictions", str(out)])
    assert exit_info.value.code == 2
    assert "go with --report" in capsys.readouterr().err


def test_patient_ids_come_from_the_manifest_inputs(image_folder):
    items = lib.collect_items([str(image_folder / "manifest.csv")], split="test")
    assert lib.patient_ids([str(image_folder / "manifest.csv")], items) == ["p", "p", "p"]
    assert lib.patient_ids([str(image_folder)], items) is None
