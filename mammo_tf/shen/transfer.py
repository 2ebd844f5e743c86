# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Transfer to another database (paper section 3): finetune a whole-image classifier on a
manifest without ROI annotations (lr 1e-6, L2 0.01, up to 200 epochs, early stopping), and the
transfer-efficiency series: one model per subset of n training patients, same validation set,
an AUC table (CSV) and a plot (PNG)."""
import csv
import dataclasses
import os

from mammo_tf.shen import data
from mammo_tf.training import common
from mammo_tf.training.config import REQUIRED, CommonConfig, UsageError, option
from mammo_tf.runs import RunFolder
from mammo_tf.training.runner import StageRunner
from mammo_tf.shen.train_whole import evaluate_whole
from mammo_tf.utils import atomic_path

TABLE_COLUMNS = ("patients", "train_images", "best_epoch", "val_auc", "test_auc",
                 "test_auc_ci_low", "test_auc_ci_high", "test_auc_tta")


@dataclasses.dataclass
class TransferConfig(CommonConfig):
    """Configuration of ``transfer_inbreast.py``; defaults are the paper's."""

    model: str = option(REQUIRED, "whole-image classifier to finetune (.keras, e.g. "
                        "runs/<whole run>/checkpoints/best.keras)")
    manifest: str = option(REQUIRED, "manifest of the target database (python -m "
                           "mammo_tf.datasets prepare inbreast ...) with train/val/test splits")
    image_size: list | None = option(None, "input size height width (default: the model's)",
                                     nargs=2, type=int)
    learning_rate: float = option(1e-6, "learning rate (Adam)")
    l2: float = option(1e-2, "L2 weight decay (applied to the top blocks and output layer)")
    epochs: int = option(200, "maximum number of epochs (early stopping on validation loss)")
    batch_size: int = option(2, "batch size")
    augment: bool = option(True, "random flips/rotation/shear/zoom/channel shift while training")
    class_balanced: bool = option(True, "per-batch class-balancing sample weights")
    tta: bool = option(True, "also report the test AUC with 4-flip test-time augmentation")
    patients: list | None = option(None, "transfer-efficiency series: finetune one model per "
                                   "number of training patients (e.g. 20 30 40 50 60), same "
                                   "validation set", nargs="+", type=int)
    subset_seed: int = option(0, "seed of the patient subsets (nested: the 20 are among the 30)")


def transfer_stages(config):
    from mammo_tf.shen import TRANSFER_STAGES

    return [dataclasses.replace(TRANSFER_STAGES[0], learning_rate=config.learning_rate,
                                l2=config.l2, epochs=config.epochs)]


def _splits(rows, manifest):
    present = {r["split"] for r in rows}
    if "train" not in present:
        raise UsageError(f"{manifest}: no images in the 'train' split")
    if not {"val", "test"} & present:
        raise UsageError(f"{manifest}: needs a 'val' or 'test' split besides 'train'")
    val = "val" if "val" in present else "test"
    test = "test" if "test" in present else "val"
    return val, test


def _subset_manifest(manifest, n, seed, path):
    """The manifest restricted to ``n`` training patients, paths made absolute."""
    from mammo_tf.datasets.manifest import resolve_path, write_manifest
    from mammo_tf.datasets.splits import draw_patient_subset

    try:
        rows = draw_patient_subset(manifest, n, seed=seed)
    except ValueError as exc:
        raise UsageError(f"--patients {n}: {exc}") from None
    for row in rows:
        row["image_path"] = resolve_path(manifest, row["image_path"])
        row["roi_mask_paths"] = [resolve_path(manifest, p) for p in row["roi_mask_paths"]]
    write_manifest(path, rows)
    return path, sum(r["split"] == "train" for r in rows)


def finetune(config, run, manifest, pixel_mean, strategy, resume, callbacks=()):
    """One finetuning run in ``run``; returns its metrics (also written to metrics.json)."""
    if run.is_finished():
        return run.read_metrics()
    rows = data.check_manifest(manifest, splits=("train",))
    val_split, test_split = _splits(rows, manifest)
    run.write_pixel_mean(pixel_mean, "transfer run")
    model = None
    if not os.path.exists(run.state):
        with common.scope(strategy):
            model = common.float32_output(common.load_model_file(config.model, "model"))
    size = config.image_size or list((model or common.load_model_file(config.model, "model"))
                                     .input_shape[1:3])
    train = data.whole_image_dataset(manifest, "train", pixel_mean, config.batch_size, size,
                                     training=True, seed=config.seed, augment=config.augment,
                                     class_balanced=config.class_balanced, workers=config.workers)
    val = data.whole_image_dataset(manifest, val_split, pixel_mean, config.batch_size, size,
                                   training=False, workers=config.workers)
    result = StageRunner(run, transfer_stages(config), train, val,
                         common.training_options(config), strategy, callbacks).train(model)
    best = common.load_model_file(run.best_model, "best checkpoint")
    test = data.whole_image_dataset(manifest, test_split, pixel_mean, config.batch_size, size,
                                    training=False, workers=config.workers)
    metrics = {"pipeline": "transfer", "model": config.model, "manifest": os.fspath(manifest),
               "validation_split": val_split, "evaluated_on": test_split,
               "train_images": sum(r["split"] == "train" for r in rows),
               "pixel_mean": pixel_mean, "best_epoch": result.best_epoch,
               "best_val_auc": result.best_val_auc, "completed_epochs": result.completed_epochs}
    metrics.update(evaluate_whole(best, test, run, tta=config.tta, seed=config.seed))
    if config.export:
        common.export_model(run, run.best_model, pixel_mean)
    run.write_metrics(metrics)
    return metrics


