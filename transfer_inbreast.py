#!/usr/bin/env python
# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Finetune a whole-image classifier on INbreast (or any manifest) without ROI annotations
(paper section 3), or run the transfer-efficiency series with --patients 20 30 40 50 60."""
import sys

from mammo_tf.commands.train import main_transfer  # the command (also: mammo-tf transfer)

if __name__ == "__main__":
    sys.exit(main_transfer())
