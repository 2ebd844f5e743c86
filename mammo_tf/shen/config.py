# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Configuration of Shen's pipelines as dataclasses, from which the command lines are generated
(``mammo_tf.training.config``): the patch classifier (``PatchConfig``, ``train_patch.py``), the
whole-image classifier (``WholeConfig``, ``train_whole.py``) and the transfer to another
database (``TransferConfig``, ``transfer_inbreast.py``), with their option tables and the
checks that need no file.

No Keras import here, so ``--help`` and bad arguments answer without TensorFlow (like
``mammo_tf.nyu.config``). The pipelines: ``mammo_tf.shen.train_patch``, ``train_whole``,
``transfer``.
"""
import dataclasses

from mammo_tf.constants import PATCH_BACKBONES
from mammo_tf.errors import UsageError
from mammo_tf.training.config import REQUIRED, CommonConfig, option

# Whole-image tops (train_whole.py --top): Shen's resnet / vgg blocks, the hybrid (resnet top
# on a VGG patch model) and the heatmap + FC alternative.
WHOLE_TOPS = ("resnet", "vgg", "hybrid", "heatmap")

# DeepMiner, section 2.1, for --backbone resnet152 with pretrained --weights: "fine-tuned all
# network weights ... The network was trained for 5 epochs ... a batch size of 32 ... a learning
# rate of 0.0001 ... momentum and weight decay ... 0.9 and 0.0001" (SGD: --optimizer sgd,
# --weight-decay 1e-4; experiments/deepminer_resnet152.json sets all of it).
DEEPMINER_STAGE = {"name": "all_layers", "trainable_from": "all", "learning_rate": 1e-4, "epochs": 5}

# Per-stage flags -> the Stage field each overrides (one value per stage, length-checked).
PATCH_STAGE_FLAGS = {"learning_rates": "learning_rate", "epochs": "epochs"}
WHOLE_STAGE_FLAGS = {"learning_rates": "learning_rate", "epochs": "epochs", "l2": "l2"}
# Scalar flags -> the Stage field each overrides; they fit a one-stage schedule only (a
# multi-stage ``stages`` list in the config is length-checked against them).
TRANSFER_STAGE_FLAGS = {"learning_rate": "learning_rate", "l2": "l2", "epochs": "epochs"}


@dataclasses.dataclass
class PatchConfig(CommonConfig):
    """Configuration of ``train_patch.py``; defaults are the paper's."""

    train_h5: list = option(REQUIRED, "training patch HDF5 file(s) (python -m mammo_tf.shen.patches)",
                            nargs="+", type=str)
    val_h5: list = option(REQUIRED, "validation patch HDF5 file(s)", nargs="+", type=str)
    test_h5: list | None = option(None, "test patch HDF5 file(s) (default: report on validation)",
                                  nargs="+", type=str)
    backbone: str = option("resnet50", "patch classifier backbone (resnet152: DeepMiner's; with "
                           "--weights its default schedule is the paper's one stage, all layers "
                           "at 1e-4 for 5 epochs; add --optimizer sgd for its SGD)",
                           choices=PATCH_BACKBONES)
    classes: int | None = option(None, "number of classes the patch files must hold: 5 (Shen's "
                                 "sets) or 3 (DeepMiner's normal/benign/malignant, a --set "
                                 "sliding set); default: whatever the files record")
    weights: str | None = option(None, "initial backbone weights: 'imagenet' or a .h5/.weights.h5 "
                                 "file (default: random init, which trains all layers at 1e-3 "
                                 "as the paper does for randomly initialized networks)")
    variant: str = option("s10", "patch-set variant; picks the default schedule when the config "
                          "has no 'stages': with --weights, "
                          "experiments/patch_<variant>_<backbone>.json (s10/s30: 3+10+37 epochs, "
                          "s1: 12+40+148); with random init, experiments/patch_<variant>_random"
                          ".json (one all-layer stage at 1e-3: 50 epochs, s1: 200)",
                          choices=("s1", "s10", "s30"))
    schedule: str = option("auto", "default schedule when the config has no 'stages': auto (by "
                           "--weights: pretrained with weights, random without), pretrained "
                           "(the 3-stage frozen schedule, also for random weights) or random "
                           "(one all-layer stage at 1e-3)", choices=("auto", "pretrained", "random"))
    learning_rates: list | None = option(None, "learning rates, one per stage of the schedule "
                                         "(default: the schedule's, 1e-3 1e-4 1e-5 pretrained, "
                                         "1e-3 random init)", nargs="+", type=float)
    epochs: list | None = option(None, "epochs, one per stage of the schedule (default: the "
                                 "schedule's)", nargs="+", type=int)
    unfreeze_from: str | None = option(None, "first layer trained in stage 2 of a 3-stage schedule "
                                       "(default: the paper's boundary, block4_conv1 / "
                                       "conv4_block6_1_conv)")
    monitor: str = option("accuracy", "validation metric of the best checkpoint: accuracy (the "
                          "paper's 'epoch when the best validation accuracy has been reached') "
                          "or auc (one-vs-rest macro AUC)", choices=("accuracy", "auc"))
    pixel_mean_manifest: str | None = option(
        None, "whole-image manifest CSV: compute the pixel mean over its train-split mammograms "
        "at --pixel-mean-image-size (the paper's 'pixel-wise mean for the mammograms on the "
        "train set'); default: the mean of the training patch files (no manifest needed)")
    pixel_mean_image_size: list = option([1152, 896], "image size (height width) the "
                                         "--pixel-mean-manifest mammograms are resized to",
                                         nargs=2, type=int)
    pixel_spacing: float | None = option(
        None, "pixel spacing (mm) of the images the patches were cut from (e.g. about 0.18 for "
        "DDSM resized to 1152x896), recorded in run.json so that heatmap runs can check their "
        "scale (default: the training patch file's 'pixel_spacing_mm' attribute, if any)")
    batch_size: int = option(32, "batch size")
    l2: float = option(1e-4, "L2 factor of the output layer's kernel (the paper's weight decay)")
    weight_decay: float | None = option(
        None, "PyTorch-style weight decay on EVERY kernel (DeepMiner: 'momentum and weight decay "
        "... 0.9 and 0.0001'): an L2 kernel regularizer of WEIGHT_DECAY/2 on every conv and "
        "Dense kernel, so the gradient gains WEIGHT_DECAY x w as in torch.optim.SGD (biases and "
        "BatchNormalization parameters are not decayed); replaces --l2 (default: off, Shen's "
        "--l2 on the output layer)")
    dropout: float = option(0.0, "dropout rate before the output layer")
    augment: bool = option(True, "random flips/rotation/shear/zoom/channel shift while training")
    class_balanced: bool = option(True, "per-batch class-balancing sample weights")
    bn_momentum: float | None = option(None, "BatchNormalization moving-average momentum "
                                       "(default: Keras' 0.99; 0.9 suits short runs)")


