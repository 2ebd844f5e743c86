# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Layers of the classifier heads."""
from mammo_tf.backend import require_keras3

require_keras3()
import keras  # noqa: E402


@keras.saving.register_keras_serializable(package="mammo_tf")
class AdjustableDropout(keras.layers.Dropout):
    """Dropout whose rate may be changed after the model is built (stage-wise dropout).

    Keras' Dropout creates its random-seed state only when built with a rate > 0, so a layer
    built with rate 0 could never be switched on later.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        # A positive placeholder rate makes Dropout create its seed state (it cannot be added
        # once the layer counts as built); the real rate, possibly 0, is set right after.
        super().__init__(rate if rate > 0 else 0.5, noise_shape=noise_shape, seed=seed, **kwargs)
        self.rate = float(rate)
