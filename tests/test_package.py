"""Package-level checks: Keras 3 guard, atomic writes, preprocessing convention."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import mammo_tf
from mammo_tf.preprocess import RawImagePreprocessing, to_network_input
from mammo_tf.utils import atomic_path, write_json_atomic


def test_keras3_in_use():
    assert int(mammo_tf.KERAS_VERSION.split(".")[0]) >= 3


def test_import_refuses_keras2(tmp_path):
    fake = tmp_path / "keras"
    fake.mkdir()
    (fake / "__init__.py").write_text("__version__ = '2.15.0'\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", "import mammo_tf.shen.classifiers"], capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "needs Keras 3 but found keras 2.15.0" in result.stderr


def test_atomic_path_keeps_target_on_failure(tmp_path):
    target = tmp_path / "out.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            open(tmp, "w").write("partial")
            raise RuntimeError("crash")
    assert json.loads(target.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["out.json"]


def test_atomic_path_keeps_weights_suffix(tmp_path):
    with atomic_path(tmp_path / "model.weights.h5") as tmp:
        assert tmp.endswith(".weights.h5")
        open(tmp, "wb").write(b"x")
    assert (tmp_path / "model.weights.h5").read_bytes() == b"x"


def test_network_input_matches_layer_and_does_not_modify_input():
    raw = np.random.default_rng(0).integers(0, 65536, (2, 8, 6)).astype("float32")
    copy = raw.copy()
    x = to_network_input(raw, 44.33)
    np.testing.assert_array_equal(raw, copy)
    assert x.shape == (2, 8, 6, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[..., 0], raw * 255 / 65535 - 44.33, rtol=1e-6, atol=1e-4)
    layer = RawImagePreprocessing(44.33)
    np.testing.assert_allclose(np.asarray(layer(raw[..., None])), x, atol=1e-4)