@dataclasses.dataclass
class WholeConfig(CommonConfig):
    """Configuration of ``train_whole.py``; defaults are the paper's."""

    patch_model: str = option(REQUIRED, "trained patch classifier (.keras, e.g. "
                              "runs/<patch run>/checkpoints/best.keras)")
    manifest: str = option(REQUIRED, "whole-image manifest CSV with train/val/test splits")
    top: str = option("resnet", "top blocks: resnet ([512-512-1024]x2), vgg (512x1 with "
                      "--repetitions 1 1), hybrid (resnet top on a VGG patch model) or heatmap "
                      "(probabilistic heatmap + FC layers)", choices=WHOLE_TOPS)
    depths: list = option([512, 512], "top-block depths", nargs="+", type=int)
    repetitions: list = option([2, 2], "units (resnet) / conv layers (vgg) per top block",
                               nargs="+", type=int)
    image_size: list = option([1152, 896], "whole-image input size: height width", nargs=2, type=int)
    learning_rates: list | None = option(None, "learning rates of stage 1 (top) and 2 (all) "
                                         "(default: the schedule's, experiments/whole_resnet.json: "
                                         "1e-4 1e-6)", nargs=2, type=float)
    epochs: list | None = option(None, "epochs of stage 1 and 2 (default: the schedule's, 30 20)",
                                 nargs=2, type=int)
    l2: list | None = option(None, "L2 weight decay of stage 1 and 2, applied for real "
                             "(default: the schedule's, 1e-3 1e-2)", nargs=2, type=float)
    dropout: float = option(0.0, "dropout rate before the output layer")
    batch_size: int = option(2, "batch size")
    augment: bool = option(True, "random flips/rotation/shear/zoom/channel shift while training")
    class_balanced: bool = option(True, "per-batch class-balancing sample weights")
    bn_momentum: float | None = option(None, "BatchNormalization moving-average momentum "
                                       "(default: Keras' 0.99; 0.9 suits short runs)")
    tta: bool = option(True, "also report the test AUC with 4-flip test-time augmentation")
    heatmap_pool: int = option(1, "--top heatmap: max-pooling size of the heatmap (default: "
                               "the best row of Tables 2-3, 1x1 with FC 2048-1024)")
    heatmap_hidden: list = option([2048, 1024], "--top heatmap: FC layer sizes", nargs="+",
                                  type=int)
    heatmap_shortcut: bool = option(True, "--top heatmap: shortcut Dense from the pooled heatmap "
                                    "to the output (the paper: 'we also add a shortcut')")
    heatmap_mode: str = option("fcn", "--top heatmap: 'fcn' (the paper's conversion, section "
                               "2.3: the input size changed to the whole image, 7x7 average "
                               "pooling, the patch softmax copied on top: 30x22 at 1152x896) or "
                               "'sliding' (an addition: the patch classifier on every window, "
                               "so the untrained model reproduces the patch baseline)",
                               choices=("fcn", "sliding"))
    heatmap_stride: int = option(32, "--top heatmap --heatmap-mode sliding: window stride in "
                                 "pixels (32: the paper's 30x22 heatmap at 1152x896)")
    heatmap_init_baseline: bool = option(False, "--top heatmap with --heatmap-shortcut: start "
                                         "the shortcut at the patch baseline (max P(malignant)) "
                                         "and the FC path at zero")
    validate_initial: bool = option(False, "an addition (not in the paper): validate the "
                                    "converted model before training; it competes for the best "
                                    "checkpoint as epoch 0")
    patch_baseline: bool = option(True, "report the patch baseline (the patch classifier slid "
                                  "over the val/test images, max P(malignant)) beside the model")
    baseline_stride: int | None = option(None, "window stride of the patch baseline in pixels "
                                         "(default: a quarter of the patch size)")
    rf_baseline: bool = option(False, "also run the heatmap + random-forest baseline "
                               "(cutoffs 0.3/0.5/0.7/0.9, 500 trees) on the patch model")
    rf_trees: int = option(500, "random-forest size for --rf-baseline")


