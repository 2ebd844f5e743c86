#!/usr/bin/env python3
# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DeepMiner explanations: rank -> dissect -> annotate -> merge -> image, and evaluate
(also ``mammo-tf explain``). Run ``python explain.py --help`` or ``python explain.py <command> --help``."""
import sys

from mammo_tf.commands.explain import main

if __name__ == "__main__":
    sys.exit(main())
