#!/usr/bin/env python
# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Train a whole-image classifier (paper section 2.3) from a trained patch classifier:
resnet/vgg/hybrid top or the heatmap alternative, 2 stages -> test AUC, in runs/<name>/."""
import sys

from mammo_tf.commands.train import main_whole  # the command (also: mammo-tf train-whole)

if __name__ == "__main__":
    sys.exit(main_whole())
