# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Prediction with trained runs (layer 5 of docs/DESIGN.md): ``predict`` (TTA, model averaging,
the prediction CSV) and ``tta`` (4-flip test-time augmentation). Needs no training code."""
