# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""``python -m mammo_tf.datasets``: the prepare / subset commands (``mammo_tf.commands.prepare``)."""
import sys

from mammo_tf.commands.prepare import main

if __name__ == "__main__":
    sys.exit(main())
