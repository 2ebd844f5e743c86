# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""What a screening study reports (Keras-free): breast / exam levels (``levels``),
calibration (``calibration``), operating points (``operating``), DeLong's paired test
(``delong``), the report's inputs (``inputs``: ``load_predictions``), subgroups and the report
(``report``: ``write_report``), its HTML page (``html``), the report of a training run's
test split (``runs``: ``write_run_report``) and the ``evaluate`` command (``cli``). See docs/evaluate.md."""
from mammo_tf.utils import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "levels": ("Units", "all_levels", "breast_level", "exam_level", "make_units", "reduce_breast"),
    "calibration": ("Calibration", "brier_score", "expected_calibration_error", "fit_calibration",
                    "load_calibration", "plot_reliability", "save_calibration"),
    "operating": ("at_threshold", "choose_threshold", "operating_points", "sensitivity_at_specificity",
                  "specificity_at_sensitivity", "validation_thresholds"),
    "delong": ("delong_covariance", "delong_test", "paired_bootstrap"),
    "inputs": ("ReportError", "load_predictions"),
    "report": ("auc_entry", "load_report", "subgroup_table", "write_report"),
    "html": ("render_html",),
    "runs": ("auto_subgroups", "image_prediction_rows", "write_run_report"),
})
