"""SavedModel export: outputs equal the Keras model's, atomic writes, embedded preprocessing."""
import os

import keras
import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="SavedModel export needs TensorFlow (on JAX: .keras + "
                                         "ONNX export, tests/serving/test_onnx_export.py)")

from mammo_tf import shen as models  # noqa: E402
from mammo_tf.serving.savedmodel import export_saved_model, load_exported  # noqa: E402
from mammo_tf.preprocess import to_network_input  # noqa: E402


@pytest.fixture(scope="module")
def any_size_model():
    patch = models.build_patch_classifier("vgg16", input_shape=(32, 32, 3))
    return models.build_whole_image_classifier(patch, depths=(8, 8), input_shape=(None, None, 3))


def test_reloaded_savedmodel_equals_keras_at_two_sizes(any_size_model, tmp_path):
    path = export_saved_model(any_size_model, tmp_path / "export")
    served = load_exported(path)
    rng = np.random.default_rng(0)
    for shape in [(64, 64), (96, 128)]:
        x = rng.normal(0, 40, (2, *shape, 3)).astype("float32")
        expected = any_size_model.predict(x, verbose=0)
        np.testing.assert_allclose(served(x), expected, atol=1e-5)
        features, probabilities = served.features(x)
        np.testing.assert_allclose(probabilities, expected, atol=1e-5)
        feature_layer = any_size_model.get_layer(models.feature_layer_name(any_size_model))
        expected_features = keras.Model(any_size_model.inputs, feature_layer.output).predict(x, verbose=0)
        np.testing.assert_allclose(features, expected_features, atol=1e-4)


def test_export_leaves_the_root_logger_without_a_handler(any_size_model, tmp_path, monkeypatch):
    """tf.saved_model.save logs through logging's module functions, which install a root handler
    when there is none: every later library message then printed twice (seen in `make demo`
    after the patch classifier's export)."""
    import logging

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    export_saved_model(any_size_model, tmp_path / "export")
    assert root.handlers == []


def test_embedded_preprocessing_takes_raw_single_channel_images(tmp_path):
    model = models.build_patch_classifier("resnet50", input_shape=(32, 32, 3))
    served = load_exported(export_saved_model(model, tmp_path / "raw", pixel_mean=52.18))
    assert served.input_shape == (None, 32, 32, 1)
    raw = np.random.default_rng(1).integers(0, 65536, (3, 32, 32)).astype("float32")
    expected = model.predict(to_network_input(raw, 52.18), verbose=0)
    np.testing.assert_allclose(served(raw), expected, atol=1e-5)


def test_fixed_size_export_rejects_other_sizes(tmp_path):
    model = models.build_patch_classifier("vgg16", input_shape=(32, 32, 3), num_classes=3)
    served = load_exported(export_saved_model(model, tmp_path / "fixed"))
    with pytest.raises(Exception):
        served(np.zeros((1, 64, 64, 3), "float32"))


def test_interrupted_export_leaves_previous_model(any_size_model, tmp_path, monkeypatch):
    target = tmp_path / "export"
    export_saved_model(any_size_model, target)
    before = sorted(os.listdir(target))

    def crash(self, filepath, *args, **kwargs):
        os.makedirs(filepath, exist_ok=True)
        open(os.path.join(filepath, "saved_model.pb"), "wb").write(b"partial")
        raise KeyboardInterrupt("killed mid-export")

    # ExportArchive() returns a backend-specific subclass: patch the class actually used.
    monkeypatch.setattr(type(keras.export.ExportArchive()), "write_out", crash)
    with pytest.raises(KeyboardInterrupt):
        export_saved_model(any_size_model, target)
    assert sorted(os.listdir(target)) == before
    assert [p for p in os.listdir(tmp_path) if p != "export"] == []  # no temp folders left


def test_load_exported_rejects_non_savedmodel(tmp_path):
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        load_exported(str(tmp_path))


def test_nyu_four_view_export_equals_keras_and_carries_its_run_info(tmp_path):
    """The four named view inputs -> dict outputs; SavedModel == Keras at toy size 64x48."""
    import json

    from mammo_tf.nyu.four_view import VIEWS, build_view_wise_model
    from mammo_tf.runs import SAVED_MODEL_INFO, RunInfo

    model = build_view_wise_model((64, 48), (64, 48), channels=1)
    info = RunInfo.for_model("nyu_view_wise", model, classes=["lb", "rb", "lm", "rm"])
    path = export_saved_model(model, tmp_path / "nyu", info=info)
    served = load_exported(path)
    assert sorted(served.input_names) == sorted(VIEWS) and not served.raw_input
    rng = np.random.default_rng(3)
    views = {v: rng.normal(0, 1, (2, 64, 48, 1)).astype("float32") for v in VIEWS}
    expected = model.predict_on_batch(views)
    got = served(views)
    assert sorted(got) == ["cc", "mlo"]
    for name in ("cc", "mlo"):
        assert got[name].shape == (2, 4, 2)
        np.testing.assert_allclose(got[name], expected[name], atol=1e-5)
    # the serving signature takes the four named tensors (TF Serving's view of the model)
    signature = served._loaded.signatures["serving_default"]
    assert sorted(signature.structured_input_signature[1]) == sorted(VIEWS)
    record = json.load(open(os.path.join(path, SAVED_MODEL_INFO)))
    assert record["kind"] == "nyu_view_wise" and record["input_size"] == {"cc": [64, 48], "mlo": [64, 48]}
    assert record["saved_model"]["raw_input"] is False
    assert sorted(record["saved_model"]["inputs"]) == sorted(VIEWS)


def test_embedded_preprocessing_export_records_raw_single_channel_input(tmp_path):
    import json

    from mammo_tf.runs import SAVED_MODEL_INFO, RunInfo

    model = models.build_patch_classifier("vgg16", input_shape=(32, 32, 3))
    info = RunInfo.for_model("patch", model, classes=list("abcde"), pixel_mean=50.0)
    path = export_saved_model(model, tmp_path / "p", pixel_mean=50.0, info=info)
    record = json.load(open(os.path.join(path, SAVED_MODEL_INFO)))
    assert record["channels"] == 1 and record["pixel_mean"] == 50.0  # what the SavedModel takes
    assert record["saved_model"]["raw_input"] is True and load_exported(path).raw_input
    assert info.channels == 3  # the Keras model's run.json is unchanged
