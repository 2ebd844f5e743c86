# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""mammo_tf: mammogram classification and explanation with Keras 3.

Reimplements L. Shen's all-convolutional whole-image classifier, DeepMiner explanations and
the NYU multi-view ResNet-22. Model and training code is backend-neutral (``keras.ops``);
SavedModel export and ``tf.distribute`` need the TensorFlow backend.
"""
__version__ = "0.1.0"


def _check_keras3():
    import os

    # TensorFlow's C++ start-up chatter buries our CLIs' output; users can still set it lower.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "mammo_tf needs Keras 3 (pip install 'keras>=3.5'); keras is not installed."
        ) from exc
    major = int(keras.__version__.split(".")[0])
    if major < 3:
        raise ImportError(
            f"mammo_tf needs Keras 3 but found keras {keras.__version__}. "
            "Keras 2 / tf-keras is not supported: pip install 'keras>=3.5' and unset "
            "TF_USE_LEGACY_KERAS."
        )
    return keras.__version__


KERAS_VERSION = _check_keras3()
