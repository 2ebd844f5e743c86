# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The one canonical unit id used in every file, page and lookup of mammo_tf.deepminer.

Unit (channel) ``k`` of a feature layer, 0-based as in the weight arrays, is displayed and stored
as ``unit_{k+1:04d}``: channel 0 is ``unit_0001``. The original DeepMiner code stored labels under
padded ids and looked them up unpadded, so only units >= 1000 were ever labelled; here every
reader goes through :func:`canonical_unit_id`, which accepts the padded id, an unpadded
``unit_3`` or the bare display number and always returns the padded form.
"""
import re

from mammo_tf.errors import DataError

_UNIT_RE = re.compile(r"^(?:unit_?)?0*(\d+)$", re.IGNORECASE)


def unit_id(channel):
    """0-based channel index -> canonical id (``0`` -> ``"unit_0001"``)."""
    channel = int(channel)
    if channel < 0:
        raise ValueError(f"channel index must be >= 0, got {channel}")
    return f"unit_{channel + 1:04d}"


def unit_channel(uid):
    """Canonical (or unpadded) unit id -> 0-based channel index (``"unit_0001"`` -> ``0``)."""
    text = str(uid).strip()
    match = _UNIT_RE.match(text)
    if not match or int(match.group(1)) < 1:
        raise DataError(f"not a unit id: {uid!r} (expected e.g. 'unit_0001', 1-based)")
    return int(match.group(1)) - 1


def canonical_unit_id(uid):
    """Normalise ``'unit_3'``, ``'unit_0003'``, ``'3'`` or ``3`` (1-based display numbers) to ``'unit_0003'``."""
    if isinstance(uid, int):
        return unit_id(uid - 1)
    return unit_id(unit_channel(uid))
