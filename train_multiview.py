#!/usr/bin/env python
# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Train the NYU four-view model (Wu et al. 2019) on an exam manifest, or predict with one.

Train (paper settings by default; --resume RUN_DIR continues an interrupted run):
    python train_multiview.py --manifest exams.csv --name nyu_vw
Image + heatmap channels from a mammo_tf patch classifier:
    python train_multiview.py --config nyu_image_heatmaps --manifest exams.csv \\
        --heatmap-model patch.keras --heatmap-pixel-mean 44.3
Predict (exam CSV: exam_id,left_benign,right_benign,left_malignant,right_malignant):
    python train_multiview.py --predict runs/nyu_vw --manifest exams.csv --output preds.csv
BI-RADS pretraining, then its columns into the cancer model (the paper's recipe):
    python train_multiview.py --config nyu_birads_pretraining --manifest exams.csv --name birads
    python train_multiview.py --manifest exams.csv --init-columns runs/birads/checkpoints/best.keras
Exam manifests: python -m mammo_tf.nyu exams --help

The options are generated from ``mammo_tf.nyu.config`` (``MultiviewConfig``, and
``PredictConfig`` for ``--predict``); nothing imports TensorFlow before they are parsed.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mammo_tf.commands.multiview import main as main_multiview  # noqa: E402


def main(argv=None):
    return main_multiview(argv)


if __name__ == "__main__":
    sys.exit(main())
