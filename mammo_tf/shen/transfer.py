# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Transfer to another database (paper section 3): finetune a whole-image classifier on a
manifest without ROI annotations (lr 1e-6, L2 0.01, up to 200 epochs, early stopping), and the
transfer-efficiency series: one model per subset of n training patients, same validation set,
an AUC table (CSV) and a plot (PNG)."""
import csv
import dataclasses
import logging
import os

from mammo_tf.training.config import REQUIRED, CommonConfig, option
from mammo_tf.errors import UsageError
from mammo_tf.runs import RunFolder, load_keras_model
from mammo_tf.shen.train_whole import (baseline_datasets, compare_with_baseline, evaluate_whole,
                                       find_patch_run, patch_baseline, test_split_report)
from mammo_tf.utils import atomic_path, lazy_module

# Keras-heavy modules load on first use: the command line imports this module for its config
# class, and --help / argument errors must not wait for TensorFlow.
data = lazy_module("mammo_tf.shen.data")
common = lazy_module("mammo_tf.training.common")

TABLE_COLUMNS = ("patients", "train_images", "best_epoch", "val_auc", "test_auc",
                 "test_auc_ci_low", "test_auc_ci_high", "test_auc_tta")

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class TransferConfig(CommonConfig):
    """Configuration of ``transfer_inbreast.py``; defaults are the paper's."""

    model: str = option(REQUIRED, "whole-image classifier to finetune (.keras, e.g. "
                        "runs/<whole run>/checkpoints/best.keras)")
    manifest: str = option(REQUIRED, "manifest of the target database (python -m "
                           "mammo_tf.datasets prepare inbreast ...) with train/val/test splits")
    image_size: list | None = option(None, "input size height width (default: the model's)",
                                     nargs=2, type=int)
    learning_rate: float | None = option(None, "learning rate (Adam) of the finetuning stage "
                                         "(default: the schedule's, experiments/"
                                         "transfer_inbreast.json: 1e-6)")
    l2: float | None = option(None, "L2 weight decay of the top blocks and output layer "
                              "(default: the schedule's, 1e-2)")
    epochs: int | None = option(None, "maximum number of epochs, early stopping on the "
                                "validation loss (default: the schedule's, 200)")
    batch_size: int = option(2, "batch size")
    augment: bool = option(True, "random flips/rotation/shear/zoom/channel shift while training")
    class_balanced: bool = option(True, "per-batch class-balancing sample weights")
    tta: bool = option(True, "also report the test AUC with 4-flip test-time augmentation")
    patients: list | None = option(None, "transfer-efficiency series: finetune one model per "
                                   "number of training patients (e.g. 20 30 40 50 60), same "
                                   "validation set", nargs="+", type=int)
    subset_seed: int = option(0, "seed of the patient subsets (nested: the 20 are among the 30)")
    validate_initial: bool = option(True, "validate the source model on the target's validation "
                                    "split before finetuning; it competes for the best "
                                    "checkpoint as epoch 0")
    patch_baseline: bool = option(True, "report the patch baseline (the source's patch classifier "
                                  "slid over the val/test images) beside the model")
    baseline_stride: int | None = option(None, "window stride of the patch baseline in pixels "
                                         "(default: a quarter of the patch size)")


# Scalar flags -> the Stage field each overrides; they fit a one-stage schedule only (a
# multi-stage ``stages`` list in the config is length-checked against them).
STAGE_FLAGS = {"learning_rate": "learning_rate", "l2": "l2", "epochs": "epochs"}


def transfer_stages(config):
    """The finetuning schedule: the config's ``stages`` (default: the ``transfer_inbreast``
    experiment file), then ``--learning-rate`` / ``--l2`` / ``--epochs``."""
    from mammo_tf.shen.stages import transfer_stages as paper_stages
    from mammo_tf.training.schedule import resolve_stages

    return resolve_stages(config, None if config.stages else paper_stages(), STAGE_FLAGS)


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


