# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Training-step throughput and peak memory: mammo_tf (Keras/TF) next to the same nets in PyTorch.

    python bench/train_step.py [--quick] [--models patch_vgg16 ...] [--warmup 1] [--repeats 3]
                               [--threads 2] [--no-variants] [--variants remat ...] [--no-torch]
                               [--name RESULTS_NAME]

For each architecture (bench/archs.py: VGG16 / ResNet50 patch classifiers at 224, batch 8;
ResNet50 + [512-512-1024]x2 and VGG16 + 512x1 whole-image models at 1152x896, batch 2) one
child process per configuration builds the model (weights=None), measures the fp32 matmul
rate in that same process, then runs ``--warmup`` untimed and ``--repeats`` timed Adam steps on
fixed in-memory tensors. Reported: median step seconds, images/s, achieved GFLOP/s (training
FLOPs from layer shapes, bench/flops.py), that as a fraction of the matmul rate, the TF/torch
throughput ratio, and the child's peak resident memory. TF variants (XLA, inter-op threads,
bfloat16 mixed precision, rematerialisation on the whole-image models) run next to the default so each option's gain is measured in
the same run; the PyTorch peer is timed in its default layout and (patch models) channels_last,
and the faster of the two is the reference of the "vs torch" ratio. Writes
bench/results/train_step.json (train_step_quick.json with --quick).
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

import common  # noqa: E402
from archs import ARCHITECTURES, bench_size  # noqa: E402

MATMUL_SIZES = (2048, 4096)
QUICK_MATMUL_SIZES = (1024,)

# TF options tried against the default: name -> (payload overrides, kinds of model it runs on).
# XLA and thread settings are measured on the patch models only: at 1152x896 an XLA compile
# alone takes minutes on 2 cores, and the --quick runs showed XLA 2-3x slower everywhere.
TF_VARIANTS = {
    "xla": ({"jit_compile": True}, ("patch",)),
    "inter_op_1": ({"inter": 1}, ("patch",)),
    "mixed_bf16": ({"mixed": True}, ("patch", "whole")),
    "remat": ({"remat": True}, ("whole",)),  # only on request (--variants remat): minutes per model
}
OPT_IN_VARIANTS = ("remat",)


def _random_batch(batch, height, width, num_classes, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    images = rng.normal(0.0, 50.0, size=(batch, height, width, 3)).astype("float32")
    labels = rng.integers(0, num_classes, size=(batch,)).astype("int64")
    return images, labels


def _num_classes(arch):
    return 5 if ARCHITECTURES[arch][0] == "patch" else 2


def tf_child(cfg):
    """Build, compile and time the Keras model described by ``cfg`` (runs in a child process)."""
    from mammo_tf.training import perf

    perf.configure_threads(intra_op=cfg.get("intra"), inter_op=cfg.get("inter"))
    import keras

    from archs import build_keras
    from flops import training_flops
    from limit import tf_matmul_rate

    matmul, _ = tf_matmul_rate(cfg["matmul_sizes"], repeats=3) if cfg.get("matmul", True) else (None, None)
    if cfg.get("mixed"):
        perf.use_mixed_precision()
    model = build_keras(cfg["arch"], (cfg["height"], cfg["width"], 3))
    flops = training_flops(model)
    if cfg.get("remat"):
        model = perf.remat_model(model)  # shares the weights; segments recomputed in backprop
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss="sparse_categorical_crossentropy",
        jit_compile=bool(cfg.get("jit_compile", False)),
    )
    images, labels = _random_batch(cfg["batch"], cfg["height"], cfg["width"], _num_classes(cfg["arch"]))
    timing = common.time_steps(lambda: model.train_on_batch(images, labels), cfg["warmup"], cfg["repeats"])
    return {"matmul_gflops": matmul, "train_flops_per_image": flops, **timing}


def torch_child(cfg):
    """Time the PyTorch peer of ``cfg["arch"]`` (runs in a child process)."""
    import torch

    from limit import torch_matmul_rate
    from torch_reference import build_torch, make_train_step

    torch.set_num_threads(cfg["intra"])
    if cfg.get("inter"):
        torch.set_num_interop_threads(cfg["inter"])
    torch.manual_seed(0)
    matmul, _ = torch_matmul_rate(cfg["matmul_sizes"], repeats=3)
    images, labels = _random_batch(cfg["batch"], cfg["height"], cfg["width"], _num_classes(cfg["arch"]))
    images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    step = make_train_step(build_torch(cfg["arch"]), images, torch.from_numpy(labels),
                           channels_last=cfg.get("channels_last", False))
    timing = common.time_steps(step, cfg["warmup"], cfg["repeats"])
    return {"matmul_gflops": matmul, **timing}


def child_main(payload):
    cfg = json.loads(payload)
    result = tf_child(cfg) if cfg["framework"] == "tensorflow" else torch_child(cfg)
    common.emit_result(result)
    return 0


def _summarise(row, flops_per_image, limit_gflops):
    if row.get("status") != "ok":
        return row
    row["images_per_s"] = row["batch"] / row["median_s"]
    if flops_per_image:
        row["achieved_gflops"] = flops_per_image * row["images_per_s"] / 1e9
        if limit_gflops:
            row["fraction_of_matmul"] = row["achieved_gflops"] / limit_gflops
    return row


