# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Configuration of the NYU four-view pipeline (``train_multiview.py``): training
(``MultiviewConfig``) and prediction (``PredictConfig``) as dataclasses, from which the command
line is generated (``mammo_tf.training.config``), plus their checks.

No Keras import here, so ``--help`` and bad arguments answer without TensorFlow.

The schedule is one ``Stage`` (all layers; experiments/nyu_image_only.json, or
nyu_birads_pretraining.json for ``task="birads"``): Adam at 1e-5, up to 500 epochs, L2 10**-4.5
on every kernel. ``--epochs`` / ``--learning-rate`` / ``--l2`` override that stage's value.
"""
import dataclasses
import os

from mammo_tf.nyu.constants import CC_INPUT_SIZE, HEATMAP_PATCH_SIZE, HEATMAP_STRIDE, MLO_INPUT_SIZE
from mammo_tf.training.config import REQUIRED, CommonConfig, option
from mammo_tf.errors import UsageError

TASKS = ("cancer", "birads")
MODELS = ("view-wise", "image-wise")
# The per-stage flags and the Stage field each one overrides.
STAGE_FLAGS = {"epochs": "epochs", "learning_rate": "learning_rate", "l2": "l2"}


def default_experiment(task):
    """Name of the shipped experiment file whose schedule a run of ``task`` trains by default."""
    return "nyu_birads_pretraining" if task == "birads" else "nyu_image_only"


@dataclasses.dataclass
class MultiviewConfig(CommonConfig):
    """Everything a training run needs; defaults are the paper's settings (Wu et al. 2019)."""

    manifest: str = option(REQUIRED, "four-view exam manifest CSV (python -m mammo_tf.nyu exams)")
    task: str = option("cancer", "cancer (breast-level benign/malignant) or birads (the BI-RADS "
                       "0/1/2 pretraining model; needs the manifest's birads column)", choices=TASKS)
    model: str = option("view-wise", "model variant", choices=MODELS)
    channels: int | None = option(None, "1 = image only, 3 = image + malignant + benign heatmaps "
                                  "(default: 1, 3 with --heatmap-model)", choices=(1, 3))
    cc_size: list = option(list(CC_INPUT_SIZE), "CC input size: height width", nargs=2, type=int)
    mlo_size: list = option(list(MLO_INPUT_SIZE), "MLO input size: height width", nargs=2, type=int)
    epochs: int | None = option(None, "maximum epochs (default: the schedule's, 500)")
    batch_size: int | None = option(None, "exams per batch (default: the paper's, 4 for "
                                    "--task cancer, 24 for --task birads)")
    learning_rate: float | None = option(None, "Adam learning rate (default: the schedule's, 1e-05)")
    l2: float | None = option(None, "L2 kernel regularizer on every kernel (default: the "
                              "schedule's, 10^-4.5 = 3.1623e-05)")
    # The paper's early stopping: mean validation AUC of the four tasks, 20 epochs.
    patience: int = option(20, "early stopping: stop after this many epochs without improvement "
                           "of the mean validation AUC (0 = off)")
    # Per-image standardisation (mammo_tf.nyu.crop.standardize): no pixel mean.
    pixel_mean: float | None = option(None, "not used by the NYU models", cli=False)
    augment: bool = option(True, "random window shift/size per exam and epoch in training")
    tta: int = option(10, "random window draws averaged at prediction, 0 = best window only")
    init_columns: str | None = option(None, ".keras four-view model (e.g. BI-RADS) whose "
                                      "ResNet-22 columns initialise the model")
    pytorch_weights: str | None = option(None, ".npz converted from the authors' PyTorch weights")
    init: str | None = option(None, "what the ResNet-22 columns start from, as a Table III row "
                              "states it: 'birads' (the rows without *: 'pretrained on BI-RADS "
                              "classification'; needs --init-columns RUN/checkpoints/best.keras "
                              "of a --config nyu_birads_pretraining run, or --pytorch-weights) or "
                              "'random' (the rows marked *; refuses both); default: random "
                              "unless --init-columns / --pytorch-weights is given",
                              choices=("birads", "random"))
    heatmap_model: str | None = option(None, "patch classifier .keras: compute/cached heatmap "
                                       "channels")
    heatmap_pixel_mean: float | None = option(None, "the patch classifier's pixel mean (0-255 "
                                              "scale)")
    heatmap_pixel_spacing: float | None = option(
        None, "pixel spacing (mm) of the images the heatmap classifier was trained on (default: "
        "its run.json's details.pixel_spacing_mm)")
    image_pixel_spacing: float | None = option(
        None, "pixel spacing (mm) of the exam images (default: each DICOM header; PNG images "
        "have none, give it here for the scale check)")
    allow_scale_mismatch: bool = option(False, "compute heatmaps even when the classifier's "
                                        "training pixel spacing differs from the image's by "
                                        "more than 10%")
    heatmap_patch_size: int = option(HEATMAP_PATCH_SIZE, "sliding patch size")
    heatmap_stride: int = option(HEATMAP_STRIDE, "sliding stride")
    erosion_iterations: int | None = option(None, "crop erosion steps (default: 100 at 3328 px "
                                            "height, scaled)")
    max_shift: float | None = option(None, "window shift noise px (default: 100 at 3328 px, "
                                     "scaled)")
    max_size_noise: float | None = option(None, "window size noise px (default: 100 at 3328 px, "
                                          "scaled)")
    cache_images: bool = option(False, "keep decoded images in memory")
    run_eagerly: bool = option(False, "run eagerly (no graph tracing; faster for tiny inputs, "
                               "debugging)")
    strict: bool = option(False, "stop at the first unreadable image (default: skip its exam)")

    def __post_init__(self):
        if self.channels is None:
            self.channels = 3 if self.heatmap_model else 1
        if self.batch_size is None:  # Wu et al. IV-C: "a minibatch size of 24 instead of 4"
            self.batch_size = 24 if self.task == "birads" else 4

    def preprocess(self):
        from mammo_tf.nyu.views import PreprocessConfig

        return PreprocessConfig(cc_size=tuple(self.cc_size), mlo_size=tuple(self.mlo_size),
                                erosion_iterations=self.erosion_iterations,
                                max_shift=self.max_shift, max_size_noise=self.max_size_noise)


