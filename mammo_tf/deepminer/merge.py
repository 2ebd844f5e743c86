# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Merge annotators' exported JSON files into ``unit_labels.json``.

Per unit: the majority concept (most votes; ties listed together), the agreement (votes for it /
annotators who answered the unit), the majority association. Inter-rater agreement per concept
(selected or not, on the units every annotator answered): Cohen's kappa for 2 annotators,
Fleiss' kappa for 3 or more; the same for the association and the "recognizable" answer.
"""
import collections
import json
import os

import numpy as np

from mammo_tf.deepminer.annotate import ANNOTATION_FORMAT, concept_labels
from mammo_tf.deepminer.rank import UNIT_ID_CONVENTION
from mammo_tf.deepminer.units import canonical_unit_id
from mammo_tf.errors import DataError
from mammo_tf.utils import write_json_atomic

LABELS_FORMAT = "mammo_tf.explain.unit_labels/1"


def cohen_kappa(a, b):
    """Cohen's kappa of two raters' categorical ratings (scikit-learn's ``cohen_kappa_score``);
    None when the chance agreement is 1 (both raters gave every unit one same category)."""
    from sklearn.metrics import cohen_kappa_score

    a, b = list(a), list(b)
    if len(a) != len(b) or not a:
        raise ValueError("cohen_kappa needs two equally long, non-empty rating lists")
    if len(set(a) | set(b)) == 1:
        return None
    return float(cohen_kappa_score(a, b))


def fleiss_kappa(ratings):
    """Fleiss' kappa; ``ratings`` is a list (one per subject) of the raters' categories."""
    categories = sorted({c for r in ratings for c in r})
    n_raters = {len(r) for r in ratings}
    if len(n_raters) != 1 or min(n_raters) < 2:
        raise ValueError("fleiss_kappa needs the same number (>= 2) of ratings per subject")
    n = n_raters.pop()
    table = np.array([[r.count(c) for c in categories] for r in ratings], dtype=np.float64)
    p_i = (np.sum(table**2, axis=1) - n) / (n * (n - 1))
    p_j = table.sum(axis=0) / table.sum()
    pe = float(np.sum(p_j**2))
    return None if pe >= 1 else float((p_i.mean() - pe) / (1 - pe))


def _kappa(per_rater):
    """per_rater: list (one per annotator) of equally long rating lists."""
    if len(per_rater) == 2:
        return cohen_kappa(*per_rater)
    return fleiss_kappa([list(r) for r in zip(*per_rater)])


def read_annotations(path):
    with open(path, encoding="utf-8") as f:
        try:
            record = json.load(f)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not JSON ({exc})") from None
    if record.get("format") != ANNOTATION_FORMAT or not isinstance(record.get("units"), dict):
        raise DataError(f"{path}: not an annotation export (format {ANNOTATION_FORMAT!r} with 'units')")
    record["units"] = {canonical_unit_id(u): a for u, a in record["units"].items()}
    return record


def merge_annotations(paths, vocabulary=None):
    """Merge annotation exports (paths) -> the ``unit_labels.json`` record."""
    records = [read_annotations(p) for p in paths]
    if not records:
        raise ValueError("no annotation files given")
    sites = {r.get("site_id") for r in records}
    if len(sites) > 1:
        raise DataError(f"annotation files come from different sites/models: {sorted(map(str, sites))}")
    names = []
    for r, p in zip(records, paths):
        name = r.get("annotator") or os.path.splitext(os.path.basename(p))[0]
        names.append(name if name not in names else f"{name}_{len(names) + 1}")
    labels = concept_labels(vocabulary)
    units = sorted({u for r in records for u in r["units"]})
    merged = {}
    for uid in units:
        answers = [r["units"][uid] for r in records if uid in r["units"]]
        votes = collections.Counter(c for a in answers for c in set(a.get("concepts") or []))
        top = max(votes.values()) if votes else 0
        majority = sorted(c for c, v in votes.items() if v == top) if top else []
        assoc = collections.Counter(a.get("association") for a in answers if a.get("association"))
        recog = collections.Counter(a.get("recognizable") for a in answers if a.get("recognizable"))
        mult = collections.Counter(a.get("multiplicity") for a in answers if a.get("multiplicity"))
        merged[uid] = {
            "label": " / ".join(labels.get(c, c) for c in majority) or None,
            "concepts": [{"id": c, "label": labels.get(c, c), "votes": v} for c, v in votes.most_common()],
            "majority_concepts": majority,
            "agreement": top / len(answers) if answers else None,
            "association": assoc.most_common(1)[0][0] if assoc else None,
            "association_votes": dict(assoc),
            "recognizable_votes": dict(recog),
            "multiplicity_votes": dict(mult),
            "n_annotators": len(answers),
            "free_text": [a.get("free_text") for a in answers if a.get("free_text")],
        }
    kappa = None
    if len(records) >= 2:
        common = [u for u in units if all(u in r["units"] for r in records)]
        concepts = sorted({c for r in records for a in r["units"].values() for c in (a.get("concepts") or [])})
        kappa = {"method": "cohen" if len(records) == 2 else "fleiss", "units_rated_by_all": len(common),
                 "per_concept": {}, "association": None, "recognizable": None}
        if common:
            for c in concepts:
                kappa["per_concept"][c] = _kappa(
                    [[c in (r["units"][u].get("concepts") or []) for u in common] for r in records])
            for field in ("association", "recognizable"):
                kappa[field] = _kappa([[str(r["units"][u].get(field)) for u in common] for r in records])
    return {"format": LABELS_FORMAT, "unit_id_convention": UNIT_ID_CONVENTION, "annotators": names,
            "files": [os.path.abspath(p) for p in paths], "site_id": sites.pop(), "layer": records[0].get("layer"),
            "model": records[0].get("model"), "units": merged, "kappa": kappa}


def write_unit_labels(record, path):
    write_json_atomic(path, record)
    return path


def load_unit_labels(path):
    """unit id (canonical) -> label text or None, from ``unit_labels.json``."""
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    if "units" not in record:
        raise DataError(f"{path}: not a unit_labels.json (no 'units')")
    return {canonical_unit_id(u): v.get("label") for u, v in record["units"].items()}
