"""One harness every model builder goes through (keras-hub style): Shen's patch, whole-image
(resnet / vgg / hybrid tops) and heatmap classifiers, NYU's view-wise, image-wise and BI-RADS
models (dict inputs, dict outputs).

Checks: output shapes (from ``predict`` and the symbolic outputs), probabilities (softmax rows
sum to 1, or per-task sigmoid values in [0, 1]), a `.keras` save/load round trip with
``safe_mode=True`` (same weights exactly, same outputs), a config round trip (``from_config``
rebuilds the same graph: same config, same layer types, same parameter count) and, where a
test pins them, exact parameter counts.
"""
import keras
import numpy as np

SINGLE = "<output>"  # key of a single-output model's output in the per-output dicts below


def _by_name(outputs, convert=np.asarray):
    """A model's outputs (one tensor, a list or a dict) as a dict name -> ``convert(tensor)``."""
    if isinstance(outputs, dict):
        return {name: convert(value) for name, value in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return {str(i): convert(value) for i, value in enumerate(outputs)}
    return {SINGLE: convert(outputs)}


def _batch_size(inputs):
    if isinstance(inputs, dict):
        sizes = {len(v) for v in inputs.values()}
    elif isinstance(inputs, (list, tuple)):
        sizes = {len(v) for v in inputs}
    else:
        sizes = {len(inputs)}
    assert len(sizes) == 1, f"inputs disagree on the batch size: {sorted(sizes)}"
    return sizes.pop()


def _check_probabilities(name, values, kind, atol):
    if kind == "softmax":
        assert np.all(values >= 0.0), name
        np.testing.assert_allclose(values.sum(axis=-1), 1.0, atol=atol, err_msg=name)
    elif kind == "sigmoid":
        assert np.all((values >= 0.0) & (values <= 1.0)), name
    elif kind is not None:
        raise ValueError(f"probabilities must be 'softmax', 'sigmoid' or None, got {kind!r}")


def check_model(model, inputs, output_shapes, tmp_path, *, probabilities="softmax", params=None,
                trainable_params=None, atol=1e-5):
    """Run ``model`` through every check; returns the reloaded model.

    Args:
        inputs: one array, a list of arrays or a dict name -> array (one batch).
        output_shapes: the per-sample output shape (a tuple), or for a dict-output model a dict
            output name -> per-sample shape.
        probabilities: ``"softmax"`` (last axis sums to 1), ``"sigmoid"`` (in [0, 1]) or None.
        params, trainable_params: exact counts to assert (all variables / trainable only).
    """
    expected = output_shapes if isinstance(output_shapes, dict) else {SINGLE: tuple(output_shapes)}
    batch = _batch_size(inputs)

    symbolic = _by_name(model.output, lambda tensor: tuple(tensor.shape))
    assert set(symbolic) == set(expected), (sorted(symbolic), sorted(expected))
    for name, shape in expected.items():
        assert symbolic[name] == (None, *shape), (name, symbolic[name])

    outputs = _by_name(model.predict(inputs, verbose=0))
    assert set(outputs) == set(expected), (sorted(outputs), sorted(expected))
    for name, values in outputs.items():
        assert values.shape == (batch, *expected[name]), (name, values.shape)
        assert np.all(np.isfinite(values)), name
        _check_probabilities(name, values, probabilities, atol)

    if params is not None:
        assert model.count_params() == params, model.count_params()
    if trainable_params is not None:
        trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
        assert trainable == trainable_params, trainable

    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert [layer.name for layer in reloaded.layers] == [layer.name for layer in model.layers]
    assert len(reloaded.weights) == len(model.weights)
    for a, b in zip(model.get_weights(), reloaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    # a direct call, not predict: a second predict retraces the whole graph (seconds per model)
    again = _by_name(reloaded(inputs, training=False))
    for name, values in outputs.items():
        np.testing.assert_allclose(again[name], values, atol=atol, err_msg=name)

    # (load_model rebuilds from the config too, so the reload's outputs above already check that
    # the config carries every argument that matters at inference)
    clone = model.__class__.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.count_params() == model.count_params()
    assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]
    return reloaded


def check_classifier(model, input_batch, num_classes, tmp_path, atol=1e-5, params=None):
    """``check_model`` for a single-output softmax classifier of ``num_classes`` classes."""
    return check_model(model, input_batch, (num_classes,), tmp_path, atol=atol, params=params)
