# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The commands: ``mammo-tf <command>`` (the console script, ``main``) and the entry functions
the top-level scripts (``train_patch.py``, ``train_whole.py``, ``transfer_inbreast.py``,
``train_multiview.py``, ``predict.py``, ``explain.py``) call.

Every command follows the same rules:

- ``--help`` imports no TensorFlow / Keras: parsers are built from the standard library and
  Keras-free modules, and the heavy imports happen after parsing.
- Bad input (a bad argument, a missing or unusable file) prints ONE line
  ``<prog>: error: <message>`` on stderr and exits with code 2 (``CommandParser.error``,
  ``report_error``, ``UsageError`` through ``_run``); 0 means done.
- The library's log messages reach the terminal through ``setup_command`` (logging at INFO).

Like ``mammo_tf.predict`` this module is the end of the chain: nothing in the library imports it
except the command modules (``__main__`` files and the CLIs), for these helpers.
"""
import argparse
import contextlib
import importlib
import os
import sys

# (command, "module:function", one-line summary). Each function takes (argv, prog=...).
COMMANDS = (
    ("train-patch", "mammo_tf.cli:main_patch",
     "train a patch classifier (Shen et al., section 2.2)"),
    ("train-whole", "mammo_tf.cli:main_whole",
     "train a whole-image classifier from a patch classifier (Shen et al., section 2.3)"),
    ("transfer", "mammo_tf.cli:main_transfer",
     "finetune a whole-image classifier on another database, e.g. INbreast (Shen et al., section 3)"),
    ("train-multiview", "mammo_tf.cli:main_multiview",
     "train the NYU four-view model (Wu et al. 2019), or predict with one"),
    ("predict", "mammo_tf.predict_cli:main",
     "class probabilities for mammograms (test-time augmentation, model averaging, AUC)"),
    ("evaluate", "mammo_tf.screening.cli:main",
     "screening report from prediction CSVs: breast/exam AUC, calibration, operating points, DeLong"),
    ("explain", "mammo_tf.deepminer.cli:main",
     "DeepMiner explanations: rank, dissect, annotate, merge, image, evaluate"),
    ("prepare", "mammo_tf.datasets.__main__:main_prepare",
     "convert a dataset (CBIS-DDSM, INbreast, mini-MIAS, phantom) to 16-bit PNGs + manifest.csv"),
    ("subset", "mammo_tf.datasets.__main__:main_subset",
     "keep the training rows of N patients of a manifest (transfer-efficiency series)"),
    ("patches", "mammo_tf.shen.patches.__main__:main",
     "sample an s1/s10/s30 patch set (HDF5) from a whole-image manifest"),
    ("exams", "mammo_tf.nyu.__main__:main_exams",
     "build a four-view exam manifest for the NYU model (from images or a phantom)"),
    ("heatmap-rf", "mammo_tf.shen.heatmap_rf:main",
     "the heatmap + random-forest baseline (Shen et al., section 3.3)"),
    ("export", "mammo_tf.export_cli:main",
     "export a run's model for serving: TensorFlow SavedModel or ONNX (docs/serving.md)"),
)

PROG = "mammo-tf"

PRECEDENCE = ("Options come from, in increasing precedence: the defaults shown, a --config JSON "
              "file, then the flags given.\nEvery run writes runs/<name>/ (see mammo_tf.runs for "
              "the run-folder format).")


class CommandParser(argparse.ArgumentParser):
    """argparse with the commands' error style: one line ``<prog>: error: <message>``, exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def report_error(prog, message):
    """Print a bad-input error in the commands' style and return exit code 2 (for errors found
    after parsing, where a command returns instead of raising)."""
    sys.stderr.write(f"{prog}: error: {message}\n")
    return 2


@contextlib.contextmanager
def exit_on_bad_input(prog):
    """An error of the library's family (``mammo_tf.errors.MammoTfError``: a bad option value,
    a missing file, a run folder that cannot be used...) raised inside becomes one error line
    and exit code 2; anything else is a bug and keeps its traceback."""
    from mammo_tf.errors import MammoTfError

    try:
        yield
    except MammoTfError as exc:
        report_error(prog, exc)
        sys.exit(2)


