# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Patient-level splits: every image of a patient lands in the same split.

Stratification is on "the patient has any malignant image", so the malignant fraction is
about the same in every split. Deterministic for a given seed (numpy ``default_rng``) and
independent of input order (patients are sorted first).
"""
import numpy as np

from mammo_tf.errors import DataError


def _round(x):
    return int(np.floor(x + 0.5))


def _quotas(sizes, fraction):
    """Per-stratum counts summing to round(total * fraction) (largest remainders get the rest)."""
    exact = [n * fraction for n in sizes]
    counts = [int(np.floor(x)) for x in exact]
    missing = _round(sum(sizes) * fraction) - sum(counts)
    by_remainder = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[:max(missing, 0)]:
        counts[i] += 1
    return counts


def stratified_patient_split(patient_labels, test_fraction=0.15, val_fraction=0.10, seed=0,
                             test_name="test"):
    """Split patients into train / val / ``test_name``.

    ``patient_labels`` maps patient id -> 1 if any of the patient's images is malignant else 0.
    ``round(n * test_fraction)`` patients go to ``test_name``, then ``round(n_rest *
    val_fraction)`` of the rest to ``"val"`` (the paper: 85/15 train/test, then 10% of the
    training patients as validation), each count shared between the strata in proportion
    (largest remainder). Returns ``{patient_id: split}``.
    """
    rng = np.random.default_rng(seed)
    strata = []
    for stratum in sorted({int(v) for v in patient_labels.values()}):
        patients = sorted(p for p, v in patient_labels.items() if int(v) == stratum)
        strata.append([patients[i] for i in rng.permutation(len(patients))])
    n_test = _quotas([len(s) for s in strata], test_fraction)
    n_val = _quotas([len(s) - t for s, t in zip(strata, n_test)], val_fraction)
    assignment = {}
    for order, t, v in zip(strata, n_test, n_val):
        assignment.update({p: test_name for p in order[:t]})
        assignment.update({p: "val" for p in order[t:t + v]})
        assignment.update({p: "train" for p in order[t + v:]})
    return assignment


def patient_labels_of(records):
    """``{patient_id: 1 if any record of the patient has label 1}`` from dicts/objects with
    ``patient_id`` and ``label``."""
    labels = {}
    for record in records:
        pid, label = _get(record, "patient_id"), int(_get(record, "label"))
        labels[pid] = max(labels.get(pid, 0), label)
    return labels


def official_split(image_splits, patient_of_image, patient_labels, val_fraction=0.10, seed=0):
    """Keep the dataset's own train/test assignment per image; move ``val_fraction`` of the
    patients that have only training images to ``"val"`` (stratified, seeded).

    Returns ``{image_id: split}``.
    """
    test_patients = {patient_of_image[i] for i, s in image_splits.items() if s == "test"}
    train_only = {p: v for p, v in patient_labels.items() if p not in test_patients}
    val_patients = {p for p, s in stratified_patient_split(train_only, 0.0, val_fraction, seed).items()
                    if s == "val"}
    return {
        image_id: ("val" if split == "train" and patient_of_image[image_id] in val_patients else split)
        for image_id, split in image_splits.items()
    }


def draw_patient_subset(manifest, n, seed=0, split="train"):
    """Keep the ``split`` rows of ``n`` patients drawn at random (seeded) and every other row.

    ``manifest`` is a manifest path or rows from :func:`read_manifest`. For a given seed the
    subsets are nested (the 20 patients drawn are among the 30), as needed by the paper's
    transfer-efficiency experiment (20, 30, ..., 60 training patients).
    """
    if isinstance(manifest, (str, bytes)) or hasattr(manifest, "__fspath__"):
        from mammo_tf.datasets.manifest import read_manifest

        manifest = read_manifest(manifest)
    patients = sorted({_get(r, "patient_id") for r in manifest if _get(r, "split") == split})
    if not 0 < n <= len(patients):
        raise DataError(f"cannot draw {n} patients: the {split} split has {len(patients)}")
    order = np.random.default_rng(seed).permutation(len(patients))
    chosen = {patients[i] for i in order[:n]}
    return [r for r in manifest if _get(r, "split") != split or _get(r, "patient_id") in chosen]


def _get(record, key):
    return record[key] if isinstance(record, dict) else getattr(record, key)