def finetune(config, run, manifest, pixel_mean, strategy, resume, callbacks=(), source=None,
             pixel_mean_source=None):
    """One finetuning run in ``run``; returns its metrics (also written to metrics.json).

    ``source``: the ``LoadedRun`` of ``config.model`` (default: loaded here); its weights are
    reloaded for every run so each subset of a series starts from the same model."""
    if run.is_finished():
        return run.read_metrics()
    rows = data.check_manifest(manifest, splits=("train",))
    val_split, test_split = _splits(rows, manifest)
    source = source or load_source(config)
    model = None
    if not os.path.exists(run.state):
        with common.scope(strategy):
            model = common.float32_output(load_keras_model(source.model_path))
        write_transfer_info(run, model, source, pixel_mean, pixel_mean_source, manifest)
    size = config.image_size or source.info.input_size
    train = data.whole_image_dataset(manifest, "train", pixel_mean, config.batch_size, size,
                                     training=True, seed=config.seed, augment=config.augment,
                                     class_balanced=config.class_balanced, workers=config.workers)
    val = data.whole_image_dataset(manifest, val_split, pixel_mean, config.batch_size, size,
                                   training=False, workers=config.workers)
    from mammo_tf.training.runner import StageRunner

    options = dataclasses.replace(common.training_options(config),
                                  validate_initial=config.validate_initial)
    result = StageRunner(run, transfer_stages(config), train, val, options, strategy,
                         callbacks).train(model)
    from mammo_tf.training.environment import end_processes

    if not end_processes():  # several processes: process 0 evaluates and exports alone
        return None
    best = load_keras_model(run.best_model)
    test = data.whole_image_dataset(manifest, test_split, pixel_mean, config.batch_size, size,
                                    training=False, workers=config.workers)
    metrics = {"pipeline": "transfer", "model": config.model, "manifest": os.fspath(manifest),
               "validation_split": val_split, "evaluated_on": test_split,
               "train_images": sum(r["split"] == "train" for r in rows),
               "pixel_mean": pixel_mean, "best_epoch": result.best_epoch,
               "best_val_auc": result.best_val_auc, "completed_epochs": result.completed_epochs,
               "initial_val_auc": (result.initial_val or {}).get("auc")}
    test_predictions = {}
    metrics.update(evaluate_whole(best, test, run, tta=config.tta, seed=config.seed,
                                  predictions=test_predictions))
    if test_predictions:
        metrics["screening_report"] = test_split_report(
            best, run, val if val_split != test_split else None, test, test_predictions, manifest,
            tta=config.tta, seed=config.seed)
    patch_run = find_patch_run(source) if config.patch_baseline else None
    if patch_run is not None:
        metrics["patch_baseline"] = patch_baseline(
            patch_run.model, patch_run.info.classes,
            baseline_datasets(patch_run, manifest, {"val": val_split, "test": test_split}, size,
                              config.batch_size, config.workers),
            stride=config.baseline_stride, seed=config.seed)
        compare_with_baseline(metrics, metrics["patch_baseline"])
    elif config.patch_baseline:
        logger.warning("%s records no patch classifier: no patch baseline", source.model_path)
    if config.export:
        common.export_model(run, run.best_model, pixel_mean)
    run.write_metrics(metrics)
    return metrics


def load_source(config):
    """The whole-image run ``--model`` names (run folder or .keras inside one), kind-checked
    from its run.json."""
    source = common.require_kind(common.load_run(config.model, "--model"),
                                 ("whole_top", "whole_heatmap"), "--model",
                                 "not a whole-image classifier (train one with train_whole.py)")
    if not str(source.model_path).endswith(".keras"):  # a SavedModel cannot be trained on
        raise UsageError(f"--model {config.model}: finetuning needs the .keras model (its run "
                         "folder), not a SavedModel")
    return source


def write_transfer_info(run, model, source, pixel_mean, pixel_mean_source, manifest):
    """run.json of a finetuning run: the source's kind and classes, the target's data."""
    return common.write_run_info(
        run, model, source.info.kind, classes=source.info.classes, pixel_mean=pixel_mean,
        pixel_mean_source=pixel_mean_source, backbone=source.info.backbone,
        training_data={"manifest": os.fspath(manifest), "finetuned_from": source.model_path},
        details={**source.info.details, "transfer": True})


