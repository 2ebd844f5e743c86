#!/usr/bin/env python3
# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DeepMiner explanations: rank -> dissect -> annotate -> merge -> image, and evaluate.

Run ``python explain.py --help`` or ``python explain.py <command> --help``.
"""
import importlib.util
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _cli():
    # The argument parser needs only the standard library: load it without importing the package
    # (which imports TensorFlow) so --help is instant and a bad argument gives one clean line.
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mammo_tf", "deepminer", "cli.py")
    if os.path.isfile(path):
        spec = importlib.util.spec_from_file_location("_mammo_tf_deepminer_cli", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    from mammo_tf.deepminer import cli

    return cli


if __name__ == "__main__":
    sys.exit(_cli().main())
