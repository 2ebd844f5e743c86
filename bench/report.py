# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Markdown tables of the bench results (bench/results/*.json) for bench/README.md.

    python bench/report.py [--quick]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402


def _cell(value, digits=3):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def markdown_table(rows, columns):
    lines = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(k)) for k, _ in columns) + " |" for row in rows]
    return "\n".join(lines)


def _load(name):
    path = os.path.join(common.RESULTS_DIR, f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _machine_line(result):
    m = result["machine"]
    v = m["versions"]
    return (f"{m['date_utc']}, {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; TF {v['tensorflow']}, "
            f"Keras {v['keras']}, torch {v['torch']}; load average at start {m['load_average_start']}, "
            f"at end {m.get('load_average_end')}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    suffix = "_quick" if args.quick else ""
    limit = _load("limit" + suffix)
    if limit:
        print(f"### Machine limit ({_machine_line(limit)})\n")
        print(f"fp32 matmul: TF {limit['tf_matmul_gflops']} GFLOP/s {limit['tf_matmul_by_size']}, "
              f"torch {limit.get('torch_matmul_gflops')} GFLOP/s {limit.get('torch_matmul_by_size')}\n")
        print(markdown_table(limit["models"], [
            ("model", "model"), ("input", "input"), ("forward_gflop", "forward GFLOP/img"),
            ("train_gflop_per_image", "training GFLOP/img"), ("ideal_images_per_s", "img/s at the matmul rate")]))
    for name in ("train_step", "train_step_remat"):
        steps = _load(name + suffix)
        if not steps:
            continue
        print(f"\n### Training step: {name}.json ({_machine_line(steps)})\n")
        print(markdown_table(steps["rows"], [
            ("arch", "model"), ("framework", "framework"), ("variant", "variant"), ("input", "input"),
            ("batch", "batch"), ("median_s", "median step s"), ("images_per_s", "img/s"),
            ("achieved_gflops", "GFLOP/s"), ("matmul_gflops", "matmul GFLOP/s (same process)"),
            ("fraction_of_matmul", "of TF matmul"), ("vs_best_torch", "vs torch"),
            ("vs_tf_default", "vs TF default"), ("peak_rss_gib", "peak GiB"), ("status", "status")]))
    memory = _load("memory" + suffix)
    if memory:
        print(f"\n### Memory ({_machine_line(memory)})\n")
        cols = [("model", "model"), ("option", "option"), ("input", "input"), ("batch", "batch"),
                ("peak_rss_gib", "peak GiB"), ("step_s", "first step s (incl. tracing)"),
                ("fits", f"within {memory['budget_gib']:g} GiB"), ("status", "status")]
        print(markdown_table(memory["rows"], cols))
        if memory.get("search"):
            print(f"\nLargest image at batch 2 within {memory['budget_gib']:g} GiB "
                  "(per model the option of lowest 1152x896 peak; tried largest first; over_cap = killed "
                  "when passing the budget):\n")
            print(markdown_table(memory["search"], cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
