# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Fixed-size streaming state for dissection: per-unit top-k and per-unit quantiles.

Both keep O(units x k) and O(units x bins) numbers whatever the number of images, so one pass
over any probe set runs in constant memory (``nbytes()`` reports the state's size).

Quantile approximation (``StreamingHistogram``): each unit has a histogram of ``bins`` equal
bins over a range [lo, lo + bins*width) that starts at the first batch's min..max and grows
by doubling: when a value falls above the range, adjacent bins are merged pairwise and the
range doubles upwards; below it, the range doubles downwards. The quantile is read by linear
interpolation inside the bin where the cumulative count crosses it, so it lies within one bin
width (``<= 2 x (max - min) / bins`` after doublings) of the two order statistics that bracket
the exact quantile, and it is clamped to the exact running min/max. Tested against
``numpy.quantile``.
"""
import numpy as np


class TopK:
    """Per-unit k largest values (e.g. max activation per image) with their item indices.

    With ``payload_shape`` (e.g. the (h, w) of a feature map) each kept slot also keeps the
    unit's map for that item, so galleries need no second forward pass; still O(units x k).
    """

    def __init__(self, num_units, k, payload_shape=None):
        self.k = int(k)
        self.values = np.full((num_units, self.k), -np.inf, dtype=np.float64)
        self.indices = np.full((num_units, self.k), -1, dtype=np.int64)
        self.payload = None if payload_shape is None else np.zeros((num_units, self.k, *payload_shape), np.float32)

    def update(self, values, indices, payload=None):
        """``values`` (B, units) for the items ``indices`` (B,); ``payload`` (B, *payload_shape, units)."""
        values = np.asarray(values, dtype=np.float64).T  # (units, B)
        cand_v = np.concatenate([self.values, values], axis=1)
        cand_i = np.concatenate([self.indices, np.broadcast_to(np.asarray(indices, np.int64), values.shape)], axis=1)
        keep = np.argpartition(-cand_v, self.k - 1, axis=1)[:, : self.k]
        self.values = np.take_along_axis(cand_v, keep, axis=1)
        self.indices = np.take_along_axis(cand_i, keep, axis=1)
        if self.payload is not None:
            new = np.moveaxis(np.asarray(payload, np.float32), -1, 0)  # (units, B, *payload_shape)
            cand_p = np.concatenate([self.payload, new], axis=1)
            expand = keep.reshape(keep.shape + (1,) * (cand_p.ndim - 2))
            self.payload = np.take_along_axis(cand_p, expand, axis=1)

    def result(self):
        """(values, indices) sorted descending per unit; unfilled slots have index -1."""
        order = np.argsort(-self.values, axis=1, kind="stable")
        return np.take_along_axis(self.values, order, axis=1), np.take_along_axis(self.indices, order, axis=1)

    def sorted_payload(self):
        """Payload in the order of ``result()`` (None when not kept)."""
        if self.payload is None:
            return None
        order = np.argsort(-self.values, axis=1, kind="stable")
        return np.take_along_axis(self.payload, order.reshape(order.shape + (1,) * (self.payload.ndim - 2)), axis=1)

    def nbytes(self):
        return self.values.nbytes + self.indices.nbytes + (0 if self.payload is None else self.payload.nbytes)


class StreamingHistogram:
    """Per-unit streaming histogram with a doubling range, for quantiles without storing values."""

    def __init__(self, num_units, bins=1024):
        if bins < 2 or bins % 2:
            raise ValueError(f"bins must be an even number >= 2, got {bins}")
        self.bins = int(bins)
        self.counts = np.zeros((num_units, self.bins), dtype=np.int64)
        self.lo = np.zeros(num_units)
        self.width = np.zeros(num_units)
        self.vmin = np.full(num_units, np.inf)
        self.vmax = np.full(num_units, -np.inf)

    def _merge_pairs(self, rows):
        return self.counts[rows, 0::2] + self.counts[rows, 1::2]

    def _grow(self, batch_min, batch_max):
        half = self.bins // 2
        while True:
            up = np.nonzero(batch_max >= self.lo + self.width * self.bins)[0]
            if up.size == 0:
                break
            merged = self._merge_pairs(up)
            self.counts[up, :half] = merged
            self.counts[up, half:] = 0
            self.width[up] *= 2
        while True:
            down = np.nonzero(batch_min < self.lo)[0]
            if down.size == 0:
                break
            merged = self._merge_pairs(down)
            self.counts[down, half:] = merged
            self.counts[down, :half] = 0
            self.lo[down] -= self.width[down] * self.bins
            self.width[down] *= 2

    def update(self, values):
        """``values`` (units, M): the unit's activations at M locations."""
        values = np.asarray(values, dtype=np.float64)
        units = values.shape[0]
        batch_min, batch_max = values.min(axis=1), values.max(axis=1)
        new = np.isinf(self.vmin)
        if new.any():
            span = np.maximum(batch_max[new] - batch_min[new], 1e-6 * np.maximum(np.abs(batch_max[new]), 1.0))
            self.lo[new] = batch_min[new]
            self.width[new] = span * (1 + 1e-6) / self.bins
        self._grow(batch_min, batch_max)
        self.vmin = np.minimum(self.vmin, batch_min)
        self.vmax = np.maximum(self.vmax, batch_max)
        bin_index = np.floor((values - self.lo[:, None]) / self.width[:, None]).astype(np.int64)
        np.clip(bin_index, 0, self.bins - 1, out=bin_index)
        bin_index += (np.arange(units) * self.bins)[:, None]
        self.counts += np.bincount(bin_index.ravel(), minlength=units * self.bins).reshape(units, self.bins)

    def quantile(self, q):
        """Approximate per-unit ``q`` quantile (NaN for a unit that has seen no values)."""
        total = self.counts.sum(axis=1)
        cum = np.cumsum(self.counts, axis=1)
        target = q * total
        j = np.minimum((cum < target[:, None]).sum(axis=1), self.bins - 1)
        rows = np.arange(len(total))
        before = np.where(j > 0, cum[rows, np.maximum(j - 1, 0)], 0)
        in_bin = np.maximum(self.counts[rows, j], 1)
        frac = np.clip((target - before) / in_bin, 0.0, 1.0)
        value = self.lo + self.width * (j + frac)
        value = np.clip(value, self.vmin, self.vmax)
        return np.where(total > 0, value, np.nan)

    def nbytes(self):
        return sum(a.nbytes for a in (self.counts, self.lo, self.width, self.vmin, self.vmax))
