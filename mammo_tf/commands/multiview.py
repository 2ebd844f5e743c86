# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""``train-multiview`` (``train_multiview.py``): train the NYU four-view model
(``mammo_tf.nyu.config.MultiviewConfig``), or predict with one (``--predict MODEL --output CSV``,
``PredictConfig``), and print the NYU-specific results (mean AUC per split, skipped images)."""
import sys

from mammo_tf.commands.common import PRECEDENCE, exit_on_bad_input, setup_command

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


def main(argv=None, prog="train_multiview.py"):
    """Train the NYU four-view model (``MultiviewConfig``), or predict with one
    (``--predict MODEL --output CSV``, ``PredictConfig``)."""
    from mammo_tf.errors import UsageError
    from mammo_tf.nyu.config import MultiviewConfig, PredictConfig
    from mammo_tf.training.config import parse_config

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

        # An unusable exam manifest (ExamManifestError), a missing heatmap or weight file
        # (MissingFileError) are of the MammoTfError family: one line, exit 2.
        if predicting:
            rows = predict.predict_to_csv(config)
            print(f"wrote {len(rows)} exam predictions to {config.output}")
            return 0
        metrics = training.train(config, resume=resume)
    print_metrics(metrics)
    return 0


def print_metrics(metrics):
    """The NYU training summary: mean AUC per split, and the images that could not be read."""
    for split in ("val", "test"):
        if split in metrics:
            print(f"{split}: mean AUC {metrics[split]['mean_auc']}  {metrics[split]['auc']}")
    if metrics.get("skipped_images"):
        print(f"skipped {len(metrics['skipped_images'])} unreadable images (see metrics.json)")
