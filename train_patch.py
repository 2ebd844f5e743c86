#!/usr/bin/env python
# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Train a patch classifier (paper section 2.2): patch HDF5 sets -> 3-stage training of
VGG16/VGG19/ResNet50 -> test accuracy on the 5 classes and confusion matrix, in runs/<name>/."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mammo_tf.cli import main_patch  # noqa: E402

if __name__ == "__main__":
    main_patch()
