#!/usr/bin/env python
# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Train a patch classifier (paper section 2.2): patch HDF5 sets -> 3-stage training of
VGG16/VGG19/ResNet50 -> test accuracy on the 5 classes and confusion matrix, in runs/<name>/."""
import sys

from mammo_tf.commands.train import main_patch  # the command (also: mammo-tf train-patch)

if __name__ == "__main__":
    sys.exit(main_patch())
