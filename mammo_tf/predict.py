# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Prediction on mammograms with the exact training preprocessing, 4-flip TTA and model averaging.

Images (DICOM / PNG / PGM) are read with ``mammo_tf.io.read_mammogram``, mapped onto the 16-bit
scale (``to_uint16``) and resized to the model's input size; ``.keras`` models then get
``mammo_tf.preprocess.to_network_input`` with their run's pixel mean, SavedModels exported with
an embedded preprocessing get the raw single-channel 16-bit image. Test-time augmentation
averages the softmax of the image and its horizontal, vertical and double flips, computed in
one batched forward pass; several models are averaged with equal weight.
"""
import csv
import dataclasses
import json
import os

import numpy as np

from mammo_tf.constants import WHOLE_IMAGE_SIZE, default_class_names
from mammo_tf.io.images import image_id_from_path, list_images, load_image, resize_image
from mammo_tf.tta import tta_predict

class PredictionError(ValueError):
    """A bad input to prediction (model, pixel mean, size); the message names the cause."""


# --------------------------------------------------------------------------- images


@dataclasses.dataclass
class ImageItem:
    """One image to predict: its id, file path and (when known) its 0/1 or class label."""

    image_id: str
    path: str
    label: int | None = None


def items_from_manifest(manifest_csv, split=None):
    """Items of a manifest CSV; ``image_path`` is relative to the manifest's folder.

    A full manifest (all DESIGN.md columns) is read and validated by
    ``mammo_tf.datasets.manifest.read_manifest``; a minimal one needs only ``image_id`` and
    ``image_path`` (``label`` and ``split`` optional), for lists of new images.
    """
    from mammo_tf.datasets import manifest as mf

    with open(manifest_csv, newline="", encoding="utf-8") as f:
        columns = csv.DictReader(f).fieldnames or ()
    if not mf.missing_columns(columns, mf.COLUMNS):
        rows = mf.read_manifest(manifest_csv)
    else:
        missing = mf.missing_columns(columns, ("image_id", "image_path"))
        if missing:
            raise PredictionError(f"{manifest_csv}: manifest lacks column(s) {', '.join(missing)}")
        with open(manifest_csv, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        for number, row in enumerate(rows, start=2):
            label = (row.get("label") or "").strip()
            try:
                row["label"] = int(label) if label else None
            except ValueError:
                raise PredictionError(f"{manifest_csv}, line {number}: label {label!r} is not an integer") from None
    if split is not None:
        if "split" not in columns:
            raise PredictionError(f"{manifest_csv}: --split given but the manifest has no 'split' column")
        rows = [row for row in rows if row["split"] == split]
    return [ImageItem(row["image_id"], mf.resolve_path(manifest_csv, row["image_path"]), row.get("label"))
            for row in rows]


def collect_items(inputs, split=None):
    """Files, folders (searched recursively) and manifest CSVs -> list of ``ImageItem``.

    Raises ``PredictionError`` for a path that does not exist.
    """
    items = []
    for entry in inputs:
        entry = os.fspath(entry)
        if os.path.isdir(entry):
            items += [ImageItem(image_id_from_path(p), p) for p in list_images(entry)]
        elif entry.lower().endswith(".csv") and os.path.isfile(entry):
            items += items_from_manifest(entry, split)
        elif os.path.isfile(entry):
            items.append(ImageItem(image_id_from_path(entry), entry))
        else:
            raise PredictionError(f"input {entry!r} does not exist")
    return items


def read_labels_csv(path):
    """``image_id,label`` CSV -> dict image_id -> int label."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not {"image_id", "label"} <= set(reader.fieldnames or ()):
            raise PredictionError(f"{path}: labels CSV needs columns 'image_id' and 'label'")
        labels = {}
        for number, row in enumerate(reader, start=2):
            if row["label"] in ("", None):
                continue
            try:
                labels[row["image_id"]] = int(row["label"])
            except ValueError:
                raise PredictionError(f"{path}, line {number}: label {row['label']!r} is not an integer") from None
        return labels


# --------------------------------------------------------------------------- models


def find_pixel_mean(model_path, levels=3):
    """The pixel mean of the run a model file belongs to, or None.

    Looks in the model's folder and up to ``levels`` parents (``runs/<name>/checkpoints/x.keras``
    -> ``runs/<name>``) for ``pixel_mean.json`` and then ``config.json`` with a ``pixel_mean``.
    """
    folder = os.path.dirname(os.path.abspath(model_path))
    for _ in range(levels):
        for name in ("pixel_mean.json", "config.json"):
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate):
                with open(candidate, encoding="utf-8") as f:
                    value = json.load(f).get("pixel_mean")
                if isinstance(value, (int, float)):
                    return float(value)
        folder = os.path.dirname(folder)
    return None


