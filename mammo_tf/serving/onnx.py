# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""ONNX export of mammo_tf classifiers with Keras' own exporter (``model.export(format="onnx")``).

Which Keras backend writes the file: Keras 3 exports ONNX through ``tf2onnx`` on the TensorFlow
backend and ``jax2onnx`` on the JAX backend; neither is installable offline here, so mammo_tf
runs the exporter on the **PyTorch backend** (``torch.onnx``, TorchScript exporter for the
dynamic batch axis), in a subprocess with ``KERAS_BACKEND=torch`` when the current backend is
another one. It needs the ``onnx`` extra: ``pip install -e '.[onnx]'`` (torch, onnx,
onnxscript, onnxruntime). The ``.keras`` file is the exchange format between the backends, so
the same weights go in whatever backend trained them.

What the file holds (every output is named, like the SavedModel endpoints):

- Shen models (patch, whole image): input ``images`` float32 (N, H, W, C), output
  ``probabilities`` (N, num_classes). With ``pixel_mean`` the run's preprocessing is inside:
  C = 1 and the caller sends the image as read from the 16-bit file (0-65535 scale);
  without it C = 3 network input (``mammo_tf.preprocess.to_network_input``).
- NYU four-view models: inputs ``l_cc r_cc l_mlo r_mlo`` (standardised views, as for the
  SavedModel), outputs ``cc`` and ``mlo``.

