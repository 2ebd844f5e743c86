# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""``python -m mammo_tf.nyu exams`` / ``mammo-tf exams``: build four-view exam manifests.

    python -m mammo_tf.nyu exams --from-images data/manifest.csv --out data/exams.csv
    python -m mammo_tf.nyu exams --phantom 40 --size 256 192 --out data/phantom_exams

Exit codes: 0 done; 2 bad input (one line on stderr).
"""
import argparse
import os

from mammo_tf.commands.common import CommandParser, report_error, setup_command

EXAMS = "build a four-view exam manifest"


def _add_exams_arguments(ex):
    src = ex.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-images", metavar="MANIFEST",
                     help="image manifest (docs/DESIGN.md columns) to group into exams")
    src.add_argument("--phantom", type=int, metavar="N", help="generate N phantom exams")
    ex.add_argument("--out", required=True,
                    help="exam manifest CSV (--from-images) or output folder (--phantom)")
    ex.add_argument("--size", type=int, nargs=2, default=(256, 192), metavar=("H", "W"),
                    help="phantom image size (default %(default)s)")
    ex.add_argument("--profile", default="inbreast", choices=("ddsm", "inbreast"),
                    help="phantom intensity profile (default %(default)s)")
    ex.add_argument("--seed", type=int, default=0, help="phantom seed (default %(default)s)")
    ex.add_argument("--strict", action="store_true", help="fail on the first incomplete exam")


def _exams(args, parser):
    if args.phantom is not None and args.phantom < 1:
        parser.error(f"--phantom must be at least 1, got {args.phantom}")
    if min(args.size) < 1:
        parser.error(f"--size must be positive, got {args.size[0]} {args.size[1]}")
    if args.from_images is not None and not os.path.isfile(args.from_images):
        parser.error(f"--from-images {args.from_images}: file not found")
    setup_command()
    from mammo_tf.errors import MammoTfError
    from mammo_tf.nyu import exams

    if args.phantom is not None:
        path = exams.write_phantom_exams(args.out, args.phantom, seed=args.seed,
                                         size=tuple(args.size), profile=args.profile)
        print(f"wrote {args.phantom} phantom exams: {path}")
        return 0
    try:
        rows, skipped = exams.exams_from_image_manifest(args.from_images, args.out, strict=args.strict)
    except MammoTfError as exc:  # an unusable manifest, an incomplete exam with --strict
        return report_error(parser.prog, exc)
    print(f"wrote {len(rows)} exams to {args.out}")
    if skipped:
        print(f"skipped {len(skipped)} incomplete exams, e.g.:")
        for key, reason in skipped[:10]:
            print(f"  {key}: {reason}")
    return 0


def main_exams(argv=None, prog="python -m mammo_tf.nyu exams"):
    parser = CommandParser(prog=prog, description=EXAMS)
    _add_exams_arguments(parser)
    return _exams(parser.parse_args(argv), parser)


def main(argv=None):
    parser = CommandParser(prog="python -m mammo_tf.nyu", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
    ex = sub.add_parser("exams", help=EXAMS, description=EXAMS)
    _add_exams_arguments(ex)
    return _exams(parser.parse_args(argv), ex)

