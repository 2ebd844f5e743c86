# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Training: staged training with checkpoints and resume, run folders, configs, pipelines.

``StageRunner`` / ``run_stages`` (backend-neutral core), ``RunFolder`` (run folder layout),
``mammo_tf.training.config`` (dataclass configs + argparse), ``mammo_tf.training.environment``
(seeds, tf.distribute, mixed precision) and one module per paper pipeline
(``patch``, ``whole``, ``transfer``).
"""
from mammo_tf.runs import RunFolder, new_run_name  # noqa: F401
from mammo_tf.training.runner import (  # noqa: F401
    StageRunner,
    TrainingOptions,
    TrainingResult,
    apply_stage,
    compile_for_stage,
    run_stages,
)
