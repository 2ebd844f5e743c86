# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The mammo_tf allconv architectures written in plain PyTorch (no torchvision): the bench peer.

Layer for layer the same as the Keras models (`mammo_tf.shen`): keras.applications VGG16 and
ResNet50 (conv biases on, BN epsilon 1.001e-5 in ResNet50, ZeroPadding + valid pooling), the
whole-image top blocks (ResNet "[d-d-2d] x n" bottleneck units, VGG "d x n" conv-BN-ReLU +
2x2 max pool; BN epsilon 1e-3) and the GAP -> dropout -> Dense head (logits here; the softmax
is inside the loss). ``count_parameters`` counts BN moving statistics like Keras'
``count_params`` so the totals can be compared exactly.

    python bench/torch_reference.py     # prints the parameter counts next to the Keras ones
"""
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from archs import ARCHITECTURES, build_keras  # noqa: E402

KERAS_BN_EPSILON = 1e-3
RESNET_BN_EPSILON = 1.001e-5
VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
RESNET50_STACKS = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))


def _conv_relu(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]


class VGG16Features(nn.Module):
    """keras.applications.VGG16(include_top=False): 13 3x3 convs, 5 max pools (block5_pool)."""

    out_channels = 512

    def __init__(self):
        super().__init__()
        layers, cin = [], 3
        for cout, reps in VGG16_BLOCKS:
            for _ in range(reps):
                layers += _conv_relu(cin, cout)
                cin = cout
            layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class _ConvBN(nn.Sequential):
    def __init__(self, cin, cout, kernel, stride=1, eps=RESNET_BN_EPSILON, relu=True):
        layers = [nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2), nn.BatchNorm2d(cout, eps=eps)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class Bottleneck(nn.Module):
    """1x1 d (stride s) -> 3x3 d -> 1x1 out, BN after each, projection shortcut when asked."""

    def __init__(self, cin, depth, out, stride, project, eps):
        super().__init__()
        self.shortcut = _ConvBN(cin, out, 1, stride, eps, relu=False) if project else nn.Identity()
        self.body = nn.Sequential(
            _ConvBN(cin, depth, 1, stride, eps),
            _ConvBN(depth, depth, 3, 1, eps),
            _ConvBN(depth, out, 1, 1, eps, relu=False),
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.shortcut(x) + self.body(x))


class ResNet50Features(nn.Module):
    """keras.applications.ResNet50(include_top=False) up to conv5_block3_out."""

    out_channels = 2048

    def __init__(self):
        super().__init__()
        # Keras: ZeroPadding2D(3) + 7x7/2 valid conv; ZeroPadding2D(1) + 3x3/2 valid max pool.
        # After ReLU the zero padding of the pool equals PyTorch's -inf padding.
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3),
            nn.BatchNorm2d(64, eps=RESNET_BN_EPSILON),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        units, cin = [], 64
        for filters, blocks, stride in RESNET50_STACKS:
            for b in range(blocks):
                units.append(
                    Bottleneck(cin, filters, 4 * filters, stride if b == 0 else 1, b == 0, RESNET_BN_EPSILON)
                )
                cin = 4 * filters
        self.stages = nn.Sequential(*units)

    def forward(self, x):
        return self.stages(self.stem(x))


BACKBONES = {"vgg16": VGG16Features, "resnet50": ResNet50Features}


class Head(nn.Module):
    """global_pool -> head_dropout -> predictions (logits)."""

    def __init__(self, channels, num_classes, dropout):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.predictions = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.predictions(self.dropout(x.mean(dim=(2, 3))))


def build_patch_classifier(backbone, num_classes=5, dropout=0.0):
    """Same network as ``mammo_tf.shen.build_patch_classifier(backbone)``."""
    features = BACKBONES[backbone]()
    return nn.Sequential(features, Head(features.out_channels, num_classes, dropout))


def _resnet_top(cin, depths, repetitions):
    units = []
    for depth, reps in zip(depths, repetitions):
        for unit in range(reps):
            units.append(Bottleneck(cin, depth, 2 * depth, 2 if unit == 0 else 1, unit == 0, KERAS_BN_EPSILON))
            cin = 2 * depth
    return nn.Sequential(*units), cin


def _vgg_top(cin, depths, repetitions):
    layers = []
    for depth, reps in zip(depths, repetitions):
        for _ in range(reps):
            layers.append(_ConvBN(cin, depth, 3, 1, KERAS_BN_EPSILON))
            cin = depth
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers), cin


def build_whole_image_classifier(backbone, top="resnet", depths=(512, 512), repetitions=(2, 2),
                                 num_classes=2, dropout=0.0):
    """Same network as ``build_whole_image_classifier(build_patch_classifier(backbone), top, ...)``."""
    features = BACKBONES[backbone]()
    make_top = {"resnet": _resnet_top, "vgg": _vgg_top}[top]
    top_blocks, channels = make_top(features.out_channels, depths, repetitions)
    return nn.Sequential(features, top_blocks, Head(channels, num_classes, dropout))


def count_parameters(module):
    """Weights + BN moving mean/variance: the quantity Keras' ``count_params`` reports."""
    total = sum(p.numel() for p in module.parameters())
    for name, buf in module.named_buffers():
        if name.endswith(("running_mean", "running_var")):
            total += buf.numel()
    return total


def make_train_step(model, images, labels, channels_last=False, learning_rate=1e-4):
    """A closure running one Adam training step on fixed tensors; returns the loss (a float)."""
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def build_torch(arch):
    """The PyTorch model of a bench architecture name (see bench/archs.py)."""
    kind, backbone, top, reps = ARCHITECTURES[arch]
    if kind == "patch":
        return build_patch_classifier(backbone)
    return build_whole_image_classifier(backbone, top, repetitions=reps)


def main():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # Small inputs: parameter counts do not depend on the size (>= 128 keeps every pool valid).
    print(f"{'architecture':28s} {'keras params':>14s} {'torch params':>14s}  equal")
    ok = True
    for arch in ARCHITECTURES:
        keras_count = build_keras(arch, (128, 128, 3) if ARCHITECTURES[arch][0] == "whole" else None).count_params()
        torch_count = count_parameters(build_torch(arch))
        ok &= keras_count == torch_count
        print(f"{arch:28s} {keras_count:14,d} {torch_count:14,d}  {keras_count == torch_count}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
