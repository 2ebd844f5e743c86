# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DeepMiner in one call: rank the last-conv units by influence, dissect the selected ones on a
probe set, build the experts' annotation site, and explain one image with its class map."""
import os

from mammo_tf.deepminer.annotate import build_site
from mammo_tf.deepminer.dissect import dissect
from mammo_tf.deepminer.explanation import explain_to_files, resolve_class
from mammo_tf.deepminer.graph import split_model
from mammo_tf.deepminer.probe import ImageListProbe, open_probe
from mammo_tf.deepminer.rank import rank_units, write_rankings
from mammo_tf.errors import RunError


def load_model(path, pixel_mean=None):
    """(model, pixel_mean, model_path) of the model to explain: a run folder or a ``.keras``
    file inside one (``mammo_tf.runs.load_run``: the pixel mean comes from its run.json unless
    given), or an in-memory Keras model with ``pixel_mean``. Raises ValueError naming the cause."""
    from mammo_tf.runs import SHEN_KINDS, RunFormatError, load_keras_model, load_run

    if not isinstance(path, (str, os.PathLike)):  # an in-memory model
        if pixel_mean is None:
            raise ValueError("an in-memory model needs pixel_mean")
        return path, float(pixel_mean), None
    try:
        loaded = load_run(path)
    except RunFormatError:
        if pixel_mean is None or not os.path.isfile(path):
            raise
        # a .keras file outside a run folder: explaining it needs only the model and the mean
        return load_keras_model(path), float(pixel_mean), os.fspath(path)
    if loaded.info.kind not in SHEN_KINDS or not str(loaded.model_path).endswith(".keras"):
        raise RunError(f"{loaded.model_path}: DeepMiner explains the Keras model of a Shen "
                         f"image classifier run, not a {loaded.info.kind!r} "
                         f"{'SavedModel' if loaded.raw_input else 'model'}")
    pixel_mean = loaded.info.pixel_mean if pixel_mean is None else pixel_mean
    if pixel_mean is None:
        raise RunError(f"{loaded.model_path}: its run.json records no pixel mean: pass --pixel-mean")
    return loaded.model, float(pixel_mean), loaded.model_path


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
                 select=4, top_k=8, progress=False, explain_class=None):
    """Write an explanation of ``image_path`` and an annotation site for the model into ``out_dir``.

    ``run_dir_or_model``: a run folder, a ``.keras`` file or an in-memory model (then ``pixel_mean``
    is required). ``probe``: the probe set for ranking/dissection (patch HDF5, manifest or folder);
    default: the images in ``image_path``'s folder (at most ``max_probe``). Writes
    ``<image name>.png/.html/.json``, ``rank/``, ``dissection/`` and ``annotation_site/index.html``;
    returns a dict of those paths. ``explain_class``: the class to explain (name, index, or
    several: the most probable of them); default the most probable class.
    """
    model, pixel_mean, model_path = load_model(run_dir_or_model, pixel_mean)
    split = split_model(model)
    if probe is None:
        folder = ImageListProbe.from_folder(os.path.dirname(os.path.abspath(image_path)))
        probe = ImageListProbe(folder.paths[:max_probe], description=f"{len(folder.paths[:max_probe])} demo images")
    elif isinstance(probe, (str, os.PathLike)):
        probe = open_probe(probe)
    ranking = rank_units(split, probe, pixel_mean, select=select, progress=progress)
    rankings_path = write_rankings(ranking, os.path.join(out_dir, "rank"), model_path)
    dissection_dir = os.path.join(out_dir, "dissection")
    dissect(split, probe, dissection_dir, pixel_mean, ranking["selected_units"], top_k=top_k, progress=progress,
            model_path=model_path)
    site = build_site(dissection_dir, os.path.join(out_dir, "annotation_site"), rankings_path)
    names = class_names_for(model_path, split)
    record = explain_to_files(split, image_path, pixel_mean, out_dir, class_names=names,
                              class_index=resolve_class(explain_class, names))
    return {"figure": record["figure"], "html": record["html"], "record": os.path.splitext(record["html"])[0] + ".json",
            "rankings": rankings_path, "dissection": os.path.join(dissection_dir, "dissection.json"), "site": site}
