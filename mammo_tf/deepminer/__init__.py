# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DeepMiner for mammo_tf Keras models: influence ranking, unit dissection, expert annotation
site, label merging, per-image explanations (CAM / Grad-CAM / HiResCAM) and their evaluation.

Unit ids are ``unit_0001`` (1-based display of channel 0) everywhere; see ``units``.
Gradients use the TensorFlow backend (``gradients``); everything else is backend-neutral.
"""
from mammo_tf.utils import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "annotate": ("build_site", "load_vocabulary"),
    "pipeline": ("load_model", "mine_and_explain"),
    "dissect": ("DissectState", "dissect", "streaming_pass"),
    "evaluation": ("deletion_curve", "energy_share", "evaluate_maps", "pointing_game"),
    "explanation": ("explain", "explain_to_files"),
    "graph": ("ModelSplit", "feature_layer_name", "split_model"),
    "maps": ("cam", "class_maps", "compute_influence", "grad_cam", "hires_cam"),
    "merge": ("cohen_kappa", "fleiss_kappa", "load_unit_labels", "merge_annotations"),
    "probe": ("open_probe",),
    "rank": ("rank_units", "write_rankings"),
    "units": ("canonical_unit_id", "unit_channel", "unit_id"),
})
