# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Numpy image operations shared by every layer above io (layer 1 of docs/DESIGN.md):
breast segmentation (``breast``) and the one sliding-window grid (``windows``)."""
