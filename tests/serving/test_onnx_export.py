"""ONNX export (Keras' exporter on the torch backend, in a subprocess): ONNX Runtime == Keras
(atol 1e-4) at two input sizes with the preprocessing inside, the NYU four-view model, named
outputs, the run metadata, and the ``mammo-tf export --format onnx`` command."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

for _name in ("torch", "onnx", "onnxruntime"):
    pytest.importorskip(_name, reason=f"{_name} not installed: ONNX export needs the 'onnx' extra "
                                      "(pip install -e '.[onnx]')")
import onnxruntime as ort  # noqa: E402

from mammo_tf import shen as models  # noqa: E402
from mammo_tf.serving.onnx import OnnxExportError, export_onnx, read_metadata  # noqa: E402
from mammo_tf.preprocess import to_network_input  # noqa: E402
from mammo_tf.runs import RunFolder, RunInfo  # noqa: E402

PIXEL_MEAN = 52.18
ATOL = 1e-4


@pytest.fixture(scope="module")
def whole_run(tmp_path_factory):
    """An any-size whole-image model (input_shape (None, None, 3)) saved in a run folder."""
    patch = models.build_patch_classifier("vgg16", input_shape=(32, 32, 3))
    model = models.build_whole_image_classifier(patch, depths=(8, 8), input_shape=(None, None, 3))
    run = RunFolder(tmp_path_factory.mktemp("onnx") / "whole")
    info = RunInfo.for_model("whole_top", model, classes=["benign", "malignant"],
                             pixel_mean=PIXEL_MEAN)
    run.write_info(info)
    model.save(run.best_model)
    return run, model, info


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _check_raw_parity(path, model, shape):
    """ONNX Runtime on raw 16-bit images == Keras on the same images preprocessed in numpy."""
    session = _session(path)
    assert [i.name for i in session.get_inputs()] == ["images"]
    assert [o.name for o in session.get_outputs()] == ["probabilities"]
    rng = np.random.default_rng(0)
    worst = 0.0
    for batch in (1, 3):  # the batch axis is free
        raw = rng.integers(0, 65536, (batch, *shape, 1)).astype("float32")
        (got,) = session.run(["probabilities"], {"images": raw})
        expected = model.predict(to_network_input(raw[..., 0], PIXEL_MEAN), verbose=0)
        np.testing.assert_allclose(got, expected, atol=ATOL)
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def test_onnx_equals_keras_with_embedded_preprocessing_at_two_sizes(whole_run, tmp_path):
    run, model, info = whole_run
    diffs = {}
    for shape in [(64, 64), (96, 128)]:
        path = tmp_path / f"whole_{shape[0]}x{shape[1]}.onnx"
        result = export_onnx(run.best_model, path, pixel_mean=PIXEL_MEAN, info=info,
                             input_size=shape)
        assert result["raw_input"] and result["outputs"] == ["probabilities"]
        assert result["max_abs_diff"] is not None and result["max_abs_diff"] <= ATOL
        diffs[shape] = _check_raw_parity(path, model, shape)
        record = read_metadata(path)
        assert record["kind"] == "whole_top" and record["pixel_mean"] == PIXEL_MEAN
        assert record["channels"] == 1 and record["onnx"]["raw_input"] is True
    print("ONNX vs Keras max |diff|:", diffs)


def test_onnx_export_of_any_size_model_needs_a_size(whole_run, tmp_path):
    run, _, _ = whole_run
    with pytest.raises(OnnxExportError, match="give the size"):
        export_onnx(run.best_model, tmp_path / "x.onnx")
    assert not os.path.exists(tmp_path / "x.onnx")


def test_nyu_four_view_onnx_equals_keras(tmp_path):
    """Four named standardised views in, named ``cc`` / ``mlo`` out (as the SavedModel)."""
    from mammo_tf.nyu.four_view import VIEWS, build_view_wise_model

    model = build_view_wise_model((64, 48), (64, 48), channels=1)
    result = export_onnx(model, tmp_path / "nyu.onnx")
    assert sorted(result["inputs"]) == sorted(VIEWS) and result["outputs"] == ["cc", "mlo"]
    session = _session(tmp_path / "nyu.onnx")
    assert sorted(i.name for i in session.get_inputs()) == sorted(VIEWS)
    rng = np.random.default_rng(3)
    views = {v: rng.normal(0, 1, (2, 64, 48, 1)).astype("float32") for v in VIEWS}
    got = dict(zip(["cc", "mlo"], session.run(["cc", "mlo"], views)))
    expected = model.predict_on_batch(views)
    for name in ("cc", "mlo"):
        assert got[name].shape == (2, 4, 2)
        np.testing.assert_allclose(got[name], keras.ops.convert_to_numpy(expected[name]), atol=ATOL)


def test_export_command_writes_onnx_into_the_run_folder(whole_run):
    run, model, _ = whole_run
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    main = "import sys; from mammo_tf.commands import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", main, "export", run.path, "--format", "onnx",
                           "--size", "96", "128"], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "outputs probabilities" in proc.stdout
    target = run.file("model.onnx")
    assert _check_raw_parity(target, model, (96, 128)) <= ATOL
    assert json.loads(json.dumps(read_metadata(target)))["onnx"]["inputs"] == ["images"]
