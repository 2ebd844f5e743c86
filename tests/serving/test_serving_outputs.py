"""Every SavedModel endpoint names its outputs: a serving client (TF Serving, Triton) reads
``probabilities`` (NYU: ``cc`` / ``mlo``) from each signature, never ``output_0``."""
import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="SavedModel export needs TensorFlow")

from mammo_tf import shen as models  # noqa: E402
from mammo_tf.serving.savedmodel import export_saved_model, load_exported  # noqa: E402


def _output_names(signature):
    return sorted(signature.structured_outputs)


def test_every_shen_signature_returns_named_probabilities(tmp_path):
    import tensorflow as tf

    model = models.build_patch_classifier("vgg16", input_shape=(32, 32, 3))
    calibration = {"method": "temperature", "temperature": 1.5}
    path = export_saved_model(model, tmp_path / "sm", pixel_mean=50.0, calibration=calibration)
    signatures = tf.saved_model.load(str(path)).signatures
    assert {"serving_default", "serve", "serve_features", "serve_calibrated"} <= set(signatures)
    for name in ("serving_default", "serve", "serve_calibrated"):
        assert _output_names(signatures[name]) == ["probabilities"], name
    assert _output_names(signatures["serve_features"]) == ["features", "probabilities"]
    raw = np.random.default_rng(0).integers(0, 65536, (2, 32, 32, 1)).astype("float32")
    out = signatures["serving_default"](images=tf.constant(raw))
    np.testing.assert_allclose(out["probabilities"].numpy(), load_exported(path)(raw), atol=1e-6)


def test_nyu_signature_names_its_two_outputs(tmp_path):
    import tensorflow as tf

    from mammo_tf.nyu.four_view import build_view_wise_model

    model = build_view_wise_model((64, 48), (64, 48), channels=1)
    signatures = tf.saved_model.load(str(export_saved_model(model, tmp_path / "nyu"))).signatures
    for name in ("serving_default", "serve"):
        assert _output_names(signatures[name]) == ["cc", "mlo"], name
