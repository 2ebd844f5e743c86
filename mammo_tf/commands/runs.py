# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""``python -m mammo_tf.runs``: run-folder tools (``upgrade`` old run folders, ``show`` a
run's run.json)."""
import json
import sys

from mammo_tf import runs
from mammo_tf.commands.common import CommandParser, report_error
from mammo_tf.errors import RunError


def main(argv=None, prog="python -m mammo_tf.runs"):
    parser = CommandParser(prog=prog, description="Run-folder tools.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
    up = commands.add_parser("upgrade", help="write run.json into a run folder written before "
                             "run.json existed (from its config.json and pixel_mean.json)")
    up.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    show = commands.add_parser("show", help="print a run's run.json")
    show.add_argument("path", help="run folder, .keras file in one, or SavedModel folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "upgrade":
            for folder in args.run_dirs:
                for written in runs.upgrade(folder):
                    print(f"wrote {written}")
        else:
            print(json.dumps(runs.locate_run(args.path)[0].to_dict(), indent=2))
    except RunError as exc:
        return report_error(prog, exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
