# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""mammo_tf: mammogram classification and explanation with Keras 3.

Shared infrastructure: ``io`` (readers), ``imaging`` (breast segmentation, window grid),
``datasets`` (loaders, manifests), ``preprocess``, ``evaluate``, ``screening``, ``models``
(backbone registry, shared model helpers, custom layers), ``runs`` (run folders,
``load_run``), ``serving`` (SavedModel, ONNX), ``inference`` (prediction, TTA), ``training``
(the one stage runner, configs). The layer order is in docs/DESIGN.md. One package per method:
``shen`` (all-convolutional whole-image classifier), ``nyu`` (multi-view ResNet-22),
``deepminer`` (explanations). Model and training code is backend-neutral (``keras.ops``);
SavedModel export and ``tf.distribute`` need the TensorFlow backend. Importing the package
does not import Keras; the model modules check for Keras 3 when first imported.
"""
import os as _os

__version__ = "0.1.0"

# TensorFlow's C++ start-up chatter buries our CLIs' output; users can still set it lower.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def __getattr__(name):
    if name == "KERAS_VERSION":
        from mammo_tf.backend import require_keras3

        return require_keras3()
    raise AttributeError(f"module 'mammo_tf' has no attribute {name!r}")
