# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Process-wide training setup: seeds and deterministic ops, distribution strategy, mixed
precision. The TensorFlow-only parts import TensorFlow lazily and refuse other backends."""
import keras

STRATEGIES = ("none", "mirrored", "multiworker")


def seed_everything(seed, deterministic=True):
    """Seed Python, NumPy and the backend; with TensorFlow also enable deterministic ops."""
    keras.utils.set_random_seed(int(seed))
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def make_strategy(name):
    """``"none"`` -> None; ``"mirrored"`` / ``"multiworker"`` -> a tf.distribute strategy.

    ``multiworker`` reads the cluster from the ``TF_CONFIG`` environment variable.
    """
    if name in (None, "none"):
        return None
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"--strategy {name} needs the TensorFlow backend "
                         f"(KERAS_BACKEND={keras.backend.backend()})")
    import tensorflow as tf

    if name == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        # No GPU: mirror over the (logical) CPU devices, e.g. for testing on one machine.
        return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    return tf.distribute.MultiWorkerMirroredStrategy()


def set_mixed_precision(enabled):
    """Set the global dtype policy (``mixed_float16`` or ``float32``) before building models.

    Models built under ``mixed_float16`` compute in float16; their ``predictions`` layer keeps a
    float32 output (see ``ensure_float32_output``) and Keras wraps the optimizer in a
    LossScaleOptimizer when compiling.
    """
    keras.mixed_precision.set_global_policy("mixed_float16" if enabled else "float32")


def ensure_float32_output(model):
    """Raise if a mixed-precision model's output is not float32 (softmax in float16 loses
    precision near 0/1 and breaks the loss)."""
    dtype = keras.backend.standardize_dtype(model.outputs[0].dtype)
    if dtype != "float32":
        raise ValueError(f"model output dtype is {dtype}; the 'predictions' layer must use "
                         "dtype='float32' under mixed precision")
