# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Import the NYU authors' PyTorch weights from an ``.npz`` of plain arrays.

The released weights are PyTorch pickles. mammo_tf never unpickles anything: convert them
once, on a machine with torch, to an ``.npz`` of named arrays (only for a file you trust;
``torch.load`` of a pickle can run code)::

    import numpy as np, torch
    src, dst = "models/sample_image_model.p", "nyu_image_only.npz"
    try:
        state = torch.load(src, map_location="cpu", weights_only=True)
    except Exception:  # pre-1.6 pickles may need the full unpickler: trusted files only
        state = torch.load(src, map_location="cpu", weights_only=False)
    state = state.get("model", state)  # the authors wrap the state dict in {"model": ...}
    arrays = {k: v.detach().cpu().numpy() for k, v in state.items() if hasattr(v, "numpy")}
    np.savez(dst, **arrays)
    print(len(arrays), "arrays written to", dst)

Then ``load_pytorch_arrays(model, "nyu_image_only.npz")`` (``np.load(allow_pickle=False)``).

Key layout understood (any leading prefix such as ``four_view_resnet.`` is accepted):
``<col>.first_conv.weight``, ``<col>.layer_list.<i>.<j>.{bn1,conv1,bn2,conv2}.*``,
``<col>.layer_list.<i>.0.downsample.0.weight``, ``<col>.final_bn.*`` with ``<col>`` one of
``cc``/``l_cc``/``r_cc`` (aliases of one shared column) or ``mlo``/``l_mlo``/``r_mlo``;
heads ``fc1_<x>.{weight,bias}`` and ``output_layer_<x>.fc_layer.{weight,bias}`` (x = cc, mlo,
or a view name for the image-wise model). A bare single-column state dict (no ``<col>.``)
loads into a model from ``build_resnet22``.

Layout changes: conv OIHW -> HWIO; Linear (out, in) -> Dense (in, out); BatchNorm weight,
bias, running_mean, running_var -> gamma, beta, moving_mean, moving_variance;
``num_batches_tracked`` is ignored.

