# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""--strategy mirrored on two logical CPU devices (subprocess) and --mixed-precision."""
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from mammo_tf.shen import Stage, build_patch_classifier
from mammo_tf.training import StageRunner, TrainingOptions
from mammo_tf.models.trainability import float32_output
from mammo_tf.training.environment import set_mixed_precision
from training_helpers import ToyPatchData

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/: the shared helpers

MIRRORED_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from mammo_tf.shen import Stage, build_patch_classifier
    from mammo_tf.training import StageRunner, TrainingOptions
    from mammo_tf.training.environment import make_strategy, seed_everything
    from training_helpers import ToyPatchData
    seed_everything(0)
    strategy = make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    with strategy.scope():
        model = build_patch_classifier("vgg16", input_shape=(32, 32, 3))
    before = model.get_layer("predictions").get_weights()[0].copy()
    result = StageRunner(sys.argv[1], [Stage("head", "head", 1e-2, 1)], ToyPatchData(n=16),
                         ToyPatchData(n=8, shuffle=False), TrainingOptions(verbose=0),
                         strategy=strategy).train(model)
    after = result.model.get_layer("predictions").get_weights()[0]
    assert result.completed_epochs == 1 and not np.allclose(before, after)
    print("MIRRORED_OK", strategy.num_replicas_in_sync)
""")


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    pytest.importorskip("tensorflow", reason="--strategy mirrored is tf.distribute (TensorFlow "
                                             "backend); JAX: tests/training/test_distribution.py")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path / "run")], env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0 and "MIRRORED_OK 2" in proc.stdout, proc.stderr[-3000:]
    assert (tmp_path / "run" / "checkpoints" / "last.keras").is_file()


def test_mixed_precision_trains_with_float32_output(tmp_path):
    set_mixed_precision(True)
    try:
        model = float32_output(build_patch_classifier("vgg16", input_shape=(32, 32, 3)))
        assert model.get_layer("block1_conv1").compute_dtype == "float16"
        assert keras.backend.standardize_dtype(model.outputs[0].dtype) == "float32"
        result = StageRunner(tmp_path / "run", [Stage("head", "head", 1e-3, 1)], ToyPatchData(n=8),
                             ToyPatchData(n=8, shuffle=False), TrainingOptions(verbose=0)).train(model)
        assert isinstance(result.model.optimizer, keras.optimizers.LossScaleOptimizer)
        out = result.model.predict_on_batch(ToyPatchData(n=8)[0][0])
        assert out.dtype == np.float32 and np.all(np.isfinite(out))
    finally:
        set_mixed_precision(False)
