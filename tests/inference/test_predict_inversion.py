"""predict applies the inversion correction a run recorded (``run.json`` details
``inversion_correction``, written by examples/real_data.py's runs on prepare image-folder data)."""
import numpy as np

from mammo_tf.datasets.manifest import ImageItem
from mammo_tf.inference import predict as lib
from mammo_tf.io import write_png16
from mammo_tf.runs import RunFolder, RunInfo


def _image():
    image = np.full((32, 32), 1000, np.uint16)
    image[4:28, 2:20] = 50000
    image[10:14, 8:12] = 65000
    return image


def _model():
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(2, 3, strides=4, padding="same", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs)


def _run(tmp_path, details):
    model = _model()
    run = RunFolder(str(tmp_path / "run"))
    model.save(run.best_model)
    run.write_info(RunInfo.for_model("whole_top", model, classes=["negative", "positive"], pixel_mean=40.0,
                                     pixel_mean_source="test", details=details))
    return run.path


def test_recorded_inversion_correction_is_applied_to_new_images(tmp_path):
    plain, inverted = str(tmp_path / "plain.png"), str(tmp_path / "inverted.png")
    write_png16(plain, _image())
    write_png16(inverted, (65535 - _image()).astype(np.uint16))
    items = [ImageItem("plain", plain), ImageItem("inverted", inverted)]
    corrected = lib.load_predictors([_run(tmp_path, {"inversion_correction": "border_median"})])
    assert corrected[0].inversion_correction == "border_median"
    probs = lib.predict_items(corrected, items, tta=True, progress=False).probabilities
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-6)
    as_is = lib.load_predictors([_run(tmp_path / "b", {})])
    assert as_is[0].inversion_correction is None
    probs = lib.predict_items(as_is, items, progress=False).probabilities
    assert not np.array_equal(probs[0], probs[1])
