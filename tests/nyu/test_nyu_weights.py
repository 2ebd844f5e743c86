# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Weight import from PyTorch-layout .npz files (no torch needed): layout, aliases, errors.

The PyTorch-layout arrays are written here from the authors' parameter names (the state dict
of nyukat/breast_cancer_classifier's ResNet-22 and view-wise heads) with PyTorch shapes, not
from mammo_tf's layer map; the loaded Keras model is checked against a NumPy forward pass of
the same arrays in PyTorch's NCHW conventions, so a wrong map or a wrong transpose fails.
"""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from mammo_tf.nyu import build_resnet22, build_view_wise_model, get_column, load_pytorch_arrays

TOY = (72, 56)
PLANES = (16, 32, 64, 128, 256)  # layer_list.0 .. layer_list.4
STRIDES = (1, 2, 2, 2, 2)
BN_EPS = 1e-5


def authors_state_dict(rng, in_channels=1, prefix=""):
    """A ResNet-22 column's state dict as the authors' PyTorch module names it.

    first_conv.weight; layer_list.<i>.<j>.{bn1,conv1,bn2,conv2}.*; layer_list.<i>.0.downsample.0
    .weight; final_bn.* (BN: weight, bias, running_mean, running_var, num_batches_tracked).
    """
    state = {}

    def conv(name, out_ch, in_ch, k):
        std = np.sqrt(2.0 / (in_ch * k * k))
        state[f"{prefix}{name}.weight"] = rng.normal(0, std, (out_ch, in_ch, k, k)).astype("float32")

    def bn(name, ch):
        state[f"{prefix}{name}.weight"] = rng.uniform(0.8, 1.2, ch).astype("float32")
        state[f"{prefix}{name}.bias"] = rng.normal(0, 0.1, ch).astype("float32")
        state[f"{prefix}{name}.running_mean"] = rng.normal(0, 0.1, ch).astype("float32")
        state[f"{prefix}{name}.running_var"] = rng.uniform(0.5, 1.5, ch).astype("float32")
        state[f"{prefix}{name}.num_batches_tracked"] = np.array(7, dtype=np.int64)

    conv("first_conv", 16, in_channels, 7)
    inplanes = 16
    for i, planes in enumerate(PLANES):
        for j in range(2):
            block = f"layer_list.{i}.{j}"
            bn(f"{block}.bn1", inplanes)
            conv(f"{block}.conv1", planes, inplanes, 3)
            bn(f"{block}.bn2", planes)
            conv(f"{block}.conv2", planes, planes, 3)
            if j == 0:
                conv(f"{block}.downsample.0", planes, inplanes, 1)
            inplanes = planes
    bn("final_bn", inplanes)
    return state


# --- NumPy reference forward pass, NCHW, PyTorch semantics (eval mode) --------------------

def _conv(x, w, stride, pad):
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(x, w.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwij,ocij->nohw", windows, w, optimize=True)


def _bn(x, state, name):
    g, b, m, v = (state[f"{name}.{f}"][None, :, None, None]
                  for f in ("weight", "bias", "running_mean", "running_var"))
    return (x - m) / np.sqrt(v + BN_EPS) * g + b


def _relu(x):
    return np.maximum(x, 0.0)


def reference_column(state, x, prefix=""):
    """(N, C, H, W) -> (N, 256) features, from the arrays under ``prefix``."""
    s = {k[len(prefix):]: v.astype(np.float64) for k, v in state.items() if k.startswith(prefix)}
    h = _conv(x.astype(np.float64), s["first_conv.weight"], 2, 0)
    h = sliding_window_view(h, (3, 3), axis=(2, 3))[:, :, ::2, ::2].max(axis=(-2, -1))  # 3x3/2 pool
    for i, stride in enumerate(STRIDES):
        for j in range(2):
            block = f"layer_list.{i}.{j}"
            step = stride if j == 0 else 1
            out = _relu(_bn(h, s, f"{block}.bn1"))
            residual = _conv(out, s[f"{block}.downsample.0.weight"], step, 0) if j == 0 else h
            out = _conv(out, s[f"{block}.conv1.weight"], step, 1)
            out = _conv(_relu(_bn(out, s, f"{block}.bn2")), s[f"{block}.conv2.weight"], 1, 1)
            h = out + residual
    return _relu(_bn(h, s, "final_bn")).mean(axis=(2, 3))


def test_state_dict_key_count_and_column_matches_reference(tmp_path):
    rng = np.random.default_rng(0)
    state = authors_state_dict(rng)
    # 1 stem + 10 blocks x (2 BN x 5 + 2 conv) + 5 downsample + final BN x 5
    assert len(state) == 1 + 10 * 12 + 5 + 5
    np.savez(tmp_path / "col.npz", **state)
    column = build_resnet22(TOY + (1,))
    report = load_pytorch_arrays(column, tmp_path / "col.npz")
    # every array is read (num_batches_tracked with its BN layer's arrays, then ignored)
    assert report == {"loaded": len(state), "unused": []}
    # documented layout change: OIHW -> HWIO
    np.testing.assert_array_equal(column.get_layer("stem_conv").kernel.numpy(),
                                  state["first_conv.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(column.get_layer("final_bn").moving_variance.numpy(),
                                  state["final_bn.running_var"])
    x = rng.normal(size=(2, 1) + TOY).astype("float32")
    got = np.asarray(column(x.transpose(0, 2, 3, 1), training=False))
    np.testing.assert_allclose(got, reference_column(state, x), rtol=1e-4, atol=1e-4)


def four_view_state_dict(rng, channels=1):
    """The view-wise model's state dict: both columns under their three aliases, then heads."""
    state = {}
    for vt in ("cc", "mlo"):
        column = authors_state_dict(rng, channels)
        for alias in (vt, "l_" + vt, "r_" + vt):  # aliased modules: one shared column, 3 copies
            state.update({f"four_view_resnet.{alias}.{k}": v for k, v in column.items()})
        state[f"fc1_{vt}.weight"] = rng.normal(0, 0.05, (512, 512)).astype("float32")  # (out, in)
        state[f"fc1_{vt}.bias"] = rng.normal(0, 0.05, 512).astype("float32")
        state[f"output_layer_{vt}.fc_layer.weight"] = rng.normal(0, 0.05, (8, 512)).astype("float32")
        state[f"output_layer_{vt}.fc_layer.bias"] = rng.normal(0, 0.05, 8).astype("float32")
    return state


