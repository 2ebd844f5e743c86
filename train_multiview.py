#!/usr/bin/env python
# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Train the NYU four-view model (Wu et al. 2019) on an exam manifest, or predict with one.

Train (paper settings by default):
    python train_multiview.py --manifest exams.csv --name nyu_vw
Image + heatmap channels from a mammo_tf patch classifier:
    python train_multiview.py --manifest exams.csv --heatmap-model patch.keras --heatmap-pixel-mean 44.3
Predict (exam CSV: exam_id,left_benign,right_benign,left_malignant,right_malignant):
    python train_multiview.py --manifest exams.csv --predict runs/nyu_vw/checkpoints/best.keras --output preds.csv
Exam manifests: python -m mammo_tf.nyu exams --help
"""
import argparse
import dataclasses
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def build_parser():
    from mammo_tf.nyu.training import MultiviewConfig

    d = MultiviewConfig(manifest="")
    p = OneLineParser(prog="train_multiview.py", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", required=True, help="four-view exam manifest CSV (see docs)")
    p.add_argument("--name", default=d.name, help="run name: writes RUNS_DIR/NAME (default %(default)s)")
    p.add_argument("--runs-dir", default=d.runs_dir, help="parent folder of run folders (default %(default)s)")
    p.add_argument("--model", default=d.model, choices=("view-wise", "image-wise"),
                   help="model variant (default %(default)s)")
    p.add_argument("--channels", type=int, default=None, choices=(1, 3),
                   help="1 = image only, 3 = image + malignant + benign heatmaps (default 1, "
                        "3 with --heatmap-model)")
    p.add_argument("--cc-size", type=int, nargs=2, metavar=("H", "W"), default=list(d.cc_size),
                   help="CC input size (default %(default)s)")
    p.add_argument("--mlo-size", type=int, nargs=2, metavar=("H", "W"), default=list(d.mlo_size),
                   help="MLO input size (default %(default)s)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="maximum epochs (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="exams per batch (default %(default)s)")
    p.add_argument("--learning-rate", type=float, default=d.learning_rate, help="Adam learning rate (default %(default)s)")
    p.add_argument("--l2", type=float, default=d.l2, help="L2 kernel regularizer (default 10^-4.5)")
    p.add_argument("--patience", type=int, default=d.patience,
                   help="early stopping patience on mean validation AUC, 0 = off (default %(default)s)")
    p.add_argument("--no-augment", action="store_true", help="no random window shift/size in training")
    p.add_argument("--tta", type=int, default=d.tta,
                   help="random window draws averaged at prediction, 0 = best window only (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (default %(default)s)")
    p.add_argument("--init-columns", help=".keras four-view model (e.g. BI-RADS) whose ResNet-22 "
                                          "columns initialise the model")
    p.add_argument("--pytorch-weights", help=".npz converted from the authors' PyTorch weights")
    p.add_argument("--heatmap-model", help="patch classifier .keras: compute/cached heatmap channels")
    p.add_argument("--heatmap-pixel-mean", type=float, help="the patch classifier's pixel mean (0-255 scale)")
    p.add_argument("--heatmap-patch-size", type=int, default=d.heatmap_patch_size,
                   help="sliding patch size (default %(default)s)")
    p.add_argument("--heatmap-stride", type=int, default=d.heatmap_stride,
                   help="sliding stride (default %(default)s)")
    p.add_argument("--erosion-iterations", type=int, help="crop erosion steps (default 100 scaled to image height)")
    p.add_argument("--max-shift", type=float, help="window shift noise px (default 100 scaled)")
    p.add_argument("--max-size-noise", type=float, help="window size noise px (default 100 scaled)")
    p.add_argument("--cache-images", action="store_true", help="keep decoded images in memory")
    p.add_argument("--eager", action="store_true", help="run eagerly (no graph tracing; tiny inputs)")
    p.add_argument("--workers", type=int, default=d.workers, help="data-loading workers (default %(default)s)")
    p.add_argument("--verbose", type=int, default=d.verbose, choices=(0, 1, 2), help="Keras verbosity")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable image")
    p.add_argument("--predict", metavar="MODEL", help="predict with this .keras model instead of training")
    p.add_argument("--split", choices=("train", "val", "test", "all"), default="all",
                   help="exams to predict with --predict (default %(default)s)")
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
    for flag in ("epochs", "batch_size", "heatmap_patch_size", "heatmap_stride"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    if min(args.cc_size + args.mlo_size) < 32:
        parser.error("--cc-size/--mlo-size must be at least 32 px (ResNet-22 downsamples by 64)")
    if args.learning_rate <= 0 or args.l2 < 0 or args.tta < 0 or args.patience < 0:
        parser.error("--learning-rate must be > 0; --l2, --tta and --patience must be >= 0")


def config_from(args):
    from mammo_tf.nyu.training import MultiviewConfig

    channels = args.channels or (3 if args.heatmap_model else 1)
    return MultiviewConfig(
        manifest=args.manifest, name=args.name, runs_dir=args.runs_dir, model=args.model,
        channels=channels, cc_size=tuple(args.cc_size), mlo_size=tuple(args.mlo_size),
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        l2=args.l2, patience=args.patience, augment=not args.no_augment, tta=args.tta,
        seed=args.seed, init_columns=args.init_columns, pytorch_weights=args.pytorch_weights,
        heatmap_model=args.heatmap_model, heatmap_pixel_mean=args.heatmap_pixel_mean,
        heatmap_patch_size=args.heatmap_patch_size, heatmap_stride=args.heatmap_stride,
        erosion_iterations=args.erosion_iterations, max_shift=args.max_shift,
        max_size_noise=args.max_size_noise, cache_images=args.cache_images,
        run_eagerly=args.eager, workers=args.workers, verbose=args.verbose)


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
    except ExamManifestError as exc:
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
