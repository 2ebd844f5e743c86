# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Same seed, same numbers (issue 24): a toy training run of the library's seeding
(``seed_everything``, deterministic ops) gives bit-identical weights when repeated in one
process, and changing nothing but the number of threads keeps the weights within a stated
tolerance. The pipeline-level repeats are ``test_scripts_pipelines.py::
test_sliding_heatmap_whole_run_is_deterministic`` and the resume tests."""
import json
import os
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Largest weight / loss difference allowed between 1 and 2 threads. TensorFlow's CPU kernels
# split their work by thread count, so the runs are not bit-identical: measured on this toy run
# (16 Adam steps at lr 1e-2) weights up to 8.4e-4 apart. The same thread count: identical.
THREAD_TOLERANCE = 5e-3

SCRIPT = r"""
import json, sys
import numpy as np
import keras
from mammo_tf.training.environment import seed_everything
from mammo_tf.training.perf import configure_threads

threads, out = int(sys.argv[1]), sys.argv[2]
configure_threads(intra_op=threads, inter_op=threads)


def train(seed=0):
    seed_everything(seed)
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (64, 16, 16, 3)).astype("float32")
    y = rng.integers(0, 2, 64)
    inputs = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Dropout(0.3)(h)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(h))
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=True, verbose=0)
    return model.get_weights(), history.history["loss"]


first, loss = train()
second, loss2 = train()
np.savez(out, *first)
identical = all(np.array_equal(a, b) for a, b in zip(first, second)) and loss == loss2
print(json.dumps({"identical": identical, "loss": loss}))
"""


def _run(threads, out):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="3")
    if threads == 1:  # the JAX backend's CPU thread pool (TensorFlow: configure_threads)
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(threads), str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def test_same_seed_is_bit_identical_and_threads_stay_within_tolerance(tmp_path):
    procs = {n: _run(n, tmp_path / f"threads_{n}.npz") for n in (1, 2)}
    results = {}
    for n, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        results[n] = json.loads(out.strip().splitlines()[-1])
    for n in (1, 2):  # the same seed twice in one process: bit-identical weights and losses
        assert results[n]["identical"], n
    one, two = (np.load(tmp_path / f"threads_{n}.npz") for n in (1, 2))
    diff = max(float(np.max(np.abs(one[k] - two[k]))) for k in one.files)
    assert diff <= THREAD_TOLERANCE, f"1 vs 2 threads: weights differ by up to {diff:.3g}"
    loss_diff = max(abs(a - b) for a, b in zip(results[1]["loss"], results[2]["loss"]))
    assert loss_diff <= THREAD_TOLERANCE, f"1 vs 2 threads: losses differ by up to {loss_diff:.3g}"
