# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""``mammo-tf heatmap-rf`` / ``python -m mammo_tf.shen.heatmap_rf``: the heatmap + random-forest
baseline (``mammo_tf.shen.heatmap_rf``) on a manifest's train/test splits. Exit codes: 0 done;
2 bad input (one line on stderr)."""
import os
import sys

from mammo_tf.commands.common import CommandParser, exit_on_bad_input, setup_command
# The paper's settings, from the library (a Keras-free module: --help stays fast).
from mammo_tf.shen.heatmap_rf import CUTOFFS, RF_MAX_DEPTH, RF_MIN_SAMPLES_SPLIT, RF_TREES


def main(argv=None, prog="python -m mammo_tf.shen.heatmap_rf"):
    """``python -m mammo_tf.shen.heatmap_rf``: the baseline on a manifest's train/test splits."""
    parser = CommandParser(
        prog=prog,  # "mammo-tf heatmap-rf" from the console script
        description="Heatmap + random-forest baseline: the patch classifier's heatmap over each "
                    "whole image, binarised at several cutoffs, regional features, a random forest "
                    "trained on one split and scored (AUC, bootstrap 95% CI, ROC PNG) on another.",
    )
    parser.add_argument("--patch-model", required=True,
                        help="trained patch classifier: its run folder or a .keras file in it")
    parser.add_argument("--manifest", required=True, help="whole-image manifest CSV with labels")
    parser.add_argument("--out", required=True,
                        help="folder for heatmap_rf_metrics.json and heatmap_rf_roc.png")
    parser.add_argument("--pixel-mean", type=float, default=None,
                        help="pixel mean (0-255 scale); default: the patch run's run.json")
    parser.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                        help="whole-image size (default 1152 896)")
    parser.add_argument("--train-split", default="train", help="split the forest is trained on")
    parser.add_argument("--test-split", default="test", help="split the AUC is reported on")
    parser.add_argument("--cutoffs", type=float, nargs="+", default=list(CUTOFFS),
                        help="binarisation cutoffs of the lesion probability maps")
    parser.add_argument("--trees", type=int, default=RF_TREES,
                        help="random forest size (default: the paper's 500)")
    parser.add_argument("--max-depth", type=int, default=RF_MAX_DEPTH,
                        help="tree depth limit (default: the paper's 9; 0 = unlimited)")
    parser.add_argument("--min-samples-split", type=int, default=RF_MIN_SAMPLES_SPLIT,
                        help="fewest images a node needs to be split (default: the paper's 300)")
    parser.add_argument("--heatmap-mode", default="fcn", choices=("fcn", "sliding"),
                        help="fcn: the paper's conversion (section 2.3, 30x22 at 1152x896; "
                             "default); sliding: the patch classifier on every window (an "
                             "addition)")
    parser.add_argument("--batch-size", type=int, default=2, help="images per heatmap forward pass")
    parser.add_argument("--seed", type=int, default=0, help="forest and bootstrap seed")
    args = parser.parse_args(argv)
    for flag, path in (("--patch-model", args.patch_model), ("--manifest", args.manifest)):
        if not os.path.exists(path):
            parser.error(f"{flag} {path!r} does not exist")
    if args.min_samples_split < 2 or args.max_depth < 0 or args.trees < 1:
        parser.error(f"--trees must be >= 1, --max-depth >= 0 and --min-samples-split >= 2; got "
                     f"{args.trees}, {args.max_depth}, {args.min_samples_split}")
    if any(not 0.0 < c < 1.0 for c in args.cutoffs):
        parser.error(f"--cutoffs must lie in (0, 1), got {args.cutoffs}")
    setup_command()
    from mammo_tf.errors import RunError
    from mammo_tf.runs import load_run
    from mammo_tf.shen.heatmap_rf import run_heatmap_rf_from_manifest

    # an unusable run (RunError), manifest or split (DataError): one line, exit 2
    with exit_on_bad_input(prog):
        loaded = load_run(args.patch_model)
        if loaded.info.kind != "patch" or not str(loaded.model_path).endswith(".keras"):
            raise RunError(f"--patch-model {args.patch_model}: its run.json says "
                           f"{loaded.info.kind!r}; the baseline needs a patch classifier "
                           "(train_patch.py's run folder or its checkpoints/best.keras)")
        pixel_mean = args.pixel_mean if args.pixel_mean is not None else loaded.info.pixel_mean
        result = run_heatmap_rf_from_manifest(
            loaded.model, args.manifest, pixel_mean, args.image_size,
            args.train_split, args.test_split, cutoffs=tuple(args.cutoffs),
            n_estimators=args.trees, seed=args.seed, batch_size=args.batch_size, out_dir=args.out,
            max_depth=args.max_depth or None, min_samples_split=args.min_samples_split,
            mode=args.heatmap_mode,
        )
    lo, hi = result["auc_ci95"]
    print(f"heatmap + random forest: test AUC {result['auc']:.4f} (95% CI {lo:.4f}-{hi:.4f}, "
          f"{result['n_test']} images); results in {args.out}")
    sys.stdout.flush()
    return 0
