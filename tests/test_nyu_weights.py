# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Weight import from PyTorch-layout .npz files (no torch needed): layout, aliases, errors."""
import numpy as np
import pytest

from mammo_tf.nyu import build_resnet22, build_view_wise_model, get_column, load_pytorch_arrays
from mammo_tf.nyu.weights import _column_layer_map

TOY = (72, 56)


def torch_layout(column, prefix=""):
    """The arrays a PyTorch state dict of this column would hold (inverse conversion)."""
    arrays = {}
    for keras_name, torch_name in _column_layer_map().items():
        layer = column.get_layer(keras_name)
        values = [w.numpy() for w in layer.weights]
        if keras_name.endswith(("conv", "conv1", "conv2", "downsample")):
            arrays[f"{prefix}{torch_name}.weight"] = values[0].transpose(3, 2, 0, 1)
        else:
            for field, v in zip(("weight", "bias", "running_mean", "running_var"), values):
                arrays[f"{prefix}{torch_name}.{field}"] = v
            arrays[f"{prefix}{torch_name}.num_batches_tracked"] = np.array(7)
    return arrays


def randomised(model, seed):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.uniform(0.5, 1.5, size=w.shape).astype("float32"))
    return model


def test_column_round_trip(tmp_path):
    source = randomised(build_resnet22(TOY + (1,)), 0)
    np.savez(tmp_path / "col.npz", **torch_layout(source))
    target = build_resnet22(TOY + (1,))
    report = load_pytorch_arrays(target, tmp_path / "col.npz")
    assert all(k.endswith("num_batches_tracked") for k in report["unused"])
    for a, b in zip(source.weights, target.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def four_view_arrays(model):
    arrays = {}
    for vt in ("cc", "mlo"):
        column = get_column(model, vt)
        for alias in (vt, "l_" + vt, "r_" + vt):
            arrays.update(torch_layout(column, f"four_view_resnet.{alias}."))
        fc1, out = model.get_layer(f"fc1_{vt}"), model.get_layer(f"output_{vt}")
        arrays[f"fc1_{vt}.weight"], arrays[f"fc1_{vt}.bias"] = fc1.kernel.numpy().T, fc1.bias.numpy()
        arrays[f"output_layer_{vt}.fc_layer.weight"] = out.kernel.numpy().T
        arrays[f"output_layer_{vt}.fc_layer.bias"] = out.bias.numpy()
    return arrays


def test_view_wise_aliases_and_errors(tmp_path):
    source = randomised(build_view_wise_model(TOY, TOY), 1)
    arrays = four_view_arrays(source)
    np.savez(tmp_path / "vw.npz", **arrays)
    target = build_view_wise_model(TOY, TOY)
    report = load_pytorch_arrays(target, tmp_path / "vw.npz")
    assert any(".l_cc." in k for k in report["unused"])  # aliases read once
    for a, b in zip(source.weights, target.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    bad = dict(arrays)
    bad["four_view_resnet.r_cc.first_conv.weight"] = bad["four_view_resnet.r_cc.first_conv.weight"] + 1
    np.savez(tmp_path / "alias.npz", **bad)
    with pytest.raises(ValueError, match="differ"):
        load_pytorch_arrays(target, tmp_path / "alias.npz")

    missing = {k: v for k, v in arrays.items() if "layer_list.2.0.bn2.running_var" not in k}
    np.savez(tmp_path / "missing.npz", **missing)
    with pytest.raises(ValueError, match=r"missing.npz: missing array .*layer_list.2.0.bn2.running_var"):
        load_pytorch_arrays(target, tmp_path / "missing.npz")

    three = build_view_wise_model(TOY, TOY, channels=3)
    with pytest.raises(ValueError, match="stem_conv"):
        load_pytorch_arrays(three, tmp_path / "vw.npz")
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        load_pytorch_arrays(target, tmp_path / "nothing.npz")
