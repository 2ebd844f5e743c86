# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""``prepare``: load a dataset, split it by patient, convert it, write manifest + report."""
import collections
import json
import os
import tarfile

from mammo_tf.constants import WHOLE_IMAGE_SIZE
from mammo_tf.datasets.convert import convert_records, finish
from mammo_tf.datasets.report import PrepareReport
from mammo_tf.datasets.splits import official_split, patient_labels_of, stratified_patient_split
from mammo_tf.utils import write_json_atomic

DATASETS = ("cbis-ddsm", "inbreast", "mini-mias", "phantom")
# (held-out fraction, validation fraction of the rest, held-out split name) per dataset.
# Shen et al.: DDSM 85/15 train/test with 10% of training patients as validation;
# INbreast 70/30 train/validation by patient (the paper reports the validation AUC).
PAPER_SPLITS = {
    "cbis-ddsm": (0.15, 0.10, "test"),
    "phantom": (0.15, 0.10, "test"),
    "mini-mias": (0.15, 0.10, "test"),
    "inbreast": (0.30, 0.0, "val"),
}


def assign_splits(records, dataset, split="paper", seed=0):
    """Set ``record.split`` for every record (patient-level, stratified on any malignancy)."""
    labels = patient_labels_of(records)
    if split == "official":
        if dataset not in ("cbis-ddsm", "phantom"):
            raise ValueError(f"--split official exists only for CBIS-DDSM (and the phantom), not {dataset}")
        image_splits = {r.image_id: r.split for r in records}
        patients = {r.image_id: r.patient_id for r in records}
        chosen = official_split(image_splits, patients, labels, PAPER_SPLITS[dataset][1], seed)
        for record in records:
            record.split = chosen[record.image_id]
        return records
    if split != "paper":
        raise ValueError(f"split must be 'paper' or 'official', got {split!r}")
    held_out, val, name = PAPER_SPLITS[dataset]
    chosen = stratified_patient_split(labels, held_out, val, seed, test_name=name)
    for record in records:
        record.split = chosen[record.patient_id]
    return records


def _extract_if_archive(src, out):
    """A ``.tar``/``.tar.xz``/``.tar.gz`` source is extracted once into ``<out>/source``."""
    if not (os.path.isfile(src) and tarfile.is_tarfile(src)):
        return src
    target = os.path.join(out, "source")
    marker = os.path.join(target, ".extracted")
    if not os.path.exists(marker):
        from mammo_tf.utils import atomic_dir

        with atomic_dir(target) as tmp, tarfile.open(src) as archive:
            archive.extractall(tmp, filter="data")
            open(os.path.join(tmp, ".extracted"), "w").close()
    return target


def _make_phantom(src, n_patients, seed, profile, phantom_size, progress):
    import inspect

    from mammo_tf.datasets.phantom import write_phantom_cbis

    defaults = inspect.signature(write_phantom_cbis).parameters
    kwargs = {"n_patients": n_patients, "seed": seed,
              "profile": profile if profile is not None else defaults["profile"].default,
              "size": tuple(phantom_size if phantom_size is not None else defaults["size"].default)}
    summary_path = os.path.join(src, "phantom.json")
    if os.path.exists(summary_path):
        with open(summary_path, encoding="utf-8") as f:
            existing = json.load(f)
        same = all(existing.get(k) == (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items())
        same = same and all(os.path.exists(os.path.join(src, n)) for n in ("mass_case_description_train_set.csv",))
        if same:
            return existing  # deterministic generator: the same arguments give the same files
    return write_phantom_cbis(src, progress=progress, **kwargs)


def load_records(dataset, src, report, progress=True, out=None):
    if dataset in ("cbis-ddsm", "phantom"):
        from mammo_tf.datasets.cbis_ddsm import load_cbis_ddsm

        cache = os.path.join(out, "dicom_index.json") if out else None
        return load_cbis_ddsm(src, report, progress=progress, cache_path=cache)
    if dataset == "inbreast":
        from mammo_tf.datasets.inbreast import load_inbreast

        return load_inbreast(src, report)
    if dataset == "mini-mias":
        from mammo_tf.datasets.mini_mias import load_mini_mias

        return load_mini_mias(src, report)
    raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")


def prepare(dataset, src, out, strict=False, size=WHOLE_IMAGE_SIZE, interpolation="cubic", split="paper",
            seed=0, workers=1, progress=True, n_patients=40, profile=None, phantom_size=None):
    """Prepare a dataset end to end; returns ``(manifest_path, report)``.

    ``src``: the dataset's download folder (mini-MIAS may also be a ``.tar.xz``); for
    ``phantom`` the folder the phantom CBIS-DDSM source is written to (default ``<out>/source``).
    Bad items are skipped and listed in ``report`` (and ``<out>/prepare_report.json``) unless
    ``strict``, which raises :class:`~mammo_tf.datasets.report.PrepareError` at the first.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    out = os.path.abspath(os.fspath(out))
    os.makedirs(out, exist_ok=True)
    report = PrepareReport(strict=strict)
    if dataset == "phantom":
        src = os.path.abspath(os.fspath(src or os.path.join(out, "source")))
        _make_phantom(src, n_patients, seed, profile, phantom_size, progress)
    else:
        if not src or not os.path.exists(src):
            raise FileNotFoundError(f"--src {src!r} does not exist")
        src = _extract_if_archive(os.path.abspath(os.fspath(src)), out)
    records = load_records(dataset, src, report, progress, out)
    if not records:
        raise RuntimeError(f"{src}: no usable images found for {dataset}\n{report.summary()}")
    assign_splits(records, dataset, split, seed)
    rows = convert_records(records, out, size=size, interpolation=interpolation, report=report,
                           workers=workers, progress=progress)
    manifest = finish(rows, out, report)
    write_json_atomic(os.path.join(out, "dataset.json"), {
        "dataset": dataset, "source": src, "size": list(size), "interpolation": interpolation,
        "split": split, "seed": seed, "images": len(rows), "counts": split_counts(rows),
    })
    return manifest, report


def split_counts(rows):
    """``{split: {pathology: n}}`` of manifest rows."""
    counts = collections.defaultdict(collections.Counter)
    for row in rows:
        counts[row["split"]][row["pathology"]] += 1
    return {split: dict(sorted(c.items())) for split, c in sorted(counts.items())}
