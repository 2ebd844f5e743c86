# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The paper's s1 / s10 / s30 patch sets: sampling (``sampling``) and HDF5 output (``patch_set``);
DeepMiner's 3-class sliding-window set (``sliding_set``, ``--set sliding``).

Library use: ``make_patch_set(manifest_csv, out_dir, set_name="s10")``; command line:
``python -m mammo_tf.shen.patches --manifest data/manifest.csv --out patches/s10 --set s10``.
"""
from mammo_tf.utils import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "patch_set": ("MANIFEST_NAME", "PatchFileWriter", "make_patch_set", "parse_set_name", "read_patch_file"),
    "sampling": ("SampledPatches", "breast_mask", "overlap_fraction", "sample_patches"),
    "sliding_set": ("DEEPMINER_CLASSES", "sliding_patches"),
})
