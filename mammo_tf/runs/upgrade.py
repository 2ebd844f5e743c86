# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Upgrade of run folders written before ``run.json`` existed (``python -m mammo_tf.runs
upgrade RUN_DIR``): the RunInfo is rebuilt from config.json, pixel_mean.json and a checkpoint."""
import glob
import json
import logging
import os

from mammo_tf.constants import NYU_BIRADS_CLASSES, NYU_OUTPUT_NAMES, PATCH_CLASSES, WHOLE_IMAGE_CLASSES
from mammo_tf.runs.folder import RunFolder, run_folder_of
from mammo_tf.runs.info import UPGRADE_COMMAND, RunFormatError, RunInfo
from mammo_tf.runs.loader import load_keras_model

logger = logging.getLogger(__name__)


def _old_checkpoint(run):
    """A model file of an old run folder (best, last, else the latest resume checkpoint)."""
    for candidate in [run.best_model, run.last_model] + sorted(
            glob.glob(os.path.join(run.resume_dir, "epoch_*.keras")), reverse=True):
        if os.path.isfile(candidate):
            return candidate
    return None


def _old_pixel_mean(run, settings):
    legacy = run.file("pixel_mean.json")
    if os.path.isfile(legacy):
        with open(legacy, encoding="utf-8") as f:
            record = json.load(f)
        return float(record["pixel_mean"]), record.get("source") or "pixel_mean.json"
    if isinstance(settings.get("pixel_mean"), (int, float)):
        return float(settings["pixel_mean"]), "--pixel-mean"
    return None, None


def info_from_old_folder(path):
    """RunInfo of a run folder written before run.json, from its config.json (``"pipeline"``
    + ``"config"``, or NYU's flat config), pixel_mean.json and checkpoint (for the input
    size and channels); RunFormatError when it cannot tell what the run is."""
    run = RunFolder(path, create=False)
    if not os.path.isfile(run.config):
        raise RunFormatError(f"{run.path}: no config.json: not a mammo_tf run folder; "
                             "nothing to upgrade")
    config = run.read_config()
    pipeline = config.get("pipeline")
    settings = config.get("config", config)
    if pipeline in ("patch", "whole", "transfer"):
        fields = _old_shen_fields(run, pipeline, settings)
    elif pipeline is None and "task" in settings and "manifest" in settings:
        fields = _old_nyu_fields(run, settings)
    else:
        raise RunFormatError(f"{run.path}: config.json names no known pipeline "
                             f"(pipeline={pipeline!r}): cannot tell what the run is")
    checkpoint = _old_checkpoint(run)
    if checkpoint is None:
        raise RunFormatError(f"{run.path}: no checkpoint (checkpoints/*.keras or resume/) to "
                             "read the model's input from; nothing to upgrade")
    model = load_keras_model(checkpoint)
    if fields["classes"] is None:  # a patch run: as many classes as the model has outputs
        fields["classes"] = list(PATCH_CLASSES)[: model.output_shape[-1]]
    fields["details"]["upgraded_from"] = "config.json"
    return RunInfo.for_model(model=model, **fields)


def _old_shen_fields(run, pipeline, settings):
    pixel_mean, source = _old_pixel_mean(run, settings)
    if pixel_mean is None:
        raise RunFormatError(f"{run.path}: no pixel_mean.json and no pixel_mean in config.json: "
                             "cannot tell the run's pixel mean")
    backbone = settings.get("backbone")
    if backbone is None and os.path.isfile(run.metrics):
        backbone = run.read_metrics().get("backbone")
    fields = {"pixel_mean": pixel_mean, "pixel_mean_source": source, "backbone": backbone}
    if pipeline == "patch":
        return dict(fields, kind="patch", classes=None,
                    training_data={"train": settings.get("train_h5"),
                                   "val": settings.get("val_h5"), "test": settings.get("test_h5")},
                    details={"variant": settings.get("variant")})
    if pipeline == "whole":
        top = settings.get("top")
        if top not in ("resnet", "vgg", "hybrid", "heatmap"):
            raise RunFormatError(f"{run.path}: config.json has no whole-image top (got {top!r}): "
                                 "cannot tell whole_top from whole_heatmap")
        return dict(fields, kind="whole_heatmap" if top == "heatmap" else "whole_top",
                    classes=list(WHOLE_IMAGE_CLASSES),
                    training_data={"manifest": settings.get("manifest"),
                                   "patch_run": settings.get("patch_model")},
                    details={"top": top, "depths": settings.get("depths"),
                             "repetitions": settings.get("repetitions")})
    source_model = settings.get("model")
    source_run = run_folder_of(source_model) if source_model else None
    if source_run is None:
        raise RunFormatError(
            f"{run.path}: transfer run whose source model {source_model!r} has no run.json: "
            "cannot tell whole_top from whole_heatmap; upgrade the source run first "
            f"(`{UPGRADE_COMMAND} <its run folder>`)")
    parent = source_run.read_info()
    return dict(fields, kind=parent.kind, classes=parent.classes,
                backbone=backbone or parent.backbone,
                training_data={"manifest": settings.get("manifest"), "finetuned_from": source_model},
                details={**parent.details, "transfer": True})


def _old_nyu_fields(run, settings):
    if settings["task"] == "birads":
        kind, classes = "nyu_birads", list(NYU_BIRADS_CLASSES)
    elif settings["task"] == "cancer" and settings.get("model") in ("view-wise", "image-wise"):
        kind = "nyu_view_wise" if settings["model"] == "view-wise" else "nyu_image_wise"
        classes = list(NYU_OUTPUT_NAMES)
    else:
        raise RunFormatError(f"{run.path}: NYU config.json with task {settings['task']!r} and "
                             f"model {settings.get('model')!r}: cannot tell the model kind")
    return {"kind": kind, "classes": classes, "pixel_mean": None,
            "pixel_mean_source": "none: NYU standardises each image",
            "training_data": {"manifest": settings["manifest"]},
            "details": {"task": settings["task"], "heatmap_model": settings.get("heatmap_model"),
                        "heatmap_pixel_mean": settings.get("heatmap_pixel_mean")}}


def upgrade(path):
    """Write run.json into an old run folder (and its transfer-series sub-runs); returns the
    paths written. A folder that already has run.json is left alone."""
    if not os.path.isdir(path):
        raise RunFormatError(f"{path}: not a folder")
    written = []
    run = RunFolder(path, create=False)
    if run.has_info():
        logger.info("%s: already has run.json", run.path)
    else:
        run.write_info(info_from_old_folder(run.path))
        written.append(run.info)
    for sub in sorted(glob.glob(os.path.join(run.path, "patients_*"))):
        sub_run = RunFolder(sub, create=False)
        if os.path.isfile(sub_run.config) and not sub_run.has_info():
            sub_run.write_info(info_from_old_folder(sub))
            written.append(sub_run.info)
    return written
