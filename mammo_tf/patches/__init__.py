# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The paper's s1 / s10 / s30 patch sets: sampling (``sampling``) and HDF5 output (``patch_set``).

Library use: ``make_patch_set(manifest_csv, out_dir, set_name="s10")``; command line:
``python -m mammo_tf.patches --manifest data/manifest.csv --out patches/s10 --set s10``.
"""
from mammo_tf.patches.patch_set import (
    MANIFEST_NAME,
    PatchFileWriter,
    make_patch_set,
    parse_set_name,
    read_patch_file,
)
from mammo_tf.patches.sampling import SampledPatches, breast_mask, overlap_fraction, sample_patches

__all__ = [
    "MANIFEST_NAME",
    "PatchFileWriter",
    "SampledPatches",
    "breast_mask",
    "make_patch_set",
    "overlap_fraction",
    "parse_set_name",
    "read_patch_file",
    "sample_patches",
]
