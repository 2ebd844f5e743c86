#!/usr/bin/env python
# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Train a whole-image classifier (paper section 2.3) from a trained patch classifier:
resnet/vgg/hybrid top or the heatmap alternative, 2 stages -> test AUC, in runs/<name>/."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mammo_tf.cli import main_whole  # noqa: E402

if __name__ == "__main__":
    main_whole()
