"""keras.distribution data parallelism on the JAX backend: 2 (forced host) devices in one process
give the same weights after a training step as 1 device with the same global batch."""
import os
import subprocess
import sys
import textwrap

import pytest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/: the shared helpers

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
    from mammo_tf.errors import UsageError

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


# ----------------------------------------------------------------------------- several processes
def _patch_file(path, n):
    import h5py
    import numpy as np

    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        f["patches"] = rng.integers(0, 60000, (n, 12, 12)).astype(np.uint16)
        f["labels"] = (np.arange(n) % 3 == 0).astype(np.int64) * 2  # unbalanced: 0 and 2


def test_process_shards_of_a_global_batch_are_the_batch_of_one_process(tmp_path):
    """Each process reads its slice; together the slices are exactly one process's batch --
    the same images, augmentation draws and class-balanced weights (over the global batch)."""
    import numpy as np

    from mammo_tf.shen.augment import AugmentConfig
    from mammo_tf.shen.data import PatchDataset

    _patch_file(tmp_path / "p.h5", 20)
    kwargs = dict(batch_size=8, pixel_mean=90.0, augment=AugmentConfig(), class_balanced=True,
                  shuffle=True, seed=5)
    whole = PatchDataset(tmp_path / "p.h5", **kwargs)
    shards = [PatchDataset(tmp_path / "p.h5", shard=(i, 2), **kwargs) for i in range(2)]
    for ds in [whole] + shards:
        ds.set_epoch(1)
    assert len(whole) == 3 and [len(s) for s in shards] == [2, 2]  # the short batch is left out
    for b in range(2):
        parts = [s[b] for s in shards]
        for k in range(3):  # x, y, sample weights
            np.testing.assert_array_equal(np.concatenate([p[k] for p in parts]), whole[b][k])
    assert {len(p[0]) for p in parts} == {4}
    with pytest.raises(ValueError, match="does not split over 3 processes"):
        PatchDataset(tmp_path / "p.h5", shard=(0, 3), **kwargs)


def test_sharded_batch_count():
    from mammo_tf.training.environment import local_part, sharded_batch_count

    assert sharded_batch_count(20, 8, None) == 3
    assert sharded_batch_count(20, 8, (1, 2)) == 2
    assert local_part(8, (1, 2)) == slice(4, 8) and local_part(8, None) == slice(0, 8)
    with pytest.raises(ValueError, match="fewer than one global batch"):
        sharded_batch_count(5, 8, (0, 2))


def test_a_process_group_is_asked_for_by_flags_keras_variables_or_slurm():
    from mammo_tf.training.environment import process_group_requested

    assert not process_group_requested(environ={})
    assert process_group_requested(num_processes=2, environ={})
    assert process_group_requested(coordinator_address="10.0.0.1:1234", environ={})
    assert process_group_requested(environ={"KERAS_DISTRIBUTION_NUM_PROCESSES": "4"})
    assert process_group_requested(environ={"SLURM_NTASKS": "8", "SLURM_PROCID": "3"})
    assert not process_group_requested(environ={"SLURM_NTASKS": "1", "SLURM_PROCID": "0"})


def test_several_processes_need_data_parallel_and_launch_options_stay_out_of_the_run(tmp_path):
    import json
    import types

    from mammo_tf.shen.config import PatchConfig
    from mammo_tf.training.common import join_processes_for, open_run
    from mammo_tf.training.config import parse_config
    from mammo_tf.errors import UsageError

    with pytest.raises(UsageError, match="--distribution data-parallel"):
        join_processes_for(types.SimpleNamespace(distribution="none", num_processes=2,
                                                 coordinator_address="127.0.0.1:1",
                                                 process_id=1))
    config, _ = parse_config(PatchConfig, ["--train-h5", "a.h5", "--val-h5", "b.h5",
                                           "--runs-dir", str(tmp_path), "--name", "r"],
                             "train_patch.py", "")
    config.process_id = 0  # as if given on the command line of a one-process launch
    config.num_processes = 1
    run = open_run(config, "patch")
    saved = json.loads(open(run.config).read())["config"]
    assert saved["process_id"] is None and saved["num_processes"] is None
    resumed, _ = parse_config(PatchConfig, ["--resume", run.path, "--process-id", "0"],
                              "train_patch.py", "")
    assert resumed.process_id == 0