def summarise(rows):
    """Derived columns of one architecture's rows (first row = TF default), in place.

    The fraction of the limit uses, for each TF row, the TF matmul rate measured in that same
    process (the shared machine's rate varied up to 2x between processes); torch rows use the
    TF default row's rate (the machine limit; torch's own MKL matmul is slower on this CPU).
    """
    tf_default = rows[0] if rows and rows[0].get("status") == "ok" else {}
    flops = tf_default.get("train_flops_per_image")
    for row in rows:
        own = row.get("matmul_gflops") if row["framework"] == "tensorflow" else None
        _summarise(row, flops, own or tf_default.get("matmul_gflops"))
    torch_rows = [r for r in rows if r["framework"] == "torch" and r.get("status") == "ok"]
    best_torch = max((r["images_per_s"] for r in torch_rows), default=None)
    for row in rows:
        if row.get("status") == "ok":
            if best_torch:
                row["vs_best_torch"] = row["images_per_s"] / best_torch
            if tf_default and row is not tf_default:
                row["vs_tf_default"] = row["images_per_s"] / tf_default["images_per_s"]
    return rows


def run_arch(arch, args):
    """All configurations of one architecture, in sequence; returns the result rows."""
    h, w, batch = bench_size(arch, args.quick)
    base = {"arch": arch, "height": h, "width": w, "batch": batch, "warmup": args.warmup,
            "repeats": args.repeats, "intra": args.threads, "inter": None,
            "matmul_sizes": list(QUICK_MATMUL_SIZES if args.quick else MATMUL_SIZES)}
    configs = [dict(base, framework="tensorflow", variant="default")]
    if not args.no_variants:
        kind = ARCHITECTURES[arch][0]
        configs += [dict(base, framework="tensorflow", variant=name, **over)
                    for name, (over, kinds) in TF_VARIANTS.items()
                    if (args.quick or kind in kinds)
                    and (name in args.variants if args.variants is not None else name not in OPT_IN_VARIANTS)]
    if args.torch:
        configs.append(dict(base, framework="torch", variant="eager"))
        if args.torch_channels_last and (args.quick or ARCHITECTURES[arch][0] == "patch"):
            configs.append(dict(base, framework="torch", variant="eager_channels_last", channels_last=True))
    rows = []
    for cfg in configs:
        print(f"  {arch} {cfg['framework']} {cfg['variant']} ...", flush=True)
        rows.append(common.run_child("train_step.py", cfg, timeout_s=args.timeout))
        if rows[-1]["status"] != "ok":
            print(f"    {rows[-1]['status']}: {rows[-1].get('error', '')}", flush=True)
    summarise(rows)
    return rows


COLUMNS = [
    ("arch", "model"), ("framework", "framework"), ("variant", "variant"), ("input", "input"),
    ("batch", "batch"), ("median_s", "step s"), ("images_per_s", "img/s"),
    ("achieved_gflops", "GFLOP/s"), ("fraction_of_matmul", "of matmul"),
    ("vs_best_torch", "vs torch"), ("vs_tf_default", "vs TF default"), ("peak_rss_gib", "peak GiB"),
    ("status", "status"),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="tiny inputs, 1 warm-up + 2 steps (smoke run)")
    parser.add_argument("--models", nargs="+", choices=list(ARCHITECTURES), default=list(ARCHITECTURES))
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="intra-op threads, TF and torch")
    parser.add_argument("--no-variants", action="store_true", help="skip the TF XLA / thread variants")
    parser.add_argument("--variants", nargs="*", choices=list(TF_VARIANTS), default=None,
                        help="TF variants to run (default: all that apply to the model except the opt-in 'remat')")
    parser.add_argument("--name", default=None, help="results file name (default train_step[_quick])")
    parser.add_argument("--variant-models", nargs="*", default=None,
                        help="models that get the TF variants (default: all)")
    parser.add_argument("--no-torch", dest="torch", action="store_false", help="skip the PyTorch peer")
    parser.add_argument("--no-torch-channels-last", dest="torch_channels_last", action="store_false",
                        help="skip timing torch channels_last (patch models)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per configuration")
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child)
    if args.quick:
        args.repeats = min(args.repeats, 2)
    if args.torch and not common.torch_available():
        print(common.TORCH_MISSING)
        args.torch = False
    info = common.machine_info()
    rows = []
    for arch in args.models:
        skip_variants = args.no_variants or (args.variant_models is not None and arch not in args.variant_models)
        arch_args = argparse.Namespace(**{**vars(args), "no_variants": skip_variants})
        for row in run_arch(arch, arch_args):
            row["input"] = f"{row['height']}x{row['width']}"
            rows.append(row)
        common.print_table(f"Training step ({arch})", [r for r in rows if r["arch"] == arch], COLUMNS)
    common.print_table("Training step, all models", rows, COLUMNS)
    name = args.name or ("train_step_quick" if args.quick else "train_step")
    print("wrote", common.write_results(name, {"machine": info, "quick": args.quick, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
