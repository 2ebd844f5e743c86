# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Training FLOPs per image counted from a Keras model's layer shapes.

Counted: the multiply-adds of convolutions and dense layers (2 FLOPs each), which dominate
these networks; elementwise layers (BN, ReLU, add, pooling) are left out. Forward:
conv ``2*kh*kw*(Cin/groups)*Cout*Hout*Wout``, dense ``2*in*out`` per input row. A training
step costs ``TRAIN_FACTOR`` = 3x the forward (forward + gradient w.r.t. inputs + w.r.t.
weights), the usual convention.
"""
import math

TRAIN_FACTOR = 3


def _static(shape, layer):
    dims = tuple(shape)[1:]
    if any(d is None for d in dims):
        raise ValueError(
            f"Layer {layer.name!r} has an unknown dimension {tuple(shape)}; build the model at a "
            "fixed input size to count FLOPs."
        )
    return dims


def layer_forward_flops(layer):
    """Forward FLOPs per example of one layer (0 for layers that are not conv/dense)."""
    import keras

    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        *spatial, cout = _static(layer.output.shape, layer)
        return 2 * kh * kw * cout * math.prod(spatial)
    if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)) and not isinstance(
        layer, (keras.layers.Conv2DTranspose,)
    ):
        cin = _static(layer.input.shape, layer)[-1]
        *spatial, cout = _static(layer.output.shape, layer)
        groups = getattr(layer, "groups", 1) or 1
        return 2 * math.prod(layer.kernel_size) * (cin // groups) * cout * math.prod(spatial)
    if isinstance(layer, keras.layers.Dense):
        *rows, units = _static(layer.output.shape, layer)
        fan_in = _static(layer.input.shape, layer)[-1]
        return 2 * fan_in * units * math.prod(rows)
    return 0


def forward_flops(model):
    """Forward FLOPs per example of ``model`` (sum over its layers, nested models included)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += forward_flops(layer)
        else:
            total += layer_forward_flops(layer)
    return total


def training_flops(model):
    """Training FLOPs per example (forward + backward) = ``TRAIN_FACTOR`` x forward."""
    return TRAIN_FACTOR * forward_flops(model)
