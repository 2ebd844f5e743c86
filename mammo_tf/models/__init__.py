# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Model builders. One folder per model family: ``allconv`` (Shen) and ``nyu`` (ResNet-22)."""
from mammo_tf.models.allconv import *  # noqa: F401,F403
