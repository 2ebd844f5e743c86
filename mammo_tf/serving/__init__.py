# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Serving formats of a trained model (layer 5 of docs/DESIGN.md): ``savedmodel`` (TensorFlow
SavedModel export and loading) and ``onnx`` (ONNX export on the torch backend). The command is
``mammo-tf export``."""