class Predictor:
    """One loaded model that maps 16-bit images (N, H, W) to class probabilities (N, C).

    Build with :meth:`load` (``.keras`` file or exported SavedModel folder) or directly from
    an in-memory Keras model: ``Predictor(model, pixel_mean=...)``.
    """

    def __init__(self, model, pixel_mean=None, raw_input=False, input_size=None, name="model",
                 forward=None):
        self.model = model
        self.name = name
        self.raw_input = raw_input  # True: the model embeds the preprocessing (1-channel 16-bit in)
        if pixel_mean is None and not raw_input:
            raise PredictionError(
                f"{name}: no pixel mean; pass --pixel-mean or keep the model inside its run folder "
                "(runs/<name>/pixel_mean.json)"
            )
        self.pixel_mean = None if pixel_mean is None else float(pixel_mean)
        if input_size is None and hasattr(model, "input_shape"):
            shape = tuple(model.input_shape[1:3])
            input_size = None if None in shape else shape
        self.input_size = input_size
        self._forward = forward or model.predict_on_batch

    @classmethod
    def load(cls, path, pixel_mean=None):
        """Load a ``.keras`` file (safe_mode) or a SavedModel folder written by mammo_tf.export.

        ``pixel_mean`` overrides the run folder's; SavedModels with embedded preprocessing
        need none.
        """
        path = os.fspath(path)
        name = os.path.relpath(path) if not os.path.isabs(path) else path
        if os.path.isdir(path):
            from mammo_tf.export import load_exported

            try:
                exported = load_exported(path)
            except (OSError, ValueError) as exc:
                raise PredictionError(f"{path}: cannot load the SavedModel ({exc})") from exc
            shape = tuple(exported.input_shape[1:3])
            raw = exported.input_shape[-1] == 1
            mean = pixel_mean if pixel_mean is not None else find_pixel_mean(os.path.join(path, "x"))
            return cls(exported, None if raw else mean, raw_input=raw,
                       input_size=None if None in shape else shape, name=name, forward=exported)
        if not os.path.isfile(path):
            raise PredictionError(f"model {path!r} does not exist")
        if not path.endswith(".keras"):
            raise PredictionError(f"model {path!r} is neither a .keras file nor a SavedModel folder")
        import keras

        import mammo_tf.shen  # noqa: F401  registers mammo_tf's custom layers
        import mammo_tf.preprocess  # noqa: F401

        try:
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:  # Keras raises many types for a bad or foreign file
            raise PredictionError(f"{path}: cannot load the model ({type(exc).__name__}: {exc})") from exc
        mean = pixel_mean if pixel_mean is not None else find_pixel_mean(path)
        return cls(model, mean, name=name)

    @property
    def num_classes(self):
        shape = getattr(self.model, "output_shape", None)
        return int(shape[-1]) if shape is not None else None

    def network_input(self, images):
        """16-bit images (N, H, W) -> what the model takes (raw (N,H,W,1) or (N,H,W,3))."""
        from mammo_tf.preprocess import to_network_input

        images = np.asarray(images)
        if self.raw_input:
            return images.astype(np.float32)[..., None]
        return to_network_input(images, self.pixel_mean)

    def __call__(self, images, tta=False):
        x = self.network_input(images)
        if tta:
            return tta_predict(self._forward, x)
        return np.asarray(self._forward(x), dtype=np.float64)


def load_predictors(model_paths, pixel_mean=None):
    """``Predictor.load`` for every path; all must have the same number of classes."""
    predictors = [Predictor.load(p, pixel_mean) for p in model_paths]
    counts = {p.num_classes for p in predictors if p.num_classes is not None}
    if len(counts) > 1:
        raise PredictionError(f"the models disagree on the number of classes: {sorted(counts)}")
    return predictors


# --------------------------------------------------------------------------- prediction


@dataclasses.dataclass
class PredictionResult:
    """Averaged probabilities of the images that could be read, in input order."""

    items: list
    probabilities: np.ndarray  # (N, C), mean over models (and flips with TTA)
    per_model: np.ndarray  # (M, N, C)
    class_names: list
    model_names: list
    tta: bool
    failures: list  # (path, reason) of images that could not be read

    @property
    def labels(self):
        values = [item.label for item in self.items]
        return None if not values or any(v is None for v in values) else np.asarray(values)


