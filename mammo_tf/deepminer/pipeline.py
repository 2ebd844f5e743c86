# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DeepMiner in one call: rank the last-conv units by influence, dissect the selected ones on a
probe set, build the experts' annotation site, and explain one image with its class map."""
import os

import numpy as np

from mammo_tf.deepminer.annotate import build_site
from mammo_tf.deepminer.dissect import dissect
from mammo_tf.deepminer.explanation import explain, explain_to_files, resolve_class
from mammo_tf.deepminer.graph import split_model
from mammo_tf.deepminer.probe import ImageListProbe, open_probe
from mammo_tf.deepminer.rank import rank_units, write_rankings
from mammo_tf.errors import RunError


def load_explained(path, pixel_mean=None):
    """(model, pixel_mean, model_path, info, run_dir) of the model to explain: a run folder or
    a ``.keras`` file inside one (``mammo_tf.runs.load_run``: the pixel mean comes from its
    run.json unless given; ``info`` its RunInfo, ``run_dir`` its folder), or an in-memory Keras
    model or a ``.keras`` file outside a run with ``pixel_mean`` (``info``, ``run_dir`` None).
    Raises ValueError naming the cause."""
    from mammo_tf.runs import SHEN_KINDS, RunFormatError, load_keras_model, load_run

    if not isinstance(path, (str, os.PathLike)):  # an in-memory model
        if pixel_mean is None:
            raise ValueError("an in-memory model needs pixel_mean")
        return path, float(pixel_mean), None, None, None
    try:
        loaded = load_run(path)
    except RunFormatError:
        if pixel_mean is None or not os.path.isfile(path):
            raise
        # a .keras file outside a run folder: explaining it needs only the model and the mean
        return load_keras_model(path), float(pixel_mean), os.fspath(path), None, None
    if loaded.info.kind not in SHEN_KINDS or not str(loaded.model_path).endswith(".keras"):
        raise RunError(f"{loaded.model_path}: DeepMiner explains the Keras model of a Shen "
                         f"image classifier run, not a {loaded.info.kind!r} "
                         f"{'SavedModel' if loaded.raw_input else 'model'}")
    pixel_mean = loaded.info.pixel_mean if pixel_mean is None else pixel_mean
    if pixel_mean is None:
        raise RunError(f"{loaded.model_path}: its run.json records no pixel mean: pass --pixel-mean")
    run_dir = getattr(loaded.run, "path", None)
    return loaded.model, float(pixel_mean), loaded.model_path, loaded.info, run_dir


def load_model(path, pixel_mean=None):
    """(model, pixel_mean, model_path): ``load_explained`` without the run's info."""
    return load_explained(path, pixel_mean)[:3]


def patch_size_of(model):
    """The patch classifier's input side inside ``model``: a heatmap classifier's window, else
    the model's fixed input size (None when it takes any size)."""
    names = {layer.name for layer in model.layers}
    if "windows" in names:
        return int(min(model.get_layer("windows").window))
    shape = tuple(model.inputs[0].shape[1:3])
    return None if None in shape else int(min(shape))


def class_map_settings(model, info):
    """(mode, window, stride) of the explanation's class map, the model's own heatmap where it
    has one: a heatmap classifier in "sliding" mode through its windows (its patch size, its
    stride); one in "fcn" mode, and everything else, through the fully convolutional network
    (DeepMiner; ``class_map_pool`` gives the fcn-mode heatmap's patch-window pooling)."""
    details = (info.details if info is not None else {}) or {}
    names = {layer.name for layer in model.layers}
    if "windows" in names:
        windows = model.get_layer("windows")
        return "windows", tuple(windows.window), int(windows.stride)
    if details.get("heatmap_mode") == "sliding" and details.get("heatmap_stride"):
        return "windows", None, int(details["heatmap_stride"])
    return "fcn", None, None


def class_map_pool(model):
    """(ph, pw) feature cells a heatmap classifier in "fcn" mode averages before its 1x1
    softmax convolution (its ``patch_window_pool`` layer: the patch's feature-map window, Shen's
    conversion), or None: the FCN's locations are classified one by one (DeepMiner)."""
    if "patch_window_pool" in {layer.name for layer in model.layers}:
        return tuple(int(v) for v in model.get_layer("patch_window_pool").pool_size)
    return None


def model_decision(model, info, run_dir, image, pixel_mean):
    """The decision of the model the user gave, for a whole-image run (``whole_top`` /
    ``whole_heatmap``): its P(positive) on ``image`` (uint16 (H, W)) resized to its input size,
    calibrated with the run's ``calibration.json`` where it has one. None for other runs (the
    explanation's own class map maximum is then the decision)."""
    from mammo_tf.deepminer.scale import WHOLE_IMAGE_KINDS
    from mammo_tf.io.images import resize_image
    from mammo_tf.preprocess import to_network_input

    if info is None or info.kind not in WHOLE_IMAGE_KINDS:
        return None
    size = tuple(info.input_size)
    x = to_network_input(resize_image(image, size)[None], pixel_mean)
    p = float(np.asarray(model.predict_on_batch(x))[0, 1])
    decision = {"model": f"{info.kind} run {run_dir or ''} at its {size[0]}x{size[1]} input".replace("  ", " "),
                "class": (info.classes or ["negative", "positive"])[1] if len(info.classes or []) == 2
                else "positive", "probability": p, "uncalibrated_probability": p, "calibrated": False}
    path = os.path.join(run_dir, "calibration.json") if run_dir else None
    if path and os.path.isfile(path):
        from mammo_tf.screening.calibration import load_calibration

        cal = load_calibration(path)
        decision["probability"] = float(cal(p))
        decision["calibrated"] = True
        fitted = cal.fitted_on or {}
        decision["calibration"] = (f"{cal.method}"
                                   + (f" T={cal.temperature:.3g}" if cal.method == "temperature" else "")
                                   + (f", fitted on the {fitted.get('split')} split" if fitted.get("split") else ""))
    decision["positive"] = bool(decision["probability"] >= 0.5)
    return decision


