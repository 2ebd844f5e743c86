# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""``mammo-tf patches`` / ``python -m mammo_tf.shen.patches``: build an s1 / s10 / s30 patch set
from a whole-image manifest. Exit codes: 0 done; 2 bad input (one line on stderr)."""
import os

from mammo_tf.commands.common import CommandParser, report_error, setup_command
from mammo_tf.constants import PATCH_SIZE

PROG = "python -m mammo_tf.shen.patches"


def build_parser(prog=PROG):
    parser = CommandParser(
        prog=prog,
        description="Sample the paper's s1/sN patch sets from a whole-image manifest into one "
                    "HDF5 file per split plus patch_set.json.")
    parser.add_argument("--manifest", required=True, help="whole-image manifest CSV (docs/DESIGN.md)")
    parser.add_argument("--out", required=True, help="output folder (<split>.h5, patch_set.json)")
    parser.add_argument("--set", default="s10", dest="set_name",
                        help="s1 (one centred patch per ROI + 1 background per image), sN "
                             "(N patches per ROI with overlap >= cutoff + N background) or sliding "
                             "(DeepMiner: windows of --window x the image width at --stride x the "
                             "window, classes normal/benign/malignant); default s10")
    parser.add_argument("--window", type=float, default=None,
                        help="--set sliding: window side as a fraction of the image width "
                             "(default 0.25, DeepMiner's)")
    parser.add_argument("--stride", type=float, default=None,
                        help="--set sliding: stride as a fraction of the window (default 0.5)")
    parser.add_argument("--patch-size", type=int, default=PATCH_SIZE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--splits", nargs="+", default=["train", "val", "test"])
    parser.add_argument("--cutoff", type=float, default=0.9,
                        help="minimum overlap of an sN ROI patch (lowered by 0.05 after 1000 failed draws)")
    parser.add_argument("--background", type=int, default=None,
                        help="background patches per image (default: 1 for s1, N for sN)")
    parser.add_argument("--compression", choices=("none", "gzip", "lzf"), default="none",
                        help="compression of the patch dataset (none reads fastest)")
    parser.add_argument("--pixel-spacing", type=float, default=None, metavar="MM",
                        help="mm per pixel of the manifest's images (stored in the files; the "
                             "NYU heatmap scale check reads it from the patch run)")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad item")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv=None, prog=PROG):
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if not os.path.isfile(args.manifest):
        parser.error(f"--manifest {args.manifest!r} does not exist")
    if args.patch_size < 1:
        parser.error(f"--patch-size must be at least 1, got {args.patch_size}")
    if not 0.0 < args.cutoff <= 1.0:
        parser.error(f"--cutoff must lie in (0, 1], got {args.cutoff}")
    if args.pixel_spacing is not None and args.pixel_spacing <= 0:
        parser.error(f"--pixel-spacing must be > 0 mm, got {args.pixel_spacing}")
    if args.background is not None and args.background < 0:
        parser.error(f"--background must be >= 0, got {args.background}")
    from mammo_tf.errors import MammoTfError, UsageError
    from mammo_tf.shen.patches.patch_set import make_patch_set, parse_set_name

    if args.set_name != "sliding":
        try:
            parse_set_name(args.set_name)
        except UsageError as exc:
            parser.error(f"--set: {exc} (or sliding)")
        if args.window is not None or args.stride is not None:
            parser.error("--window / --stride go with --set sliding")
    for flag, value in (("--window", args.window), ("--stride", args.stride)):
        if value is not None and not 0 < value <= 1:
            parser.error(f"{flag} must lie in (0, 1], got {value}")
    setup_command()

    try:
        summary = make_patch_set(args.manifest, args.out, set_name=args.set_name,
                                 patch_size=args.patch_size, seed=args.seed, splits=args.splits,
                                 cutoff=args.cutoff, n_background=args.background,
                                 strict=args.strict, progress=not args.no_progress,
                                 pixel_spacing=args.pixel_spacing, window=args.window,
                                 stride=args.stride,
                                 compression=args.compression)
    except MammoTfError as exc:  # an unusable manifest; a bad item with --strict
        return report_error(prog, exc)
    for split, info in summary["splits"].items():
        counts = ", ".join(f"{k} {v}" for k, v in info["class_counts"].items())
        print(f"{split}: {info['n_patches']} patches from {info['n_images']} images ({counts}) "
              f"-> {args.out}/{info['file']}")
    print(f"skipped: {len(summary['skipped'])}; overlap cutoff lowered for "
          f"{len(summary['cutoff_lowered'])} ROIs; other notes: {len(summary['notes'])} "
          f"(details in {args.out}/patch_set.json)")
    for item in summary["skipped"][:20]:
        print(f"  skipped {item['image_id']}: {item['reason']}")
    return 0

