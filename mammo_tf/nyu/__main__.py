# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""``python -m mammo_tf.nyu exams``: build four-view exam manifests.

    python -m mammo_tf.nyu exams --from-images data/manifest.csv --out data/exams.csv
    python -m mammo_tf.nyu exams --phantom 40 --size 256 192 --out data/phantom_exams
"""
import argparse
import os
import sys


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def main(argv=None):
    parser = _Parser(prog="python -m mammo_tf.nyu", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ex = sub.add_parser("exams", help="build a four-view exam manifest")
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
    args = parser.parse_args(argv)

    from mammo_tf.nyu import exams

    if args.phantom is not None:
        if args.phantom < 1:
            parser.error("--phantom must be at least 1")
        path = exams.write_phantom_exams(args.out, args.phantom, seed=args.seed,
                                         size=tuple(args.size), profile=args.profile)
        print(f"wrote {args.phantom} phantom exams: {path}")
        return 0
    if not os.path.isfile(args.from_images):
        parser.error(f"--from-images {args.from_images}: file not found")
    try:
        rows, skipped = exams.exams_from_image_manifest(args.from_images, args.out, strict=args.strict)
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    print(f"wrote {len(rows)} exams to {args.out}")
    if skipped:
        print(f"skipped {len(skipped)} incomplete exams, e.g.:")
        for key, reason in skipped[:10]:
            print(f"  {key}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
