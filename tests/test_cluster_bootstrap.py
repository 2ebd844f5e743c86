# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Confidence intervals resample patients, not images (issue 13, item 7): CC and MLO of one
breast are correlated, so duplicating every image of every patient adds no information and
must not narrow the interval; an image-level bootstrap would shrink it by about 1/sqrt(2)."""
import numpy as np
import pytest

from mammo_tf.evaluate import bootstrap_auc_ci


def _toy(n_patients=60, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n_patients)
    labels[:2] = [0, 1]
    scores = labels * 0.8 + rng.normal(0, 0.6, n_patients)
    patients = np.array([f"p{i:03d}" for i in range(n_patients)])
    return labels, scores, patients


def _width(ci):
    return ci[2] - ci[1]


def test_cluster_ci_does_not_shrink_when_every_image_is_duplicated():
    labels, scores, patients = _toy()
    once = bootstrap_auc_ci(labels, scores, n_boot=1000, seed=0, groups=patients)
    twice = bootstrap_auc_ci(np.repeat(labels, 2), np.repeat(scores, 2), n_boot=1000, seed=0,
                             groups=np.repeat(patients, 2))
    assert twice[0] == pytest.approx(once[0])  # the AUC itself is unchanged
    assert _width(twice) >= 0.9 * _width(once), (once, twice)
    # the image-level bootstrap treats the copies as new patients: its interval shrinks
    images = bootstrap_auc_ci(np.repeat(labels, 2), np.repeat(scores, 2), n_boot=1000, seed=0)
    assert _width(images) < 0.85 * _width(once), (once, images)


def test_heatmap_rf_passes_patient_ids_to_the_bootstrap():
    """The heatmap + random-forest baseline reports a patient-level CI when it knows the
    patients (the manifest's patient_id column); duplicated images leave it as wide."""
    from mammo_tf.shen.heatmap_rf import evaluate_features

    labels, scores, patients = _toy(40, seed=1)
    features = np.stack([scores, np.random.default_rng(2).normal(size=len(scores))], axis=1)
    once, _, _ = evaluate_features(features, labels, features, labels, n_estimators=10,
                                   n_boot=400, min_samples_split=2, test_groups=patients)
    twice, _, _ = evaluate_features(features, labels, np.repeat(features, 2, 0),
                                    np.repeat(labels, 2), n_estimators=10, n_boot=400,
                                    min_samples_split=2, test_groups=np.repeat(patients, 2))
    assert once["ci_resamples"] == twice["ci_resamples"] == "patients"
    w1 = once["auc_ci95"][1] - once["auc_ci95"][0]
    w2 = twice["auc_ci95"][1] - twice["auc_ci95"][0]
    assert w2 >= 0.9 * w1, (once["auc_ci95"], twice["auc_ci95"])


def test_heatmap_rf_reads_patient_ids_from_the_manifest(tmp_path):
    from mammo_tf.shen.heatmap_rf import _patient_ids

    manifest = tmp_path / "m.csv"
    manifest.write_text("image_id,patient_id,label,image_path,split\n"
                        "a,P1,0,a.png,test\nb,P1,1,b.png,test\nc,,0,c.png,test\n")
    assert _patient_ids(manifest) == {"a": "P1", "b": "P1", "c": ""}
    bare = tmp_path / "bare.csv"
    bare.write_text("image_id,label,image_path,split\na,0,a.png,test\n")
    assert _patient_ids(bare) == {}
