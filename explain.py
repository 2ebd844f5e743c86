#!/usr/bin/env python3
# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DeepMiner explanations: rank -> dissect -> annotate -> merge -> image, and evaluate.

Run ``python explain.py --help`` or ``python explain.py <command> --help``.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if __name__ == "__main__":
    from mammo_tf.explain.cli import main

    sys.exit(main())
