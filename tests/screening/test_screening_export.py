"""The optional calibrated endpoint of an exported SavedModel (TensorFlow backend)."""
import keras
import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="SavedModel export needs TensorFlow")

from mammo_tf.serving.savedmodel import export_saved_model, load_exported  # noqa: E402
from mammo_tf.screening.calibration import Calibration, fit_calibration  # noqa: E402


def _tiny_classifier():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def model_and_input():
    x = np.random.default_rng(1).normal(0, 3, (64, 16, 16, 3)).astype("float32")
    return _tiny_classifier(), x


def test_serve_calibrated_applies_the_run_calibration(model_and_input, tmp_path):
    model, x = model_and_input
    p = model.predict(x, verbose=0)
    y = (np.random.default_rng(2).random(len(x)) < p[:, 1]).astype(int)
    for method in ("temperature", "isotonic"):
        cal = fit_calibration(y, p[:, 1], method) if method == "isotonic" else Calibration("temperature", 2.5)
        served = load_exported(export_saved_model(model, tmp_path / method, calibration=cal.to_dict()))
        assert served.has_calibration
        np.testing.assert_allclose(served(x), p, atol=1e-5)  # the plain endpoint is unchanged
        calibrated = served.calibrated(x)
        np.testing.assert_allclose(calibrated[:, 1], cal(p[:, 1]), atol=1e-4)
        np.testing.assert_allclose(calibrated.sum(axis=1), 1.0, atol=1e-5)


def test_export_without_calibration_has_no_calibrated_endpoint(model_and_input, tmp_path):
    model, x = model_and_input
    served = load_exported(export_saved_model(model, tmp_path / "plain"))
    assert not served.has_calibration
    with pytest.raises(ValueError, match="without a calibration"):
        served.calibrated(x)
    with pytest.raises(ValueError, match="positive number"):
        export_saved_model(model, tmp_path / "bad", calibration={"method": "temperature", "temperature": 0})