def reference_view_wise(state, x):
    """{view: NCHW} -> {"cc", "mlo"}: (N, 4, 2) softmax; right views flipped as in the paper."""
    out = {}
    for vt in ("cc", "mlo"):
        prefix = f"four_view_resnet.{vt}."
        h = np.concatenate([reference_column(state, x["l_" + vt], prefix),
                            reference_column(state, x["r_" + vt][..., ::-1], prefix)], axis=1)
        h = _relu(h @ state[f"fc1_{vt}.weight"].T + state[f"fc1_{vt}.bias"])
        logits = (h @ state[f"output_layer_{vt}.fc_layer.weight"].T
                  + state[f"output_layer_{vt}.fc_layer.bias"]).reshape(-1, 4, 2)
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        out[vt] = e / e.sum(axis=-1, keepdims=True)
    return out


def test_view_wise_matches_reference_aliases_and_errors(tmp_path):
    rng = np.random.default_rng(1)
    arrays = four_view_state_dict(rng)
    np.savez(tmp_path / "vw.npz", **arrays)
    model = build_view_wise_model(TOY, TOY)
    report = load_pytorch_arrays(model, tmp_path / "vw.npz")
    assert any(".l_cc." in k for k in report["unused"])  # aliases read once
    np.testing.assert_array_equal(model.get_layer("fc1_mlo").kernel.numpy(), arrays["fc1_mlo.weight"].T)
    x = {v: rng.normal(size=(2, 1) + TOY).astype("float32") for v in ("l_cc", "r_cc", "l_mlo", "r_mlo")}
    got = model({v: a.transpose(0, 2, 3, 1) for v, a in x.items()}, training=False)
    expected = reference_view_wise(arrays, x)
    for head in ("cc", "mlo"):
        np.testing.assert_allclose(np.asarray(got[head]), expected[head], atol=1e-5)
    # the two columns really are different arrays: loading cc into mlo would change the output
    assert not np.allclose(get_column(model, "cc").get_layer("stem_conv").kernel.numpy(),
                           get_column(model, "mlo").get_layer("stem_conv").kernel.numpy())

    bad = dict(arrays)
    bad["four_view_resnet.r_cc.first_conv.weight"] = bad["four_view_resnet.r_cc.first_conv.weight"] + 1
    np.savez(tmp_path / "alias.npz", **bad)
    with pytest.raises(ValueError, match="differ"):
        load_pytorch_arrays(model, tmp_path / "alias.npz")

    missing = {k: v for k, v in arrays.items() if "layer_list.2.0.bn2.running_var" not in k}
    np.savez(tmp_path / "missing.npz", **missing)
    with pytest.raises(ValueError, match=r"missing.npz: missing array .*layer_list.2.0.bn2.running_var"):
        load_pytorch_arrays(model, tmp_path / "missing.npz")

    three = build_view_wise_model(TOY, TOY, channels=3)
    with pytest.raises(ValueError, match="stem_conv"):
        load_pytorch_arrays(three, tmp_path / "vw.npz")
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        load_pytorch_arrays(model, tmp_path / "nothing.npz")
