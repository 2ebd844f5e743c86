"""Small helpers: atomic writes so an interrupted run never leaves a partial file; lazy
package exports; the commands' logging set-up."""
import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    The temporary name keeps the file's extension (Keras and OpenCV choose the format from
    it). On an exception the temporary file is removed and ``path`` is left untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    base = os.path.basename(path)
    stem, ext = os.path.splitext(base)
    if stem.endswith(".weights"):  # keep the compound ".weights.h5" suffix Keras requires
        stem, ext = stem[: -len(".weights")], ".weights" + ext
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{ext}", dir=directory)
    os.close(fd)
    os.remove(tmp)  # writers create the file themselves
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temporary folder next to ``path``; swap it into place on success.

    An existing folder at ``path`` is replaced only after the new one is complete.
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=parent)
    try:
        yield tmp
        if os.path.exists(path):
            old = tmp + ".old"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomic(path, text):
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def write_json_atomic(path, obj, indent=2):
    write_text_atomic(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def lazy_exports(package, exports):
    """PEP 562 ``__getattr__`` / ``__dir__`` for a package that re-exports names of its
    submodules without importing them (and Keras) until first use: ``exports`` maps
    submodule -> names (a submodule name, or an absolute ``mammo_tf....`` module name for
    names a package re-exports from a lower layer)."""
    import importlib

    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = where[name]
        absolute = module if module.startswith("mammo_tf.") else f"{package}.{module}"
        return getattr(importlib.import_module(absolute), name)

    def __dir__():
        return sorted(where)

    return __getattr__, __dir__, sorted(where)


class CommandParser(argparse.ArgumentParser):
    """The commands' argparse parser (the one parser class of the project): a bad argument
    prints ONE line ``<prog>: error: <message>`` on stderr and exits with code 2 (argparse's
    own usage block is left out). Used by ``mammo_tf.commands`` and the dataclass-config
    bridge ``mammo_tf.training.config``; it lives here, at the bottom layer, so that both can."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


class _CurrentStreamHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` / ``sys.stderr`` is when a record is emitted, so
    redirections made after set-up (pytest's capture, ``contextlib.redirect_stdout``) see it."""

    def __init__(self, name):
        super().__init__()
        self._name = name

    @property
    def stream(self):
        return getattr(sys, self._name)

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ assigns it; the property decides
        pass


class _CliFormatter(logging.Formatter):
    def format(self, record):
        message = super().format(record)
        return message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}"


def setup_logging(level=logging.INFO):
    """Route the library's log messages (logger ``mammo_tf``) to the terminal for a command:
    INFO and below as plain lines on stdout (where the commands' reports go), warnings and
    errors on stderr prefixed ``warning:`` / ``error:``. Idempotent: calling it again (several
    commands in one process) only updates the level."""
    logger = logging.getLogger("mammo_tf")
    logger.setLevel(level)
    if not any(getattr(h, "_mammo_tf_cli", False) for h in logger.handlers):
        for name, keep in (("stdout", lambda r: r.levelno < logging.WARNING),
                           ("stderr", lambda r: r.levelno >= logging.WARNING)):
            handler = _CurrentStreamHandler(name)
            handler.addFilter(keep)
            handler.setFormatter(_CliFormatter("%(message)s"))
            handler._mammo_tf_cli = True
            logger.addHandler(handler)
    return logger
