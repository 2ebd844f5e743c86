# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""NYU multi-view breast cancer screening model (Wu et al., IEEE TMI 2019) in Keras 3.

ResNet-22 columns, four-view view-wise / image-wise / BI-RADS models with shared columns,
and import of the authors' PyTorch weights from a plain ``.npz`` (see ``weights``).
"""
from mammo_tf.utils import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "constants": ("BIRADS_CLASSES", "CC_INPUT_SIZE", "MLO_INPUT_SIZE", "OUTPUT_NAMES", "VIEW_LABELS", "VIEWS"),
    "four_view": ("HorizontalFlip", "SummedBinaryCrossentropy", "build_birads_model", "build_image_wise_model", "build_view_wise_model", "exam_probabilities", "get_column", "transfer_columns"),
    "resnet22": ("build_resnet22", "feature_map_shape"),
    "weights": ("load_pytorch_arrays",),
})
