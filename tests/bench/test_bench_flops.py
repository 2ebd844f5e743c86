# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The bench FLOP counter against hand counts, and the PyTorch peer against the Keras models."""
import os
import sys

import keras
import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench")
sys.path.insert(0, BENCH)

from flops import TRAIN_FACTOR, forward_flops, training_flops  # noqa: E402


def test_flop_counter_matches_hand_count():
    inputs = keras.Input((16, 12, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="c1")(inputs)  # 16x12x8
    x = keras.layers.BatchNormalization()(x)  # not counted
    x = keras.layers.Conv2D(4, 1, strides=2, name="c2")(x)  # 8x6x4
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)  # 8x6x4
    x = keras.layers.Conv2D(6, 3, padding="same", groups=2, name="g")(x)  # 8x6x6, cin/groups = 2
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5, name="d")(x)
    model = keras.Model(inputs, outputs)
    hand = (
        2 * 3 * 3 * 3 * 8 * 16 * 12
        + 2 * 1 * 1 * 8 * 4 * 8 * 6
        + 2 * 3 * 3 * 4 * 8 * 6
        + 2 * 3 * 3 * 2 * 6 * 8 * 6
        + 2 * 6 * 5
    )
    assert forward_flops(model) == hand
    assert training_flops(model) == TRAIN_FACTOR * hand


def test_flop_counter_counts_nested_models_and_rejects_unknown_sizes():
    inner_in = keras.Input((8, 8, 2))
    inner = keras.Model(inner_in, keras.layers.Conv2D(3, 3, padding="same")(inner_in))
    outer_in = keras.Input((8, 8, 2))
    outer = keras.Model(outer_in, keras.layers.Dense(4)(inner(outer_in)))
    assert forward_flops(outer) == 2 * 9 * 2 * 3 * 64 + 2 * 3 * 4 * 64

    free_in = keras.Input((None, None, 3))
    free = keras.Model(free_in, keras.layers.Conv2D(2, 3)(free_in))
    with pytest.raises(ValueError, match="unknown dimension"):
        forward_flops(free)


def test_vgg16_patch_classifier_flops_match_the_published_count():
    from mammo_tf.shen import build_patch_classifier

    # VGG16 convolutions at 224x224: 15.35 G multiply-adds (the often-quoted ~15.5 GMAC
    # includes the fully connected top, absent here); checked at 32x32 = 1/49 of it.
    model = build_patch_classifier("vgg16", input_shape=(32, 32, 3))
    convs = sum(
        2 * 9 * layer.input.shape[-1] * layer.filters * layer.output.shape[1] * layer.output.shape[2]
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D)
    )
    assert forward_flops(model) == convs + 2 * 512 * 5
    assert abs(convs * 49 / 2 - 15.35e9) / 15.35e9 < 0.01


@pytest.mark.parametrize(
    "arch", ["patch_vgg16", "patch_resnet50", "whole_resnet50_resnet_top", "whole_vgg16_vgg_top"]
)
def test_torch_reference_has_the_keras_parameter_count(arch):
    pytest.importorskip("torch", reason="PyTorch not installed: the bench peer is optional")
    from archs import ARCHITECTURES, build_keras
    from torch_reference import build_torch, count_parameters

    size = (128, 128, 3) if ARCHITECTURES[arch][0] == "whole" else (32, 32, 3)
    assert count_parameters(build_torch(arch)) == build_keras(arch, size).count_params()


def test_torch_reference_output_shapes_match_keras():
    torch = pytest.importorskip("torch", reason="PyTorch not installed: the bench peer is optional")
    from torch_reference import BACKBONES, build_whole_image_classifier

    features = BACKBONES["resnet50"]()
    assert tuple(features(torch.zeros(1, 3, 64, 96)).shape) == (1, 2048, 2, 3)
    model = build_whole_image_classifier("vgg16", "vgg", repetitions=(1, 1))
    assert tuple(model(torch.zeros(2, 3, 128, 128)).shape) == (2, 2)  # 4x4 cut, two top pools -> 1x1
