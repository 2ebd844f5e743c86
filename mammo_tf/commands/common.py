# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""What every command shares: the parser class, the error policy and the set-up after parsing.

The error policy (one for all commands):

- a bad argument: ``CommandParser.error`` prints ONE line ``<prog>: error: <message>`` on stderr,
  exit code 2;
- an error of the library's family (``mammo_tf.errors.MammoTfError``: ``UsageError``,
  ``DataError``, ``RunError``) raised while a command runs: the same one line and exit code 2
  (``exit_on_bad_input``; ``report_error`` where a command returns its exit code);
- any other exception is a bug: it propagates with its traceback (never exit 2).
"""
import contextlib
import os
import sys

from mammo_tf.utils import CommandParser  # the one parser class (bottom layer: configs use it too)

__all__ = ["CommandParser", "PRECEDENCE", "exit_on_bad_input", "report_error", "setup_command"]

PRECEDENCE = ("Options come from, in increasing precedence: the defaults shown, a --config JSON "
              "file, then the flags given.\nEvery run writes runs/<name>/ (see mammo_tf.runs for "
              "the run-folder format).")


def report_error(prog, message):
    """Print a bad-input error in the commands' style and return exit code 2 (for errors found
    after parsing, where a command returns instead of raising).

    The error is ONE line on stderr: a message's first line. Its further lines (e.g. the
    conversion report a failed ``prepare`` carries) are printed as output first, not dropped."""
    first, *details = str(message).splitlines() or [""]
    if details:
        print("\n".join(details))
        sys.stdout.flush()
    sys.stderr.write(f"{prog}: error: {first}\n")
    return 2


@contextlib.contextmanager
def exit_on_bad_input(prog):
    """An error of the library's family (``mammo_tf.errors.MammoTfError``: a bad option value,
    a missing file, a run folder that cannot be used...) raised inside becomes one error line
    and exit code 2; anything else is a bug and keeps its traceback."""
    from mammo_tf.errors import MammoTfError

    try:
        yield
    except MammoTfError as exc:
        report_error(prog, exc)
        sys.exit(2)


def setup_command():
    """What every command does after parsing, before the heavy imports: quiet TensorFlow's C++
    start-up log (users can override it) and route the library's logging to the terminal."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mammo_tf.utils import setup_logging

    setup_logging()
