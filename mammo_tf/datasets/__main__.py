# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Command line: ``python -m mammo_tf.datasets prepare|subset ...`` (see ``--help``)."""
import argparse
import os
import sys

from mammo_tf.constants import WHOLE_IMAGE_SIZE


def _parser():
    parser = argparse.ArgumentParser(prog="python -m mammo_tf.datasets",
                                     description="Prepare mammography datasets as 16-bit PNGs + manifest CSV.")
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="convert a dataset and write <out>/manifest.csv")
    prep.add_argument("dataset", choices=("cbis-ddsm", "inbreast", "mini-mias", "phantom"))
    prep.add_argument("--src", help="download folder (mini-MIAS: folder or .tar.xz; phantom: where the "
                                    "phantom source is written, default <out>/source)")
    prep.add_argument("--out", required=True, help="output folder (images/, masks/, manifest.csv)")
    prep.add_argument("--strict", action="store_true", help="stop at the first bad item instead of skipping it")
    prep.add_argument("--size", nargs=2, type=int, metavar=("H", "W"), default=list(WHOLE_IMAGE_SIZE),
                      help="output height and width (default: %(default)s)")
    prep.add_argument("--interpolation", default="cubic",
                      choices=("nearest", "linear", "cubic", "area", "lanczos"))
    prep.add_argument("--split", default="paper", choices=("paper", "official"),
                      help="paper: 85/15 train/test + 10%% val by patient (INbreast 70/30 train/val); "
                           "official: CBIS-DDSM's own train/test + 10%% val")
    prep.add_argument("--seed", type=int, default=0)
    prep.add_argument("--workers", type=int, default=1, help="conversion threads")
    prep.add_argument("--no-progress", action="store_true")
    prep.add_argument("--n-patients", type=int, default=40, help="phantom: number of patients")
    prep.add_argument("--profile", default=None, help="phantom: intensity profile (ddsm|inbreast)")
    prep.add_argument("--phantom-size", nargs=2, type=int, metavar=("H", "W"), default=None,
                      help="phantom: generated image size (default: the generator's)")
    sub = commands.add_parser("subset", help="keep the training rows of n patients (transfer efficiency)")
    sub.add_argument("--manifest", required=True)
    sub.add_argument("--patients", type=int, required=True)
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--out", required=True, help="new manifest CSV (same folder as the original)")
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.command == "subset":
        from mammo_tf.datasets.manifest import write_manifest
        from mammo_tf.datasets.splits import draw_patient_subset

        if os.path.dirname(os.path.abspath(args.out)) != os.path.dirname(os.path.abspath(args.manifest)):
            print("error: --out must be in the manifest's folder (image paths are relative to it)", file=sys.stderr)
            return 2
        rows = draw_patient_subset(args.manifest, args.patients, seed=args.seed)
        write_manifest(args.out, rows)
        print(f"wrote {args.out}: {len(rows)} rows ({args.patients} training patients)")
        return 0

    from mammo_tf.datasets.prepare import prepare, split_counts
    from mammo_tf.datasets.report import PrepareError

    try:
        manifest, report = prepare(
            args.dataset, args.src, args.out, strict=args.strict, size=tuple(args.size),
            interpolation=args.interpolation, split=args.split, seed=args.seed, workers=args.workers,
            progress=not args.no_progress, n_patients=args.n_patients, profile=args.profile,
            phantom_size=args.phantom_size,
        )
    except PrepareError as exc:
        print(f"error (--strict): {exc}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from mammo_tf.datasets.manifest import read_manifest

    counts = split_counts(read_manifest(manifest))
    print(report.summary())
    print("per split: " + "; ".join(f"{s}: " + ", ".join(f"{k} {v}" for k, v in c.items())
                                    for s, c in counts.items()))
    print(f"manifest: {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
