# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""NYU multi-view breast cancer screening model (Wu et al., IEEE TMI 2019) in Keras 3.

ResNet-22 columns, four-view view-wise / image-wise / BI-RADS models with shared columns,
and import of the authors' PyTorch weights from a plain ``.npz`` (see ``weights``).
"""
from mammo_tf.models.nyu.four_view import (
    BIRADS_CLASSES,
    CC_INPUT_SIZE,
    MLO_INPUT_SIZE,
    OUTPUT_NAMES,
    VIEW_LABELS,
    VIEWS,
    HorizontalFlip,
    SummedBinaryCrossentropy,
    build_birads_model,
    build_image_wise_model,
    build_view_wise_model,
    exam_probabilities,
    get_column,
    transfer_columns,
)
from mammo_tf.models.nyu.resnet22 import build_resnet22, feature_map_shape
from mammo_tf.models.nyu.weights import load_pytorch_arrays

__all__ = [
    "BIRADS_CLASSES", "CC_INPUT_SIZE", "MLO_INPUT_SIZE", "OUTPUT_NAMES", "VIEW_LABELS", "VIEWS",
    "HorizontalFlip", "SummedBinaryCrossentropy", "build_birads_model", "build_image_wise_model",
    "build_view_wise_model", "build_resnet22", "exam_probabilities", "feature_map_shape",
    "get_column", "load_pytorch_arrays", "transfer_columns",
]
