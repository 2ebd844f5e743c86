# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""This machine's limit: measured fp32 matrix-multiply rate, and each model's training FLOPs.

    python bench/limit.py [--quick] [--threads 2]

The matmul rate (median of repeated n x n float32 products after warm-up, 2*n^3 FLOPs each)
is the reference the training steps are compared with: a step's achieved FLOP/s divided by it
is the "fraction of the limit" bench/train_step.py reports. Training FLOPs per image are
counted from the Keras layer shapes (bench/flops.py) at the bench input sizes. Writes
bench/results/limit.json.
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

MATMUL_SIZES = (1024, 2048, 4096)
QUICK_MATMUL_SIZES = (512, 1024)


def tf_matmul_rate(sizes=MATMUL_SIZES, repeats=5):
    """Best (over sizes) median GFLOP/s of a float32 n x n matmul under TensorFlow."""
    import tensorflow as tf

    best = {}
    for n in sizes:
        a = tf.random.normal((n, n), dtype=tf.float32)
        b = tf.random.normal((n, n), dtype=tf.float32)
        matmul = tf.function(lambda x, y: tf.linalg.matmul(x, y))
        timing = common.time_steps(lambda: matmul(a, b).numpy(), warmup=2, repeats=repeats)
        best[n] = 2 * n**3 / timing["median_s"] / 1e9
    return max(best.values()), {str(k): round(v, 1) for k, v in best.items()}


def torch_matmul_rate(sizes=MATMUL_SIZES, repeats=5):
    """Best (over sizes) median GFLOP/s of a float32 n x n matmul under PyTorch."""
    import torch

    best = {}
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        timing = common.time_steps(lambda: torch.mm(a, b), warmup=2, repeats=repeats)
        best[n] = 2 * n**3 / timing["median_s"] / 1e9
    return max(best.values()), {str(k): round(v, 1) for k, v in best.items()}


def model_flops(quick=False):
    """Training FLOPs per image of each benched architecture at its bench size."""
    from archs import SIZES, bench_size, build_keras
    from flops import TRAIN_FACTOR, forward_flops

    rows = []
    for arch in SIZES:
        h, w, batch = bench_size(arch, quick)
        forward = forward_flops(build_keras(arch, (h, w, 3)))
        rows.append({"model": arch, "input": f"{h}x{w}", "batch": batch,
                     "forward_gflop": forward / 1e9, "train_gflop_per_image": TRAIN_FACTOR * forward / 1e9})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small matrices and inputs (smoke run)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads (TF and torch)")
    args = parser.parse_args(argv)

    from mammo_tf.training import perf

    perf.configure_threads(intra_op=args.threads)
    sizes = QUICK_MATMUL_SIZES if args.quick else MATMUL_SIZES
    tf_rate, tf_by_size = tf_matmul_rate(sizes)
    result = {"threads": args.threads, "tf_matmul_gflops": round(tf_rate, 1), "tf_matmul_by_size": tf_by_size}
    if common.torch_available():
        import torch

        torch.set_num_threads(args.threads)
        torch_rate, torch_by_size = torch_matmul_rate(sizes)
        result.update(torch_matmul_gflops=round(torch_rate, 1), torch_matmul_by_size=torch_by_size)
    else:
        print(common.TORCH_MISSING)
    result["limit_gflops"] = max(result["tf_matmul_gflops"], result.get("torch_matmul_gflops", 0))
    common.print_table(
        f"fp32 matmul rate, {args.threads} threads (GFLOP/s by n)",
        [{"framework": "tensorflow", **tf_by_size},
         {"framework": "torch", **result.get("torch_matmul_by_size", {})}],
        [("framework", "framework")] + [(str(n), f"n={n}") for n in sizes],
    )
    rows = model_flops(args.quick)
    for row in rows:
        # Seconds per image a step would take at the measured matmul rate (the lower bound).
        row["ideal_images_per_s"] = result["limit_gflops"] / row["train_gflop_per_image"]
    common.print_table(
        "Training FLOPs per image (conv + dense, forward x3)",
        rows,
        [("model", "model"), ("input", "input"), ("forward_gflop", "fwd GFLOP"),
         ("train_gflop_per_image", "train GFLOP/img"), ("ideal_images_per_s", "img/s at limit")],
    )
    result["models"] = rows
    result["quick"] = args.quick
    print("wrote", common.write_results("limit_quick" if args.quick else "limit", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
