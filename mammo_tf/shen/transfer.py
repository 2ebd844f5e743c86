# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Transfer to another database (paper section 3): finetune a whole-image classifier on a
manifest without ROI annotations (lr 1e-6, L2 0.01, up to 200 epochs, early stopping), and the
transfer-efficiency series: one model per subset of n training patients, same validation set,
an AUC table (CSV) and a plot (PNG)."""
import csv
import dataclasses
import logging
import os
import shutil

from mammo_tf.datasets.manifest import resolve_path, write_manifest
from mammo_tf.datasets.splits import draw_patient_subset
from mammo_tf.errors import UsageError
from mammo_tf.evaluate import pyplot, save_figure
from mammo_tf.runs import RunFolder, load_keras_model
from mammo_tf.models.trainability import float32_output
from mammo_tf.shen import data
from mammo_tf.shen.config import TRANSFER_STAGE_FLAGS
from mammo_tf.shen.stages import transfer_stages as paper_stages
from mammo_tf.shen.train_whole import (WholePipeline, add_patch_baseline, evaluate_test_split,
                                       find_patch_run)
from mammo_tf.training import common
from mammo_tf.training.environment import process_count
from mammo_tf.training.pipeline import run_pipeline, train_and_evaluate
from mammo_tf.training.schedule import resolve_stages
from mammo_tf.utils import atomic_path

TABLE_COLUMNS = ("patients", "train_images", "best_epoch", "val_auc", "test_auc",
                 "test_auc_ci_low", "test_auc_ci_high", "test_auc_tta")

logger = logging.getLogger(__name__)


def transfer_stages(config):
    """The finetuning schedule: the config's ``stages`` (default: the ``transfer_inbreast``
    experiment file), then ``--learning-rate`` / ``--l2`` / ``--epochs``."""
    return resolve_stages(config, None if config.stages else paper_stages(), TRANSFER_STAGE_FLAGS)


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
    try:
        rows = draw_patient_subset(manifest, n, seed=seed)
    except ValueError as exc:
        raise UsageError(f"--patients {n}: {exc}") from None
    for row in rows:
        row["image_path"] = resolve_path(manifest, row["image_path"])
        row["roi_mask_paths"] = [resolve_path(manifest, p) for p in row["roi_mask_paths"]]
    write_manifest(path, rows)
    return path, sum(r["split"] == "train" for r in rows)


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


def transfer_info(source, pixel_mean, pixel_mean_source, manifest):
    """run.json fields of a finetuning run: the source's kind and classes, the target's data."""
    return dict(kind=source.info.kind, classes=source.info.classes, pixel_mean=pixel_mean,
                pixel_mean_source=pixel_mean_source, backbone=source.info.backbone,
                training_data={"manifest": os.fspath(manifest),
                               "finetuned_from": source.model_path},
                details={**source.info.details, "transfer": True})


def write_series(run, results):
    """AUC table CSV and AUC-vs-patients plot of the transfer-efficiency series."""
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


class TransferPipeline(WholePipeline):
    """Section 3: finetune a whole-image classifier on another database with image-level
    labels only (one stage; early stopping with --patience), or the transfer-efficiency series (one such run
    per number of training patients, in subfolders of the run)."""

    name = "transfer"

    def __init__(self, config, manifest=None, source=None):
        super().__init__(config)
        self.manifest = config.manifest if manifest is None else manifest
        self.source = source

    def validate(self):
        config = self.config
        stages = transfer_stages(config)  # schedule errors before any file is read
        rows = data.check_manifest(config.manifest, splits=("train",))
        _splits(rows, config.manifest)
        self.source = load_source(config)
        return stages

    def is_finished(self, run):
        # a finished series is gone through again: its finished runs are read back
        return run.is_finished() and not self.config.patients

    def check_run(self, ctx):
        if self.config.patients and process_count() > 1:
            raise UsageError("--patients (a series of finetunings) runs in one process; train "
                             "each subset with several processes as its own run")

    def pixel_mean(self, ctx):
        config, source = self.config, self.source
        # a series folder has no state.json of its own: its run.json marks it as started.
        # Shen 3.1: "We use exactly the same processing steps on the INbreast images as the
        # DDSM images": by default the mean of the target's own training images (the authors'
        # code: 44.33 for INbreast); --pixel-mean-from source reuses the source run's.
        return common.resolve_pixel_mean(
            run=ctx.run, resume=ctx.resumed or ctx.run.has_info(), given=config.pixel_mean,
            parent=source if getattr(config, "pixel_mean_from", "target") == "source" else None,
            compute=lambda: data.pixel_mean_of(config.manifest, "train",
                                               config.image_size or source.info.input_size),
            compute_source=f"compute_pixel_mean({config.manifest}, train)")

    def datasets(self, ctx):
        config = self.config
        self.rows = data.check_manifest(self.manifest, splits=("train",))
        self.val_split, self.test_split = _splits(self.rows, self.manifest)
        self.size = config.image_size or self.source.info.input_size
        train = data.whole_image_dataset(self.manifest, "train", ctx.pixel_mean,
                                         config.batch_size, self.size, training=True,
                                         seed=config.seed, augment=config.augment,
                                         class_balanced=config.class_balanced,
                                         workers=config.workers)
        val = data.whole_image_dataset(self.manifest, self.val_split, ctx.pixel_mean,
                                       config.batch_size, self.size, training=False,
                                       workers=config.workers)
        return train, val

    def build_model(self, ctx):
        return float32_output(load_keras_model(self.source.model_path))

    def run_info(self, ctx, model):
        return transfer_info(self.source, ctx.pixel_mean, ctx.pixel_mean_source,
                             self.manifest)

    def evaluate(self, ctx, best):
        config, result, source = self.config, ctx.result, self.source
        val_split, test_split, size = self.val_split, self.test_split, self.size
        test = data.whole_image_dataset(self.manifest, test_split, ctx.pixel_mean,
                                        config.batch_size, size, training=False,
                                        workers=config.workers)
        metrics = {"pipeline": "transfer", "model": config.model,
                   "manifest": os.fspath(self.manifest), "validation_split": val_split,
                   "evaluated_on": test_split,
                   "train_images": sum(r["split"] == "train" for r in self.rows),
                   "pixel_mean": ctx.pixel_mean, "best_epoch": result.best_epoch,
                   "best_val_auc": result.best_val_auc,
                   "completed_epochs": result.completed_epochs,
                   "initial_val_auc": (result.initial_val or {}).get("auc")}
        metrics.update(evaluate_test_split(
            best, ctx.run, ctx.val if val_split != test_split else None, test, self.manifest,
            tta=config.tta, seed=config.seed))
        patch_run = find_patch_run(source) if config.patch_baseline else None
        if patch_run is not None:
            add_patch_baseline(metrics, patch_run, self.manifest,
                               {"val": val_split, "test": test_split}, size, config)
        elif config.patch_baseline:
            logger.warning("%s records no patch classifier: no patch baseline",
                           source.model_path)
        return metrics

    def report(self, ctx, metrics):
        if not self.config.patients:
            return super().report(ctx, metrics)
        logger.info("\n".join([f"\ntransfer-efficiency table: {metrics['table']}",
                               f"plot: {ctx.run.file('transfer_efficiency.png')}"]
                              + [f"  {n} patients: test AUC {m.get('test_auc')}"
                                 for n, m in metrics["runs"].items()]))

    def train(self, ctx, callbacks=()):
        if not self.config.patients:
            return train_and_evaluate(self, ctx, callbacks)
        return self.train_series(ctx, callbacks)

    def train_series(self, ctx, callbacks=()):
        """One finetuning run per ``config.patients`` in ``<run>/patients_<n>`` (each on its
        nested subset of training patients), then the table and plot of their AUCs."""
        config, run = self.config, ctx.run
        if not run.has_info():  # the series' pixel mean, read back on --resume
            info = transfer_info(self.source, ctx.pixel_mean,
                                 ctx.pixel_mean_source, config.manifest)
            common.write_run_info(run, self.source.model, info.pop("kind"), **info)
        results = []
        for n in config.patients:
            sub = RunFolder(run.file(f"patients_{n:03d}"))
            if not os.path.exists(sub.config):
                sub.write_config(dict(run.read_config(), patients=n))
            manifest, _ = _subset_manifest(config.manifest, n, config.subset_seed,
                                           sub.file("manifest.csv"))
            logger.info("\n=== transfer with %d training patients (%s) ===", n, sub.path)
            if sub.is_finished():
                results.append((n, sub.read_metrics()))
                continue
            subset = TransferPipeline(config, manifest, self.source)
            results.append((n, train_and_evaluate(
                subset, dataclasses.replace(ctx, run=sub, train=None, val=None, result=None),
                callbacks)))
        table = write_series(run, results)
        metrics = {"pipeline": "transfer_series", "patients": list(config.patients),
                   "table": table, "runs": {str(n): m for n, m in results}}
        if results and results[-1][1].get("test_auc") is not None:
            # the folder's ROC curve / SavedModel are those of the largest subset
            last = RunFolder(run.file(f"patients_{results[-1][0]:03d}"))
            shutil.copyfile(last.roc_png, run.roc_png)
        run.write_metrics(metrics)
        return metrics


def transfer(config, resume=None, callbacks=()):
    """Finetune once, or the series with ``config.patients``; returns the metrics dict."""
    return run_pipeline(TransferPipeline(config), resume, callbacks)
