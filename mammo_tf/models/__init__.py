# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Model code shared by every method (layer 4 of docs/DESIGN.md): the backbone registry
(``backbones``: builders by name, cut layers, unfreezing boundaries, ImageNet weights, the
DenseNet-121 backbone), the shared model helpers (``trainability``: trainable ranges, L2,
dropout, BatchNormalization freezing and momentum, float32 outputs, feature-layer lookup) and
every custom Keras layer of the saved models (``layers``). Importing the package imports no
Keras; its submodules do.
"""
