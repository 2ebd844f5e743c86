# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""``prepare``: load a dataset, split it by patient, convert it, write manifest + report."""
import collections
import glob
import json
import os
import re
import tarfile

from mammo_tf.constants import WHOLE_IMAGE_SIZE
from mammo_tf.datasets.convert import convert_records, finish
from mammo_tf.datasets.report import PrepareReport
from mammo_tf.datasets.splits import official_split, patient_labels_of, stratified_patient_split
from mammo_tf.errors import DataError, MissingFileError, UsageError
from mammo_tf.utils import write_json_atomic

DATASETS = ("cbis-ddsm", "inbreast", "mini-mias", "phantom", "vindr-mammo", "rsna", "cmmd", "embed",
            "image-folder")
# (held-out fraction, validation fraction of the rest, held-out split name) per dataset.
# Shen et al.: DDSM 85/15 train/test with 10% of training patients as validation;
# INbreast 70/30 train/validation by patient (the paper reports the validation AUC).
PAPER_SPLITS = {
    "cbis-ddsm": (0.15, 0.10, "test"),
    "phantom": (0.15, 0.10, "test"),
    "mini-mias": (0.15, 0.10, "test"),
    "inbreast": (0.30, 0.0, "val"),
    # Screening datasets (not in the paper): the same 85/15 + 10% rule by patient.
    "vindr-mammo": (0.15, 0.10, "test"),
    "rsna": (0.15, 0.10, "test"),
    "cmmd": (0.15, 0.10, "test"),
    "embed": (0.15, 0.10, "test"),
    "image-folder": (0.15, 0.10, "test"),
}
OFFICIAL_SPLIT_DATASETS = ("cbis-ddsm", "phantom", "vindr-mammo")
# DeepMiner (Wu et al. 2018, section 2.1): "we train our classifier on 80% of the DDSM cases,
# reserve 10% of the cases as a hold-out set ... and use the final 10% of the images as a test
# set" -> 10% held out as test, then 1/9 of the rest (10% of all) as validation, by patient.
DEEPMINER_SPLIT = (0.10, 0.10 / 0.90, "test")
SPLITS = ("paper", "official", "deepminer")


def assign_splits(records, dataset, split="paper", seed=0):
    """Set ``record.split`` for every record (patient-level, stratified on any malignancy)."""
    labels = patient_labels_of(records)
    if split == "official":
        if dataset not in OFFICIAL_SPLIT_DATASETS:
            raise UsageError(f"--split official exists only for CBIS-DDSM, VinDr-Mammo (and the phantom), "
                             f"not {dataset}")
        image_splits = {r.image_id: r.split for r in records}
        patients = {r.image_id: r.patient_id for r in records}
        chosen = official_split(image_splits, patients, labels, PAPER_SPLITS[dataset][1], seed)
        for record in records:
            record.split = chosen[record.image_id]
        return records
    if split not in ("paper", "deepminer"):
        raise UsageError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    held_out, val, name = DEEPMINER_SPLIT if split == "deepminer" else PAPER_SPLITS[dataset]
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


def load_records(dataset, src, report, progress=True, out=None, folder_options=None):
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
    if dataset == "vindr-mammo":
        from mammo_tf.datasets.vindr_mammo import load_vindr_mammo

        return load_vindr_mammo(src, report)
    if dataset == "rsna":
        from mammo_tf.datasets.rsna import load_rsna

        return load_rsna(src, report)
    if dataset == "cmmd":
        from mammo_tf.datasets.cmmd import load_cmmd

        return load_cmmd(src, report)
    if dataset == "embed":
        from mammo_tf.datasets.embed import load_embed

        return load_embed(src, report)
    if dataset == "image-folder":
        from mammo_tf.datasets.image_folder import load_image_folder

        return load_image_folder(src, report, out=out, **(folder_options or {}))
    raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")


