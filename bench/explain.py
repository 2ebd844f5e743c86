# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Dissection cost vs plain inference over the same probe set (goal: dissect <= 1.3 x inference).

    python bench/explain.py [--backbone resnet50] [--size 224] [--n 512] [--units 20] [--top-k 32] [--quick]

A patch classifier (``weights=None``) runs over a patch HDF5 of phantom patches three ways:
plain inference (``model.predict_on_batch`` on every batch, data loading included), the dissection
streaming pass alone (feature maps + per-unit top-k + quantile histograms) and the whole
``dissect`` (pass + galleries of the selected units: their top-k maps are kept from the pass when
they fit in ``--cache-mb``, else the top-k items are re-run; PNG writing included). Prints a
table and writes bench/results/explain.json.
"""
import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402


def make_probe(path, n, size, seed=0):
    """Patch HDF5 of ``n`` phantom patches (size x size) cut from rendered views."""
    import h5py
    import numpy as np

    from mammo_tf.datasets.phantom import render_view

    patches = []
    view = 0
    while len(patches) < n:
        image, _ = render_view(seed + view, "LR"[view % 2], ("CC", "MLO")[(view // 2) % 2],
                               lesions=["mass_malignant"], size=(2 * size, 2 * size))
        for y in (0, size):
            for x in (0, size):
                patches.append(image[y:y + size, x:x + size])
        view += 1
    with h5py.File(path, "w") as f:
        f["patches"] = np.stack(patches[:n])
        f["labels"] = np.zeros(n, np.int64)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="resnet50", choices=("vgg16", "vgg19", "resnet50"))
    parser.add_argument("--size", type=int, default=224, help="patch size in pixels")
    parser.add_argument("--n", type=int, default=512, help="probe patches")
    parser.add_argument("--units", type=int, default=20, help="units dissected (galleries)")
    parser.add_argument("--top-k", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--cache-mb", type=float, default=256, help="dissect's map cache (0 = always re-run)")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved repeats; the minimum is reported")
    parser.add_argument("--quick", action="store_true", help="small run: 96 px, 256 patches")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.n = 96, 256

    import numpy as np

    from mammo_tf.deepminer.dissect import dissect, streaming_pass
    from mammo_tf.deepminer.graph import split_model
    from mammo_tf.deepminer.probe import open_probe
    from mammo_tf.shen import build_patch_classifier

    model = build_patch_classifier(args.backbone, num_classes=5, weights=None, input_shape=(args.size, args.size, 3))
    split = split_model(model)
    units = np.random.default_rng(0).choice(split.num_units, args.units, replace=False)
    unit_ids = [f"unit_{u + 1:04d}" for u in units]
    pixel_mean = 50.0
    with tempfile.TemporaryDirectory() as tmp:
        probe = open_probe(make_probe(os.path.join(tmp, "probe.h5"), args.n, args.size))
        size = split.input_size
        warm = next(probe.batches(args.batch_size, size, pixel_mean))[1]
        model.predict_on_batch(warm), split.features.predict_on_batch(warm)  # compile both

        def plain():
            for _, x in probe.batches(args.batch_size, size, pixel_mean):
                model.predict_on_batch(x)

        plain()  # untimed: warms the file cache and thread pools for both runs
        # Interleaved repeats, minimum of each: the machine may be shared, noise only adds time.
        timings = {"inference": [], "pass": [], "dissect": []}
        for repeat in range(args.repeats):
            start = time.perf_counter()
            plain()
            timings["inference"].append(time.perf_counter() - start)
            start = time.perf_counter()
            state = streaming_pass(split, probe, pixel_mean, units, args.top_k, args.batch_size, progress=False,
                                   cache_mb=args.cache_mb)
            timings["pass"].append(time.perf_counter() - start)
            start = time.perf_counter()
            result = dissect(split, probe, os.path.join(tmp, "dis"), pixel_mean, unit_ids, args.top_k,
                             args.batch_size, progress=False, cache_mb=args.cache_mb)
            timings["dissect"].append(time.perf_counter() - start)
        all_times = timings
        timings = {key: min(values) for key, values in all_times.items()}
        rerun = len({t["index"] for u in result["units"].values() for t in u["tiles"]})
        if result["maps"].startswith("kept"):
            rerun = 0  # the top-k maps were kept from the pass: the items are re-read, not re-run
    rows = [
        {"what": "plain inference", "seconds": timings["inference"], "ratio": 1.0, "images": args.n},
        {"what": "dissect streaming pass", "seconds": timings["pass"], "ratio": timings["pass"] / timings["inference"],
         "images": args.n},
        {"what": f"dissect total ({args.units} units, top-{args.top_k}, galleries + PNGs)", "seconds": timings["dissect"],
         "ratio": timings["dissect"] / timings["inference"], "images": args.n + rerun},
    ]
    title = (f"explain dissect vs inference: {args.backbone} {args.size}px, {args.n} patches, batch {args.batch_size}, "
             f"feature layer {split.layer_name} ({split.num_units} units)")
    common.print_table(title, rows, [("what", "run"), ("seconds", "seconds"), ("ratio", "x inference"),
                                     ("images", "images through the network")])
    goal = timings["dissect"] / timings["inference"] <= 1.3
    print(f"goal dissect <= 1.3 x inference: {'met' if goal else 'NOT met'}; re-run {rerun} distinct items; "
          f"streaming state {state.nbytes() / 1e6:.2f} MB")
    path = common.write_results("explain_quick" if args.quick else "explain", {
        "config": vars(args), "times_s": all_times, "layer": split.layer_name, "num_units": split.num_units, "rows": rows,
        "rerun_items": rerun, "state_mb": state.nbytes() / 1e6, "goal_met": goal})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
