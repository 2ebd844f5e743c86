# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Dataset loaders (CBIS-DDSM, INbreast, mini-MIAS, phantom), manifests and splits.

Kept light on purpose: import the submodules you need, e.g.
``from mammo_tf.datasets.manifest import read_manifest``. The command line is
``python -m mammo_tf.datasets prepare {cbis-ddsm,inbreast,mini-mias,phantom} --src ... --out ...``.
"""
