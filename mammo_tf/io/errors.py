# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Errors raised by the image readers; each names the file and the problem."""
import os

from mammo_tf.errors import DataError


class MammogramReadError(DataError):
    """An image file could not be read; ``path`` and ``reason`` are kept as attributes."""

    def __init__(self, path, reason):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class MissingDecoderError(MammogramReadError):
    """A DICOM file uses a compressed transfer syntax no installed package can decode."""

    def __init__(self, path, transfer_syntax, install_hint):
        self.transfer_syntax = transfer_syntax
        self.install_hint = install_hint
        super().__init__(
            path,
            f"pixel data is compressed with {transfer_syntax}, which no installed decoder supports; "
            f"to decode it: {install_hint}",
        )