def predict_items(predictors, items, tta=False, size=None, batch_size=2, strict=False,
                  class_names=None, progress=True, interpolation="cubic"):
    """Predict every item with every predictor; returns a :class:`PredictionResult`.

    Each image is read once per batch and resized to each model's input size (a fixed input
    size wins; otherwise ``size`` = (height, width), default 1152x896) with ``interpolation``
    (cubic, as the data layer's conversion). Unreadable images are skipped and listed in
    ``failures``, or raise with ``strict``.
    """
    from mammo_tf.io import MammogramReadError

    if not predictors:
        raise PredictionError("no model given")
    if batch_size < 1:
        raise PredictionError(f"batch size must be >= 1, got {batch_size}")
    sizes = [tuple(p.input_size or size or WHOLE_IMAGE_SIZE) for p in predictors]
    kept, failures, outputs = [], [], [[] for _ in predictors]
    batches = range(0, len(items), batch_size)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc="predict", unit="batch")
    for start in batches:
        batch, images = [], []
        for item in items[start : start + batch_size]:
            try:
                images.append(load_image(item.path))
            except (MammogramReadError, OSError, ValueError) as exc:
                if strict:
                    raise
                failures.append((item.path, str(exc)))
                continue
            batch.append(item)
        if not batch:
            continue
        kept += batch
        for m, (predictor, model_size) in enumerate(zip(predictors, sizes)):
            x = np.stack([resize_image(image, model_size, interpolation) for image in images])
            outputs[m].append(predictor(x, tta=tta))
    if not kept:
        per_model = np.zeros((len(predictors), 0, predictors[0].num_classes or 0))
    else:
        per_model = np.stack([np.concatenate(o, axis=0) for o in outputs])
    num_classes = per_model.shape[-1]
    return PredictionResult(
        items=kept,
        probabilities=per_model.mean(axis=0),
        per_model=per_model,
        class_names=list(class_names or default_class_names(num_classes)),
        model_names=[p.name for p in predictors],
        tta=tta,
        failures=failures,
    )


def write_predictions_csv(path, result):
    """CSV: image_id, path, prob_<class>..., n_models, tta[, label]; written atomically."""
    from mammo_tf.utils import atomic_path

    with_labels = result.labels is not None
    header = ["image_id", "path"] + [f"prob_{c}" for c in result.class_names] + ["n_models", "tta"]
    if with_labels:
        header.append("label")
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            for item, probs in zip(result.items, result.probabilities):
                row = [item.image_id, item.path] + [f"{p:.6f}" for p in probs]
                row += [len(result.model_names), int(result.tta)]
                if with_labels:
                    row.append(item.label)
                writer.writerow(row)
    return path


def evaluate_result(result, roc_path=None, n_boot=1000, seed=0):
    """Metrics of a labelled result (JSON-ready dict); with ``roc_path`` also the ROC PNG.

    Two classes: AUC of the positive class with a stratified bootstrap 95% CI, per-model AUCs
    (when several models) and accuracy at argmax. More classes: one-vs-rest macro AUC, accuracy
    and the confusion matrix.
    """
    from mammo_tf import evaluate

    y = result.labels
    if y is None:
        raise PredictionError("evaluation needs a label for every image")
    probs = result.probabilities
    metrics = {"n_images": int(len(y)), "n_models": len(result.model_names), "tta": result.tta,
               "accuracy": evaluate.accuracy(y, probs.argmax(axis=1))}
    if probs.shape[1] == 2:
        auc, lo, hi = evaluate.bootstrap_auc_ci(y, probs[:, 1], n_boot=n_boot, seed=seed)
        metrics.update(auc=auc, auc_ci95=[lo, hi], n_positive=int(y.sum()))
        curves = {}
        if len(result.model_names) > 1:
            metrics["auc_per_model"] = {}
            for name, model_probs in zip(result.model_names, result.per_model):
                metrics["auc_per_model"][name] = evaluate.roc_auc(y, model_probs[:, 1])
                curves[os.path.basename(name.rstrip("/"))] = (y, model_probs[:, 1])
        label = "average" if curves else "model"
        curves[label + (" + TTA" if result.tta else "")] = (y, probs[:, 1])
        if roc_path is not None:
            evaluate.plot_roc(roc_path, curves)
            metrics["roc_png"] = os.fspath(roc_path)
    else:
        metrics["auc_ovr_macro"] = evaluate.multiclass_auc(y, probs)
        report = evaluate.confusion_matrix_report(y, probs.argmax(axis=1), result.class_names)
        metrics["confusion_matrix"] = report["matrix"]
    return metrics
