"""keras.distribution data parallelism on the JAX backend: 2 (forced host) devices in one process
give the same weights after a training step as 1 device with the same global batch."""
import os
import subprocess
import sys
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))

# Runs with KERAS_BACKEND=jax and XLA_FLAGS=--xla_force_host_platform_device_count=2.
SCRIPT = textwrap.dedent("""
    import keras
    import numpy as np
    from mammo_tf.training.environment import (device_count, global_batch_size,
                                               make_distribution)
    assert len(keras.distribution.list_devices()) == 2, keras.distribution.list_devices()
    rng = np.random.default_rng(0)
    PER_DEVICE = 4
    x = rng.normal(0, 1, (2 * PER_DEVICE, 16, 16, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 5, len(x)), 5)

    def build():
        # BatchNormalization: its batch statistics must be those of the global batch
        inputs = keras.Input((16, 16, 3))
        h = keras.layers.Conv2D(8, 3, padding="same")(inputs)
        h = keras.layers.Activation("relu")(keras.layers.BatchNormalization()(h))
        h = keras.layers.GlobalAveragePooling2D()(h)
        return keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(h))

    def one_step(initial, batch_size):
        model = build()
        if initial is not None:
            model.set_weights(initial)
        start = [w.copy() for w in model.get_weights()]
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss="categorical_crossentropy")
        model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        return model, start, model.get_weights()

    keras.utils.set_random_seed(0)
    _, initial, single = one_step(None, len(x))           # 1 device, global batch 8
    distribution = make_distribution("data-parallel")
    assert device_count(distribution) == 2
    batch = global_batch_size(PER_DEVICE, distribution)
    assert batch == len(x), batch
    model, start, parallel = one_step(initial, batch)       # 2 devices x 4
    kernel = model.trainable_variables[0].value
    assert len(kernel.sharding.device_set) == 2, kernel.sharding  # replicated on both devices
    moved = max(float(np.abs(a - b).max()) for a, b in zip(single, start))
    diff = max(float(np.abs(a - b).max()) for a, b in zip(single, parallel))
    assert moved > 1e-3, moved
    assert diff <= 1e-5, diff
    print("DATA_PARALLEL_OK", len(single), "weights, max |2 devices - 1 device|", diff)
""")


def test_data_parallel_two_devices_equals_one_device_step(tmp_path):
    pytest.importorskip("jax", reason="keras.distribution data parallelism needs JAX "
                                      "(make venv-jax; make test-jax)")
    env = dict(os.environ, KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu", PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert proc.returncode == 0 and "DATA_PARALLEL_OK" in proc.stdout, proc.stderr[-3000:]
    print(proc.stdout.strip().splitlines()[-1])


def test_data_parallel_refuses_other_backends():
    import keras

    from mammo_tf.training.environment import make_distribution

    if keras.backend.backend() == "jax":
        pytest.skip("this check is for the non-JAX backends")
    with pytest.raises(ValueError, match="needs the JAX backend"):
        make_distribution("data-parallel")
    assert make_distribution("none") is None


def test_training_flag_reports_a_bad_distribution_as_a_usage_error():
    import types

    import keras

    from mammo_tf.training.common import prepare_environment
    from mammo_tf.training.config import UsageError

    def config(strategy):
        return types.SimpleNamespace(seed=0, deterministic=False, mixed_precision=False,
                                     strategy=strategy, distribution="data-parallel", batch_size=4)

    both = config("mirrored")
    with pytest.raises(UsageError, match="exclude each other"):
        prepare_environment(both)
    assert both.batch_size == 4
    if keras.backend.backend() != "jax":  # on JAX it would set the process-wide distribution
        with pytest.raises(UsageError, match="needs the JAX backend"):
            prepare_environment(config("none"))
