"""Several processes on keras.distribution (JAX): two processes on 127.0.0.1, each reading its
slice of every global batch, train a toy patch pipeline (real PatchDataset with augmentation and
class-balanced weights, StageRunner with checkpoints) to the same weights as one process with
the same global batch; the run folder is written once (process 0), and a two-process run
stopped after its first epoch resumes to the same result."""
import csv
import os
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/: the shared helpers
TIMEOUT_S = 300  # per launch; the processes also stop themselves (SIGALRM) before that

# argv: patch_h5 run_dir num_processes process_id port stop_after_epoch
SCRIPT = textwrap.dedent("""
    import signal, sys
    signal.alarm(%(alarm)d)  # never outlive the test, even when the peer never comes
    h5, run_dir, processes, process_id, port, stop_after = sys.argv[1:7]
    processes, process_id, stop_after = int(processes), int(process_id), int(stop_after)
    import keras
    import numpy as np
    from mammo_tf.shen.augment import AugmentConfig
    from mammo_tf.shen.data import PatchDataset
    from mammo_tf.training import StageRunner, TrainingOptions
    from mammo_tf.training.environment import (broadcast_text, end_processes, join_processes,
                                               make_distribution, process_shard, seed_everything)
    from mammo_tf.training.schedule import Stage

    if processes > 1:
        join_processes(f"127.0.0.1:{port}", processes, process_id)
        make_distribution("data-parallel")
    # a run name drawn by each process (e.g. from its clock): all use process 0's
    print("RUN_NAME", broadcast_text(f"name_of_process_{process_id}"), flush=True)
    seed_everything(0)
    GLOBAL_BATCH = 8
    train = PatchDataset(h5, batch_size=GLOBAL_BATCH, pixel_mean=100.0, augment=AugmentConfig(),
                         class_balanced=True, shuffle=True, seed=3, shard=process_shard())
    val = PatchDataset(h5, batch_size=GLOBAL_BATCH, pixel_mean=100.0, class_balanced=False,
                       shuffle=False)

    class StopAfter(keras.callbacks.Callback):  # a kill after the epoch's commit
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == stop_after:
                raise SystemExit(3)

    model = None  # a run folder with a state: resume it
    if not __import__("os").path.exists(run_dir + "/state.json"):
        inputs = keras.Input((16, 16, 3))
        # no bias before BatchNormalization: its gradient is 0 up to rounding, which Adam
        # would blow up into lr-sized steps of either sign
        h = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv")(inputs)
        h = keras.layers.Activation("relu")(keras.layers.BatchNormalization(name="bn")(h))
        h = keras.layers.GlobalAveragePooling2D()(h)
        model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax",
                                                       name="predictions")(h))
    options = TrainingOptions(optimizer="adam", seed=0, verbose=0,
                              stage_setup=lambda m, s: None)
    result = StageRunner(run_dir, [Stage("all", "all", 1e-2, 3)], train, val, options,
                         callbacks=[StopAfter()]).train(model)
    chief = end_processes()
    weights = [w.copy() for w in result.model.get_weights()] if chief else None
    if chief:
        np.savez(run_dir + "/final_weights.npz", *weights)
    print("MULTIHOST_OK", process_id, "chief" if chief else "worker", flush=True)
""")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(h5, run_dir, processes, stop_after=0):
    """Start ``processes`` copies of the script, wait (bounded), return their (rc, output)."""
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("XLA_FLAGS", None)
    port = str(_free_port())
    script = SCRIPT % {"alarm": TIMEOUT_S - 20}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(h5), str(run_dir),
                               str(processes), str(i), port, str(stop_after)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, start_new_session=True) for i in range(processes)]
    results = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=TIMEOUT_S)
            results.append((proc.returncode, out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    return results


def _write_patches(path, n=24):  # 3 whole global batches of 8
    import h5py

    rng = np.random.default_rng(0)
    labels = np.arange(n) % 5
    # class-dependent brightness, so training moves the weights in a definite direction
    patches = rng.integers(0, 20000, (n, 16, 16)) + labels[:, None, None] * 9000
    with h5py.File(path, "w") as f:
        f["patches"] = patches.astype(np.uint16)
        f["labels"] = labels.astype(np.int64)


def _csv_rows(run_dir):
    with open(os.path.join(run_dir, "log.csv"), newline="") as f:
        return list(csv.DictReader(f))


def test_two_processes_train_like_one_and_resume(tmp_path):
    pytest.importorskip("jax", reason="several processes on keras.distribution need JAX "
                                      "(make venv-jax; make test-jax)")
    h5 = tmp_path / "patches.h5"
    _write_patches(h5)

    one = tmp_path / "one"
    (rc, out), = _launch(h5, one, 1)
    assert rc == 0 and "MULTIHOST_OK 0 chief" in out, out[-3000:]

    two = tmp_path / "two"
    first = _launch(h5, two, 2, stop_after=1)       # both stop after epoch 1 is committed
    assert [rc for rc, _ in first] == [3, 3], [out[-2000:] for _, out in first]
    assert len(_csv_rows(two)) == 1
    second = _launch(h5, two, 2)                     # --resume: both read the run folder
    assert [rc for rc, _ in second] == [0, 0], [out[-2000:] for _, out in second]
    assert "MULTIHOST_OK 0 chief" in second[0][1] and "MULTIHOST_OK 1 worker" in second[1][1]
    assert all("RUN_NAME name_of_process_0" in out for _, out in first + second)

    single = np.load(one / "final_weights.npz")
    double = np.load(two / "final_weights.npz")
    # 1e-5 relative to the weight (the BatchNormalization moving variance here is ~350, where
    # one float32 step is 3e-5), 1e-5 absolute near zero
    diff = max(float(np.abs(single[k] - double[k]).max()) for k in single.files)
    relative = max(float((np.abs(single[k] - double[k]) / np.maximum(1.0, np.abs(single[k]))).max())
                   for k in single.files)
    assert relative <= 1e-5, (diff, relative)
    # validation (every process predicts the whole validation set) and the log: identical
    rows_one, rows_two = _csv_rows(one), _csv_rows(two)
    assert [r["epoch"] for r in rows_two] == ["1", "2", "3"]
    for a, b in zip(rows_one, rows_two):
        for key in ("loss", "val_loss", "val_auc"):
            assert abs(float(a[key]) - float(b[key])) <= 1e-5, (key, a[key], b[key])
    # written once, by process 0: the same files as the one-process run, no scratch files
    files = lambda run: sorted(os.path.relpath(os.path.join(d, f), run)  # noqa: E731
                               for d, _, fs in os.walk(run) for f in fs
                               if "tensorboard" not in d)
    assert files(two) == files(one), (files(two), files(one))
    print("2 processes (stopped after epoch 1, resumed) vs 1 process: max |weight diff|", diff,
          "max relative", relative)
