# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The commands: ``mammo-tf <command>`` (the console script, ``main``), every command's parser
and main, and the entry functions the top-level scripts (``train_patch.py``, ``train_whole.py``,
``transfer_inbreast.py``, ``train_multiview.py``, ``predict.py``, ``explain.py``) and the
``python -m`` shims (``mammo_tf.datasets``, ``mammo_tf.nyu``, ``mammo_tf.shen.patches``,
``mammo_tf.shen.heatmap_rf``, ``mammo_tf.runs``) call.

Every command follows the same rules (``mammo_tf.commands.common``):

- ``--help`` imports no TensorFlow / Keras: parsers are built from the standard library and
  Keras-free modules, and the heavy imports happen after parsing.
- Bad input (a bad argument, or an error of the library's ``mammo_tf.errors.MammoTfError``
  family: a bad option value, a missing or unusable file, an unusable run folder) prints ONE
  line ``<prog>: error: <message>`` on stderr and exits with code 2; any other exception is a
  bug and shows its traceback; 0 means done.
- The library's log messages reach the terminal through ``setup_command`` (logging at INFO).

This package is the top layer: nothing in the library imports it (only the top-level scripts
and the ``__main__`` shims do).
"""
import importlib
import sys

from mammo_tf.commands.common import report_error

# (command, "module:function", one-line summary). Each function takes (argv, prog=...).
COMMANDS = (
    ("train-patch", "mammo_tf.commands.train:main_patch",
     "train a patch classifier (Shen et al., section 2.2)"),
    ("train-whole", "mammo_tf.commands.train:main_whole",
     "train a whole-image classifier from a patch classifier (Shen et al., section 2.3)"),
    ("transfer", "mammo_tf.commands.train:main_transfer",
     "finetune a whole-image classifier on another database, e.g. INbreast (Shen et al., section 3)"),
    ("train-multiview", "mammo_tf.commands.multiview:main",
     "train the NYU four-view model (Wu et al. 2019), or predict with one"),
    ("predict", "mammo_tf.commands.predict:main",
     "class probabilities for mammograms (test-time augmentation, model averaging, AUC)"),
    ("evaluate", "mammo_tf.commands.evaluate:main",
     "screening report from prediction CSVs: breast/exam AUC, calibration, operating points, DeLong"),
    ("explain", "mammo_tf.commands.explain:main",
     "DeepMiner explanations: rank, dissect, annotate, merge, image, evaluate"),
    ("prepare", "mammo_tf.commands.prepare:main_prepare",
     "convert a dataset (CBIS-DDSM, INbreast, mini-MIAS, phantom) to 16-bit PNGs + manifest.csv"),
    ("subset", "mammo_tf.commands.prepare:main_subset",
     "keep the training rows of N patients of a manifest (transfer-efficiency series)"),
    ("patches", "mammo_tf.commands.patches:main",
     "sample an s1/s10/s30 patch set (HDF5) from a whole-image manifest"),
    ("exams", "mammo_tf.commands.exams:main_exams",
     "build a four-view exam manifest for the NYU model (from images or a phantom)"),
    ("heatmap-rf", "mammo_tf.commands.heatmap_rf:main",
     "the heatmap + random-forest baseline (Shen et al., section 3.3)"),
    ("export", "mammo_tf.commands.export:main",
     "export a run's model for serving: TensorFlow SavedModel or ONNX (docs/serving.md)"),
    ("pacs", "mammo_tf.commands.pacs:main",
     "predict studies from a PACS (DICOMweb) and store SR + SEG + overlay results back"),
)

PROG = "mammo-tf"


def _resolve(target):
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def _overview():
    width = max(len(name) for name, _, _ in COMMANDS) + 2
    lines = [f"usage: {PROG} <command> [options]     ({PROG} <command> --help: the command's options)",
             "",
             "Mammogram classification and explanation with Keras 3: Shen et al.'s all-convolutional",
             "whole-image classifier, the NYU four-view model and DeepMiner explanations.",
             "",
             "commands:"]
    lines += [f"  {name:<{width}}{summary}" for name, _, summary in COMMANDS]
    lines += ["", "options:", "  -h, --help  show this help and exit", "  --version   show the version and exit"]
    return "\n".join(lines) + "\n"


def main(argv=None):
    """``mammo-tf <command> [options]``: run one command (exit code: the command's)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        return report_error(PROG, f"a command is required ({PROG} --help lists them)")
    first = argv[0]
    if first in ("-h", "--help", "help"):
        if first == "help" and len(argv) > 1:  # mammo-tf help <command> = <command> --help
            return main([argv[1], "--help"])
        sys.stdout.write(_overview())
        return 0
    if first == "--version":
        from mammo_tf import __version__

        print(f"{PROG} {__version__}")
        return 0
    targets = {name: target for name, target, _ in COMMANDS}
    if first not in targets:
        return report_error(PROG, f"unknown command {first!r} (choose from {', '.join(targets)})")
    return _resolve(targets[first])(argv[1:], prog=f"{PROG} {first}")
