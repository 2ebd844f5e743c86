# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The speed/memory options of mammo_tf.training.perf: rematerialised training twin, float32 outputs."""
import keras
import numpy as np
import pytest

from mammo_tf.training import perf
from mammo_tf.shen import build_patch_classifier


@pytest.fixture(scope="module")
def vgg_patch_model():
    keras.utils.set_random_seed(0)
    return build_patch_classifier("vgg16", num_classes=3, input_shape=(32, 32, 3))


def _loss_and_grads(model, variables, images, labels):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(labels, model(images, training=True)))
    return float(loss), tape.gradient(loss, [v.value for v in variables])


def test_remat_model_shares_weights_and_gives_the_same_gradients(vgg_patch_model):
    pytest.importorskip("tensorflow")
    model = vgg_patch_model
    twin = perf.remat_model(model)
    assert perf.remat_boundaries(model) == [f"block{i}_pool" for i in range(1, 6)]
    assert sum(isinstance(layer, perf.RematSegment) for layer in twin.layers) == 6
    assert {id(v) for v in twin.trainable_variables} == {id(v) for v in model.trainable_variables}

    rng = np.random.default_rng(0)
    images = rng.normal(0, 50, (2, 32, 32, 3)).astype("float32")
    labels = np.array([0, 2])
    loss, grads = _loss_and_grads(model, model.trainable_variables, images, labels)
    twin_loss, twin_grads = _loss_and_grads(twin, model.trainable_variables, images, labels)
    assert twin_loss == pytest.approx(loss, rel=1e-5)
    for g, tg in zip(grads, twin_grads):
        np.testing.assert_allclose(tg.numpy(), g.numpy(), rtol=1e-3, atol=1e-6 * float(np.abs(g).max() + 1e-12))

    # Training the twin trains the original model (same variables).
    before = model.get_layer("predictions").get_weights()[0].copy()
    twin.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    twin.train_on_batch(images, labels)
    assert not np.allclose(model.get_layer("predictions").get_weights()[0], before)


def test_remat_model_rejects_a_model_without_boundaries():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Dense(2, name="predictions")(inputs))
    with pytest.raises(ValueError, match="no remat boundary"):
        perf.remat_model(model)


def test_mixed_precision_keeps_float32_probabilities():
    try:
        policy = perf.use_mixed_precision(device="cpu")
        assert policy == "mixed_bfloat16"
        assert perf.mixed_precision_policy(device="gpu") == "mixed_float16"
        model = build_patch_classifier("vgg16", num_classes=2, input_shape=(32, 32, 3))
        assert model.get_layer("block1_conv1").compute_dtype == "bfloat16"
        out = model(np.zeros((1, 32, 32, 3), "float32"))
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
    finally:
        perf.use_mixed_precision(False)
    assert keras.mixed_precision.global_policy().name == "float32"
