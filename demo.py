#!/usr/bin/env python
# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The demo of ``make demo`` (see mammo_tf/demo.py)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mammo_tf.demo import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
