# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The library's errors: one family under ``MammoTfError``.

A command (``mammo_tf.commands``) turns an error of this family into ONE line
``<prog>: error: <message>`` on stderr and exit code 2; any other exception is a bug and shows
its traceback. Every message names the file, option or run it is about, and what to do.

- ``UsageError``: a bad option, argument or config value (fix the command line);
- ``DataError``: an input file, table or manifest that cannot be used (fix the data);
- ``RunError``: a run folder, model file or SavedModel that cannot be used.

``DataError`` and ``RunError`` are also ``ValueError``s (bad values, as Python's own
convention has it), so existing ``except ValueError`` callers keep working.
"""


class MammoTfError(Exception):
    """Base of every error the library raises on purpose for bad input."""


class UsageError(MammoTfError):
    """A bad argument, option or config value; the command prints it as one line and exits 2."""


class DataError(MammoTfError, ValueError):
    """An input file, table or manifest that cannot be used; the message names it."""


class RunError(MammoTfError, ValueError):
    """A run folder, model file or SavedModel that cannot be used; the message names it."""


class MissingFileError(DataError, FileNotFoundError):
    """An input file or folder that does not exist; the message names it and what to do. Also a
    ``FileNotFoundError``, so callers that catch that keep working."""
