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


def default_explained_classes(class_names):
    """The classes a decision is about: the malignant patch classes of a patch classifier
    (their probabilities summed per location, as the heatmap classifier and the patch baseline
    read P(malignant)), the positive class of a two-class model, else None (the class whose
    map peaks highest)."""
    from mammo_tf.constants import MALIGNANT_PATCH_CLASSES

    names = list(class_names)
    malignant = [names.index(c) for c in MALIGNANT_PATCH_CLASSES if c in names]
    if malignant:
        return malignant
    if len(names) == 2:
        return [1]
    return None


def _activation_ceiling(split):
    """The feature layer's activation ceiling (ReLU6 -> 6.0: MobileNet), or None."""
    import keras

    layer = split.features.layers[-1]
    while isinstance(layer, keras.Model):  # a nested backbone: its last layer
        layer = layer.layers[-1]
    value = (layer.get_config() or {}).get("max_value")
    return None if value is None else float(value)


def _location_features(split, x, mode, window, stride, pool=None, batch_size=64):
    """Per-location features F (gh, gw, K) that the split's GAP+Dense head reads linearly at
    every location, the raw feature maps A (1 or N windows, h, w, K), the pixel centre of each
    location (gh, gw, 2) and a function turning a (gh, gw) map into an (H, W) picture.

    ``fcn``: one pass of the fully convolutional network; every feature-map location is
    classified by the Dense as a 1x1 convolution (DeepMiner's FCN, the authors' code); with
    ``pool`` = (ph, pw) cells, every ph x pw block of locations (stride 1) is averaged first (a
    heatmap classifier in "fcn" mode: the patch's feature-map window, Shen's conversion).
    ``windows``: the patch classifier on every ``window`` px window at ``stride`` (what a
    heatmap classifier in "sliding" mode computes); F = the window's global-average features."""
    from mammo_tf.deepminer.maps import upsample

    height, width = x.shape[1:3]
    if mode == "fcn":
        features, _ = split.features_and_probabilities(x)
        feats = np.asarray(features[0], np.float64)
        h, w = feats.shape[:2]
        ph, pw = (1, 1) if pool is None else (min(int(pool[0]), h), min(int(pool[1]), w))
        if (ph, pw) != (1, 1):
            from numpy.lib.stride_tricks import sliding_window_view

            feats = sliding_window_view(feats, (ph, pw), axis=(0, 1)).mean(axis=(-2, -1))
        gh, gw = feats.shape[:2]
        yy = (np.arange(gh) + ph / 2) * height / h
        xx = (np.arange(gw) + pw / 2) * width / w
        centres = np.stack(np.meshgrid(yy, xx, indexing="ij"), -1)
        pad = (((ph - 1) // 2, ph // 2), ((pw - 1) // 2, pw // 2))  # back onto the h x w cells

        def to_pixels(m):
            return upsample(np.pad(m, pad, mode="edge") if m.shape[:2] != (h, w) else m, (height, width))

        return feats, np.asarray(features, np.float64), centres, to_pixels
    from mammo_tf.imaging.windows import grid_shape, pair, window_grid
    from mammo_tf.shen.sliding import heatmap_to_pixels

    wy, wx = pair(window)
    if wy > height or wx > width:
        raise UsageError(f"the {wy}x{wx} window is larger than the {height}x{width} image")
    y0, x0 = window_grid((height, width), (wy, wx), stride)
    gh, gw = grid_shape((height, width), (wy, wx), stride)
    maps = []
    for start in range(0, len(y0), batch_size):
        crops = np.stack([x[0, y:y + wy, v:v + wx] for y, v in zip(y0[start:start + batch_size],
                                                                   x0[start:start + batch_size])])
        maps.append(np.asarray(split.features.predict_on_batch(crops), np.float64))
    features = np.concatenate(maps)
    feats = features.mean(axis=(1, 2)).reshape(gh, gw, -1)
    centres = np.stack([(y0 + wy // 2).reshape(gh, gw), (x0 + wx // 2).reshape(gh, gw)], -1).astype(np.float64)
    return feats, features, centres, lambda m: heatmap_to_pixels(m, (height, width), (wy, wx), stride)


def explain(split, image, pixel_mean, class_index=None, top_n=8, unit_labels=None, class_names=None,
            max_units=5, benchmark_units=BENCHMARK_UNITS, benchmark_pool=BENCHMARK_POOL, scale=None,
            decision=None, class_map="fcn", window=None, stride=None, source=None, pool=None):
    """Compute an explanation (no files). ``image``: uint16 (H, W) or a path.

    Scale (``scale``, a ``mammo_tf.deepminer.scale.Scale``): the mammogram is resized so the
    network sees lesions at its training scale (the run's input size, pixel spacing or
    DeepMiner's rule); None: a fixed-size model's input size, else the image as given (the
    caller states it is at the training scale; the commands resolve it from the run and refuse
    an unknown one).

    Decision: ``decision`` (a dict from ``pipeline.model_decision``: the whole-image model's
    P(malignant), calibrated where its run has a calibration) leads the record; without it the
    decision is the explained network's own: the maximum over locations of its class map.

    Class map (GAP+Dense heads): the per-location probability of the explained classes
    (``class_index``: one or several; default ``default_explained_classes``: the malignant
    patch classes summed, or the positive class) at every location of the fully convolutional
    network (``class_map="fcn"``, DeepMiner) or of the patch classifier's ``window`` px windows
    at ``stride`` (``"windows"``, a heatmap classifier's sliding mode). The decision location is
    its maximum ("max over locations"); ``explained_class`` is the most probable explained class
    there. Other heads: Grad-CAM / HiResCAM of the explained class and the gradient influence.

    Units: ranked by their influence on that decision: the unit's exact share of the logit
    margin between the explained class and the strongest other class at the decision location,
    F_k(l*) x (w_k,c - w_k,j) (the shares plus the bias difference sum to the margin). A unit
    saturated at its ceiling (MobileNet's ReLU6: 6) everywhere scores only where it is active
    at the decision; DeepMiner's image-level max(A_k) x w_kc is kept as ``deepminer_influence``.
    The ``top_n`` (8) units are ``top_units``; ``units`` (drawn) the annotated ones among them,
    at most ``max_units`` (5); without ``unit_labels`` the first ``max_units``, unlabelled.
    ``benchmark_explanation``: the paper's expert benchmark (section 3.2): the labels of the
    first ``benchmark_units`` (3) annotated units among the ``benchmark_pool`` (20) most
    influential.

    ``source``: the file an array ``image`` was read from (the record and its pixel spacing).
    Returns a dict with the display image, maps (at the resized input's resolution) and the
    JSON record.
    """
    class_names = list(class_names or default_class_names(split.num_classes))
    path = None if source is None else os.fspath(source)
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        image = load_image(path)
    original = tuple(image.shape)
    scale_record = None
    size = split.input_size
    if size is not None and None not in size:
        image = resize_image(image, size)
        scale_record = {"rule": "fixed model input", "from_size": list(original), "to_size": list(size)}
    elif scale is not None:
        scale_record = scale.record(original, path)
        image = resize_image(image, scale_record["to_size"])
    x = to_network_input(image[None], pixel_mean)
    if class_index is None:
        group = default_explained_classes(class_names)
    else:
        group = list(class_index) if isinstance(class_index, (list, tuple)) else [int(class_index)]
    group = None if group is None else [int(g) for g in group]
    labels = unit_labels or {}
    ceiling = _activation_ceiling(split)
    if split.gap_dense:
        if class_map not in ("fcn", "windows"):
            raise UsageError(f"class map must be fcn or windows, got {class_map!r}")
        if class_map == "windows":
            window = window or split.native_size
            if window is None:
                raise UsageError("class map 'windows' needs the window size (the patch size)")
            stride = int(stride or max(1, min(np.atleast_1d(window)) // 4))
        from mammo_tf.deepminer.graph import scores_to_probabilities

        feats, raw, centres, to_pixels = _location_features(split, x, class_map, window, stride, pool)
        gh, gw, k = feats.shape
        kernel, bias = split.kernel, split.bias
        logits = feats.reshape(-1, k) @ kernel + bias
        probs = scores_to_probabilities(logits, split.output_activation).reshape(gh, gw, -1)
        logits = logits.reshape(gh, gw, -1)
        cls_all = list(range(probs.shape[-1]))
        if group is None:
            group = [int(np.unravel_index(np.argmax(probs), probs.shape)[-1])]
        heat = probs[..., group].sum(-1)
        loc = np.unravel_index(int(np.argmax(heat)), heat.shape)
        c = int(group[int(np.argmax(probs[loc][group]))])
        others = [j for j in cls_all if j not in group] or [j for j in cls_all if j != c]
        j = int(others[int(np.argmax(probs[loc][others]))]) if (
            others and split.output_activation == "softmax") else None
        weight = kernel[:, c] - (kernel[:, j] if j is not None else 0.0)
        influence = feats[loc] * weight
        margin = float(logits[loc][c] - (logits[loc][j] if j is not None else 0.0))
        bias_share = float(bias[c] - (bias[j] if j is not None else 0.0))
        max_act = raw.reshape(-1, k).max(axis=0)
        at_decision = feats[loc]
        deepminer = max_act * kernel[:, c]
        point = centres[loc]
        class_map_picture = to_pixels(heat)
        maps = {"class_map": class_map_picture}
        unit_picture = lambda ch: to_pixels((raw[0] if class_map == "fcn" else feats)[..., ch])
        method = class_map
        influence_text = (f"F_k at the decision location x (w_k[{class_names[c]}] - w_k["
                          f"{class_names[j] if j is not None else '0'}]): the unit's share of the "
                          "logit margin there")
        location_probs = probs[loc]
        decision_value = float(heat[loc])
        map_shape = [gh, gw]
        feature_map_size = list(raw.shape[1:3])
    else:
        features, influence_all, outputs = compute_influence(split, x)
        if group is None:
            group = [int(np.argmax(outputs[0]))]
        c = int(max(group, key=lambda i: outputs[0][int(i)]))
        grad_maps, _, _ = class_maps(split, x, c)
        method = next(iter(grad_maps))  # "grad_cam" (HiResCAM also returned)
        maps = {m: upsample(v[0], image.shape) for m, v in grad_maps.items()}
        class_map_picture = maps[method]
        point = np.unravel_index(int(np.argmax(class_map_picture)), class_map_picture.shape)
        loc, j, margin, bias_share = None, None, None, None
        influence = influence_all[0, :, c]
        k = influence.shape[0]
        max_act = np.asarray(features[0]).reshape(-1, k).max(axis=0)
        at_decision = max_act
        deepminer = influence
        unit_picture = lambda ch: upsample(features[0, :, :, ch], image.shape)
        influence_text = "max(A_k) x mean(dy_c/dA_k) x Z (gradient form)"
        location_probs = outputs[0]
        decision_value = float(outputs[0][group].sum())
        map_shape = list(features.shape[1:3])
        feature_map_size = map_shape
    ranked = np.argsort(-influence, kind="stable")

    def describe(ch):
        uid = unit_id(ch)
        out = {"unit": uid, "channel": int(ch), "influence": float(influence[ch]),
               "activation_at_decision": float(at_decision[ch]), "max_activation": float(max_act[ch]),
               "deepminer_influence": float(deepminer[ch]), "label": labels.get(uid) or UNLABELLED}
        if ceiling is not None:
            out["saturated"] = bool(max_act[ch] >= ceiling - 1e-6)
        return out

    top_units = [describe(ch) for ch in ranked[:top_n]]
    if labels:
        units = [u for u in top_units if u["label"] != UNLABELLED][:max_units]
        candidates = [describe(ch) for ch in ranked[:max(benchmark_pool, 0)]]
        benchmark = [u for u in candidates if u["label"] != UNLABELLED][:max(benchmark_units, 0)]
    else:
        units = top_units[:max_units]
        benchmark = []
    explained = " + ".join(class_names[g] for g in group)
    sy, sx = original[0] / image.shape[0], original[1] / image.shape[1]
    own = {"model": f"the explained network ({split.conversion}): maximum over locations of its "
                    f"class map", "probability": decision_value, "class": explained,
           "positive": bool(decision_value >= 0.5), "calibrated": False}
    record = {
        "decision": dict(decision) if decision else own,
        "image": path,
        "explained_class": class_names[c], "explained_classes": [class_names[g] for g in group],
        "class_map": method,
        "class_map_definition": (f"P({explained}) per location of the {'fully convolutional network' + (' (%dx%d cells averaged)' % tuple(pool) if pool else '') if method == 'fcn' else 'patch classifier on %s px windows at stride %d' % ('x'.join(map(str, np.atleast_1d(window))), stride)}"
                                 if split.gap_dense else f"{method} of {class_names[c]}"),
        "class_map_max": decision_value, "class_map_size": map_shape,
        "decision_location": None if loc is None else [int(v) for v in loc],
        "decision_point": [int(round(point[0] * sy)), int(round(point[1] * sx))],
        "probabilities": {n: float(p) for n, p in zip(class_names, location_probs)},
        "margin": margin, "bias_share": bias_share,
        "predicted_class": (decision or own)["class"] if (decision or own)["positive"]
        else f"not {(decision or own)['class']}",
        "scale": scale_record, "original_size": list(original),
        "layer": split.layer_name, "head": "GAP+Dense" if split.gap_dense else "other (gradient maps)",
        "influence": influence_text, "activation_ceiling": ceiling,
        "input_size": list(image.shape), "fully_convolutional": bool(split.fully_convolutional),
        "model_form": split.conversion, "feature_map_size": feature_map_size,
        "units": units, "top_units": top_units,
        "units_shown": ("annotated units among the top %d (at most %d)" % (top_n, max_units)
                        if labels else "no unit labels given: the top %d, unlabelled" % max_units),
        "benchmark_units": benchmark,
        "benchmark_explanation": [u["label"] for u in benchmark],
    }
    return {
        "record": record, "image": image,
        "maps": maps, "point": (float(point[0]), float(point[1])),
        "unit_maps": [unit_picture(u["channel"]) for u in units],
    }


def _decision_line(rec):
    d = rec["decision"]
    cal = "calibrated: " + d["calibration"] if d.get("calibrated") else "uncalibrated"
    return (f"P({d['class']}) = {d['probability']:.4f} ({cal}) -> "
            f"{'positive' if d['positive'] else 'negative'}")


def render_figure(result, path):
    """PNG: mammogram, class-map overlay with the decision point, one overlay per top unit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec, grey = result["record"], to_display(result["image"])
    panels = [("input", grey, None)]
    for name, heat in result["maps"].items():
        title = (f"class map {rec['class_map']}: P({' + '.join(rec['explained_classes'])})\n"
                 f"max {rec['class_map_max']:.2f} (+)" if name == "class_map"
                 else f"{name} ({rec['explained_class']})")
        panels.append((title, grey, heat))
    for u, m in zip(rec["units"], result["unit_maps"]):
        sat = " (saturated)" if u.get("saturated") else ""
        panels.append((f"{u['unit']}: {u['label']}\ninfluence {u['influence']:.3g}{sat}", grey, m))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.8), squeeze=False)
    py, px = result["point"]
    for i, (ax, (title, g, heat)) in enumerate(zip(axes[0], panels)):
        ax.imshow(g if heat is None else overlay(g, heat), cmap="gray")
        if i > 0:
            ax.plot([px], [py], marker="+", color="white", markersize=10, markeredgewidth=1.5)
        ax.set_title(title, fontsize=7)
        ax.axis("off")
    fig.suptitle(f"decision: {_decision_line(rec)}; explained: {rec['explained_class']} "
                 f"(layer {rec['layer']})", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    from mammo_tf.utils import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def render_html(result, png_name, path):
    rec = result["record"]
    d = rec["decision"]
    probs = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>" for k, v in rec["probabilities"].items())
    sat_col = rec.get("activation_ceiling") is not None
    units = "".join(f"<tr><td>{u['unit']}</td><td>{html.escape(u['label'])}</td><td>{u['influence']:.4g}</td>"
                    f"<td>{u['activation_at_decision']:.4g}</td><td>{u['max_activation']:.4g}"
                    f"{' (saturated)' if u.get('saturated') else ''}</td></tr>" for u in rec["units"])
    bench = ("<p>Benchmark explanation (the three most influential annotated units): "
             + html.escape("; ".join(rec["benchmark_explanation"])) + "</p>"
             if rec.get("benchmark_explanation") else "")
    scale = rec.get("scale") or {}
    scale_text = (f"{html.escape(scale.get('rule', ''))}: {scale['from_size'][0]}x{scale['from_size'][1]} -> "
                  f"{scale['to_size'][0]}x{scale['to_size'][1]}"
                  + (f" ({html.escape(scale['source'])})" if scale.get("source") else "")
                  if scale else "the image as given")
    cal = (f"calibrated: {html.escape(d['calibration'])}; uncalibrated "
           f"{d['uncalibrated_probability']:.4f}" if d.get("calibrated") else "uncalibrated")
    point = rec["decision_point"]
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Explanation</title>
<style>body{{font-family:system-ui,sans-serif;margin:16px}}td,th{{padding:2px 10px;border-bottom:1px solid #ddd}}.decision{{font-size:1.2em}}</style></head>
<body><h2>Explanation: {html.escape(os.path.basename(rec['image'] or 'image'))}</h2>
<p class="decision">Decision: <b>P({html.escape(d['class'])}) = {d['probability']:.4f}</b> ({cal}):
<b>{'positive' if d['positive'] else 'negative'}</b>. Model: {html.escape(d['model'])}.</p>
<p>Explained class: <b>{html.escape(' + '.join(rec['explained_classes']))}</b>. Class map:
{html.escape(rec['class_map_definition'])}; its maximum, {rec['class_map_max']:.4f}, is at pixel
(y {point[0]}, x {point[1]}) of the image (+ in the figure): the location the decision rests on.
Scale: {scale_text}.</p>
<img src="{html.escape(png_name)}" style="max-width:100%">
<h3>Most influential units on that decision</h3><p>{html.escape(rec['units_shown'])}. Influence =
{html.escape(rec['influence'])}{'; units at the activation ceiling (%g) are marked saturated' % rec['activation_ceiling'] if sat_col else ''}.</p>
<table><tr><th>unit</th><th>expert label</th><th>influence</th><th>activation at the decision</th><th>max activation</th></tr>{units}</table>
{bench}<h3>Class probabilities at the decision location</h3><table>{probs}</table>
<p>Unit ids are 1-based (<code>unit_0001</code> = channel 0). Layer <code>{html.escape(rec['layer'])}</code> (head: {rec['head']}; {html.escape(rec['model_form'])}).</p>
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
