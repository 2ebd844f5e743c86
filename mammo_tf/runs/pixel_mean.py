# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The one pixel-mean precedence of every pipeline."""
import os

from mammo_tf.errors import RunError


def resolve_pixel_mean(run=None, resume=False, given=None, parent=None, compute=None,
                       compute_source=None):
    """(pixel_mean, source) with the one precedence of every pipeline.

    1. ``resume``: the value recorded in ``run``'s run.json (a resumed run never changes it);
    2. ``given`` (``--pixel-mean``);
    3. ``parent``: the ``LoadedRun`` a pipeline starts from (whole-image: its patch run;
       transfer: its whole-image run), when it recorded one (the paper keeps one mean);
    4. ``compute()`` on the training data, described by ``compute_source``.
    """
    if resume:
        if not run.has_info() and not os.path.exists(run.state):
            raise RunError(f"{run.path}: the run stopped before its model was built (no run.json, "
                           "no state.json); start it again without --resume")
        info = run.read_info()
        return info.pixel_mean, info.pixel_mean_source
    if given is not None:
        return float(given), "--pixel-mean"
    if parent is not None and parent.info.pixel_mean is not None:
        where = parent.run.path if parent.run is not None else parent.model_path
        return parent.info.pixel_mean, f"{parent.info.kind} run {where}"
    if compute is None:
        raise RunError("no pixel mean: pass --pixel-mean")
    return float(compute()), compute_source or "computed on the training data"