def write_series(run, results):
    """AUC table CSV and AUC-vs-patients plot of the transfer-efficiency series."""
    from mammo_tf.evaluate import pyplot, save_figure

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
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ns = [n for n, m in results if m.get("test_auc") is not None]
    aucs = [m["test_auc"] for _, m in results if m.get("test_auc") is not None]
    # a percentile-bootstrap CI need not contain the point estimate (tiny test sets): clip at 0
    lows = [max(0.0, m["test_auc"] - m["test_auc_ci95"][0]) for _, m in results if m.get("test_auc") is not None]
    highs = [max(0.0, m["test_auc_ci95"][1] - m["test_auc"]) for _, m in results if m.get("test_auc") is not None]
    ax.errorbar(ns, aucs, yerr=[lows, highs], marker="o", capsize=3, label="test AUC (95% CI)")
    ax.set_xlabel("training patients")
    ax.set_ylabel("AUC")
    ax.set_ylim(0, 1.02)
    ax.set_title("transfer efficiency")
    ax.legend(loc="lower right")
    save_figure(fig, run.file("transfer_efficiency.png"))
    return table


def transfer(config, resume=None, callbacks=()):
    """Finetune once, or the series with ``config.patients``; returns the metrics dict."""
    stages = transfer_stages(config)  # schedule errors before any file is read
    rows = data.check_manifest(config.manifest, splits=("train",))
    _splits(rows, config.manifest)
    source = load_source(config)
    run = common.open_run(config, "transfer", resume, stages)
    if run.is_finished() and not config.patients:
        logger.info("%s: run already finished; nothing to do", run.path)
        return run.read_metrics()
    from mammo_tf.training.environment import process_count

    if config.patients and process_count() > 1:
        raise UsageError("--patients (a series of finetunings) runs in one process; train each "
                         "subset with several processes as its own run")
    strategy = common.prepare_environment(config)
    # a series folder has no state.json of its own: its run.json marks it as started
    pixel_mean, pixel_mean_source = common.resolve_pixel_mean(
        run=run, resume=bool(resume) or run.has_info(), given=config.pixel_mean, parent=source,
        compute=lambda: data.pixel_mean_of(config.manifest, "train",
                                           config.image_size or source.info.input_size),
        compute_source=f"compute_pixel_mean({config.manifest}, train)")
    if not config.patients:
        metrics = finetune(config, run, config.manifest, pixel_mean, strategy, resume, callbacks,
                           source, pixel_mean_source)
        common.print_report(run, metrics, ("test_auc", "test_auc_ci95", "test_auc_tta", "best_epoch",
                                           "beats_patch_baseline"))
        return metrics
    if not run.has_info():  # the series' pixel mean, read back on --resume
        write_transfer_info(run, source.model, source, pixel_mean, pixel_mean_source,
                            config.manifest)
    results = []
    for n in config.patients:
        sub = RunFolder(run.file(f"patients_{n:03d}"))
        if not os.path.exists(sub.config):
            sub.write_config(dict(run.read_config(), patients=n))
        manifest, _ = _subset_manifest(config.manifest, n, config.subset_seed,
                                       sub.file("manifest.csv"))
        logger.info("\n=== transfer with %d training patients (%s) ===", n, sub.path)
        results.append((n, finetune(config, sub, manifest, pixel_mean, strategy, resume, callbacks,
                                    source, pixel_mean_source)))
    table = write_series(run, results)
    metrics = {"pipeline": "transfer_series", "patients": list(config.patients),
               "table": table, "runs": {str(n): m for n, m in results}}
    if results and results[-1][1].get("test_auc") is not None:
        # the folder's ROC curve / SavedModel are those of the largest subset
        import shutil

        last = RunFolder(run.file(f"patients_{results[-1][0]:03d}"))
        shutil.copyfile(last.roc_png, run.roc_png)
    run.write_metrics(metrics)
    logger.info("\n".join([f"\ntransfer-efficiency table: {table}",
                           f"plot: {run.file('transfer_efficiency.png')}"]
                          + [f"  {n} patients: test AUC {m.get('test_auc')}" for n, m in results]))
    return metrics
