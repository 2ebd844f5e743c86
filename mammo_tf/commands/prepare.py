# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""``mammo-tf prepare`` / ``mammo-tf subset``, also ``python -m mammo_tf.datasets prepare|subset
...`` (see ``--help``). Exit codes: 0 done; 2 bad input (a bad argument, a
missing or unusable source, an unusable item with ``--strict``), one line on stderr."""
from mammo_tf.commands.common import CommandParser, exit_on_bad_input, report_error, setup_command
from mammo_tf.constants import WHOLE_IMAGE_SIZE
from mammo_tf.errors import MammoTfError

# Same names as mammo_tf.datasets.prepare.DATASETS (not imported: keeps --help fast).
DATASETS = ("cbis-ddsm", "inbreast", "mini-mias", "phantom", "vindr-mammo", "rsna", "cmmd", "embed",
            "image-folder")


def _add_prepare_arguments(prep):
    prep.add_argument("dataset", nargs="?", choices=DATASETS, help="dataset to prepare (not with --merge)")
    prep.add_argument("--src", help="download folder (mini-MIAS: folder or .tar.xz; phantom: where the "
                                    "phantom source is written, default <out>/source)")
    prep.add_argument("--out", required=True, help="output folder (images/, masks/, manifest.csv)")
    prep.add_argument("--strict", action="store_true", help="stop at the first bad item instead of skipping it")
    prep.add_argument("--size", nargs=2, type=int, metavar=("H", "W"), default=list(WHOLE_IMAGE_SIZE),
                      help="output height and width (default: %(default)s)")
    prep.add_argument("--interpolation", default="cubic",
                      choices=("nearest", "linear", "cubic", "area", "lanczos"))
    prep.add_argument("--split", default="paper", choices=("paper", "official", "deepminer"),
                      help="paper: 85/15 train/test + 10%% val by patient (INbreast 70/30 train/val); "
                           "official: the dataset's own train/test (CBIS-DDSM, VinDr-Mammo) + 10%% val; "
                           "deepminer: 80/10/10 train/val/test by patient (DeepMiner, section 2.1)")
    prep.add_argument("--seed", type=int, default=0)
    prep.add_argument("--frame", type=int, default=None, metavar="K",
                      help="frame (0-based) to read from multi-frame DICOMs (tomosynthesis); without it "
                           "such files are skipped and reported with their frame count")
    prep.add_argument("--crop", default="none", choices=("none", "breast"),
                      help="breast: crop each image to the breast (labels and background out) before "
                           "resizing; the box is stored in the manifest's crop_box column")
    prep.add_argument("--workers", type=int, default=1, help="conversion threads")
    prep.add_argument("--no-progress", action="store_true", help="no progress bar (it shows the ETA)")
    prep.add_argument("--shard", metavar="I/N", default=None,
                      help="convert only shard I of N (whole patients; 1 <= I <= N) and write "
                           "<out>/shards/manifest.shard-I-of-N.csv; one job per shard, then --merge")
    prep.add_argument("--merge", action="store_true",
                      help="join the shards under --out into <out>/manifest.csv (no dataset argument)")
    prep.add_argument("--labels", metavar="CSV", default=None,
                      help="image-folder: labels CSV (file, patient_id, label[, image_id, view, laterality]); "
                           "default <src>/labels.csv when present, else the class subfolders")
    prep.add_argument("--positive", nargs="+", metavar="LABEL", default=None,
                      help="image-folder: the label names that mean 1 (default: malignant cancer positive "
                           "abnormal 1 yes true)")
    prep.add_argument("--keep-inverted", action="store_true",
                      help="image-folder: no inversion check (by default images with a bright border "
                           "are converted as 65535 - image and listed in the report)")
    prep.add_argument("--n-patients", type=int, default=40, help="phantom: number of patients")
    prep.add_argument("--profile", default=None, choices=("ddsm", "inbreast"),
                      help="phantom: intensity profile")
    prep.add_argument("--phantom-size", nargs=2, type=int, metavar=("H", "W"), default=None,
                      help="phantom: generated image size (default: the generator's)")


def _add_subset_arguments(sub):
    sub.add_argument("--manifest", required=True)
    sub.add_argument("--patients", type=int, required=True)
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--out", required=True, help="new manifest CSV (same folder as the original)")


PREPARE = "convert a dataset and write <out>/manifest.csv"
SUBSET = "keep the training rows of n patients (transfer efficiency)"


def _parser():
    """The ``python -m mammo_tf.datasets`` parser and its two sub-parsers (for their error
    messages, which name the sub-command)."""
    parser = CommandParser(prog="python -m mammo_tf.datasets",
                           description="Prepare mammography datasets as 16-bit PNGs + manifest CSV.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
    subs = {"prepare": commands.add_parser("prepare", help=PREPARE, description=PREPARE),
            "subset": commands.add_parser("subset", help=SUBSET, description=SUBSET)}
    _add_prepare_arguments(subs["prepare"])
    _add_subset_arguments(subs["subset"])
    return parser, subs


def _merge(args, parser):
    setup_command()
    from mammo_tf.datasets.prepare import merge_shards

    try:
        manifest, report = merge_shards(args.out)
    except MammoTfError as exc:  # no shards, a shard missing, shards of other runs
        return report_error(parser.prog, exc)
    print(report.summary())
    print(f"manifest: {manifest}")
    return 0


def _prepare(args, parser):
    import os

    if args.merge:
        if args.dataset or args.shard:
            parser.error("--merge takes only --out (the folder the shards were written to)")
        return _merge(args, parser)
    if args.dataset is None:
        parser.error("the dataset argument is required (or --merge)")
    if args.shard is not None:
        from mammo_tf.datasets.prepare import parse_shard

        with exit_on_bad_input(parser.prog):  # UsageError: not I/N
            parse_shard(args.shard)
    if args.src is not None and args.dataset != "phantom" and not os.path.exists(args.src):
        parser.error(f"--src {args.src!r} does not exist")
    for flag, values in (("--size", args.size), ("--phantom-size", args.phantom_size)):
        if values is not None and min(values) < 1:
            parser.error(f"{flag} must be positive, got {values[0]} {values[1]}")
    if args.frame is not None and args.frame < 0:
        parser.error(f"--frame must be 0 or more, got {args.frame}")
    for flag, value in (("--workers", args.workers), ("--n-patients", args.n_patients)):
        if value < 1:
            parser.error(f"{flag} must be at least 1, got {value}")
    folder_options = None
    if args.dataset == "image-folder":
        folder_options = {"labels_csv": args.labels, "positive": args.positive,
                          "fix_inversion": not args.keep_inverted}
    elif args.labels or args.positive or args.keep_inverted:
        parser.error("--labels, --positive and --keep-inverted are for image-folder")
    setup_command()
    from mammo_tf.datasets.manifest import read_manifest
    from mammo_tf.datasets.prepare import prepare, split_counts
    from mammo_tf.datasets.report import PrepareError

    try:
        manifest, report = prepare(
            args.dataset, args.src, args.out, strict=args.strict, size=tuple(args.size),
            interpolation=args.interpolation, split=args.split, seed=args.seed, workers=args.workers,
            progress=not args.no_progress, n_patients=args.n_patients, profile=args.profile,
            phantom_size=args.phantom_size, shard=args.shard, crop=args.crop, frame=args.frame,
            folder_options=folder_options,
        )
    except PrepareError as exc:  # an unusable item with --strict: bad input
        return report_error(parser.prog, f"{exc} (--strict)")
    except MammoTfError as exc:
        # A missing source, an unusable table, no usable image: one error line; a message's
        # further lines (the conversion report) are printed as output (report_error).
        return report_error(parser.prog, exc)
    counts = split_counts(read_manifest(manifest))
    print(report.summary())
    if args.shard is not None:
        print(f"shard {args.shard}: {manifest} (run every shard, then `prepare --merge --out {args.out}`)")
        return 0
    print("per split: " + "; ".join(f"{s}: " + ", ".join(f"{k} {v}" for k, v in c.items())
                                    for s, c in counts.items()))
    print(f"manifest: {manifest}")
    return 0


def _subset(args, parser):
    import os

    if not os.path.isfile(args.manifest):
        parser.error(f"--manifest {args.manifest!r} does not exist")
    if args.patients < 1:
        parser.error(f"--patients must be at least 1, got {args.patients}")
    if os.path.dirname(os.path.abspath(args.out)) != os.path.dirname(os.path.abspath(args.manifest)):
        parser.error("--out must be in the manifest's folder (image paths are relative to it)")
    setup_command()
    from mammo_tf.datasets.manifest import write_manifest
    from mammo_tf.datasets.splits import draw_patient_subset

    try:
        rows = draw_patient_subset(args.manifest, args.patients, seed=args.seed)
    except MammoTfError as exc:  # an unusable manifest, too few patients
        return report_error(parser.prog, exc)
    write_manifest(args.out, rows)
    print(f"wrote {args.out}: {len(rows)} rows ({args.patients} training patients)")
    return 0


def main_prepare(argv=None, prog="python -m mammo_tf.datasets prepare"):
    parser = CommandParser(prog=prog, description=PREPARE)
    _add_prepare_arguments(parser)
    return _prepare(parser.parse_args(argv), parser)


def main_subset(argv=None, prog="python -m mammo_tf.datasets subset"):
    parser = CommandParser(prog=prog, description=SUBSET)
    _add_subset_arguments(parser)
    return _subset(parser.parse_args(argv), parser)


def main(argv=None):
    parser, subs = _parser()
    args = parser.parse_args(argv)
    run = _prepare if args.command == "prepare" else _subset
    return run(args, subs[args.command])