N is free; H and W are fixed at export time (the model's own size, or ``input_size`` for a
model built with ``input_shape=(None, None, 3)``): the traced graph computes "same" paddings
from the export size, so a fixed size is the only one the file is exact for. Export once per
serving size. With ``info`` the run's metadata (``RunInfo`` + the ONNX inputs/outputs) is
stored in the file's ``metadata_props`` under ``mammo_tf_run``. After writing, the export is
checked against the Keras model with ONNX Runtime (when installed) on a random batch; a
difference above ``atol`` fails the export and leaves nothing at ``path``.
"""
import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile

import numpy as np

from mammo_tf.errors import MammoTfError
from mammo_tf.utils import atomic_path

logger = logging.getLogger(__name__)

METADATA_KEY = "mammo_tf_run"
REQUIRED = ("torch", "onnx")


class OnnxExportError(MammoTfError, RuntimeError):
    """The ONNX export could not be written (missing packages, exporter failure, parity)."""


def missing_packages():
    """The packages of the ``onnx`` extra that are not importable here (torch, onnx)."""
    import importlib.util

    return [name for name in REQUIRED if importlib.util.find_spec(name) is None]


def _require_packages():
    missing = missing_packages()
    if missing:
        raise OnnxExportError(
            f"ONNX export needs {', '.join(missing)} (Keras exports ONNX through PyTorch here): "
            "pip install -e '.[onnx]'")


def _export_model(model, pixel_mean, input_size):
    """(model to trace, input specs, output names, raw_input) for ``model`` (torch backend)."""
    import keras

    if len(model.inputs) > 1:
        if pixel_mean is not None:
            raise OnnxExportError("pixel_mean embedding is for single-input (Shen) models; the "
                             "multi-input model's views are standardised by the caller")
        inputs, specs = {}, {}
        for tensor in model.inputs:
            name = tensor.name
            shape = tuple(tensor.shape[1:])
            if None in shape[:2]:
                if not isinstance(input_size, dict) or name.split("_")[-1] not in input_size:
                    raise OnnxExportError(f"input {name} has a free size {shape}; give input_size "
                                     "{'cc': (H, W), 'mlo': (H, W)}")
                shape = tuple(input_size[name.split("_")[-1]]) + shape[2:]
            inputs[name] = keras.Input(shape, name=name)
            specs[name] = keras.InputSpec(shape=(None, *shape), dtype="float32", name=name)
        outputs = model(inputs, training=False)
        if isinstance(outputs, dict):
            names = sorted(outputs)
            outputs = [outputs[n] for n in names]
        else:
            outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
            names = [f"output_{i}" for i in range(len(outputs))]
        return keras.Model(inputs, outputs, name=model.name), [specs], names, False
    from mammo_tf.preprocess import RawImagePreprocessing

    height, width, channels = model.input_shape[1:]
    if height is None or width is None:
        if input_size is None:
            raise OnnxExportError(f"{model.name} takes any image size {model.input_shape[1:3]}; "
                             "give the size to export for (input_size=(H, W), --size H W)")
        height, width = (int(v) for v in input_size)
    raw_input = pixel_mean is not None
    images = keras.Input((height, width, 1 if raw_input else channels), name="images")
    x = RawImagePreprocessing(pixel_mean)(images) if raw_input else images
    wrapper = keras.Model(images, model(x, training=False), name=model.name)
    spec = keras.InputSpec(shape=(None, height, width, images.shape[-1]), dtype="float32",
                           name="images")
    return wrapper, [spec], ["probabilities"], raw_input


def _rename_outputs(proto, names):
    graph = proto.graph
    if len(graph.output) != len(names):
        raise OnnxExportError(f"exporter wrote {len(graph.output)} outputs, expected {len(names)}")
    mapping = {out.name: new for out, new in zip(graph.output, names)}
    for node in graph.node:
        node.output[:] = [mapping.get(n, n) for n in node.output]
        node.input[:] = [mapping.get(n, n) for n in node.input]
    for value in list(graph.value_info) + list(graph.output):
        value.name = mapping.get(value.name, value.name)


def _check_parity(path, wrapper, specs, atol, seed=0):
    """Max |ONNX Runtime - Keras| on a random batch of 2 (None without onnxruntime)."""
    try:
        import onnxruntime as ort
    except ImportError:
        logger.warning("onnxruntime is not installed: the ONNX export is not checked")
        return None
    import keras

    rng = np.random.default_rng(seed)
    structure = specs[0]
    named = structure if isinstance(structure, dict) else {structure.name: structure}
    feed = {n: rng.normal(0, 1, (2, *s.shape[1:])).astype("float32") for n, s in named.items()}
    if not isinstance(structure, dict) and named["images"].shape[-1] == 1:
        feed["images"] = rng.integers(0, 65536, feed["images"].shape).astype("float32")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, feed)
    expected = wrapper(feed if isinstance(structure, dict) else feed["images"], training=False)
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    diff = max(float(np.max(np.abs(g - keras.ops.convert_to_numpy(e))))
               for g, e in zip(got, expected))
    if not diff <= atol:
        raise OnnxExportError(f"{path}: ONNX Runtime differs from Keras by {diff:.3g} (> {atol})")
    return diff


def _export_here(model, path, pixel_mean=None, info=None, input_size=None, opset=None,
                 atol=1e-4):
    """The export itself, on the torch backend (``model``: a Keras model or a .keras path)."""
    import keras
    import onnx

    if keras.backend.backend() != "torch":
        raise OnnxExportError("the ONNX exporter runs on the torch backend (KERAS_BACKEND=torch)")
    if not hasattr(model, "inputs"):
        from mammo_tf.runs import load_keras_model

        model = load_keras_model(model)
    wrapper, specs, names, raw_input = _export_model(model, pixel_mean, input_size)
    with atomic_path(path) as tmp:
        with tempfile.TemporaryDirectory() as scratch:
            raw = os.path.join(scratch, "model.onnx")
            import torch

            # Weights the tracer does not see as the module's parameters (the NYU columns shared
            # between views) must not require grad to be traced as constants.
            params = [v.value for v in wrapper.variables if isinstance(v.value, torch.Tensor)]
            flags = [p.requires_grad for p in params]
            try:
                for p in params:
                    p.requires_grad_(False)
                with torch.no_grad():
                    wrapper.export(raw, format="onnx", input_signature=specs,
                                   opset_version=opset, verbose=False)
            finally:
                for p, flag in zip(params, flags):
                    p.requires_grad_(flag)
            proto = onnx.load(raw)
        _rename_outputs(proto, names)
        structure = specs[0]
        inputs = sorted(structure) if isinstance(structure, dict) else ["images"]
        record = {} if info is None else info.to_dict()
        if info is not None and raw_input:
            record["channels"] = 1  # what the ONNX file takes
        record["onnx"] = {"raw_input": raw_input, "inputs": inputs, "outputs": names,
                          "exporter": f"keras {keras.__version__} (torch backend)"}
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(record)
        onnx.checker.check_model(proto)
        onnx.save(proto, tmp)
        diff = _check_parity(tmp, wrapper, specs, atol)
    return {"path": os.fspath(path), "inputs": inputs, "outputs": names,
            "raw_input": raw_input, "max_abs_diff": diff}


def export_onnx(model, path, pixel_mean=None, info=None, input_size=None, opset=None,
                atol=1e-4, timeout=1800):
    """Write ``model`` (a ``.keras`` path, or a Keras model) as an ONNX file at ``path``.

    Atomic: an interrupted or failed export leaves any previous file at ``path`` as it was.
    ``input_size``: (H, W) for an any-size Shen model ({"cc": .., "mlo": ..} for NYU).
    Returns a dict: path, inputs, outputs, raw_input, max_abs_diff (ONNX Runtime vs Keras on a
    random batch; None without onnxruntime). Raises ``OnnxExportError``.
    """
    import keras

    _require_packages()
    shapes = _input_shapes(model)
    if len(shapes) == 1 and None in tuple(shapes[0])[1:3] and input_size is None:
        raise OnnxExportError(f"{getattr(model, 'name', model)} takes any image size "
                              f"{tuple(shapes[0])[1:3]}; give the size to export for "
                              "(input_size=(H, W), --size H W)")
    if keras.backend.backend() == "torch":
        return _export_here(model, path, pixel_mean, info, input_size, opset, atol)
    with tempfile.TemporaryDirectory() as scratch:
        if hasattr(model, "inputs"):  # an in-memory model crosses backends as a .keras file
            model_path = os.path.join(scratch, "model.keras")
            model.save(model_path)
        else:
            model_path = os.fspath(model)
        job = {"model": os.path.abspath(model_path), "path": os.path.abspath(os.fspath(path)),
               "pixel_mean": pixel_mean, "info": None if info is None else info.to_dict(),
               "input_size": input_size, "opset": opset, "atol": atol,
               "result": os.path.join(scratch, "result.json")}
        job_file = os.path.join(scratch, "job.json")
        with open(job_file, "w", encoding="utf-8") as f:
            json.dump(job, f)
        env = dict(os.environ, KERAS_BACKEND="torch")
        try:
            proc = subprocess.run([sys.executable, "-m", "mammo_tf.serving.onnx", job_file],
                                  env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise OnnxExportError(f"ONNX export of {model_path} took over {timeout} s") from None
        if proc.returncode != 0:
            lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
            errors = [ln for ln in lines if ln.split(":")[0].endswith(("Error", "Exception"))]
            last = (errors or lines or [f"exit code {proc.returncode}"])[-1]
            raise OnnxExportError(f"ONNX export of {model_path} failed: {last}")
        with open(job["result"], encoding="utf-8") as f:
            return json.load(f)


def _input_shapes(model):
    """Batch shapes of ``model``'s inputs, read without loading a .keras file (its config)."""
    if hasattr(model, "inputs"):
        return [tuple(t.shape) for t in model.inputs]
    import zipfile

    try:
        with zipfile.ZipFile(os.fspath(model)) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise OnnxExportError(f"{model}: not a readable .keras file ({exc})") from None
    layers = config.get("config", {}).get("layers", [])
    return [tuple(layer["config"].get("batch_shape") or ()) for layer in layers
            if layer.get("class_name") == "InputLayer"]


def read_metadata(path):
    """The ``mammo_tf_run`` record stored in an ONNX file written by ``export_onnx``."""
    import onnx

    proto = onnx.load(os.fspath(path), load_external_data=False)
    for entry in proto.metadata_props:
        if entry.key == METADATA_KEY:
            return json.loads(entry.value)
    raise OnnxExportError(f"{path}: no {METADATA_KEY} metadata (not exported by mammo_tf)")


def _worker(argv=None):
    """``python -m mammo_tf.serving.onnx JOB.json`` (KERAS_BACKEND=torch): run one export job."""
    parser = argparse.ArgumentParser(prog="python -m mammo_tf.serving.onnx")
    parser.add_argument("job", help="job file written by mammo_tf.serving.onnx.export_onnx")
    args = parser.parse_args(argv)
    with open(args.job, encoding="utf-8") as f:
        job = json.load(f)
    info = None
    if job["info"] is not None:
        from mammo_tf.runs import RunInfo

        info = RunInfo.from_dict(job["info"])
    size = job["input_size"]
    result = _export_here(job["model"], job["path"], job["pixel_mean"], info,
                          tuple(size) if isinstance(size, list) else size, job["opset"],
                          job["atol"])
    with open(job["result"], "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(_worker())
