# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""L. Shen's all-convolutional design: patch classifiers, whole-image classifiers, stages."""
from mammo_tf.utils import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "mammo_tf.models.backbones": ("BACKBONES", "CUT_LAYER", "IMAGENET_NOTOP_FILES", "MIN_INPUT_SIZE", "UNFREEZE_FROM", "WeightsUnavailableError", "backbone_of"),
    "classifiers": ("AdjustableDropout", "TOPS", "build_heatmap_classifier", "build_patch_classifier", "build_whole_image_classifier"),
    "stages": ("ALL", "HEAD", "TRANSFER_STAGES", "WHOLE_IMAGE_STAGES", "Stage", "added_layer_names", "feature_layer_name", "head_start_layer", "patch_stages", "set_dropout", "set_l2", "set_trainable"),
})
