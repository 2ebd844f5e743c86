# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Real-data check on the 258 mini-MIAS images (CPU-feasible sizes).

    python examples/mini_mias_check.py --src ~/data/mini_mias_258.tar.xz --out data/mini_mias_check

1. ``prepare mini-mias``: extract the archive, read Info.txt, circular ROI masks, 16-bit PNGs at
   ``--size``, patient-level 85/15 train/test split with 10% of training patients as validation;
2. a second manifest with label = abnormal (benign or malignant) vs normal;
3. s``N`` patch sets (lesion patches + normal-tissue background patches);
4. patch classifier (5 classes; reported as lesion vs normal tissue: accuracy and AUC of
   1 - P(background), bootstrap 95% CI);
5. whole-image classifier abnormal vs normal (test AUC, bootstrap 95% CI, with TTA);
writes ``<out>/mini_mias_report.json``.

The two training runs are configured by the experiment files mini_mias_patch and
mini_mias_whole (mammo_tf/experiments/*.json); --backbone, --size, --patch-epochs and
--whole-epochs override them.
"""
import argparse
import os
import time

import numpy as np

from mammo_tf.training.schedule import load_experiment
from mammo_tf.utils import write_json_atomic

PATCH_EXPERIMENT, WHOLE_EXPERIMENT = "mini_mias_patch", "mini_mias_whole"


def experiment_config(config_cls, experiment, **values):
    """``config_cls`` from the shipped experiment file plus ``values`` (None values skipped:
    the file's setting stays), checked like ``--config NAME``."""
    from mammo_tf.training.config import config_from_dict, load_config_file

    options = load_config_file(experiment, config_cls)
    options.update({k: v for k, v in values.items() if v is not None})
    return config_from_dict(config_cls, options, f"experiment {experiment}")


def abnormal_manifest(manifest, path):
    """Copy of ``manifest`` (same folder) with label = 1 for any lesion (benign or malignant)."""
    from mammo_tf.datasets.manifest import read_manifest, write_manifest

    rows = read_manifest(manifest)
    for row in rows:
        row["label"] = int(row["pathology"] != "NORMAL")
    write_manifest(path, rows)
    return path


def lesion_vs_normal(patch_run, test_h5, batch_size=64):
    """Patch test metrics for lesion (any lesion class) vs normal tissue (background)."""
    from mammo_tf import evaluate
    from mammo_tf.shen.data import PatchDataset
    from mammo_tf.training.metrics import predict_dataset
    from mammo_tf.runs import load_run

    loaded = load_run(patch_run)
    model, run = loaded.model, loaded.run
    dataset = PatchDataset(test_h5, batch_size=batch_size, pixel_mean=loaded.info.pixel_mean,
                           class_balanced=False, shuffle=False)
    y, probs = predict_dataset(model, dataset)
    lesion = (y != 0).astype(int)
    score = 1.0 - probs[:, 0]
    auc, lo, hi = evaluate.bootstrap_auc_ci(lesion, score)
    evaluate.plot_roc(run.file("roc_lesion_vs_normal.png"), {"lesion vs normal tissue": (lesion, score)})
    return {"n_patches": int(len(y)), "n_lesion": int(lesion.sum()),
            "accuracy": float(np.mean((probs.argmax(axis=1) != 0) == lesion)),
            "auc": auc, "auc_ci95": [lo, hi]}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="examples/mini_mias_check.py",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", required=True,
                        help="mini-MIAS archive (mini_mias_258.tar.xz) or extracted folder")
    parser.add_argument("--out", default="data/mini_mias_check", help="work folder (default: %(default)s)")
    parser.add_argument("--size", type=int, nargs=2,
                        default=load_experiment(WHOLE_EXPERIMENT)["image_size"],
                        help=f"whole-image size H W (default: %(default)s, {WHOLE_EXPERIMENT})")
    parser.add_argument("--patch-size", type=int, default=48, help="(default: %(default)s)")
    parser.add_argument("--set", default="s5", help="patch set sN (default: %(default)s)")
    parser.add_argument("--backbone", default=load_experiment(PATCH_EXPERIMENT)["backbone"],
                        choices=("vgg16", "vgg19", "resnet50"),
                        help=f"(default: %(default)s, {PATCH_EXPERIMENT})")
    parser.add_argument("--patch-epochs", type=int, nargs=3,
                        help=f"epochs of the 3 patch stages (default: {PATCH_EXPERIMENT}'s)")
    parser.add_argument("--whole-epochs", type=int, nargs=2,
                        help=f"epochs of the 2 whole-image stages (default: {WHOLE_EXPERIMENT}'s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from mammo_tf.utils import setup_logging

    setup_logging()  # the library's stage/epoch reports, as the commands show them
    if not os.path.exists(args.src):
        parser.error(f"--src {args.src} not found")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mammo_tf.datasets.prepare import prepare
    from mammo_tf.shen.patches.patch_set import make_patch_set
    from mammo_tf.shen.train_patch import PatchConfig, train_patch_classifier
    from mammo_tf.shen.train_whole import WholeConfig, train_whole_image_classifier

    start = time.time()
    out = os.path.abspath(args.out)
    data_dir, runs = os.path.join(out, "prepared"), os.path.join(out, "runs")
    manifest = os.path.join(data_dir, "manifest.csv")
    if not os.path.isfile(manifest):
        manifest, report = prepare("mini-mias", args.src, data_dir, size=tuple(args.size), seed=args.seed)
        print(report.summary())
    manifest_abn = abnormal_manifest(manifest, os.path.join(data_dir, "manifest_abnormal.csv"))
    patches = os.path.join(out, "patches")
    if not os.path.isfile(os.path.join(patches, "test.h5")):
        make_patch_set(manifest, patches, set_name=args.set, patch_size=args.patch_size, seed=args.seed)
    h5 = {s: os.path.join(patches, f"{s}.h5") for s in ("train", "val", "test")}

    def run_once(pipeline, config):
        run = os.path.join(runs, config.name)
        resume = run if os.path.isfile(os.path.join(run, "state.json")) else None
        pipeline(config, resume=resume)
        return run

    patch_config = experiment_config(
        PatchConfig, PATCH_EXPERIMENT, train_h5=[h5["train"]], val_h5=[h5["val"]],
        test_h5=[h5["test"]], backbone=args.backbone, epochs=args.patch_epochs, runs_dir=runs,
        name="patch", seed=args.seed)
    if args.backbone != load_experiment(PATCH_EXPERIMENT)["backbone"]:
        # the file's stage 2 starts at its backbone's boundary layer; use this backbone's
        from mammo_tf.shen.backbones import UNFREEZE_FROM

        patch_config.unfreeze_from = UNFREEZE_FROM[args.backbone]
    patch_run = run_once(train_patch_classifier, patch_config)
    whole_run = run_once(train_whole_image_classifier, experiment_config(
        WholeConfig, WHOLE_EXPERIMENT,
        patch_model=os.path.join(patch_run, "checkpoints", "best.keras"), manifest=manifest_abn,
        image_size=list(args.size), epochs=args.whole_epochs, runs_dir=runs, name="whole",
        seed=args.seed))

    import json

    patch_metrics = json.load(open(os.path.join(patch_run, "metrics.json")))
    whole_metrics = json.load(open(os.path.join(whole_run, "metrics.json")))
    report = {
        "settings": dict(vars(args), experiments=[PATCH_EXPERIMENT, WHOLE_EXPERIMENT]),
        "patch_5class_accuracy": patch_metrics["test_accuracy"],
        "patch_5class_auc_ovr_macro": patch_metrics["test_auc_ovr_macro"],
        "patch_lesion_vs_normal": lesion_vs_normal(patch_run, h5["test"]),
        "whole_abnormal_vs_normal": {k: whole_metrics.get(k) for k in (
            "test_n", "test_n_positive", "test_auc", "test_auc_ci95", "test_auc_tta",
            "test_auc_tta_ci95", "best_epoch", "best_val_auc")},
        "seconds": round(time.time() - start, 1),
    }
    path = os.path.join(out, "mini_mias_report.json")
    write_json_atomic(path, report)
    print(json.dumps(report, indent=2))
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
