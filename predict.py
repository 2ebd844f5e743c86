#!/usr/bin/env python
# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Predict mammograms with trained mammo_tf models (also ``mammo-tf predict``; the command is
mammo_tf.commands.predict, the library mammo_tf.inference.predict). Run ``python predict.py --help``."""
import sys

from mammo_tf.commands.predict import main

if __name__ == "__main__":
    sys.exit(main())
