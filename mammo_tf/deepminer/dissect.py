# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Unit galleries: one streaming pass (per-unit top-k + quantile histogram), then a re-run of
only the top-k images of each unit to render the thresholded activation maps.

Memory is independent of the number of probe images: the pass keeps ``TopK`` (units x k) and
``StreamingHistogram`` (units x bins); the re-run writes each tile to disk as it is made. When
the top-k feature maps themselves fit in ``cache_mb`` (units x k x h x w floats; 20 units x 32 x
7 x 7 is 0.1 MB) the pass keeps them too and the "re-run" only re-reads the top-k images, with
no second forward pass; otherwise the top-k images are run through the network again.
Threshold: ``"top1"`` (DeepMiner: 0.2 x the unit's largest activation over the probe set) or
``"quantile"`` (NetDissect: the unit's 0.995 quantile over all locations of all images).
Where ROI masks exist, the NetDissect IoU (quantile threshold) of each unit's masks with mass
and calcification ROIs, summed over the unit's top-k images, gives a pre-label when >= 0.04.
"""
import dataclasses
import hashlib
import os

import numpy as np
from tqdm import tqdm

from mammo_tf.deepminer.maps import upsample
from mammo_tf.deepminer.probe import concept_of, probe_size, resize_item
from mammo_tf.deepminer.rank import UNIT_ID_CONVENTION
from mammo_tf.deepminer.render import dimmed, fit, montage, thumbnail, to_display, write_png
from mammo_tf.deepminer.streaming import StreamingHistogram, TopK
from mammo_tf.deepminer.units import unit_channel, unit_id
from mammo_tf.errors import DataError, UsageError
from mammo_tf.preprocess import to_network_input
from mammo_tf.utils import atomic_dir, write_json_atomic

IOU_RULE = 0.04  # NetDissect: a unit detects a concept when IoU >= 0.04


@dataclasses.dataclass
class DissectState:
    """Everything the streaming pass keeps (fixed size)."""

    channels: np.ndarray
    topk: TopK
    histogram: StreamingHistogram
    num_images: int = 0

    def arrays(self):
        """Every array held by the state (for the constant-memory test)."""
        t, h = self.topk, self.histogram
        payload = [] if t.payload is None else [t.payload]
        return [self.channels, t.values, t.indices, h.counts, h.lo, h.width, h.vmin, h.vmax] + payload

    def nbytes(self):
        return sum(a.nbytes for a in self.arrays())


def streaming_pass(split, probe, pixel_mean, channels=None, top_k=32, batch_size=16, bins=1024,
                   progress=True, strict=False, cache_mb=256):
    """One pass over ``probe``: per-unit top-k images by max activation and activation histograms
    (plus their feature maps when units x k x h x w float32 fit in ``cache_mb``; 0 disables)."""
    channels = np.arange(split.num_units) if channels is None else np.asarray(channels, dtype=np.int64)
    map_shape = split.feature_map_size(probe_size(probe, split)) or (None, None)
    cache = None not in map_shape and len(channels) * top_k * int(np.prod(map_shape)) * 4 <= cache_mb * 2**20
    state = DissectState(channels, TopK(len(channels), top_k, map_shape if cache else None),
                         StreamingHistogram(len(channels), bins))
    features = split.features
    every_unit = np.array_equal(channels, np.arange(split.num_units))  # no gather copy needed
    batches = probe.batches(batch_size, probe_size(probe, split), pixel_mean, strict=strict)
    for indices, x in tqdm(batches, total=-(-len(probe) // batch_size), desc="dissect pass", unit="batch",
                           disable=not progress):
        a = np.asarray(features.predict_on_batch(x))  # (B, h, w, units)
        if not every_unit:
            a = a[..., channels]
        flat = a.reshape(a.shape[0], -1, a.shape[-1])
        state.topk.update(flat.max(axis=1), indices, a if cache else None)
        state.histogram.update(flat.reshape(-1, flat.shape[-1]).T)
        state.num_images += len(indices)
    return state


def _features_by_shape(features, images, pixel_mean, channels):
    """Feature maps (h, w, len(channels)) of each image, one forward pass per image shape
    (whole mammograms at full resolution may differ in size)."""
    out = [None] * len(images)
    by_shape = {}
    for i, image in enumerate(images):
        by_shape.setdefault(image.shape, []).append(i)
    for positions in by_shape.values():
        x = to_network_input(np.stack([images[i] for i in positions]), pixel_mean)
        a = np.asarray(features.predict_on_batch(x))[..., channels]
        for j, i in enumerate(positions):
            out[i] = a[j]
    return out


class _ContextCache:
    """Writes each whole mammogram once as a small PNG for the annotation site's hover view."""

    def __init__(self, out_dir, height):
        self.out_dir, self.height, self.done = out_dir, height, {}

    def get(self, path):
        if path is None:
            return None
        if path not in self.done:
            from mammo_tf.io.images import load_image

            name = "c_" + hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:12] + ".png"
            image = load_image(path)
            write_png(os.path.join(self.out_dir, name), fit(to_display(image), self.height), atomic=False)
            self.done[path] = (f"context/{name}", image.shape)
        return self.done[path]


def dissect(split, probe, out_dir, pixel_mean, units=None, top_k=32, batch_size=16, threshold="top1",
            top1_fraction=0.2, quantile=0.995, bins=1024, tile_side=224, context_height=600, progress=True,
            strict=False, model_path=None, cache_mb=256):
    """Write unit galleries and ``dissection.json`` into ``out_dir``; returns the record.

    ``units``: unit ids (any form ``canonical_unit_id`` accepts) or None for every unit.
    """
    if threshold not in ("top1", "quantile"):
        raise ValueError(f"threshold must be 'top1' or 'quantile', got {threshold!r}")
    channels = None if units is None else sorted({unit_channel(u) for u in units})
    if channels is not None and channels and max(channels) >= split.num_units:
        raise UsageError(f"unit {unit_id(max(channels))} does not exist: layer {split.layer_name!r} "
                         f"has {split.num_units} units")
    state = streaming_pass(split, probe, pixel_mean, channels, top_k, batch_size, bins, progress, strict, cache_mb)
    if state.num_images == 0:
        raise DataError(f"{probe.description}: no readable images")
    cached = state.topk.sorted_payload()
    top_values, top_indices = state.topk.result()
    quantiles = state.histogram.quantile(quantile)
    top1 = top_values[:, 0]
    thresholds = top1_fraction * top1 if threshold == "top1" else quantiles

    wanted = {}  # probe index -> [(unit position, rank)]
    for pos in range(len(state.channels)):
        for rank, index in enumerate(top_indices[pos]):
            if index >= 0:
                wanted.setdefault(int(index), []).append((pos, rank))
    units_out = {}
    for pos, ch in enumerate(state.channels):
        units_out[unit_id(ch)] = {
            "channel": int(ch), f"quantile_{quantile:g}": float(quantiles[pos]), "top1_max": float(top1[pos]),
            "threshold_value": float(thresholds[pos]), "gallery": f"units/{unit_id(ch)}.png",
            "tiles": [None] * int((top_indices[pos] >= 0).sum()), "iou": None, "prelabel": None,
        }
    iou_sums = {}  # (pos, concept) -> [intersection, union]
    thumbs = {}  # (pos, rank) -> small RGB tile for the unit's montage (units x k, never N)
    has_rois = False
    size = probe_size(probe, split)
    order = sorted(wanted)
    # Only the units/ and context/ subfolders are replaced (atomically, as whole folders).
    with atomic_dir(os.path.join(out_dir, "units")) as units_tmp, \
            atomic_dir(os.path.join(out_dir, "context")) as context_tmp:
        context = _ContextCache(context_tmp, context_height)
        for start in tqdm(range(0, len(order), batch_size), desc="dissect galleries", unit="batch",
                          disable=not progress):
            chunk = order[start:start + batch_size]
            items = [probe.item(i) for i in chunk]
            resized = [resize_item(item, size) for item in items]
            if cached is None:
                a = _features_by_shape(split.features, [r[0] for r in resized], pixel_mean,
                                       state.channels)
            for b, (item, (image, rois)) in enumerate(zip(items, resized)):
                grey = to_display(image)
                ctx = context.get(item.context_path)
                box = None
                if ctx is not None and item.box is not None:
                    ch_, cw_ = ctx[1]
                    y0, x0, y1, x1 = item.box
                    box = [y0 / ch_, x0 / cw_, y1 / ch_, x1 / cw_]
                has_rois = has_rois or bool(rois)
                for pos, rank in wanted[item.index]:
                    unit_map = a[b][:, :, pos] if cached is None else cached[pos, rank]
                    up = upsample(unit_map, image.shape)
                    mask = up >= thresholds[pos]
                    uid = unit_id(state.channels[pos])
                    name = f"{uid}/rank_{rank + 1:02d}.png"
                    tile = fit(dimmed(grey, mask), tile_side)
                    write_png(os.path.join(units_tmp, name), tile, atomic=False)
                    thumbs[pos, rank] = thumbnail(tile)
                    units_out[uid]["tiles"][rank] = {
                        "rank": rank + 1, "index": item.index, "image_id": item.image_id,
                        "activation": float(top_values[pos, rank]), "label": item.label, "tile": f"units/{name}",
                        "context": ctx[0] if ctx else None, "box": box,
                    }
                    if rois:
                        nd_mask = up >= quantiles[pos]
                        for concept in ("mass", "calcification"):
                            roi = np.zeros_like(nd_mask)
                            for m, cls in rois:
                                if concept_of(cls) == concept:
                                    roi |= m
                            acc = iou_sums.setdefault((pos, concept), [0, 0])
                            acc[0] += int((nd_mask & roi).sum())
                            acc[1] += int((nd_mask | roi).sum())
        for pos, ch in enumerate(state.channels):
            record = units_out[unit_id(ch)]
            record["tiles"] = [t for t in record["tiles"] if t is not None]
            if record["tiles"]:
                small = [thumbs[pos, t["rank"] - 1] for t in record["tiles"]]
                write_png(os.path.join(units_tmp, f"{unit_id(ch)}.png"), montage(small), atomic=False)
            if has_rois:
                iou = {c: (v[0] / v[1] if v[1] else 0.0) for (p, c), v in iou_sums.items() if p == pos}
                record["iou"] = iou
                best = max(iou, key=iou.get) if iou else None
                record["prelabel"] = best if best is not None and iou[best] >= IOU_RULE else None
    result = {
        "layer": split.layer_name, "model": model_path, "probe": probe.description, "num_images": state.num_images,
        "top_k": top_k, "unit_id_convention": UNIT_ID_CONVENTION,
        "threshold": {"method": threshold, "top1_fraction": top1_fraction, "quantile": quantile,
                      "quantile_estimate": f"streaming histogram, {bins} bins per unit, error <= one bin width"},
        "iou_rule": IOU_RULE if has_rois else None,
        "maps": "kept from the streaming pass" if cached is not None else "re-computed for the top-k items",
        "units": units_out,
        "failures": [{"index": i, "error": e} for i, e in probe.failures],
    }
    write_json_atomic(os.path.join(out_dir, "dissection.json"), result)
    return result