def write_series(run, results):
    """AUC table CSV and AUC-vs-patients plot of the transfer-efficiency series."""
    from mammo_tf.evaluate import _pyplot, _save_figure

    table = run.file("transfer_efficiency.csv")
    with atomic_path(table) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=TABLE_COLUMNS)
            writer.writeheader()
            for n, m in results:
                ci = m.get("test_auc_ci95") or [None, None]
                writer.writerow({"patients": n, "train_images": m["train_images"],
                                 "best_epoch": m["best_epoch"], "val_auc": m["best_val_auc"],
                                 "test_auc": m.get("test_auc"), "test_auc_ci_low": ci[0],
                                 "test_auc_ci_high": ci[1], "test_auc_tta": m.get("test_auc_tta")})
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ns = [n for n, m in results if m.get("test_auc") is not None]
    aucs = [m["test_auc"] for _, m in results if m.get("test_auc") is not None]
    lows = [m["test_auc"] - m["test_auc_ci95"][0] for _, m in results if m.get("test_auc") is not None]
    highs = [m["test_auc_ci95"][1] - m["test_auc"] for _, m in results if m.get("test_auc") is not None]
    ax.errorbar(ns, aucs, yerr=[lows, highs], marker="o", capsize=3, label="test AUC (95% CI)")
    ax.set_xlabel("training patients")
    ax.set_ylabel("AUC")
    ax.set_ylim(0, 1.02)
    ax.set_title("transfer efficiency")
    ax.legend(loc="lower right")
    _save_figure(fig, run.file("transfer_efficiency.png"))
    return table


def transfer(config, resume=None, callbacks=()):
    """Finetune once, or the series with ``config.patients``; returns the metrics dict."""
    rows = data.check_manifest(config.manifest, splits=("train",))
    _splits(rows, config.manifest)
    model_file = config.model
    model = common.load_model_file(model_file, "model")
    names = {layer.name for layer in model.layers}
    if not (any(n.startswith("top1_") for n in names) or "heatmap" in names):
        raise UsageError(f"{model_file}: not a whole-image classifier (train it with train_whole.py)")
    if config.epochs < 1 or config.learning_rate < 0:
        raise UsageError("--epochs must be >= 1 and --learning-rate >= 0")
    run = common.open_run(config, "transfer", resume, transfer_stages(config))
    if run.is_finished() and not config.patients:
        print(f"{run.path}: run already finished; nothing to do")
        return run.read_metrics()
    strategy = common.prepare_environment(config)
    if os.path.exists(run.pixel_mean_file):
        pixel_mean = run.read_pixel_mean()
    else:
        pixel_mean = config.pixel_mean
        if pixel_mean is None:
            size = config.image_size or model.input_shape[1:3]
            pixel_mean = data.pixel_mean_of(config.manifest, "train", size)
        run.write_pixel_mean(pixel_mean, "--pixel-mean" if config.pixel_mean is not None
                             else f"compute_pixel_mean({config.manifest}, train)")
    del model
    if not config.patients:
        metrics = finetune(config, run, config.manifest, pixel_mean, strategy, resume, callbacks)
        common.print_report(run, metrics, ("test_auc", "test_auc_ci95", "test_auc_tta", "best_epoch"))
        return metrics
    results = []
    for n in config.patients:
        sub = RunFolder(run.file(f"patients_{n:03d}"))
        if not os.path.exists(sub.config):
            sub.write_config(dict(run.read_config(), patients=n))
        manifest, _ = _subset_manifest(config.manifest, n, config.subset_seed,
                                       sub.file("manifest.csv"))
        print(f"\n=== transfer with {n} training patients ({sub.path}) ===", flush=True)
        results.append((n, finetune(config, sub, manifest, pixel_mean, strategy, resume, callbacks)))
    table = write_series(run, results)
    metrics = {"pipeline": "transfer_series", "patients": list(config.patients),
               "table": table, "runs": {str(n): m for n, m in results}}
    if results and results[-1][1].get("test_auc") is not None:
        # the folder's ROC curve / SavedModel are those of the largest subset
        import shutil

        last = RunFolder(run.file(f"patients_{results[-1][0]:03d}"))
        shutil.copyfile(last.roc_png, run.roc_png)
    run.write_metrics(metrics)
    print(f"\ntransfer-efficiency table: {table}\nplot: {run.file('transfer_efficiency.png')}")
    for n, m in results:
        print(f"  {n} patients: test AUC {m.get('test_auc')}")
    return metrics