@dataclasses.dataclass
class PredictConfig:
    """``train_multiview.py --predict MODEL``: exam predictions of a trained four-view model.

    The task, input sizes, channels and heatmap/crop settings come from the model's run folder
    (run.json); a flag that disagrees with the recorded value is an error.
    """

    manifest: str = option(REQUIRED, "four-view exam manifest CSV, or DICOM files / a DICOM folder "
                           "(exams grouped by study, views and sides from the headers or the image)")
    predict: str = option(REQUIRED, "the model: a run folder or a .keras file inside one")
    output: str | None = option(None, "prediction CSV to write (required)")
    split: str = option("all", "exams to predict", choices=("train", "val", "test", "all"))
    tta: int = option(10, "random window draws averaged, 0 = best window only")
    batch_size: int = option(4, "exams per batch")
    seed: int = option(0, "seed of the test-time window draws")
    task: str | None = option(None, "must match the run's recorded task", choices=TASKS)
    channels: int | None = option(None, "must match the run's recorded channels", choices=(1, 3))
    cc_size: list | None = option(None, "must match the run's recorded CC size", nargs=2, type=int)
    mlo_size: list | None = option(None, "must match the run's recorded MLO size", nargs=2,
                                   type=int)
    heatmap_model: str | None = option(None, "patch classifier for the heatmap channels "
                                       "(default: the one the run recorded)")
    heatmap_pixel_mean: float | None = option(None, "must match the run's recorded value")
    heatmap_patch_size: int | None = option(None, "must match the run's recorded value")
    heatmap_stride: int | None = option(None, "must match the run's recorded value")
    heatmap_pixel_spacing: float | None = option(
        None, "pixel spacing (mm) of the images the heatmap classifier was trained on (default: "
        "its run.json's details.pixel_spacing_mm)")
    image_pixel_spacing: float | None = option(
        None, "pixel spacing (mm) of the exam images for the heatmap scale check (default: "
        "each DICOM header)")
    allow_scale_mismatch: bool = option(False, "compute heatmaps even when the classifier's "
                                        "training pixel spacing differs from the image's by "
                                        "more than 10%")
    cache_images: bool = option(False, "keep decoded images in memory")
    run_eagerly: bool = option(False, "run eagerly (no graph tracing)")
    strict: bool = option(False, "stop at the first unreadable image")
    allow_for_processing: bool = option(False, "with a DICOM --manifest: read FOR PROCESSING images "
                                        "(refused by default)")
    workers: int = option(1, "data-loading workers")
    verbose: int = option(1, "progress output: 0 silent")


