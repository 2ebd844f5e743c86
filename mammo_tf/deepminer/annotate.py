# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Offline annotation site for dissected units: ``index.html`` + one page per unit.

Pages are self-contained (CSS and JS inlined, images as relative files copied into the site),
so the folder can be zipped and opened from disk by an annotator without a server. Answers are
kept in the browser's localStorage (per site id) and exported as JSON for ``merge``.
"""
import hashlib
import html
import importlib.resources
import json
import os
import shutil
import string

from mammo_tf.deepminer.units import canonical_unit_id
from mammo_tf.errors import DataError, MissingFileError, UsageError
from mammo_tf.utils import atomic_dir

# File-format ids keep the package's earlier name so existing annotation files stay readable.
ANNOTATION_FORMAT = "mammo_tf.explain.annotations/1"
ASSOCIATIONS = ("malignant", "benign", "none", "uncertain")


def _asset(name):
    return importlib.resources.files("mammo_tf.deepminer").joinpath(name).read_text(encoding="utf-8")


def load_vocabulary(path=None):
    """The shipped BI-RADS vocabulary (or a JSON file of the same format)."""
    if path is None:
        return json.loads(_asset("vocabulary.json"))
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def concept_labels(vocabulary=None):
    """concept id -> "Group: term" display label."""
    vocabulary = vocabulary or load_vocabulary()
    return {t["id"]: f"{g['label']}: {t['label']}" for g in vocabulary["groups"] for t in g["terms"]}


def _json_script(obj):
    return json.dumps(obj).replace("</", "<\\/")


def _unit_classes(rankings):
    """unit id -> [(class name, count)] from rankings.json (empty when not given)."""
    out = {}
    if not rankings:
        return out
    for cls, info in rankings["classes"].items():
        for u in info["selected"]:
            out.setdefault(canonical_unit_id(u["unit"]), []).append((cls, u["count"]))
    return out


def _badges(classes):
    return " ".join(f'<span class="badge">{html.escape(c)}</span><span class="badge count" title="images with this unit '
                    f'in their top units">{n}</span>' for c, n in classes)


def _concepts_html(vocabulary):
    parts = []
    for group in vocabulary["groups"]:
        boxes = "".join(
            f'<label><input type="checkbox" name="concept" value="{html.escape(t["id"])}"> {html.escape(t["label"])}</label>'
            for t in group["terms"])
        parts.append(f'<div class="group"><b>{html.escape(group["label"])}</b>{boxes}</div>')
    return "\n".join(parts)


def build_site(dissection_dir, out_dir, rankings=None, vocabulary=None, title=None):
    """Write the annotation site for ``dissection_dir`` (holding ``dissection.json``) into ``out_dir``.

    ``out_dir`` is replaced as a whole (atomically); it must be new, empty or an earlier site.

    ``rankings``: path of ``rankings.json`` (class badges, unit order) or None. Returns the
    path of ``index.html``.
    """
    path = os.path.join(dissection_dir, "dissection.json")
    if not os.path.isfile(path):
        raise MissingFileError(f"{dissection_dir}: no dissection.json (give a folder written by dissect)")
    with open(path, encoding="utf-8") as f:
        dissection = json.load(f)
    ranking = None
    if rankings:
        with open(rankings, encoding="utf-8") as f:
            ranking = json.load(f)
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not os.path.isfile(os.path.join(out_dir, "index.html")):
        # the site folder is replaced as a whole: never replace a folder that is not a site
        raise UsageError(f"{out_dir} exists and is not an annotation site; choose a new or empty folder")
    vocabulary = vocabulary or load_vocabulary()
    classes = _unit_classes(ranking)
    units = {canonical_unit_id(u): rec for u, rec in dissection["units"].items()}
    order = [u for u in sorted(classes) if u in units] if classes else sorted(units)
    if not order:
        raise DataError(f"{dissection_dir}: no dissected units" + (" among the ranking's selected units" if classes else ""))
    site_id = hashlib.sha1(json.dumps([dissection.get("model"), dissection["layer"], order]).encode()).hexdigest()[:12]
    css, js = _asset("annotate.css"), _asset("annotate.js")
    title = title or f"{os.path.basename(str(dissection.get('model') or 'model'))} / {dissection['layer']}"
    common = {"site_id": site_id, "layer": dissection["layer"], "model": dissection.get("model"), "num_units": len(order)}
    unit_tpl, index_tpl = string.Template(_asset("annotate_unit.html")), string.Template(_asset("annotate_index.html"))
    with atomic_dir(out_dir) as tmp:
        copied = set()

        def copy(rel):
            if rel and rel not in copied:
                os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
                shutil.copyfile(os.path.join(dissection_dir, rel), os.path.join(tmp, rel))
                copied.add(rel)
            return rel

        cards = []
        for n, uid in enumerate(order):
            rec = units[uid]
            tiles = []
            for t in rec["tiles"]:
                caption = f"#{t['rank']} {t['image_id']} act {t['activation']:.3g}"
                tiles.append(
                    f'<figure><img src="{html.escape(copy(t["tile"]))}" alt="{html.escape(caption)}" '
                    f'data-context="{html.escape(copy(t["context"]) or "")}" '
                    f'data-box="{html.escape(json.dumps(t["box"]))}" data-caption="{html.escape(caption)}">'
                    f'<figcaption>{html.escape(caption)}</figcaption></figure>')
            prev_link = f'<a href="{order[n - 1]}.html">&lsaquo; {order[n - 1]}</a>' if n > 0 else ""
            next_link = f'<a href="{order[n + 1]}.html">{order[n + 1]} &rsaquo;</a>' if n + 1 < len(order) else ""
            page = unit_tpl.substitute(
                unit=uid, css=css, js=js, badges=_badges(classes.get(uid, [])), tiles="\n".join(tiles),
                prev_link=prev_link, next_link=next_link, concepts=_concepts_html(vocabulary),
                site_json=_json_script(dict(common, unit=uid)))
            with open(os.path.join(tmp, f"{uid}.html"), "w", encoding="utf-8") as f:
                f.write(page)
            thumbs = "".join(f'<img src="{html.escape(t["tile"])}" alt="">' for t in rec["tiles"][:4])
            prelabel = f'<div>pre-label: {html.escape(rec["prelabel"])}</div>' if rec.get("prelabel") else ""
            cards.append(f'<div class="card" data-unit="{uid}"><h3><a href="{uid}.html">{uid}</a></h3>'
                         f'<div>{_badges(classes.get(uid, []))}</div><div class="thumbs">{thumbs}</div>{prelabel}</div>')
        index = index_tpl.substitute(title=html.escape(title), css=css, js=js, layer=html.escape(dissection["layer"]),
                                     num_units=len(order), cards="\n".join(cards), site_json=_json_script(common))
        with open(os.path.join(tmp, "index.html"), "w", encoding="utf-8") as f:
            f.write(index)
    return os.path.join(out_dir, "index.html")
