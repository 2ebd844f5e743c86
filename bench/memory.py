# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Peak memory of whole-image training, and the largest image that trains at batch 2 in 8 GB.

    python bench/memory.py [--quick] [--models whole_resnet50_resnet_top ...]
                           [--budget-gib 8] [--search-options remat] [--no-search]

Part 1: for each whole-image top variant at 1152x896, batch 2, one child process per option
set (plain fp32, rematerialisation, mixed precision, both) runs one Adam training step (which
includes tracing) and reports its peak resident memory (``VmHWM``) and the step time.
Part 2: with the option set of lowest part-1 peak per model (or ``--search-option``), images from 1152x896 up to 2304x1792 (the original ~2x
resolution) are tried largest first; a child is killed as soon as its resident memory passes
the budget, so "fits" means the whole step ran within it. On a CPU machine this is host
memory (TensorFlow's CPU allocator), the closest measurable stand-in for GPU memory.
Writes bench/results/memory.json (memory_quick.json with --quick).
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

WHOLE_MODELS = ("whole_resnet50_resnet_top", "whole_vgg16_vgg_top")
OPTIONS = {
    "fp32": {},
    "remat": {"remat": True},
    "mixed_bf16": {"mixed": True},
    "remat+mixed_bf16": {"remat": True, "mixed": True},
}
# height x width, aspect 1152:896 = 9:7, multiples of 32 (five stride-2 stages) up to ~2x.
SEARCH_SIZES = ((2304, 1792), (2016, 1568), (1728, 1344), (1440, 1120), (1152, 896))
QUICK_SEARCH_SIZES = ((512, 384), (384, 288), (256, 192))


def _config(arch, height, width, batch, option):
    return {"framework": "tensorflow", "arch": arch, "height": height, "width": width, "batch": batch,
            "warmup": 0, "repeats": 1, "intra": os.cpu_count(), "inter": None, "matmul": False,
            "option": option, **OPTIONS[option]}


def _lowest_peak_option(rows, arch):
    measured = [r for r in rows if r["model"] == arch and r["status"] == "ok"]
    return min(measured, key=lambda r: r["peak_rss_gib"])["option"] if measured else "remat"


def _row(result):
    return {"model": result["arch"], "option": result["option"], "input": f"{result['height']}x{result['width']}",
            "batch": result["batch"], "peak_rss_gib": result.get("peak_rss_gib"),
            "polled_peak_gib": result.get("polled_peak_rss_gib"), "step_s": result.get("median_s"),
            "status": result["status"], "error": result.get("error")}


COLUMNS = [("model", "model"), ("option", "option"), ("input", "input"), ("batch", "batch"),
           ("peak_rss_gib", "peak GiB"), ("step_s", "first step s"), ("fits", "fits budget"),
           ("status", "status")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small images (smoke run)")
    parser.add_argument("--models", nargs="+", choices=WHOLE_MODELS, default=list(WHOLE_MODELS))
    parser.add_argument("--options", nargs="+", choices=list(OPTIONS), default=list(OPTIONS))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--budget-gib", type=float, default=8.0, help="memory budget of the size search")
    parser.add_argument("--cap-gib", type=float, default=12.0,
                        help="kill a part-1 child above this (protects a shared machine)")
    parser.add_argument("--search-option", default=None, choices=list(OPTIONS),
                        help="option set of the largest-image search (default: lowest part-1 peak per model)")
    parser.add_argument("--reuse-part1", action="store_true",
                        help="take part 1 from the existing results file instead of re-measuring it")
    parser.add_argument("--search-models", nargs="*", default=None, help="models searched (default: --models)")
    parser.add_argument("--no-search", action="store_true")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)
    info = common.machine_info()
    height, width = (256, 192) if args.quick else (1152, 896)
    budget = args.budget_gib * common.GIB

    name = "memory_quick" if args.quick else "memory"
    rows = []
    previous = os.path.join(common.RESULTS_DIR, f"{name}.json")
    if args.reuse_part1 and os.path.exists(previous):
        import json

        with open(previous, encoding="utf-8") as f:
            earlier = json.load(f)
        rows, info = earlier["rows"], earlier["machine"]
    for arch in ([] if rows else args.models):
        for option in args.options:
            print(f"  {arch} {option} {height}x{width} ...", flush=True)
            result = common.run_child("train_step.py", _config(arch, height, width, args.batch, option),
                                      rss_cap_bytes=args.cap_gib * common.GIB, timeout_s=args.timeout)
            row = _row(result)
            row["fits"] = result["status"] == "ok" and result["peak_rss_gib"] * common.GIB <= budget
            rows.append(row)
            if row["status"] != "ok":
                print(f"    {row['status']}: {row.get('error') or ''}", flush=True)
    common.print_table(f"Peak memory of one training step, batch {args.batch}", rows, COLUMNS)

    search = []
    if not args.no_search:
        sizes = QUICK_SEARCH_SIZES if args.quick else SEARCH_SIZES
        for arch in args.search_models if args.search_models is not None else args.models:
            option = args.search_option or _lowest_peak_option(rows, arch)
            for h, w in sizes:  # largest first: the first that fits is the answer
                print(f"  search {arch} {option} {h}x{w} ...", flush=True)
                result = common.run_child("train_step.py", _config(arch, h, w, args.batch, option),
                                          rss_cap_bytes=budget, timeout_s=args.timeout)
                row = _row(result)
                row["fits"] = result["status"] == "ok"
                search.append(row)
                if row["fits"]:
                    break
                if row["status"] != "over_cap":  # a failure, not a size limit: stop searching
                    print(f"    {row['status']}: {row.get('error') or ''}", flush=True)
                    break
        common.print_table(
            f"Largest image training at batch {args.batch} within {args.budget_gib:g} GiB "
            "(over_cap = killed when passing the budget)",
            search, COLUMNS,
        )
    largest = {}
    for row in search:
        if row["fits"]:
            largest[row["model"]] = row["input"]
    payload = {"machine": info, "quick": args.quick, "budget_gib": args.budget_gib,
               "rows": rows, "search": search,
               "largest_within_budget": largest}
    print("wrote", common.write_results(name, payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
