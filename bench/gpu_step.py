# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Training-step throughput on the JAX backend (the GPU machines): images/s, MFU, memory.

    KERAS_BACKEND=jax python bench/gpu_step.py [--quick] [--models patch_vgg16 ...]
        [--precisions fp32 bf16] [--warmup 2] [--repeats 10] [--peak-tflops FP32 BF16]

The four benchmark networks (bench/archs.py) at the paper's sizes: the patch classifiers at
224x224 batch 32, the whole-image models at 1152x896 batch 2 and batch 8; each in float32 and
in the ``mixed_bfloat16`` policy. One child process per configuration (its own device-memory
high-water mark; an out-of-memory configuration is reported, not fatal) builds the model
(weights=None), compiles an Adam step with XLA (``jit_compile=True``), runs ``--warmup`` untimed
and ``--repeats`` timed ``train_on_batch`` steps on fixed device-resident tensors.

Reported: median step seconds, images/s, achieved TFLOP/s (training FLOPs from layer shapes,
bench/flops.py: 3 x forward), MFU = achieved / the device's peak for that precision (built-in
table of dense peaks by device name, ``--peak-tflops`` to override; on CPU the peak is the
fp32 matmul rate measured in the child), and memory: the device's ``peak_bytes_in_use``
(GPU) or the child's peak resident memory (CPU). ``--quick`` (tiny inputs, 1 + 2 steps) is the
CPU smoke run the tests use. Writes bench/results/gpu_step.json (gpu_step_quick.json).
"""
import argparse
import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

import common  # noqa: E402
from archs import ARCHITECTURES, bench_size  # noqa: E402

# The sizes: name -> [(height, width, batch), ...]; --quick uses QUICK_SIZES.
SIZES = {
    "patch_vgg16": [(224, 224, 32)],
    "patch_resnet50": [(224, 224, 32)],
    "whole_resnet50_resnet_top": [(1152, 896, 2), (1152, 896, 8)],
    "whole_vgg16_vgg_top": [(1152, 896, 2), (1152, 896, 8)],
}
QUICK_SIZES = {name: [bench_size(name, quick=True)] for name in ARCHITECTURES}
PRECISIONS = {"fp32": "float32", "bf16": "mixed_bfloat16"}

# Dense (no sparsity) peak TFLOP/s by device-name substring: (fp32 as XLA runs it, bf16).
# fp32 matmuls/convolutions on Ampere and later run on TF32 tensor cores under JAX's default
# precision, so the fp32 peak is the TF32 dense peak there. Vendor data sheets (SXM parts).
PEAK_TFLOPS = (
    ("H200", (494.7, 989.4)),
    ("H100", (494.7, 989.4)),
    ("A100", (156.0, 312.0)),
    ("L4", (60.0, 121.0)),
    ("V100", (15.7, 125.0)),  # no TF32 / bf16 tensor cores: fp32 peak, fp16 tensor-core peak
)


def _peak_for(device_kind, precision, override=None):
    if override is not None:
        return override[0 if precision == "fp32" else 1], "--peak-tflops"
    for key, peaks in PEAK_TFLOPS:
        if key.lower() in device_kind.lower():
            return peaks[0 if precision == "fp32" else 1], f"table ({key})"
    return None, None


def _matmul_tflops(n=1024, repeats=3):
    """fp32 matmul rate of this process's first device (the CPU 'peak')."""
    import time

    import jax
    import jax.numpy as jnp

    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    start = time.perf_counter()
    for _ in range(repeats):
        f(a).block_until_ready()
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e12


