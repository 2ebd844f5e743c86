"""One harness every model builder goes through (keras-hub style).

Checks: output shape, softmax rows sum to 1, `.keras` save/load round trip (safe_mode on)
with allclose outputs, and a serialization-config round trip.
"""
import keras
import numpy as np


def check_classifier(model, input_batch, num_classes, tmp_path, atol=1e-5):
    inputs = input_batch if isinstance(input_batch, (list, tuple, dict)) else [input_batch]
    batch = len(next(iter(inputs.values())) if isinstance(inputs, dict) else inputs[0])
    outputs = model.predict(input_batch, verbose=0)
    probs = outputs if isinstance(outputs, np.ndarray) else np.asarray(outputs)
    assert probs.shape[0] == batch and probs.shape[-1] == num_classes, probs.shape
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-5)

    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(input_batch, verbose=0), outputs, atol=atol)
    assert [layer.name for layer in reloaded.layers] == [layer.name for layer in model.layers]

    clone = model.__class__.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.count_params() == model.count_params()
    return reloaded
