# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The four benched architectures, their bench input sizes, and their Keras builders (no torch)."""

# name -> (kind, backbone, top, top repetitions)
ARCHITECTURES = {
    "patch_vgg16": ("patch", "vgg16", None, None),
    "patch_resnet50": ("patch", "resnet50", None, None),
    "whole_resnet50_resnet_top": ("whole", "resnet50", "resnet", (2, 2)),
    "whole_vgg16_vgg_top": ("whole", "vgg16", "vgg", (1, 1)),
}

# name -> ((height, width, batch) full, (height, width, batch) --quick)
SIZES = {
    "patch_vgg16": ((224, 224, 8), (64, 64, 2)),
    "patch_resnet50": ((224, 224, 8), (64, 64, 2)),
    "whole_resnet50_resnet_top": ((1152, 896, 2), (256, 192, 2)),
    "whole_vgg16_vgg_top": ((1152, 896, 2), (256, 192, 2)),
}


def bench_size(arch, quick=False):
    full, small = SIZES[arch]
    return small if quick else full


def build_keras(arch, input_shape=None):
    """The Keras model of ``arch`` (weights=None) at ``input_shape`` (default: its full bench size)."""
    from mammo_tf.shen import build_patch_classifier, build_whole_image_classifier

    kind, backbone, top, reps = ARCHITECTURES[arch]
    if input_shape is None:
        h, w, _ = SIZES[arch][0]
        input_shape = (h, w, 3)
    if kind == "patch":
        return build_patch_classifier(backbone, input_shape=input_shape)
    patch = build_patch_classifier(backbone, input_shape=(224, 224, 3))
    return build_whole_image_classifier(patch, top=top, repetitions=reps, input_shape=input_shape)
