# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Plain constants of the NYU four-view model, free of Keras so that manifests, views and the
command lines (``--help``) can use them without importing TensorFlow; ``four_view`` re-exports
them."""
from mammo_tf.constants import NYU_BIRADS_CLASSES as BIRADS_CLASSES  # noqa: F401
from mammo_tf.constants import NYU_OUTPUT_NAMES as OUTPUT_NAMES  # noqa: F401

# Input names: Keras-legal spellings of L-CC, R-CC, L-MLO, R-MLO.
VIEWS = ("l_cc", "r_cc", "l_mlo", "r_mlo")
VIEW_LABELS = {"l_cc": "L-CC", "r_cc": "R-CC", "l_mlo": "L-MLO", "r_mlo": "R-MLO"}

# Paper's crop sizes (height, width).
CC_INPUT_SIZE = (2677, 1942)
MLO_INPUT_SIZE = (2974, 1748)

# Sliding-window heatmaps of the patch classifier: 256x256-pixel patches (paper section III-C);
# stride 70 as in the authors' public code (the paper gives none).
HEATMAP_PATCH_SIZE = 256
HEATMAP_STRIDE = 70
