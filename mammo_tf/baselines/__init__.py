# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Non-end-to-end baselines from the papers (heatmap + random forest)."""
