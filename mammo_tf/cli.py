# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Command-line entry points of the three training scripts (argument parsing only)."""
import sys

from mammo_tf.training.config import cli_main, parse_config

PRECEDENCE = ("Options come from, in increasing precedence: the defaults shown, a --config JSON "
              "file, then the flags given.\nEvery run writes runs/<name>/ (config.json, "
              "pixel_mean.json, log.csv, checkpoints/, metrics.json, roc.png, saved_model/).")


def _run(config_cls, pipeline, prog, description, argv):
    def main(args):
        config, resume = parse_config(config_cls, args, prog, description, PRECEDENCE)
        pipeline(config, resume=resume)
        return 0

    return cli_main(main, sys.argv[1:] if argv is None else argv)


def main_patch(argv=None):
    from mammo_tf.shen.train_patch import PatchConfig, train_patch_classifier

    return _run(PatchConfig, train_patch_classifier, "train_patch.py",
                "Train a 5-class patch classifier in 3 stages (head; from the unfreezing "
                "boundary; all layers) and report test accuracy and the confusion matrix.", argv)


def main_whole(argv=None):
    from mammo_tf.shen.train_whole import WholeConfig, train_whole_image_classifier

    return _run(WholeConfig, train_whole_image_classifier, "train_whole.py",
                "Convert a trained patch classifier into a whole-image classifier and train it in "
                "2 stages (top layers; all layers); report the test AUC with a bootstrap 95% CI.",
                argv)


def main_transfer(argv=None):
    from mammo_tf.shen.transfer import TransferConfig, transfer

    return _run(TransferConfig, transfer, "transfer_inbreast.py",
                "Finetune a whole-image classifier on another database (INbreast) with image-level "
                "labels only; --patients N... runs the transfer-efficiency series.", argv)
