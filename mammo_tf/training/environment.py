# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Process-wide training setup: seeds and deterministic ops, distribution (tf.distribute
strategy or keras.distribution), mixed precision. The backend-specific parts import their
framework lazily and refuse other backends.

Two ways to train on several devices:

- ``--distribution data-parallel`` (JAX backend, the maintained path): Keras'
  ``keras.distribution.DataParallel`` over every device of every process; the batch a pipeline
  reads is ``--batch-size`` (per device) x the number of devices (``global_batch_size``).
  The commands run one process; several hosts (``jax.distributed.initialize``, one process per
  host) also need each process to read its share of the manifest and only process 0 to write
  checkpoints, which the training loop does not do yet.
- ``--strategy mirrored`` (TensorFlow backend): ``tf.distribute.MirroredStrategy`` on one host.
  ``--strategy multiworker`` (MultiWorkerMirroredStrategy) is what upstream Keras 3 reports
  broken (keras-team/keras#20585); it is kept for TensorFlow users who can make it work, and
  untested here: use ``--distribution data-parallel`` on JAX for several GPUs.
"""
import logging

import keras

logger = logging.getLogger(__name__)

STRATEGIES = ("none", "mirrored", "multiworker")
DISTRIBUTIONS = ("none", "data-parallel")


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
    logger.warning("--strategy multiworker: upstream Keras 3 reports MultiWorkerMirroredStrategy "
                   "broken (keras-team/keras#20585) and mammo_tf does not test it; the maintained "
                   "path is the JAX backend with --distribution data-parallel")
    return tf.distribute.MultiWorkerMirroredStrategy()


def make_distribution(name):
    """``"none"`` -> None; ``"data-parallel"`` -> a ``keras.distribution.DataParallel`` over all
    devices (``keras.distribution.list_devices()``), set as the global distribution
    so that models built afterwards are replicated and ``fit`` shards each batch."""
    if name in (None, "none"):
        return None
    if name not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {name!r}; choose one of {', '.join(DISTRIBUTIONS)}")
    if keras.backend.backend() != "jax":
        raise ValueError(f"--distribution {name} needs the JAX backend (KERAS_BACKEND=jax; "
                         f"now {keras.backend.backend()}); on TensorFlow use --strategy mirrored")
    devices = keras.distribution.list_devices()
    distribution = keras.distribution.DataParallel(devices=devices)
    keras.distribution.set_distribution(distribution)
    logger.info("data-parallel over %d device(s) (%d process(es))", len(devices), process_count())
    return distribution


def device_count(distribution):
    """Devices a batch is split over (1 without a distribution)."""
    if distribution is None:
        return 1
    return int(distribution.device_mesh.devices.size)


def global_batch_size(per_device, distribution):
    """The batch one training step reads in all: per-device batch x devices."""
    return int(per_device) * device_count(distribution)


def process_count():
    """Processes of this JAX job (1 unless ``jax.distributed`` joined several)."""
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return int(jax.process_count())


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
