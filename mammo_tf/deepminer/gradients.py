# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Backend dispatch for feature-map gradients (TensorFlow and JAX); everything else in
mammo_tf.deepminer is numpy."""
import keras

from mammo_tf.errors import UsageError


def feature_gradients(split, x, classes):
    """(A, dy_c/dA stacked over ``classes``, pre-activation scores) as numpy arrays.

    One function, one private module per backend: ``tf.GradientTape`` (``_gradients_tf``) and
    ``jax.vjp`` (``_gradients_jax``). Both run the feature model forward, make the head linear
    (``split.pre_activation``) and differentiate the summed class score w.r.t. the feature map,
    so results agree across backends. CAM and influence for GAP+Dense heads need no gradients.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from mammo_tf.deepminer._gradients_tf import feature_gradients as impl
    elif backend == "jax":
        from mammo_tf.deepminer._gradients_jax import feature_gradients as impl
    else:
        raise UsageError(
            f"gradient maps (Grad-CAM, HiResCAM, gradient influence) are implemented for the "
            f"TensorFlow and JAX backends; KERAS_BACKEND is {backend!r}"
        )
    return impl(split, x, classes)
