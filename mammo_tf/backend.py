# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The Keras 3 guard. Importing ``mammo_tf`` itself stays free of Keras and TensorFlow (so the
commands' ``--help`` is instant); the modules that build or run models call
``require_keras3()`` when they are imported."""
import functools
import os


@functools.lru_cache(maxsize=None)
def require_keras3():
    """Import Keras and return its version; ImportError unless it is Keras 3."""
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
