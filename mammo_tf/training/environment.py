# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Process-wide training setup: seeds and deterministic ops, distribution (tf.distribute
strategy or keras.distribution), mixed precision. The backend-specific parts import their
framework lazily and refuse other backends.

Two ways to train on several devices:

- ``--distribution data-parallel`` (JAX backend, the maintained path): Keras'
  ``keras.distribution.DataParallel`` over every device of every process; the batch one step
  reads is ``--batch-size`` (per device) x the number of devices (``global_batch_size``).
  Several processes (one per GPU or per host) join one job with ``join_processes``
  (``keras.distribution.initialize`` -> ``jax.distributed.initialize``): from
  ``--coordinator-address/--num-processes/--process-id``, else Keras' environment variables
  ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` / ``_NUM_PROCESSES`` / ``_PROCESS_ID``, else a Slurm step
  of several tasks (JAX reads ``SLURM_*``). Each process then reads its slice of every global
  batch (``process_shard``; the training datasets' ``shard``), every process runs the same
  saves (they hold collectives) but only process 0's land in the run folder
  (``is_chief``), and after training the other processes stop (``end_processes``).
- ``--strategy mirrored`` (TensorFlow backend): ``tf.distribute.MirroredStrategy`` on one host.
  ``--strategy multiworker`` (MultiWorkerMirroredStrategy) is what upstream Keras 3 reports
  broken (keras-team/keras#20585); it is kept for TensorFlow users who can make it work, and
  untested here: use ``--distribution data-parallel`` on JAX for several GPUs or hosts.
"""
import logging
import math
import os

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
    devices of all processes (``keras.distribution.list_devices()``), set as the global
    distribution so that models built afterwards are replicated and ``fit`` shards each batch.
    With several processes each one feeds its own slice of the batch (``process_shard``), so
    Keras' automatic sharding (tf.data only) is off."""
    if name in (None, "none"):
        return None
    if name not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {name!r}; choose one of {', '.join(DISTRIBUTIONS)}")
    if keras.backend.backend() != "jax":
        raise ValueError(f"--distribution {name} needs the JAX backend (KERAS_BACKEND=jax; "
                         f"now {keras.backend.backend()}); on TensorFlow use --strategy mirrored")
    devices = keras.distribution.list_devices()
    distribution = keras.distribution.DataParallel(devices=devices)
    distribution.auto_shard_dataset = False
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


# ----------------------------------------------------------------------------- several processes
_ENV_PROCESS_GROUP = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                      "KERAS_DISTRIBUTION_PROCESS_ID")
_joined = {"processes": 1, "index": 0, "ended": False}


def process_group_requested(coordinator_address=None, num_processes=None, process_id=None,
                            environ=None):
    """Whether a multi-process job is asked for: by the flags, by Keras' environment variables
    or by a Slurm step of several tasks."""
    environ = os.environ if environ is None else environ
    if coordinator_address or (num_processes or 1) > 1 or process_id:
        return True
    if any(environ.get(k) for k in _ENV_PROCESS_GROUP):
        return True
    return int(environ.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_PROCID" in environ


def join_processes(coordinator_address=None, num_processes=None, process_id=None):
    """Join the multi-process JAX job (``keras.distribution.initialize``, i.e.
    ``jax.distributed.initialize``; arguments left None come from the environment variables or
    Slurm). Call before any JAX computation; returns the number of processes."""
    if _joined["processes"] > 1:
        return _joined["processes"]
    if _joined["ended"]:
        raise RuntimeError("this process already left its multi-process job")
    if keras.backend.backend() != "jax":
        raise ValueError("several processes (--coordinator-address/--num-processes/--process-id, "
                         "KERAS_DISTRIBUTION_* or Slurm) need the JAX backend (KERAS_BACKEND=jax; "
                         f"now {keras.backend.backend()})")
    if num_processes is not None and process_id is not None \
            and not 0 <= int(process_id) < int(num_processes):
        raise ValueError(f"--process-id {process_id} is not in 0..{int(num_processes) - 1}")
    keras.distribution.initialize(coordinator_address, None if num_processes is None else
                                  int(num_processes),
                                  None if process_id is None else int(process_id))
    import jax

    _joined.update(processes=int(jax.process_count()), index=int(jax.process_index()))
    logger.info("process %d of %d joined (coordinator %s)", jax.process_index(),
                jax.process_count(), coordinator_address or "from the environment")
    return _joined["processes"]


def process_count():
    """Processes of this job (1 unless ``join_processes`` joined several)."""
    return _joined["processes"]


def process_index():
    """This process's index in its job (0 for a single process; kept after ``end_processes``)."""
    return _joined["index"]


def is_chief():
    """Process 0 (or the only process): the one that writes the run folder."""
    return _joined["index"] == 0


def process_shard():
    """``(index, count)`` of this process among several, None for a single process: the
    slice of every global batch this process reads (the training datasets' ``shard``)."""
    return (process_index(), _joined["processes"]) if _joined["processes"] > 1 else None


def local_part(batch_size, shard):
    """The slice of a global batch of ``batch_size`` samples that process ``shard = (index,
    count)`` reads (the whole batch when ``shard`` is None)."""
    if shard is None:
        return slice(0, batch_size)
    index, count = shard
    if batch_size % count:
        raise ValueError(f"global batch {batch_size} does not split over {count} processes")
    size = batch_size // count
    return slice(index * size, (index + 1) * size)


_warned_short_batch = set()


def sharded_batch_count(samples, batch_size, shard):
    """Batches per epoch: all of them for one process; with several, whole global batches
    only (a short last batch would not split evenly over the processes' devices)."""
    if shard is None:
        return math.ceil(samples / batch_size)
    if samples < batch_size:
        raise ValueError(f"{samples} samples: fewer than one global batch of {batch_size}")
    if samples % batch_size and (samples, batch_size) not in _warned_short_batch:
        _warned_short_batch.add((samples, batch_size))
        logger.warning("several processes: the last %d of %d samples of every epoch (a short "
                       "global batch) are left out", samples % batch_size, samples)
    return samples // batch_size


def broadcast_text(text):
    """Process 0's ``text`` on every process (e.g. a run name drawn from the clock)."""
    if _joined["processes"] == 1:
        return text
    import numpy as np
    from jax.experimental import multihost_utils

    raw = np.zeros(1024, np.uint8)
    encoded = text.encode("utf-8")[:1024]
    raw[:len(encoded)] = np.frombuffer(encoded, np.uint8)
    raw = np.asarray(multihost_utils.broadcast_one_to_all(raw), np.uint8)
    return bytes(raw).rstrip(b"\0").decode("utf-8")


def end_processes():
    """After multi-process training: wait for every process, lift the global distribution and
    leave the job, so process 0 evaluates and exports alone on its own devices (a model built
    under the job's distribution would need every process for each computation). Returns
    whether this process goes on (process 0, or the only process)."""
    if _joined["processes"] == 1 or _joined["ended"]:
        return is_chief()
    import jax
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices("mammo_tf training finished")
    keras.distribution.set_distribution(None)
    jax.distributed.shutdown()
    _joined.update(processes=1, ended=True)
    return is_chief()


def set_mixed_precision(enabled):
    """Set the global dtype policy (``mixed_float16`` or ``float32``) before building models.

    Models built under ``mixed_float16`` compute in float16; their ``predictions`` layer keeps a
    float32 output (see ``mammo_tf.models.trainability.ensure_float32_output``) and Keras
    wraps the optimizer in a LossScaleOptimizer when compiling.
    """
    keras.mixed_precision.set_global_policy("mixed_float16" if enabled else "float32")