def parse_shard(text):
    """``"I/N"`` (1 <= I <= N) -> ``(I, N)``; UsageError with the rule otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise UsageError(f"--shard must be I/N with 1 <= I <= N (e.g. 2/8), got {text!r}")
    return int(match.group(1)), int(match.group(2))


def shard_of_records(records, shard):
    """Indices of the records of shard ``(I, N)``: whole patients, the k-th patient (sorted by
    id) in shard ``k % N + 1``, so every shard gets about 1/N of the patients."""
    index, count = shard
    patients = {p: k for k, p in enumerate(sorted({r.patient_id for r in records}))}
    return [i for i, r in enumerate(records) if patients[r.patient_id] % count == index - 1]


def _shard_path(out, shard, kind):
    index, count = shard
    suffix = "json" if kind == "state" else "csv"
    return os.path.join(out, "shards", f"{kind}.shard-{index:04d}-of-{count:04d}.{suffix}")


def prepare(dataset, src, out, strict=False, size=WHOLE_IMAGE_SIZE, interpolation="cubic", split="paper",
            seed=0, workers=1, progress=True, n_patients=40, profile=None, phantom_size=None, shard=None,
            crop="none", frame=None, folder_options=None):
    """Prepare a dataset end to end; returns ``(manifest_path, report)``.

    ``src``: the dataset's download folder (mini-MIAS may also be a ``.tar.xz``); for
    ``phantom`` the folder the phantom CBIS-DDSM source is written to (default ``<out>/source``).
    Bad items are skipped and listed in ``report`` (and ``<out>/prepare_report.json``) unless
    ``strict``, which raises :class:`~mammo_tf.datasets.report.PrepareError` at the first.

    ``shard=(I, N)`` (or ``"I/N"``) converts only the patients of shard I of N (splits are
    still drawn over the whole dataset, so they match an unsharded run) and writes
    ``<out>/shards/manifest.shard-I-of-N.csv`` plus its state; run the N shards anywhere that
    sees ``out`` (a job array), then :func:`merge_shards` writes ``<out>/manifest.csv``.
    Returns the partial manifest's path in that case.

    ``crop="breast"`` crops every image (and its ROI masks) to the breast before resizing
    (:mod:`mammo_tf.datasets.breast_region`); the box is the manifest's ``crop_box``.
    ``frame`` (0-based) is read from multi-frame DICOMs, which are otherwise reported as bad
    items naming their frame count. ``folder_options`` (``image-folder`` only): keyword
    arguments of :func:`mammo_tf.datasets.image_folder.load_image_folder` (``labels_csv``,
    ``positive``, ``fix_inversion``), recorded in ``dataset.json``.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    if crop not in ("none", "breast"):
        raise ValueError(f"crop must be 'none' or 'breast', got {crop!r}")
    out = os.path.abspath(os.fspath(out))
    os.makedirs(out, exist_ok=True)
    report = PrepareReport(strict=strict)
    if dataset == "phantom":
        src = os.path.abspath(os.fspath(src or os.path.join(out, "source")))
        _make_phantom(src, n_patients, seed, profile, phantom_size, progress)
    else:
        if not src or not os.path.exists(src):
            raise MissingFileError(f"--src {src!r} does not exist")
        src = _extract_if_archive(os.path.abspath(os.fspath(src)), out)
    if folder_options and dataset != "image-folder":
        raise UsageError(f"labels CSV / positive labels / inversion options are for image-folder, not {dataset}")
    records = load_records(dataset, src, report, progress, out, folder_options)
    if not records:
        raise DataError(f"{src}: no usable images found for {dataset}\n{report.summary()}")
    assign_splits(records, dataset, split, seed)
    info = {"dataset": dataset, "source": src, "size": list(size), "interpolation": interpolation,
            "split": split, "seed": seed, "crop": crop, "frame": frame}
    if dataset == "image-folder":
        from mammo_tf.datasets.image_folder import DEFAULT_POSITIVE

        options = dict(folder_options or {})
        info["fix_inversion"] = bool(options.get("fix_inversion", True))
        info["labels_csv"] = options.get("labels_csv")
        info["positive"] = list(options.get("positive") or DEFAULT_POSITIVE)
    indices = list(range(len(records)))
    if shard is not None:
        shard = parse_shard(shard) if isinstance(shard, str) else tuple(int(v) for v in shard)
        parse_shard(f"{shard[0]}/{shard[1]}")
        indices = shard_of_records(records, shard)
    chosen = [records[i] for i in indices]
    rows = convert_records(chosen, out, size=size, interpolation=interpolation, report=report,
                           workers=workers, progress=progress, crop=crop, frame=frame,
                           desc="converting" if shard is None else f"converting shard {shard[0]}/{shard[1]}")
    if shard is not None:
        done = {row["image_id"] for row in rows}
        partial = _shard_path(out, shard, "manifest")
        from mammo_tf.datasets.manifest import write_manifest

        write_manifest(partial, rows)
        write_json_atomic(_shard_path(out, shard, "state"), {
            "info": info, "shard": list(shard), "total_records": len(records),
            "order": [[i, records[i].image_id] for i in indices if records[i].image_id in done],
            "rows": rows, "report": report.to_dict(),
        })
        return partial, report
    manifest = finish(rows, out, report)
    write_json_atomic(os.path.join(out, "dataset.json"),
                      {**info, "images": len(rows), "counts": split_counts(rows)})
    return manifest, report


