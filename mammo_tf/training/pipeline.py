# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The one skeleton every training command goes through (``run_pipeline``).

A training method (Shen's patch, whole-image and transfer pipelines, the NYU four-view model)
is a ``Pipeline``: an object of hooks for the steps that differ. The skeleton does, in this
order:

1. check the configuration and decide the stages (``Pipeline.validate``), before any file is
   read or any run folder written;
2. open the run folder, or reopen it with ``--resume`` (``config.json``);
3. a finished run (``metrics.json``) is not redone: its metrics are returned;
4. prepare the environment (seeds, precision, distribution);
5. resolve the pixel mean (a resumed run reads back the one its ``run.json`` recorded);
6. the training and validation data (``Pipeline.datasets``);
7. build the model (``Pipeline.build_model``, under the distribution scope) and write
   ``run.json`` -- OR restore it: decided by the run's state alone. While the run folder holds
   no ``state.json`` (a new run, or one killed before its first epoch was committed) the model
   is built, whether ``--resume`` was given or not; once it holds one, the stage runner
   restores model and optimizer from the resume checkpoint;
8. train the stages (``mammo_tf.training.runner.StageRunner``);
9. with several processes, process 0 alone goes on from here (``end_processes``);
10. evaluate the best checkpoint and write the reports (``Pipeline.evaluate``);
11. export the SavedModel (``--export``);
12. write ``metrics.json``, the mark of a finished run; log the headline
    (``Pipeline.report``).

Steps 6-12 are ``train_and_evaluate``; a pipeline that trains several runs in one folder (the
transfer-efficiency series) overrides ``Pipeline.train`` and calls it once per run.
"""
import dataclasses
import logging
import os

from mammo_tf.runs import RunFolder, load_keras_model
from mammo_tf.training import common
from mammo_tf.training.environment import end_processes
from mammo_tf.training.runner import StageRunner, TrainingResult

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class PipelineRun:
    """What the skeleton has set up so far, handed to the hooks."""

    config: object
    run: RunFolder
    stages: list
    resumed: bool = False                # the run is continued (``--resume`` of a started run)
    strategy: object = None              # tf.distribute strategy (None: default)
    pixel_mean: float | None = None
    pixel_mean_source: str | None = None
    train: object = None                 # training dataset
    val: object = None                   # validation data, as the evaluator takes it
    result: TrainingResult | None = None


class Pipeline:
    """The hooks of one training method; ``run_pipeline`` calls them in the documented order.

    Subclasses set ``name`` (run-name prefix and config.json ``pipeline``) and override
    ``validate``, ``datasets``, ``build_model``, ``run_info`` and ``evaluate``; the other hooks
    have defaults.
    """

    name = None
    # metrics.json keys ``report`` logs beside the run folder's files (empty: no report)
    headline = ()

    def __init__(self, config):
        self.config = config

    # ----- before the run folder ---------------------------------------------------------
    def validate(self):
        """UsageError for a bad configuration; returns the run's stages."""
        raise NotImplementedError

    def is_finished(self, run):
        """A finished run is not redone (default: it has metrics.json)."""
        return run.is_finished()

    def check_run(self, ctx):
        """Checks that need the opened run folder or the joined processes (default: none)."""

    # ----- data and model ----------------------------------------------------------------
    def pixel_mean(self, ctx):
        """(pixel_mean, source); default: none (the model standardises its own input)."""
        return None, None

    def datasets(self, ctx):
        """(training dataset, validation data)."""
        raise NotImplementedError

    def build_model(self, ctx):
        """The model a new run starts from (called under the distribution scope)."""
        raise NotImplementedError

    def run_info(self, ctx, model):
        """``RunInfo`` fields of run.json for the freshly built model: ``kind`` and the keyword
        arguments of ``mammo_tf.training.common.write_run_info``."""
        raise NotImplementedError

    def training_options(self, ctx):
        """The stage runner's options (default: optimizer, patience, seed, verbosity)."""
        return common.training_options(self.config)

    def evaluator(self, ctx):
        """The runner's per-epoch validation evaluator (None: softmax loss/accuracy/AUC)."""
        return None

    # ----- after training ----------------------------------------------------------------
    def evaluate(self, ctx, best):
        """The metrics dict of the best model (also writes the run's reports and plots)."""
        raise NotImplementedError

    def report(self, ctx, metrics):
        """Log the headline metrics and where the files are."""
        if self.headline:
            common.print_report(ctx.run, metrics, self.headline)

    def train(self, ctx, callbacks=()):
        """Steps 6-12 in ``ctx.run`` (see ``train_and_evaluate``); returns the metrics."""
        return train_and_evaluate(self, ctx, callbacks)


def run_pipeline(pipeline, resume=None, callbacks=()):
    """Run ``pipeline`` (a ``Pipeline``) from its configuration to the metrics of the best
    model (module docstring); ``resume``: the run folder of an interrupted run. Returns the
    metrics dict (also in metrics.json); None on the processes other than process 0."""
    config = pipeline.config
    stages = pipeline.validate()
    run = common.open_run(config, pipeline.name, resume, stages)
    if pipeline.is_finished(run):
        logger.info("%s: run already finished; nothing to do", run.path)
        return run.read_metrics()
    ctx = PipelineRun(config=config, run=run, stages=stages, resumed=_started(run, resume))
    pipeline.check_run(ctx)
    ctx.strategy = common.prepare_environment(config)
    ctx.pixel_mean, ctx.pixel_mean_source = pipeline.pixel_mean(ctx)
    metrics = pipeline.train(ctx, callbacks)
    if metrics is not None:
        pipeline.report(ctx, metrics)
    return metrics


def _started(run, resume):
    """Whether ``--resume`` continues a run that recorded something (run.json or state.json);
    a run killed before it recorded either simply starts again."""
    if not resume:
        return False
    if run.has_info() or os.path.exists(run.state):
        return True
    logger.info("%s: the run stopped before it recorded its model; starting it from the "
                "beginning", run.path)
    return False


def train_and_evaluate(pipeline, ctx, callbacks=()):
    """Data, model (built or restored by the run's state), stages, evaluation, export and
    metrics.json of one run (``ctx.run``); returns the metrics (None off process 0)."""
    config, run = pipeline.config, ctx.run
    ctx.train, ctx.val = pipeline.datasets(ctx)
    model = None
    if not os.path.exists(run.state):  # new, or killed before its first epoch was committed
        with common.scope(ctx.strategy):
            model = pipeline.build_model(ctx)
        info = pipeline.run_info(ctx, model)
        common.write_run_info(run, model, info.pop("kind"), **info)
    ctx.result = StageRunner(run, ctx.stages, ctx.train, ctx.val, pipeline.training_options(ctx),
                             ctx.strategy, callbacks, pipeline.evaluator(ctx)).train(model)
    if not end_processes():  # several processes: process 0 evaluates and exports alone
        return None
    metrics = pipeline.evaluate(ctx, load_keras_model(run.best_model))
    if config.export:
        common.export_model(run, run.best_model, ctx.pixel_mean)
    run.write_metrics(metrics)  # last: marks the run finished
    return metrics
