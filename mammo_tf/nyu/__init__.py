# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Data side of the NYU multi-view model: view preprocessing, heatmaps, exam manifests,
the four-view data pipeline and training (the model itself is ``mammo_tf.models.nyu``)."""