def child(cfg):
    import jax
    import keras
    import numpy as np

    from archs import build_keras
    from flops import training_flops

    keras.mixed_precision.set_global_policy(PRECISIONS[cfg["precision"]])
    height, width, batch = cfg["height"], cfg["width"], cfg["batch"]
    model = build_keras(cfg["arch"], input_shape=(height, width, 3))
    num_classes = model.output_shape[-1]
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy",
                  jit_compile=True)
    rng = np.random.default_rng(0)
    device = jax.devices()[0]
    images = jax.device_put(rng.normal(0, 50, (batch, height, width, 3)).astype("float32"), device)
    labels = jax.device_put(rng.integers(0, num_classes, (batch,)).astype("int32"), device)
    timing = common.time_steps(lambda: float(model.train_on_batch(images, labels)),
                               warmup=cfg["warmup"], repeats=cfg["repeats"])
    flops_per_image = training_flops(model)
    achieved = flops_per_image * batch / timing["median_s"] / 1e12
    result = {"device": device.device_kind, "platform": device.platform,
              "step_s": round(timing["median_s"], 5), "times_s": timing["times_s"],
              "images_per_s": round(batch / timing["median_s"], 2),
              "train_gflop_per_image": round(flops_per_image / 1e9, 3),
              "achieved_tflops": round(achieved, 4)}
    peak, source = _peak_for(device.device_kind, cfg["precision"], cfg.get("peak_tflops"))
    if peak is None and device.platform == "cpu":
        peak, source = _matmul_tflops(), "measured fp32 matmul (CPU)"
    if peak:
        result.update(peak_tflops=round(peak, 4), peak_source=source, mfu=round(achieved / peak, 4))
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "peak_bytes_in_use" in stats:
        result["device_peak_gib"] = round(stats["peak_bytes_in_use"] / common.GIB, 3)
    return result


def configurations(args):
    sizes = QUICK_SIZES if args.quick else SIZES
    for arch in args.models:
        for height, width, batch in sizes[arch]:
            for precision in args.precisions:
                yield {"arch": arch, "height": height, "width": width, "batch": batch,
                       "precision": precision, "warmup": args.warmup, "repeats": args.repeats,
                       "peak_tflops": args.peak_tflops}


COLUMNS = [("arch", "model"), ("height", "H"), ("width", "W"), ("batch", "batch"),
           ("precision", "precision"), ("status", "status"), ("step_s", "step s"),
           ("images_per_s", "img/s"), ("achieved_tflops", "TFLOP/s"), ("mfu", "MFU"),
           ("device_peak_gib", "device peak GiB"), ("peak_rss_gib", "host peak GiB")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true",
                        help="tiny inputs, 1 warm-up + 2 timed steps (CPU smoke run)")
    parser.add_argument("--models", nargs="+", choices=list(ARCHITECTURES), default=list(ARCHITECTURES))
    parser.add_argument("--precisions", nargs="+", choices=list(PRECISIONS), default=list(PRECISIONS))
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default 2; --quick 1)")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps (default 10; --quick 2)")
    parser.add_argument("--peak-tflops", type=float, nargs=2, metavar=("FP32", "BF16"), default=None,
                        help="the device's dense peak TFLOP/s (default: built-in table by device name)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per configuration")
    parser.add_argument("--out", default=None, help="results JSON (default bench/results/gpu_step[_quick].json)")
    args = parser.parse_args(argv)
    if args.child:
        common.emit_result(child(json.loads(args.child)))
        return 0
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    args.repeats = args.repeats if args.repeats is not None else (2 if args.quick else 10)
    rows = []
    for cfg in configurations(args):
        row = common.run_child("gpu_step.py", cfg, timeout_s=args.timeout, env={"KERAS_BACKEND": "jax"})
        rows.append(row)
        print(f"{cfg['arch']} {cfg['height']}x{cfg['width']} b{cfg['batch']} {cfg['precision']}: "
              f"{row.get('status')} {row.get('images_per_s', '')} img/s "
              f"MFU {row.get('mfu', '-')} {row.get('error', '')}", flush=True)
    common.print_table("JAX training step", rows, COLUMNS)
    payload = {"machine": common.machine_info(), "quick": args.quick, "rows": rows}
    if args.out:
        from mammo_tf.utils import write_json_atomic

        write_json_atomic(args.out, payload)
        print(f"wrote {args.out}")
    else:
        print(f"wrote {common.write_results('gpu_step_quick' if args.quick else 'gpu_step', payload)}")
    return 0 if all(r.get("status") == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
