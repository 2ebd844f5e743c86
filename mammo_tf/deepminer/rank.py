# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DeepMiner unit ranking: how often each unit is among an image's top-n most influential units.

For every probe image and class c the ``top_per_image`` units with the largest influence
(signed; see ``maps``) are counted; per class the ``select`` most frequent units are chosen and
the share of all top-n slots they cover is reported (DeepMiner: top 8, 20 per class).
"""
import csv
import io
import os

import numpy as np
from tqdm import tqdm

from mammo_tf.deepminer.maps import compute_influence
from mammo_tf.deepminer.probe import probe_size
from mammo_tf.deepminer.units import unit_id
from mammo_tf.constants import default_class_names
from mammo_tf.errors import DataError
from mammo_tf.utils import write_json_atomic, write_text_atomic

UNIT_ID_CONVENTION = "unit_0001 is channel 0 of the layer (ids are 1-based for display, zero-padded to 4 digits)"
# DeepMiner, section 2.2: "if the twenty units we selected were annotated, those annotations
# would account for 59.27% of the per-image top eight units over all of the hold-out set images".
COVERAGE_DEFINITION = ("per class: the share of the per-image top-n units (n slots per image, over "
                       "all probe images) that are among the class's selected units, i.e. what "
                       "their annotations would account for")


def count_top_units(influence, top_per_image):
    """(B, K, C) influence -> (C, K) counts of each unit among each image's top-n per class."""
    b, k, c = influence.shape
    n = min(top_per_image, k)
    counts = np.zeros((c, k), dtype=np.int64)
    for cls in range(c):
        top = np.argpartition(-influence[:, :, cls], n - 1, axis=1)[:, :n]
        counts[cls] += np.bincount(top.ravel(), minlength=k)
    return counts


def select_units(counts, select):
    """Per class the ``select`` most frequent units (ties: lower channel first) -> (C, select) channels."""
    order = np.lexsort((np.broadcast_to(np.arange(counts.shape[1]), counts.shape), -counts), axis=1)
    return order[:, : min(select, counts.shape[1])]


def rank_units(split, probe, pixel_mean, top_per_image=8, select=20, batch_size=16, force_gradient=False,
               class_names=None, progress=True, strict=False):
    """Run the ranking over ``probe``; returns the ``rankings.json`` record (a dict)."""
    k, c = split.num_units, split.num_classes
    class_names = list(class_names or default_class_names(c))
    counts = np.zeros((c, k), dtype=np.int64)
    influence_sum = np.zeros((k, c))
    n_images = 0
    batches = probe.batches(batch_size, probe_size(probe, split), pixel_mean, strict=strict)
    for _, x in tqdm(batches, total=-(-len(probe) // batch_size), desc="rank", unit="batch", disable=not progress):
        _, influence, _ = compute_influence(split, x, force_gradient=force_gradient)
        counts += count_top_units(influence, top_per_image)
        influence_sum += influence.sum(axis=0)
        n_images += len(x)
    if n_images == 0:
        raise DataError(f"{probe.description}: no readable images")
    chosen = select_units(counts, select)
    slots = n_images * min(top_per_image, k)
    classes = {}
    for cls, name in enumerate(class_names):
        units = [
            {"unit": unit_id(ch), "channel": int(ch), "count": int(counts[cls, ch]),
             "mean_influence": float(influence_sum[ch, cls] / n_images)}
            for ch in chosen[cls]
        ]
        classes[name] = {"selected": units, "coverage": float(counts[cls, chosen[cls]].sum() / slots)}
    selected = sorted({u["unit"] for v in classes.values() for u in v["selected"]})
    return {
        "layer": split.layer_name,
        "influence": "max(A_k) x w_ck (GAP+Dense)" if split.gap_dense and not force_gradient
        else "max(A_k) x mean(dy_c/dA_k) x Z (gradient)",
        "probe": probe.description,
        "num_images": n_images,
        "num_units": k,
        "top_per_image": top_per_image,
        "select": select,
        "class_names": class_names,
        "unit_id_convention": UNIT_ID_CONVENTION,
        "coverage_definition": COVERAGE_DEFINITION,
        "classes": classes,
        "selected_units": selected,
        "failures": [{"index": i, "error": e} for i, e in probe.failures],
        "_counts": counts,
        "_influence_mean": influence_sum / n_images,
    }


def write_rankings(result, out_dir, model_path=None):
    """Write ``rankings.json`` and ``units.csv`` (one row per class and unit ever in a top-n)."""
    os.makedirs(out_dir, exist_ok=True)
    counts, mean_influence = result["_counts"], result["_influence_mean"]
    record = {key: value for key, value in result.items() if not key.startswith("_")}
    record["model"] = model_path
    write_json_atomic(os.path.join(out_dir, "rankings.json"), record)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["unit", "channel", "class", "rank", "count", "share_of_images", "mean_influence", "selected"])
    n = result["num_images"]
    for cls, name in enumerate(result["class_names"]):
        selected = {u["channel"] for u in result["classes"][name]["selected"]}
        order = np.lexsort((np.arange(counts.shape[1]), -counts[cls]))
        for rank, ch in enumerate(order, start=1):
            if counts[cls, ch] == 0 and ch not in selected:
                continue
            writer.writerow([unit_id(ch), int(ch), name, rank, int(counts[cls, ch]), f"{counts[cls, ch] / n:.4f}",
                             f"{mean_influence[ch, cls]:.6g}", int(ch in selected)])
    write_text_atomic(os.path.join(out_dir, "units.csv"), buffer.getvalue())
    return os.path.join(out_dir, "rankings.json")
