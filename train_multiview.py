#!/usr/bin/env python
# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Train the NYU four-view model (Wu et al. 2019) on an exam manifest, or predict with one.

Train (paper settings by default):
    python train_multiview.py --manifest exams.csv --name nyu_vw
Image + heatmap channels from a mammo_tf patch classifier:
    python train_multiview.py --manifest exams.csv --heatmap-model patch.keras --heatmap-pixel-mean 44.3
Predict (exam CSV: exam_id,left_benign,right_benign,left_malignant,right_malignant):
    python train_multiview.py --manifest exams.csv --predict runs/nyu_vw/checkpoints/best.keras --output preds.csv
BI-RADS pretraining, then its columns into the cancer model (the paper's recipe):
    python train_multiview.py --manifest exams.csv --task birads --batch-size 24 --name birads
    python train_multiview.py --manifest exams.csv --init-columns runs/birads/checkpoints/best.keras
Exam manifests: python -m mammo_tf.nyu exams --help
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def build_parser():
    """The command line. Nothing from mammo_tf (hence TensorFlow) is imported here, so bad
    arguments fail fast with one line; omitted options take ``MultiviewConfig``'s defaults,
    which the help text quotes (a test keeps them in sync)."""
    p = OneLineParser(prog="train_multiview.py", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter,
                      argument_default=None)
    p.add_argument("--manifest", required=True, help="four-view exam manifest CSV (see docs)")
    p.add_argument("--task", choices=("cancer", "birads"),
                   help="cancer (breast-level benign/malignant, default) or birads (the BI-RADS 0/1/2 "
                        "pretraining model; needs the manifest's birads column)")
    p.add_argument("--name", help="run name: writes RUNS_DIR/NAME (default: multiview)")
    p.add_argument("--runs-dir", help="parent folder of run folders (default: runs)")
    p.add_argument("--model", choices=("view-wise", "image-wise"), help="model variant (default: view-wise)")
    p.add_argument("--channels", type=int, choices=(1, 3),
                   help="1 = image only, 3 = image + malignant + benign heatmaps (default: 1, "
                        "3 with --heatmap-model)")
    p.add_argument("--cc-size", type=int, nargs=2, metavar=("H", "W"), help="CC input size (default: 2677 1942)")
    p.add_argument("--mlo-size", type=int, nargs=2, metavar=("H", "W"), help="MLO input size (default: 2974 1748)")
    p.add_argument("--epochs", type=int, help="maximum epochs (default: 500)")
    p.add_argument("--batch-size", type=int, help="exams per batch (default: 4)")
    p.add_argument("--learning-rate", type=float, help="Adam learning rate (default: 1e-05)")
    p.add_argument("--l2", type=float, help="L2 kernel regularizer (default: 10^-4.5 = 3.1623e-05)")
    p.add_argument("--patience", type=int,
                   help="early stopping patience on the mean validation AUC, 0 = off (default: 20)")
    p.add_argument("--no-augment", action="store_true", default=False,
                   help="no random window shift/size in training (default: augment)")
    p.add_argument("--tta", type=int,
                   help="random window draws averaged at prediction, 0 = best window only (default: 10)")
    p.add_argument("--seed", type=int, help="random seed (default: 0)")
    p.add_argument("--init-columns", help=".keras four-view model (e.g. BI-RADS) whose ResNet-22 "
                                          "columns initialise the model")
    p.add_argument("--pytorch-weights", help=".npz converted from the authors' PyTorch weights")
    p.add_argument("--heatmap-model", help="patch classifier .keras: compute/cached heatmap channels")
    p.add_argument("--heatmap-pixel-mean", type=float, help="the patch classifier's pixel mean (0-255 scale)")
    p.add_argument("--heatmap-patch-size", type=int, help="sliding patch size (default: 256)")
    p.add_argument("--heatmap-stride", type=int, help="sliding stride (default: 70)")
    p.add_argument("--erosion-iterations", type=int,
                   help="crop erosion steps (default: 100 at 3328 px height, scaled)")
    p.add_argument("--max-shift", type=float, help="window shift noise px (default: 100 at 3328 px, scaled)")
    p.add_argument("--max-size-noise", type=float, help="window size noise px (default: 100 at 3328 px, scaled)")
    p.add_argument("--cache-images", action="store_true", default=False, help="keep decoded images in memory")
    p.add_argument("--eager", action="store_true", default=False,
                   help="run eagerly (no graph tracing; for tiny inputs and debugging)")
    p.add_argument("--workers", type=int, help="data-loading workers (default: 1)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), help="Keras verbosity (default: 1)")
    p.add_argument("--strict", action="store_true", default=False, help="stop at the first unreadable image")
    p.add_argument("--predict", metavar="MODEL", help="predict with this .keras model instead of training")
    p.add_argument("--split", choices=("train", "val", "test", "all"), default="all",
                   help="exams to predict with --predict (default: all)")
    p.add_argument("--output", help="prediction CSV path for --predict")
    return p


def check(parser, args):
    if not os.path.isfile(args.manifest):
        parser.error(f"--manifest {args.manifest}: file not found")
    for flag in ("init_columns", "pytorch_weights", "heatmap_model", "predict"):
        value = getattr(args, flag)
        if value and not os.path.isfile(value):
            parser.error(f"--{flag.replace('_', '-')} {value}: file not found")
    if args.heatmap_model and args.heatmap_pixel_mean is None:
        parser.error("--heatmap-model needs --heatmap-pixel-mean")
    if args.predict and not args.output:
        parser.error("--predict needs --output")
    for flag in ("epochs", "batch_size", "heatmap_patch_size", "heatmap_stride", "workers"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    for flag in ("cc_size", "mlo_size"):
        if getattr(args, flag) is not None and min(getattr(args, flag)) < 32:
            parser.error(f"--{flag.replace('_', '-')} must be at least 32 px per side")
    if args.learning_rate is not None and args.learning_rate <= 0:
        parser.error("--learning-rate must be > 0")
    for flag in ("l2", "tta", "patience"):
        if getattr(args, flag) is not None and getattr(args, flag) < 0:
            parser.error(f"--{flag} must be >= 0")


def config_from(args):
    """``MultiviewConfig`` from the parsed arguments (omitted options keep its defaults)."""
    from mammo_tf.nyu.training import MultiviewConfig

    given = {
        "task": args.task, "name": args.name, "runs_dir": args.runs_dir, "model": args.model,
        "channels": args.channels or (3 if args.heatmap_model else None),
        "cc_size": tuple(args.cc_size) if args.cc_size else None,
        "mlo_size": tuple(args.mlo_size) if args.mlo_size else None,
        "epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "l2": args.l2, "patience": args.patience, "augment": False if args.no_augment else None,
        "tta": args.tta, "seed": args.seed, "init_columns": args.init_columns,
        "pytorch_weights": args.pytorch_weights, "heatmap_model": args.heatmap_model,
        "heatmap_pixel_mean": args.heatmap_pixel_mean,
        "heatmap_patch_size": args.heatmap_patch_size, "heatmap_stride": args.heatmap_stride,
        "erosion_iterations": args.erosion_iterations, "max_shift": args.max_shift,
        "max_size_noise": args.max_size_noise, "cache_images": args.cache_images or None,
        "run_eagerly": args.eager or None, "workers": args.workers, "verbose": args.verbose,
    }
    return MultiviewConfig(manifest=args.manifest, **{k: v for k, v in given.items() if v is not None})


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    check(parser, args)
    from mammo_tf.nyu import training
    from mammo_tf.nyu.exams import ExamManifestError

    config = config_from(args)
    try:
        if args.predict:
            rows = training.predict_to_csv(args.predict, config, args.output, split=args.split)
            print(f"wrote {len(rows)} exam predictions to {args.output}")
            return 0
        metrics = training.train(config, strict=args.strict)
    except (ExamManifestError, FileNotFoundError) as exc:
        sys.stderr.write(f"train_multiview.py: error: {exc}\n")
        return 2
    run_dir = os.path.join(config.runs_dir, config.name)
    print(f"run folder: {run_dir}")
    for split in ("val", "test"):
        if split in metrics:
            print(f"{split}: mean AUC {metrics[split]['mean_auc']}  {metrics[split]['auc']}")
    if metrics["skipped_images"]:
        print(f"skipped {len(metrics['skipped_images'])} unreadable images (see metrics.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