def setup_command():
    """What every command does after parsing, before the heavy imports: quiet TensorFlow's C++
    start-up log (users can override it) and route the library's logging to the terminal."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mammo_tf.utils import setup_logging

    setup_logging()


def _run(module, config_name, pipeline_name, prog, description, argv):
    """Parse a dataclass-configured pipeline's arguments, then run it (bad input: one error
    line and exit 2, ``exit_on_bad_input``)."""
    from mammo_tf.training.config import parse_config

    argv = sys.argv[1:] if argv is None else argv
    with exit_on_bad_input(prog):
        # The config dataclass lives in a Keras-free module, so that --help and argument
        # errors stay fast; the pipeline ("module:function") is imported after parsing.
        config_module = importlib.import_module(module)
        config, resume = parse_config(getattr(config_module, config_name), argv, prog,
                                      description, PRECEDENCE)
        setup_command()
        _resolve(pipeline_name)(config, resume=resume)
    return 0


def main_patch(argv=None, prog="train_patch.py"):
    return _run("mammo_tf.shen.config", "PatchConfig",
                "mammo_tf.shen.train_patch:train_patch_classifier", prog,
                "Train a 5-class patch classifier in 3 stages (head; from the unfreezing "
                "boundary; all layers) and report test accuracy and the confusion matrix.", argv)


def main_whole(argv=None, prog="train_whole.py"):
    return _run("mammo_tf.shen.config", "WholeConfig",
                "mammo_tf.shen.train_whole:train_whole_image_classifier", prog,
                "Convert a trained patch classifier into a whole-image classifier and train it in "
                "2 stages (top layers; all layers); report the test AUC with a bootstrap 95% CI.",
                argv)


def main_transfer(argv=None, prog="transfer_inbreast.py"):
    return _run("mammo_tf.shen.config", "TransferConfig", "mammo_tf.shen.transfer:transfer", prog,
                "Finetune a whole-image classifier on another database (INbreast) with image-level "
                "labels only; --patients N... runs the transfer-efficiency series.", argv)


MULTIVIEW_DESCRIPTION = (
    "Train the NYU four-view model (Wu et al. 2019) on an exam manifest: paper settings by "
    "default (experiments/nyu_image_only.json; --config nyu_image_heatmaps or "
    "nyu_birads_pretraining for the other rows).")
MULTIVIEW_EPILOG = (
    PRECEDENCE + "\nPredict with a trained model (task, sizes, channels and heatmap settings "
    "from its run.json):\n  train_multiview.py --predict RUN_DIR|MODEL.keras --manifest CSV "
    "--output CSV [--split test] [--tta N]\n  (options: train_multiview.py predict --help; "
    "'predict' as the first word works as well as --predict)")


def _is_predict(argv):
    return bool(argv) and (argv[0] == "predict" or any(
        a == "--predict" or a.startswith("--predict=") for a in argv))


def main_multiview(argv=None, prog="train_multiview.py"):
    """Train the NYU four-view model (``MultiviewConfig``), or predict with one
    (``--predict MODEL --output CSV``, ``PredictConfig``)."""
    from mammo_tf.nyu.config import MultiviewConfig, PredictConfig
    from mammo_tf.training.config import parse_config
    from mammo_tf.errors import UsageError

    argv = list(sys.argv[1:] if argv is None else argv)
    predicting = _is_predict(argv)
    if argv[:1] == ["predict"]:
        argv = argv[1:]
    with exit_on_bad_input(prog):
        if predicting:
            config, resume = parse_config(PredictConfig, argv, f"{prog} --predict",
                                          "Exam predictions of a trained NYU four-view model.")
            if resume:
                raise UsageError("--resume continues a training run; it does not go with --predict")
        else:
            config, resume = parse_config(MultiviewConfig, argv, prog, MULTIVIEW_DESCRIPTION,
                                          MULTIVIEW_EPILOG)
        # the checks need no TensorFlow: bad input fails fast, before the heavy imports
        from mammo_tf.nyu.config import check_prediction, check_training

        (check_prediction if predicting else check_training)(config)
        setup_command()
        from mammo_tf.nyu import predict, training
        from mammo_tf.nyu.exams import ExamManifestError

        try:
            if predicting:
                rows = predict.predict_to_csv(config)
                print(f"wrote {len(rows)} exam predictions to {config.output}")
                return 0
            metrics = training.train(config, resume=resume)
        except (ExamManifestError, FileNotFoundError) as exc:
            raise UsageError(str(exc)) from None
    for split in ("val", "test"):
        if split in metrics:
            print(f"{split}: mean AUC {metrics[split]['mean_auc']}  {metrics[split]['auc']}")
    if metrics.get("skipped_images"):
        print(f"skipped {len(metrics['skipped_images'])} unreadable images (see metrics.json)")
    return 0


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
