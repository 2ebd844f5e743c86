# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Backend dispatch for feature-map gradients; everything else in mammo_tf.deepminer is numpy."""
import keras


def feature_gradients(split, x, classes):
    """(A, dy_c/dA stacked over ``classes``, pre-activation scores) as numpy arrays.

    Implemented for the TensorFlow backend; CAM and influence for GAP+Dense heads need no
    gradients and work on any backend.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from mammo_tf.deepminer._gradients_tf import feature_gradients as impl

        return impl(split, x, classes)
    raise NotImplementedError(
        f"gradient maps (Grad-CAM, HiResCAM, gradient influence) need the TensorFlow backend; "
        f"KERAS_BACKEND is {backend!r}"
    )
