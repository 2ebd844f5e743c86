# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DeepMiner explanation of one mammogram: prediction, class map, the most influential units'
maps and their expert labels, written as a PNG figure, an HTML page and a JSON record."""
import html
import os

import numpy as np

from mammo_tf.deepminer.maps import class_maps, compute_influence, upsample
from mammo_tf.deepminer.render import overlay, to_display
from mammo_tf.deepminer.units import unit_id
from mammo_tf.constants import default_class_names
from mammo_tf.errors import UsageError
from mammo_tf.io.images import load_image, resize_image
from mammo_tf.preprocess import to_network_input
from mammo_tf.utils import write_json_atomic, write_text_atomic

UNLABELLED = "unlabelled"

# The expert benchmark (DeepMiner, section 3.2): "we outputted the expert annotations associated
# with the three units most influential in the classification decision for that case"; the
# authors' benchmark notebook takes them as the first 3 annotated units among the image's top 20.
BENCHMARK_UNITS = 3
BENCHMARK_POOL = 20


def resolve_class(class_arg, class_names):
    """Class name or index (str/int) -> index; None stays None. Several, comma-separated or as a
    list (e.g. ``"calc_malignant,mass_malignant"``) -> a list of indices: the explanation is then
    of the most probable of them (on a whole mammogram the fully convolutional model's average
    output is dominated by background tissue, so the class of interest must be named)."""
    if class_arg is None:
        return None
    if isinstance(class_arg, (list, tuple)) or "," in str(class_arg):
        items = class_arg if isinstance(class_arg, (list, tuple)) else str(class_arg).split(",")
        return [resolve_class(item.strip() if isinstance(item, str) else item, class_names)
                for item in items]
    if str(class_arg).isdigit() and int(class_arg) < len(class_names):
        return int(class_arg)
    if class_arg in class_names:
        return class_names.index(class_arg)
    raise UsageError(f"unknown class {class_arg!r}; classes: {', '.join(class_names)}")


def explain(split, image, pixel_mean, class_index=None, top_n=8, unit_labels=None, class_names=None,
            max_units=5, benchmark_units=BENCHMARK_UNITS, benchmark_pool=BENCHMARK_POOL):
    """Compute an explanation (no files). ``image``: uint16 (H, W) or a path.

    Through a fully convolutional split (``split_model``'s default) the mammogram is explained
    at its own resolution; a fixed-size model gets it resized to its input. Units (DeepMiner,
    section 3: "up to five units that have been annotated" among the image's most influential):
    the image's ``top_n`` (8) units by influence for the explained class are listed in
    ``top_units``; ``units`` (drawn and printed) are the annotated ones among them, at most
    ``max_units`` (5), most influential first. Without any ``unit_labels`` (no annotation yet)
    ``units`` are the first ``max_units`` of ``top_units``, marked unlabelled.

    With ``unit_labels``, ``benchmark_explanation`` is the text explanation of the paper's expert
    benchmark (section 3.2, "the expert annotations associated with the three units most
    influential"): the labels of the first ``benchmark_units`` (3) annotated units among the
    image's ``benchmark_pool`` (20) most influential, as the authors' benchmark notebook picks
    them; ``benchmark_units`` lists those units.

    Returns a dict with the display image, maps (at input resolution) and the JSON record.
    """
    class_names = list(class_names or default_class_names(split.num_classes))
    path = None
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        image = load_image(path)
    size = split.input_size
    if size is not None and None not in size:
        image = resize_image(image, size)
    x = to_network_input(image[None], pixel_mean)
    features, influence, outputs = compute_influence(split, x)
    if class_index is None:
        c = int(np.argmax(outputs[0]))
    elif isinstance(class_index, (list, tuple)):
        c = int(max(class_index, key=lambda i: outputs[0][int(i)]))
    else:
        c = int(class_index)
    maps, _, _ = class_maps(split, x, c)
    method = next(iter(maps))  # "cam" for GAP+Dense, else "grad_cam" (HiResCAM also returned)
    ranked = np.argsort(-influence[0, :, c], kind="stable")
    labels = unit_labels or {}

    def describe(ch):
        uid = unit_id(ch)
        return {"unit": uid, "channel": int(ch), "influence": float(influence[0, ch, c]),
                "max_activation": float(features[0, :, :, ch].max()),
                "label": labels.get(uid) or UNLABELLED}

    top_units = [describe(ch) for ch in ranked[:top_n]]
    if labels:
        units = [u for u in top_units if u["label"] != UNLABELLED][:max_units]
        pool = [describe(ch) for ch in ranked[:max(benchmark_pool, 0)]]
        benchmark = [u for u in pool if u["label"] != UNLABELLED][:max(benchmark_units, 0)]
    else:
        units = top_units[:max_units]
        benchmark = []
    record = {
        "image": path, "probabilities": {n: float(p) for n, p in zip(class_names, outputs[0])},
        "predicted_class": class_names[int(np.argmax(outputs[0]))], "explained_class": class_names[c],
        "layer": split.layer_name, "head": "GAP+Dense" if split.gap_dense else "other (gradient maps)",
        "class_map": method, "other_maps": [m for m in maps if m != method],
        "input_size": list(image.shape), "fully_convolutional": bool(split.fully_convolutional),
        "model_form": split.conversion,
        "feature_map_size": list(features.shape[1:3]), "units": units, "top_units": top_units,
        "units_shown": ("annotated units among the top %d (at most %d)" % (top_n, max_units)
                        if labels else "no unit labels given: the top %d, unlabelled" % max_units),
        "benchmark_units": benchmark,
        "benchmark_explanation": [u["label"] for u in benchmark],
    }
    shape = image.shape
    return {
        "record": record, "image": image,
        "maps": {m: upsample(v[0], shape) for m, v in maps.items()},
        "unit_maps": [upsample(features[0, :, :, u["channel"]], shape) for u in units],
    }


def render_figure(result, path):
    """PNG: mammogram, class-map overlay, one overlay per top unit (id, label in the title)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec, grey = result["record"], to_display(result["image"])
    prob = rec["probabilities"][rec["explained_class"]]
    panels = [("input", grey, None)]
    for name, heat in result["maps"].items():  # CAM, or Grad-CAM and HiResCAM
        panels.append((f"{name} ({rec['explained_class']}, p={prob:.2f})", grey, heat))
    for u, m in zip(rec["units"], result["unit_maps"]):
        panels.append((f"{u['unit']}: {u['label']}\ninfluence {u['influence']:.3g}", grey, m))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.6), squeeze=False)
    for ax, (title, g, heat) in zip(axes[0], panels):
        ax.imshow(g if heat is None else overlay(g, heat), cmap="gray")
        ax.set_title(title, fontsize=7)
        ax.axis("off")
    fig.suptitle(f"layer {rec['layer']}; predicted {rec['predicted_class']}", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    from mammo_tf.utils import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def render_html(result, png_name, path):
    rec = result["record"]
    probs = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>" for k, v in rec["probabilities"].items())
    units = "".join(f"<tr><td>{u['unit']}</td><td>{html.escape(u['label'])}</td><td>{u['influence']:.4g}</td>"
                    f"<td>{u['max_activation']:.4g}</td></tr>" for u in rec["units"])
    bench = ("<p>Benchmark explanation (the three most influential annotated units): "
             + html.escape("; ".join(rec["benchmark_explanation"])) + "</p>"
             if rec.get("benchmark_explanation") else "")
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Explanation</title>
<style>body{{font-family:system-ui,sans-serif;margin:16px}}td,th{{padding:2px 10px;border-bottom:1px solid #ddd}}</style></head>
<body><h2>Explanation: {html.escape(os.path.basename(rec['image'] or 'image'))}</h2>
<p>Predicted <b>{html.escape(rec['predicted_class'])}</b>; explained class <b>{html.escape(rec['explained_class'])}</b>.
Class map: <b>{rec['class_map']}</b> at layer <code>{html.escape(rec['layer'])}</code> (head: {rec['head']}).</p>
<img src="{html.escape(png_name)}" style="max-width:100%">
<h3>Probabilities</h3><table>{probs}</table>
<h3>Most influential units</h3><p>{html.escape(rec['units_shown'])}.</p>
<table><tr><th>unit</th><th>expert label</th><th>influence</th><th>max activation</th></tr>{units}</table>
{bench}<p>Unit ids are 1-based (<code>unit_0001</code> = channel 0). Influence = max activation x class weight (or its gradient form).</p>
</body></html>"""
    write_text_atomic(path, page)
    return path


def explain_to_files(split, image, pixel_mean, out_dir, name=None, **kwargs):
    """Explain one image and write ``<name>.png``, ``<name>.html`` and ``<name>.json`` into ``out_dir``."""
    result = explain(split, image, pixel_mean, **kwargs)
    name = name or (os.path.splitext(os.path.basename(os.fspath(image)))[0] if isinstance(image, (str, os.PathLike))
                    else "explanation")
    os.makedirs(out_dir, exist_ok=True)
    png = render_figure(result, os.path.join(out_dir, f"{name}.png"))
    page = render_html(result, f"{name}.png", os.path.join(out_dir, f"{name}.html"))
    record = dict(result["record"], figure=png, html=page)
    write_json_atomic(os.path.join(out_dir, f"{name}.json"), record)
    return record