def _flag(name):
    return "--" + name.replace("_", "-")


def _check_files(config, names):
    for name in names:
        value = getattr(config, name)
        if value and not os.path.isfile(value):
            raise UsageError(f"{_flag(name)} {value}: file not found")


def _check_at_least(config, names, minimum, what):
    for name in names:
        value = getattr(config, name)
        if value is not None and value < minimum:
            raise UsageError(f"{_flag(name)} must be {what}")


def check_training(config):
    """UsageError (exit 2, one line) for a bad training configuration."""
    _check_files(config, ("manifest",))
    _check_files(config, ("init_columns", "pytorch_weights", "heatmap_model"))
    if config.heatmap_model and config.heatmap_pixel_mean is None:
        raise UsageError("--heatmap-model needs --heatmap-pixel-mean")
    if config.task not in TASKS:
        raise UsageError(f"--task must be one of {', '.join(TASKS)}, got {config.task!r}")
    initialised = config.init_columns or config.pytorch_weights
    if config.init == "birads" and not initialised:
        raise UsageError("this run is BI-RADS-pretrained (--init birads, Table III's rows without "
                         "*): pass --init-columns RUN/checkpoints/best.keras of a BI-RADS run "
                         "(train it with --config nyu_birads_pretraining) or --pytorch-weights "
                         "FILE.npz; or use the randomly initialised row (--init random, e.g. "
                         "--config nyu_image_only_random)")
    if config.init == "random" and initialised:
        raise UsageError("--init random (Table III's * rows) starts from random weights: drop "
                         "--init-columns / --pytorch-weights, or use --init birads")
    if config.model not in MODELS:
        raise UsageError(f"--model must be one of {', '.join(MODELS)}, got {config.model!r}")
    _check_at_least(config, ("epochs", "batch_size", "heatmap_patch_size", "heatmap_stride",
                             "workers"), 1, "at least 1")
    for name in ("cc_size", "mlo_size"):
        value = getattr(config, name)
        if len(value) != 2 or min(value) < 32:
            raise UsageError(f"{_flag(name)} must be two sizes of at least 32 px, got {value}")
    if config.learning_rate is not None and config.learning_rate <= 0:
        raise UsageError("--learning-rate must be > 0")
    _check_at_least(config, ("l2", "tta", "patience"), 0, ">= 0")
    for name in ("heatmap_pixel_spacing", "image_pixel_spacing"):
        value = getattr(config, name)
        if value is not None and value <= 0:
            raise UsageError(f"{_flag(name)} must be > 0 mm, got {value}")


def check_prediction(config):
    """UsageError for a bad prediction configuration."""
    if not os.path.isdir(config.manifest or ""):  # a DICOM folder is an exam source too
        _check_files(config, ("manifest",))
    if not config.output:
        raise UsageError("--predict needs --output")
    if not os.path.exists(config.predict):
        raise UsageError(f"--predict {config.predict}: not found")
    _check_files(config, ("heatmap_model",))
    _check_at_least(config, ("batch_size", "workers"), 1, "at least 1")
    _check_at_least(config, ("tta",), 0, ">= 0")