The heatmap patch classifier (DenseNet-121, ``mammo_tf.nyu.densenet``) takes the same route:
convert the authors' patch-classifier file with the snippet above, then
``load_pytorch_arrays(build_densenet121_patch_classifier(), "nyu_patch_densenet.npz")``
(torchvision ``densenet121`` keys; the mapping is in ``mammo_tf.nyu.densenet``).
"""
import os
import re

import numpy as np

from mammo_tf.errors import MissingFileError
from mammo_tf.nyu.four_view import COLUMN_NAMES
from mammo_tf.nyu.resnet22 import BLOCKS_PER_LAYER

_COLUMN_ALIASES = {"cc": ("cc", "l_cc", "r_cc"), "mlo": ("mlo", "l_mlo", "r_mlo")}
_BN_FIELDS = ("weight", "bias", "running_mean", "running_var")


def _column_layer_map():
    """Keras layer name -> torch module path inside one column."""
    mapping = {"stem_conv": "first_conv", "final_bn": "final_bn"}
    for i, blocks in enumerate(BLOCKS_PER_LAYER, start=1):
        for j in range(blocks):
            base = f"layer_list.{i - 1}.{j}"
            for part in ("bn1", "conv1", "bn2", "conv2"):
                mapping[f"layer{i}_block{j}_{part}"] = f"{base}.{part}"
            if j == 0:
                mapping[f"layer{i}_block{j}_downsample"] = f"{base}.downsample.0"
    return mapping


def _find(arrays, suffix, npz_path):
    """The one key equal to ``suffix`` or ending in ``.suffix``."""
    hits = [k for k in arrays if k == suffix or k.endswith("." + suffix)]
    if len(hits) > 1:
        raise ValueError(f"{npz_path}: several arrays match {suffix!r}: {hits}")
    return hits[0] if hits else None


def _column_prefixes(arrays, view_type):
    """Key prefixes (ending in '.') under which the column ``view_type`` is stored."""
    prefixes = []
    for key in arrays:
        m = re.match(r"^(.*?)([a-z_]+)\.first_conv\.weight$", key)
        if m and m.group(2).split(".")[-1] in _COLUMN_ALIASES[view_type]:
            prefixes.append(m.group(1) + m.group(2) + ".")
    return sorted(prefixes, key=lambda p: (p.split(".")[-2] != view_type, p))


def _layer_values(layer, torch_path, arrays, npz_path):
    """Arrays for one Keras layer in its weight order, converted from torch layout."""
    kind = type(layer).__name__
    if kind == "Conv2D":
        key = torch_path + ".weight"
        w = arrays[key].transpose(2, 3, 1, 0)  # OIHW -> HWIO
        values = [w] + ([arrays[torch_path + ".bias"]] if layer.use_bias else [])
    elif kind == "BatchNormalization":
        values = [arrays[f"{torch_path}.{f}"] for f in _BN_FIELDS]
    elif kind == "Dense":
        values = [arrays[torch_path + ".weight"].T] + (
            [arrays[torch_path + ".bias"]] if layer.use_bias else [])
    else:
        raise TypeError(f"no weight conversion for layer {layer.name!r} of type {kind}")
    expected = [tuple(w.shape) for w in layer.weights]
    got = [tuple(v.shape) for v in values]
    if expected != got:
        raise ValueError(
            f"{npz_path}: arrays for '{torch_path}' have shapes {got} but Keras layer "
            f"'{layer.name}' needs {expected} (wrong model variant or input channels?)")
    return [np.asarray(v, dtype=np.float32) for v in values]


def _load_column(column, arrays, prefix, npz_path, used):
    for keras_name, torch_name in _column_layer_map().items():
        layer = column.get_layer(keras_name)
        path = prefix + torch_name
        try:
            values = _layer_values(layer, path, arrays, npz_path)
        except KeyError as exc:
            raise ValueError(f"{npz_path}: missing array {exc.args[0]!r} for layer "
                             f"'{column.name}/{keras_name}'") from None
        layer.set_weights(values)
        used.update(k for k in arrays if k.startswith(path + "."))


def _check_aliases(arrays, prefixes, npz_path):
    """Aliased copies of a shared column (cc / l_cc / r_cc) must hold the same values."""
    main = prefixes[0]
    for other in prefixes[1:]:
        for key in arrays:
            if key.startswith(main) and not key.endswith("num_batches_tracked"):
                twin = other + key[len(main):]
                if twin in arrays and not np.array_equal(arrays[key], arrays[twin]):
                    raise ValueError(f"{npz_path}: '{key}' and '{twin}' differ, but the model "
                                     "shares one column between both views")


def load_pytorch_arrays(model, npz_path):
    """Load weights converted from the authors' PyTorch state dict into a mammo_tf model.

    Args:
        model: a four-view model (``build_view_wise_model`` / ``build_image_wise_model`` /
            ``build_birads_model``), a single column from ``build_resnet22``, or the heatmap
            patch classifier from ``build_densenet121_patch_classifier``.
        npz_path: ``.npz`` written by the conversion snippet in this module's docstring.

    Returns:
        dict with ``loaded`` (number of arrays used) and ``unused`` (sorted keys not used,
        e.g. aliased column copies; ``num_batches_tracked`` counts as read).

    Raises:
        MissingFileError (a FileNotFoundError) / ValueError naming the file and the missing or
        mismatched array.
    """
    from mammo_tf.nyu.densenet import is_nyu_patch_classifier, load_densenet_arrays

    if is_nyu_patch_classifier(model):
        return load_densenet_arrays(model, npz_path)
    npz_path = os.fspath(npz_path)
    if not os.path.exists(npz_path):
        raise MissingFileError(f"{npz_path}: no such weight file")
    with np.load(npz_path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    used = set()
    layer_names = {layer.name for layer in model.layers}
    if COLUMN_NAMES["cc"] in layer_names or COLUMN_NAMES["mlo"] in layer_names:
        for vt, col_name in COLUMN_NAMES.items():
            if col_name not in layer_names:
                continue
            prefixes = _column_prefixes(arrays, vt)
            if not prefixes:
                raise ValueError(f"{npz_path}: no '{vt}' column (keys '<prefix>{vt}.first_conv."
                                 "weight', or l_/r_ aliases) found")
            _check_aliases(arrays, prefixes, npz_path)
            _load_column(model.get_layer(col_name), arrays, prefixes[0], npz_path, used)
        _load_heads(model, arrays, npz_path, used)
    else:
        key = _find(arrays, "first_conv.weight", npz_path)
        if key is None:
            raise ValueError(f"{npz_path}: no 'first_conv.weight' array; not a ResNet-22 state dict")
        _load_column(model, arrays, key[: -len("first_conv.weight")], npz_path, used)
    return {"loaded": len(used), "unused": sorted(set(arrays) - used)}


def _load_heads(model, arrays, npz_path, used):
    for layer in model.layers:
        m = re.match(r"^(fc1|output)_(\w+)$", layer.name)
        if not m or type(layer).__name__ != "Dense":
            continue
        kind, head = m.groups()
        candidates = ([f"fc1_{head}"] if kind == "fc1"
                      else [f"output_layer_{head}.fc_layer", f"output_layer_{head}"])
        path = None
        for cand in candidates:
            key = _find(arrays, cand + ".weight", npz_path)
            if key is not None:
                path = key[: -len(".weight")]
                break
        if path is None:
            raise ValueError(f"{npz_path}: missing array '{candidates[0]}.weight' for layer "
                             f"'{layer.name}'")
        layer.set_weights(_layer_values(layer, path, arrays, npz_path))
        used.update({path + ".weight", path + ".bias"} & set(arrays))