@dataclasses.dataclass
class TransferConfig(CommonConfig):
    """Configuration of ``transfer_inbreast.py``; defaults are the paper's."""

    model: str = option(REQUIRED, "whole-image classifier to finetune (.keras, e.g. "
                        "runs/<whole run>/checkpoints/best.keras)")
    manifest: str = option(REQUIRED, "manifest of the target database (python -m "
                           "mammo_tf.datasets prepare inbreast ...) with train/val/test splits")
    image_size: list | None = option(None, "input size height width (default: the model's)",
                                     nargs=2, type=int)
    learning_rate: float | None = option(None, "learning rate (Adam) of the finetuning stage "
                                         "(default: the schedule's, experiments/"
                                         "transfer_inbreast.json: 1e-6)")
    l2: float | None = option(None, "L2 weight decay of the top blocks and output layer "
                              "(default: the schedule's, 1e-2)")
    epochs: int | None = option(None, "number of epochs (default: the schedule's, 200)")
    # Section 3.2 has no early stopping for the transfer: off unless asked for (an addition).
    patience: int = option(0, "an addition (not in section 3.2): early stopping after this "
                           "many epochs without improvement of the validation loss (0 = off, "
                           "the paper)")
    batch_size: int = option(2, "batch size")
    augment: bool = option(True, "random flips/rotation/shear/zoom/channel shift while training")
    class_balanced: bool = option(True, "per-batch class-balancing sample weights")
    tta: bool = option(True, "also report the test AUC with 4-flip test-time augmentation")
    patients: list | None = option(None, "transfer-efficiency series: finetune one model per "
                                   "number of training patients (e.g. 20 30 40 50 60), same "
                                   "validation set", nargs="+", type=int)
    subset_seed: int = option(0, "seed of the patient subsets (nested: the 20 are among the 30)")
    validate_initial: bool = option(False, "an addition (not in the paper): validate the "
                                    "source model on the target's validation split before "
                                    "finetuning; it competes for the best checkpoint as epoch 0 "
                                    "(with INbreast's one split selecting and reporting, this "
                                    "biases the reported AUC upward)")
    pixel_mean_from: str = option("target", "pixel mean of the finetuning: 'target' (the mean "
                                  "of the target's training images, the paper's 'exactly the "
                                  "same processing steps'; the authors' code: 44.33 for "
                                  "INbreast) or 'source' (an addition: the source run's "
                                  "recorded mean, e.g. DDSM's 52.18); --pixel-mean overrides "
                                  "both", choices=("target", "source"))
    patch_baseline: bool = option(True, "report the patch baseline (the source's patch classifier "
                                  "slid over the val/test images) beside the model")
    baseline_stride: int | None = option(None, "window stride of the patch baseline in pixels "
                                         "(default: a quarter of the patch size)")


def check_patch(config):
    """UsageError for a bad patch-classifier configuration (no file read)."""
    if config.backbone not in PATCH_BACKBONES:
        raise UsageError(f"unknown backbone {config.backbone!r}; choose one of "
                         f"{', '.join(PATCH_BACKBONES)}")
    if config.weight_decay is not None and config.weight_decay <= 0:
        raise UsageError(f"--weight-decay must be > 0, got {config.weight_decay}")


def check_whole(config):
    """UsageError for a bad whole-image configuration (no file read)."""
    if config.top not in WHOLE_TOPS:
        raise UsageError(f"unknown top {config.top!r}; choose one of {', '.join(WHOLE_TOPS)}")
    if len(config.depths) != len(config.repetitions):
        raise UsageError(f"--depths {config.depths} and --repetitions {config.repetitions} "
                         "need the same length")