def explain_file(model, pixel_mean, model_path, info, run_dir, image, out_dir=None, scale=None,
                 pixel_spacing=None, split=None, class_map=None, stride=None, **kwargs):
    """Explain one mammogram (path or uint16 array) of a loaded model (``load_explained``): the
    scale resolved from the run (``resolve_scale``; UsageError when unknown), the decision of
    the model the user gave (``model_decision``), the class map settings of the model
    (``class_map_settings``; ``class_map`` / ``stride`` override). Writes the files into
    ``out_dir`` (returns the record) or, without ``out_dir``, returns ``explain``'s result."""
    from mammo_tf.deepminer.scale import resolve_scale
    from mammo_tf.io.images import load_image

    split = split or split_model(model)
    # a model explained at its fixed input size (not fully convolutional, or --fixed-size) is
    # resized to it whatever the scale; else the scale is resolved (refused when unknown)
    scale_rule = (resolve_scale(info, patch_size_of(model), scale, pixel_spacing)
                  if split.fully_convolutional else None)
    own_mode, window, own_stride = class_map_settings(model, info)
    mode = class_map or own_mode
    pool = class_map_pool(model) if mode == own_mode == "fcn" else None
    if mode == "windows" and window is None:
        window = (patch_size_of(model),) * 2 if patch_size_of(model) else split.native_size
    stride = stride or own_stride
    path = image if isinstance(image, (str, os.PathLike)) else None
    pixels = load_image(path) if path is not None else image
    decision = None
    if info is not None and info.kind in ("whole_top", "whole_heatmap"):
        decision = model_decision(model, info, run_dir, pixels, pixel_mean)
    kwargs.setdefault("class_names", class_names_for(model_path, split))
    args = dict(scale=scale_rule, decision=decision, class_map=mode, window=window, stride=stride,
                source=path, pool=pool, **kwargs)
    if out_dir is None:
        return explain(split, pixels, pixel_mean, **args)
    name = os.path.splitext(os.path.basename(path))[0] if path else None
    return explain_to_files(split, pixels, pixel_mean, out_dir, name=name, **args)


def class_names_for(model_path, split):
    """The explained model's class names: its run.json's when they fit the split's outputs (a
    heatmap classifier is explained through its patch classifier: the patch classes)."""
    from mammo_tf.constants import default_class_names

    if model_path:
        from mammo_tf.runs import locate_run

        try:
            classes = list(locate_run(model_path)[0].classes or [])
        except RunError:
            classes = []
        if len(classes) == split.num_classes:
            return classes
    return default_class_names(split.num_classes)


def mine_and_explain(run_dir_or_model, image_path, out_dir, probe=None, pixel_mean=None, max_probe=48,
                 select=4, top_k=8, progress=False, explain_class=None, scale=None, pixel_spacing=None):
    """Write an explanation of ``image_path`` and an annotation site for the model into ``out_dir``.

    ``run_dir_or_model``: a run folder, a ``.keras`` file or an in-memory model (then ``pixel_mean``
    is required). ``probe``: the probe set for ranking/dissection (patch HDF5, manifest or folder);
    default: the images in ``image_path``'s folder (at most ``max_probe``). Writes
    ``<image name>.png/.html/.json``, ``rank/``, ``dissection/`` and ``annotation_site/index.html``;
    returns a dict of those paths. ``explain_class``: the class to explain (name, index, or
    several: the most probable at the class map's maximum); default the decision's class (the
    malignant patch classes, or the positive class). ``scale`` / ``pixel_spacing``: as the
    ``--scale`` / ``--pixel-spacing`` flags (``explain_file``); default from the run.
    """
    model, pixel_mean, model_path, info, run_dir = load_explained(run_dir_or_model, pixel_mean)
    split = split_model(model)
    if probe is None:
        folder = ImageListProbe.from_folder(os.path.dirname(os.path.abspath(image_path)))
        probe = ImageListProbe(folder.paths[:max_probe], description=f"{len(folder.paths[:max_probe])} demo images")
    elif isinstance(probe, (str, os.PathLike)):
        probe = open_probe(probe)
    if isinstance(probe, ImageListProbe) and split.fully_convolutional:
        from mammo_tf.deepminer.scale import resolve_scale

        probe.scale = resolve_scale(info, patch_size_of(model), scale, pixel_spacing)
    ranking = rank_units(split, probe, pixel_mean, select=select, progress=progress)
    rankings_path = write_rankings(ranking, os.path.join(out_dir, "rank"), model_path)
    dissection_dir = os.path.join(out_dir, "dissection")
    dissect(split, probe, dissection_dir, pixel_mean, ranking["selected_units"], top_k=top_k, progress=progress,
            model_path=model_path)
    site = build_site(dissection_dir, os.path.join(out_dir, "annotation_site"), rankings_path)
    names = class_names_for(model_path, split)
    record = explain_file(model, pixel_mean, model_path, info, run_dir, image_path, out_dir, scale=scale,
                          pixel_spacing=pixel_spacing, split=split, class_names=names,
                          class_index=resolve_class(explain_class, names))
    return {"figure": record["figure"], "html": record["html"], "record": os.path.splitext(record["html"])[0] + ".json",
            "rankings": rankings_path, "dissection": os.path.join(dissection_dir, "dissection.json"), "site": site}
