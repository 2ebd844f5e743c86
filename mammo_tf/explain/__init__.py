# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DeepMiner for mammo_tf Keras models: influence ranking, unit dissection, expert annotation
site, label merging, per-image explanations (CAM / Grad-CAM / HiResCAM) and their evaluation.

Unit ids are ``unit_0001`` (1-based display of channel 0) everywhere; see ``units``.
Gradients use the TensorFlow backend (``gradients``); everything else is backend-neutral.
"""
from mammo_tf.explain.annotate import build_site, load_vocabulary
from mammo_tf.explain.demo import demo_explain
from mammo_tf.explain.dissect import DissectState, dissect, streaming_pass
from mammo_tf.explain.evaluation import deletion_curve, energy_share, evaluate_maps, pointing_game
from mammo_tf.explain.explanation import explain, explain_to_files
from mammo_tf.explain.graph import ModelSplit, feature_layer_name, split_model
from mammo_tf.explain.loading import load_model
from mammo_tf.explain.maps import cam, class_maps, compute_influence, grad_cam, hires_cam
from mammo_tf.explain.merge import cohen_kappa, fleiss_kappa, load_unit_labels, merge_annotations
from mammo_tf.explain.probe import open_probe
from mammo_tf.explain.rank import rank_units, write_rankings
from mammo_tf.explain.units import canonical_unit_id, unit_channel, unit_id

__all__ = [
    "DissectState", "ModelSplit", "build_site", "cam", "canonical_unit_id", "class_maps", "cohen_kappa",
    "compute_influence", "deletion_curve", "demo_explain", "dissect", "energy_share", "evaluate_maps",
    "explain", "explain_to_files", "feature_layer_name", "fleiss_kappa", "grad_cam", "hires_cam",
    "load_model", "load_unit_labels", "load_vocabulary", "merge_annotations", "open_probe", "pointing_game",
    "rank_units", "split_model", "streaming_pass", "unit_channel", "unit_id", "write_rankings",
]
