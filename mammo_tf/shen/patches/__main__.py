# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""``python -m mammo_tf.shen.patches``: the patches command (``mammo_tf.commands.patches``)."""
import sys

from mammo_tf.commands.patches import main

if __name__ == "__main__":
    sys.exit(main())