def merge_shards(out, strict=False):
    """Join the partial manifests of ``prepare(..., shard=(I, N))`` runs into
    ``<out>/manifest.csv`` (rows in the order of an unsharded run), ``prepare_report.json`` and
    ``dataset.json``; returns ``(manifest_path, report)``. Raises DataError naming what is
    missing or inconsistent (MissingFileError: no shards; a shard not run yet, shards of
    different runs)."""
    out = os.path.abspath(os.fspath(out))
    states = sorted(glob.glob(os.path.join(out, "shards", "state.shard-*-of-*.json")))
    if not states:
        raise MissingFileError(f"{out}: no shards found (expected shards/state.shard-I-of-N.json "
                                "from `prepare ... --shard I/N`)")
    loaded = []
    for path in states:
        with open(path, encoding="utf-8") as f:
            loaded.append((path, json.load(f)))
    counts = {tuple(state["shard"])[1] for _, state in loaded}
    if len(counts) != 1:
        raise DataError(f"{out}/shards: shards of different --shard totals N {sorted(counts)}; "
                         "delete the stale ones")
    count = counts.pop()
    present = {state["shard"][0] for _, state in loaded}
    missing = [i for i in range(1, count + 1) if i not in present]
    if missing:
        raise DataError(f"{out}: shards {', '.join(f'{i}/{count}' for i in missing)} not prepared yet")
    info = loaded[0][1]["info"]
    for path, state in loaded:
        if state["info"] != info or state["total_records"] != loaded[0][1]["total_records"]:
            raise DataError(f"{path}: prepared with other settings than {states[0]} "
                             f"({state['info']} vs {info})")
    report = PrepareReport(strict=strict)
    ordered = []
    for _, state in loaded:
        part = state["report"]
        report.converted += part["converted"]
        report.resumed += part["resumed"]
        for key in ("bad_items", "skipped_rois", "excluded", "notes"):
            getattr(report, key).extend(part[key])
        by_id = {row["image_id"]: row for row in state["rows"]}
        ordered += [(index, by_id[image_id]) for index, image_id in state["order"]]
    # Every shard reads the whole tables, so loader-level problems, exclusions and notes come
    # once per shard: keep one copy of each.
    for key in ("bad_items", "skipped_rois", "excluded"):
        unique = {json.dumps(e, sort_keys=True): e for e in getattr(report, key)}
        setattr(report, key, list(unique.values()))
    report.notes = list(dict.fromkeys(report.notes))
    rows = [row for _, row in sorted(ordered, key=lambda pair: pair[0])]
    manifest = finish(rows, out, report)
    write_json_atomic(os.path.join(out, "dataset.json"),
                      {**info, "images": len(rows), "counts": split_counts(rows), "shards": count})
    return manifest, report


def split_counts(rows):
    """``{split: {pathology: n}}`` of manifest rows."""
    counts = collections.defaultdict(collections.Counter)
    for row in rows:
        counts[row["split"]][row["pathology"]] += 1
    return {split: dict(sorted(c.items())) for split, c in sorted(counts.items())}
