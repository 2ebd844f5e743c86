# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Prediction on mammograms with the exact training preprocessing, 4-flip TTA and model averaging.

Images (DICOM / PNG / JPEG / PGM) are read with ``mammo_tf.io.images.load_image`` (the reader
training uses: ``read_mammogram``, ``to_uint16``) and resized to the model's input size;
``.keras`` models then get ``mammo_tf.preprocess.to_network_input`` with their run's pixel
mean, SavedModels exported with an embedded preprocessing get the raw single-channel 16-bit
image. Test-time augmentation averages the softmax of the image and its horizontal, vertical
and double flips, computed in one batched forward pass; several models are averaged with equal
weight.
"""
import csv
import dataclasses
import os

import numpy as np

from mammo_tf.errors import DataError
from mammo_tf.constants import WHOLE_IMAGE_SIZE, default_class_names
from mammo_tf.datasets.manifest import ImageItem, items_from_manifest
from mammo_tf.io import prediction_csv
from mammo_tf.io.images import image_id_from_path, list_images, load_image, resize_image
from mammo_tf.inference.tta import tta_predict

class PredictionError(DataError):
    """A bad input to prediction (model, pixel mean, size); the message names the cause."""


# --------------------------------------------------------------------------- images


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


# prediction-CSV columns of a DICOM image (read by the screening report: breasts and exams)
DICOM_INFO_COLUMNS = ("patient_id", "side", "view", "study_id", "study_instance_uid",
                      "sop_instance_uid", "side_source", "view_source")


@dataclasses.dataclass
class CollectedInputs:
    """What :func:`collect_inputs` found: items to predict, DICOM instances refused (each a
    ``mammo_tf.io.dicom_study.Problem``), exam-level reports and per-image notes of the DICOM
    scan, and the DICOM exams (``{exam key: [DicomImage]}``)."""

    items: list
    problems: list
    exam_problems: list
    notes: dict  # note -> number of images it applies to
    exams: dict


def _dicom_items(images):
    from collections import Counter

    stems = Counter(image_id_from_path(image.path) for image in images)
    items = []
    for image in images:
        stem = image_id_from_path(image.path)
        image_id = stem if stems[stem] == 1 or not image.sop_instance_uid else image.sop_instance_uid
        info = {"patient_id": image.patient or image.patient_id, "side": image.laterality or "",
                "view": image.view or "", "study_id": image.exam_id,
                "study_instance_uid": image.study_instance_uid, "sop_instance_uid": image.sop_instance_uid,
                "side_source": image.laterality_source or "", "view_source": image.view_source or ""}
        items.append(ImageItem(image_id, image.path, None, info))
    return items


def collect_inputs(inputs, split=None, allow_for_processing=False, check_image=True):
    """Files, folders and manifest CSVs -> :class:`CollectedInputs`.

    DICOM files (named, or found in folders by their preamble or extension, with or without
    an extension) go through ``mammo_tf.io.dicom_study.scan_dicom``: refused instances become
    ``problems``, the others items whose ``info`` holds patient, side, view and exam
    (``DICOM_INFO_COLUMNS``; studies split one image per study, as CBIS-DDSM's, are merged by
    patient and date). Other images and manifests as :func:`collect_items`.
    """
    from mammo_tf.io.dicom_study import check_exams, group_exams, is_dicom_file, scan_dicom

    order, dicom_paths, others = [], [], {}
    for entry in inputs:
        entry = os.fspath(entry)
        if os.path.isdir(entry):
            dicom_paths.append(entry)
            order.append(("dicom", entry))
            plain = [p for p in list_images(entry) if not is_dicom_file(p)]
            others[entry] = [ImageItem(image_id_from_path(p), p) for p in plain]
            order.append(("other", entry))
        elif entry.lower().endswith(".csv") and os.path.isfile(entry):
            others[entry] = items_from_manifest(entry, split)
            order.append(("other", entry))
        elif os.path.isfile(entry) and is_dicom_file(entry):
            dicom_paths.append(entry)
            order.append(("dicom", entry))
        elif os.path.isfile(entry):
            others[entry] = [ImageItem(image_id_from_path(entry), entry)]
            order.append(("other", entry))
        else:
            raise PredictionError(f"input {entry!r} does not exist")
    images, problems = scan_dicom(dicom_paths, allow_for_processing=allow_for_processing,
                                  check_image=check_image) if dicom_paths else ([], [])
    exams = group_exams(images, merge_split_studies=True)
    notes = {}
    for image in images:
        for note in image.notes:
            notes[note] = notes.get(note, 0) + 1
    by_path = dict(zip((i.path for i in images), _dicom_items(images)))
    items, done = [], set()
    for kind, entry in order:
        if kind == "other":
            items += others[entry]
            continue
        root = os.path.abspath(entry)
        for image in images:
            absolute = os.path.abspath(image.path)
            if image.path not in done and (absolute == root or absolute.startswith(root + os.sep)):
                items.append(by_path[image.path])
                done.add(image.path)
    return CollectedInputs(items, problems, check_exams(exams), notes, exams)


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


class Predictor:
    """One loaded model that maps 16-bit images (N, H, W) to class probabilities (N, C).

    Build with :meth:`load` (``.keras`` file or exported SavedModel folder) or directly from
    an in-memory Keras model: ``Predictor(model, pixel_mean=...)``.
    """

    def __init__(self, model, pixel_mean=None, raw_input=False, input_size=None, name="model",
                 forward=None, class_names=None):
        self.model = model
        self.name = name
        self.raw_input = raw_input  # True: the model embeds the preprocessing (1-channel 16-bit in)
        if pixel_mean is None and not raw_input:
            raise PredictionError(
                f"{name}: no pixel mean; pass --pixel-mean or keep the model inside its run folder "
                "(runs/<name>/run.json)"
            )
        self.pixel_mean = None if pixel_mean is None else float(pixel_mean)
        if input_size is None and hasattr(model, "input_shape"):
            shape = tuple(model.input_shape[1:3])
            input_size = None if None in shape else shape
        self.input_size = input_size
        self.class_names = None if class_names is None else list(class_names)
        self._forward = forward or model.predict_on_batch
        # the run's recorded image correction (run.json details, e.g. examples/real_data.py's
        # RSNA runs): "border_median" = inverted images flipped back as in prepare image-folder
        self.inversion_correction = None

    @classmethod
    def load(cls, path, pixel_mean=None):
        """Load a run folder, a ``.keras`` file in one, or a SavedModel exported by mammo_tf
        (``mammo_tf.runs.load_run``): kind, pixel mean and input size come from the run's
        metadata; ``pixel_mean`` overrides the recorded one (SavedModels with embedded
        preprocessing need none). Only the Shen image classifiers predict single images.
        """
        from mammo_tf.runs import SHEN_KINDS, RunFormatError, load_keras_model, load_run
        from mammo_tf.errors import RunError

        path = os.fspath(path)
        name = os.path.relpath(path) if not os.path.isabs(path) else path
        try:
            try:
                loaded = load_run(path)
            except RunFormatError:
                if pixel_mean is None or not os.path.isfile(path):
                    raise
                # a .keras file outside a run folder with --pixel-mean: all prediction needs
                return cls(load_keras_model(path), pixel_mean, name=name)
        except RunError as exc:
            raise PredictionError(str(exc)) from None
        info = loaded.info
        if info.kind not in SHEN_KINDS:
            raise PredictionError(f"{path}: a {info.kind!r} model (four views per exam); predict "
                                  "it with train_multiview.py's predict command")
        mean = pixel_mean if pixel_mean is not None else info.pixel_mean
        size = info.input_size
        predictor = cls(loaded.model, None if loaded.raw_input else mean, raw_input=loaded.raw_input,
                        input_size=None if size is None or None in size else tuple(size), name=name,
                        forward=loaded.forward, class_names=info.classes)
        predictor.inversion_correction = (info.details or {}).get("inversion_correction")
        return predictor

    def source_image(self, image):
        """A 16-bit image as read -> as the run's training images were prepared (the recorded
        inversion correction; others unchanged)."""
        if self.inversion_correction == "border_median":
            from mammo_tf.io.images import correct_inversion

            return correct_inversion(image)[0]
        return image

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
            x = np.stack([resize_image(predictor.source_image(image), model_size, interpolation)
                          for image in images])
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
        class_names=list(class_names or predictors[0].class_names or default_class_names(num_classes)),
        model_names=[p.name for p in predictors],
        tta=tta,
        failures=failures,
    )


def write_predictions_csv(path, result):
    """CSV: image_id, path, prob_<class>..., n_models, tta[, label][, manifest facts]
    (``mammo_tf.io.prediction_csv``, the schema the screening report reads); written
    atomically. Items from a manifest add its patient_id, side, view, study and subgroup columns
    (``mammo_tf.datasets.manifest.ITEM_INFO_COLUMNS``, those the manifest has), so
    ``mammo-tf evaluate`` forms breasts, exams and subgroups from this CSV alone."""
    from mammo_tf.utils import atomic_path

    with_labels = result.labels is not None
    # manifest facts (patient, side, view, study, subgroup columns) for `mammo-tf evaluate`
    info = list(dict.fromkeys(k for item in result.items for k in (getattr(item, "info", None) or {})))
    header = prediction_csv.image_header(result.class_names, with_labels, info)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            for item, probs in zip(result.items, result.probabilities):
                row = [item.image_id, item.path] + [f"{p:.6f}" for p in probs]
                row += [len(result.model_names), int(result.tta)]
                if with_labels:
                    row.append(item.label)
                row += [(getattr(item, "info", None) or {}).get(k, "") for k in info]
                writer.writerow(row)
    return path


def _dicom_patient(item):
    info = getattr(item, "info", None) or {}
    return (info.get("patient_id") or None) if info.get("sop_instance_uid") else None


def patient_ids(inputs, items):
    """Patient id of every item, from the ``patient_id`` column of the manifest CSVs among
    ``inputs`` (else, for DICOM items, the header's); ``None`` unless every item has one (then CIs resample images)."""
    known = {}
    for entry in inputs:
        entry = os.fspath(entry)
        if entry.lower().endswith(".csv") and os.path.isfile(entry):
            with open(entry, newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    if (row.get("patient_id") or "").strip() and row.get("image_id"):
                        known.setdefault(row["image_id"], row["patient_id"].strip())
    ids = [known.get(item.image_id) or _dicom_patient(item) for item in items]
    return None if not ids or any(i is None for i in ids) else ids


def evaluate_result(result, roc_path=None, n_boot=1000, seed=0, groups=None):
    """Metrics of a labelled result (JSON-ready dict); with ``roc_path`` also the ROC PNG.

    ``groups``: patient id per image (``patient_ids``) for a cluster bootstrap over patients;
    without it the CI resamples images (stratified).

    Two classes: AUC of the positive class with a bootstrap 95% CI, per-model AUCs
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
        if groups is not None and len(set(groups)) < 2:
            groups = None  # one patient: nothing to cluster
        auc, lo, hi = evaluate.bootstrap_auc_ci(y, probs[:, 1], n_boot=n_boot, seed=seed, groups=groups)
        metrics.update(auc=auc, auc_ci95=[lo, hi], n_positive=int(y.sum()),
                       ci_resamples="patients" if groups is not None else "images")
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
        metrics["auc_ovr_macro"] = evaluate.one_vs_rest_auc(y, probs)[0]
        report = evaluate.confusion_matrix_report(y, probs.argmax(axis=1), result.class_names)
        metrics["confusion_matrix"] = report["matrix"]
    return metrics
