# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Merging annotators' answers: majority label, agreement, Cohen's / Fleiss' kappa vs hand values."""
import json

import pytest

from mammo_tf.deepminer.annotate import concept_labels, load_vocabulary
from mammo_tf.deepminer.merge import cohen_kappa, fleiss_kappa, load_unit_labels, merge_annotations


def test_cohen_kappa_by_hand():
    a = [1, 1, 0, 0, 1, 0, 1, 1, 0, 0]
    b = [1, 0, 0, 0, 1, 0, 1, 1, 1, 0]
    # p_o = 8/10, p_e = 0.5*0.5 + 0.5*0.5 = 0.5 -> kappa = (0.8 - 0.5) / 0.5 = 0.6
    assert cohen_kappa(a, b) == pytest.approx(0.6)
    assert cohen_kappa([1, 1], [1, 1]) is None  # chance agreement 1: undefined
    assert cohen_kappa(["x", "x"], ["x", "x"]) is None
    # 3 categories, unequal marginals: p_o = 4/6; a has x, y, z twice each, b has x 2, y 3, z 1
    # -> p_e = (2*2 + 2*3 + 2*1) / 36 = 1/3 -> kappa = (2/3 - 1/3) / (2/3) = 0.5
    assert cohen_kappa(list("xxyyzz"), list("xyyyzx")) == pytest.approx(0.5)
    assert cohen_kappa([1, 0, 1, 0], [0, 1, 0, 1]) == pytest.approx(-1.0)  # always disagree
    # one rater constant, the other not: p_e = p_o = 1/2 -> 0, defined (not None)
    assert cohen_kappa([True] * 4, [True, False, True, False]) == pytest.approx(0.0)


def test_fleiss_kappa_by_hand():
    # Fleiss (1971) worked example as on Wikipedia: 10 subjects, 14 raters, 5 categories -> 0.210.
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    ratings = [[c for c, n in enumerate(row) for _ in range(n)] for row in table]
    assert fleiss_kappa(ratings) == pytest.approx(0.20993, abs=1e-4)


def _write(path, annotator, units, site="s1"):
    path.write_text(json.dumps({"format": "mammo_tf.explain.annotations/1", "site_id": site, "annotator": annotator,
                                "units": units}))
    return str(path)


def _answer(concepts, association="benign", recognizable="yes"):
    return {"recognizable": recognizable, "association": association, "multiplicity": "single",
            "concepts": concepts, "free_text": ""}


def test_merge_three_annotators_fleiss_and_majority(tmp_path):
    # Concept "calc_vascular" chosen for unit 1 by 3, unit 2 by 0, unit 3 by 2, unit 4 by 1 annotator:
    # P_i = 1, 1, 1/3, 1/3 -> mean 2/3; p_yes = 6/12 -> P_e = 0.5; kappa = (2/3 - 1/2) / (1/2) = 1/3.
    chosen = {1: 3, 2: 0, 3: 2, 4: 1}
    files = []
    for r, name in enumerate("ABC"):
        units = {f"unit_{u:04d}": _answer(["calc_vascular"] if r < n else ["normal_tissue"]) for u, n in chosen.items()}
        files.append(_write(tmp_path / f"{name}.json", name, units))
    merged = merge_annotations(files)
    assert merged["kappa"]["method"] == "fleiss" and merged["kappa"]["units_rated_by_all"] == 4
    assert merged["kappa"]["per_concept"]["calc_vascular"] == pytest.approx(1 / 3)
    unit3 = merged["units"]["unit_0003"]
    assert unit3["majority_concepts"] == ["calc_vascular"] and unit3["agreement"] == pytest.approx(2 / 3)
    assert unit3["label"] == concept_labels()["calc_vascular"]
    assert merged["kappa"]["association"] is None  # everyone said "benign": chance agreement 1


def test_merge_two_annotators_cohen_and_id_forms(tmp_path):
    a = _write(tmp_path / "a.json", "A", {"unit_3": _answer(["mass_margin_spiculated"], "malignant"),
                                          "unit_0010": _answer([], "none", "no")})
    b = _write(tmp_path / "b.json", "B", {"unit_0003": _answer(["mass_margin_spiculated"], "malignant"),
                                          "10": _answer(["normal_tissue"], "none")})
    merged = merge_annotations([a, b])
    assert sorted(merged["units"]) == ["unit_0003", "unit_0010"]
    assert merged["kappa"]["method"] == "cohen"
    # spiculated: A=(1,0), B=(1,0) -> perfect agreement, kappa 1
    assert merged["kappa"]["per_concept"]["mass_margin_spiculated"] == pytest.approx(1.0)
    # normal tissue: A=(0,0), B=(0,1): p_o = 1/2, p_e = 1*1/2 + 0 = 1/2 -> kappa 0
    assert merged["kappa"]["per_concept"]["normal_tissue"] == pytest.approx(0.0)
    out = tmp_path / "unit_labels.json"
    out.write_text(json.dumps(merged))
    labels = load_unit_labels(str(out))
    assert "spiculated" in labels["unit_0003"]


def test_merge_rejects_mixed_sites_and_bad_files(tmp_path):
    a = _write(tmp_path / "a.json", "A", {"unit_1": _answer([])}, site="s1")
    b = _write(tmp_path / "b.json", "B", {"unit_1": _answer([])}, site="s2")
    with pytest.raises(ValueError, match="different sites"):
        merge_annotations([a, b])
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="not an annotation export"):
        merge_annotations([str(bad)])


def test_shipped_vocabulary_covers_birads_and_non_lesion_terms():
    vocab = load_vocabulary()
    ids = [t["id"] for g in vocab["groups"] for t in g["terms"]]
    assert len(ids) == len(set(ids))
    for term in ("mass_shape_irregular", "mass_margin_spiculated", "mass_density_fat", "calc_vascular",
                 "calc_fine_linear", "calc_dist_segmental", "architectural_distortion", "asymmetry_focal",
                 "nipple_retraction", "normal_tissue", "calcified_vessels", "pectoral_muscle", "breast_edge", "nipple"):
        assert term in ids
