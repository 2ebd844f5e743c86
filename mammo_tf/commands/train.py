# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The Shen et al. training commands: ``train-patch`` (``train_patch.py``), ``train-whole``
(``train_whole.py``) and ``transfer`` (``transfer_inbreast.py``). Each is a thin call of its
pipeline: the options are generated from the pipeline's config dataclass, then the pipeline
function runs with it."""
import importlib
import sys

from mammo_tf.commands.common import PRECEDENCE, exit_on_bad_input, setup_command

# Where each pipeline's config dataclass and function live ("module:name"; the one place to
# change when they move).
PATCH = ("mammo_tf.shen.config:PatchConfig", "mammo_tf.shen.train_patch:train_patch_classifier")
WHOLE = ("mammo_tf.shen.config:WholeConfig", "mammo_tf.shen.train_whole:train_whole_image_classifier")
TRANSFER = ("mammo_tf.shen.config:TransferConfig", "mammo_tf.shen.transfer:transfer")


def _resolve(target):
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def run_pipeline(pipeline, prog, description, argv):
    """Parse a dataclass-configured pipeline's arguments, then run it (bad input: one error
    line and exit 2, ``exit_on_bad_input``). ``pipeline``: (config class, function) as
    "module:name"."""
    from mammo_tf.training.config import parse_config

    config_target, function_target = pipeline
    argv = sys.argv[1:] if argv is None else argv
    with exit_on_bad_input(prog):
        # The config module (shen/config.py) is Keras-free, so --help and argument errors stay
        # fast; the pipeline module (Keras) is imported after parsing.
        config, resume = parse_config(_resolve(config_target), argv, prog, description,
                                      PRECEDENCE)
        setup_command()
        _resolve(function_target)(config, resume=resume)
    return 0


def main_patch(argv=None, prog="train_patch.py"):
    return run_pipeline(PATCH, prog,
                        "Train a 5-class patch classifier in 3 stages (head; from the unfreezing "
                        "boundary; all layers) and report test accuracy and the confusion matrix.",
                        argv)


def main_whole(argv=None, prog="train_whole.py"):
    return run_pipeline(WHOLE, prog,
                        "Convert a trained patch classifier into a whole-image classifier and train "
                        "it in 2 stages (top layers; all layers); report the test AUC with a "
                        "bootstrap 95% CI.", argv)


def main_transfer(argv=None, prog="transfer_inbreast.py"):
    return run_pipeline(TRANSFER, prog,
                        "Finetune a whole-image classifier on another database (INbreast) with "
                        "image-level labels only; --patients N... runs the transfer-efficiency "
                        "series.", argv)
