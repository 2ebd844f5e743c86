# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Training: staged training with checkpoints and resume, run folders, configs, pipelines.

``StageRunner`` / ``run_stages`` (backend-neutral core, configurable validation evaluator and
monitored metrics), ``RunFolder`` (run folder layout), ``mammo_tf.training.config`` (dataclass
configs + argparse), ``mammo_tf.training.schedule`` (``Stage`` records),
``mammo_tf.training.environment`` (seeds, tf.distribute, mixed precision) and
``mammo_tf.training.common`` (steps the pipelines share) and ``mammo_tf.training.pipeline``
(the one skeleton every training command goes through, ``run_pipeline``). The pipelines' hooks
live with their method (``mammo_tf.shen.train_patch`` / ``train_whole`` / ``transfer``,
``mammo_tf.nyu.training``).

Names are re-exported lazily, so ``mammo_tf.training.config`` (argument parsing) imports no
Keras.
"""
from mammo_tf.utils import lazy_exports

_RUNS = ("RunFolder", "new_run_name")  # in mammo_tf.runs, re-exported for older imports
_runner_getattr, _runner_dir, _runner_all = lazy_exports(__name__, {
    "runner": ("Monitor", "RunState", "StageRunner", "TrainingOptions", "TrainingResult",
               "apply_stage", "classification_evaluator", "compile_for_stage", "run_stages"),
})
__all__ = sorted(_runner_all + list(_RUNS))


def __getattr__(name):
    if name in _RUNS:
        import mammo_tf.runs

        return getattr(mammo_tf.runs, name)
    return _runner_getattr(name)


def __dir__():
    return list(__all__)
