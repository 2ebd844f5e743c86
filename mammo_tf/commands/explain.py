# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""``explain.py`` / ``mammo-tf explain``: the DeepMiner workflow rank -> dissect -> annotate ->
merge -> image, plus evaluate. Exit codes: 0 done; 2 bad input (a bad argument, a missing or
unusable model / probe / file), one line on stderr."""
import json
import os
import sys

from mammo_tf.commands.common import CommandParser as _Parser, report_error, setup_command

PROG = "explain.py"


def _model_args(p, probe=True):
    p.add_argument("--model", required=True, help="a .keras model file or a run folder (checkpoints/best.keras)")
    p.add_argument("--pixel-mean", type=float, default=None,
                   help="pixel mean on the 0-255 scale (default: the run folder's run.json)")
    p.add_argument("--layer", default=None,
                   help="feature layer (default: the layer feeding global_pool); 'nested/inner' for a layer "
                        "inside a nested backbone")
    p.add_argument("--batch-size", type=int, default=16, help="images per forward pass (default 16)")
    p.add_argument("--fixed-size", action="store_true",
                   help="resize every input to the model's fixed input size instead of running its fully "
                        "convolutional form (default: FCN; whole mammograms at their own resolution, "
                        "patches at the patch size; a heatmap classifier gives its patch classifier)")
    if probe:
        p.add_argument("--probe", required=True,
                       help="probe set: patch HDF5 (.h5), whole-image manifest (.csv) or a folder of images")
        p.add_argument("--manifest", default=None,
                       help="with a patch HDF5: the manifest its patches were cut from (whole-mammogram context, ROIs)")
        p.add_argument("--split", default=None, help="with a manifest probe: use only this split (train/val/test)")
        p.add_argument("--strict", action="store_true", help="stop at the first unreadable item instead of skipping it")
        _scale_args(p, "whole mammograms of a manifest or folder probe are resized")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _scale_args(p, what):
    p.add_argument("--scale", default="auto", metavar="RULE",
                   help=f"how {what} so the network sees lesions at its training scale: "
                        "auto (default: a whole-image run's input size; a patch run's recorded pixel "
                        "spacing against the image's), paper (DeepMiner: short side = 4 x the patch size), "
                        "native (as they are) or a resize FACTOR; an image whose scale cannot be "
                        "known is refused")
    p.add_argument("--pixel-spacing", type=float, default=None, metavar="MM",
                   help="the images' pixel spacing in mm where their files do not record it (with a patch "
                        "run that records its training pixel spacing)")


def build_parser(prog=PROG):
    parser = _Parser(prog=prog, description=(
        "DeepMiner explanations for mammo_tf Keras models. Workflow: rank (influential units) -> dissect "
        "(unit galleries) -> annotate (offline HTML survey for experts) -> merge (unit_labels.json) -> image "
        "(explain one mammogram); evaluate checks class maps against ROI masks. Unit ids: unit_0001 = channel 0."))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    p = sub.add_parser("rank", help="rank units by how often they are among an image's most influential",
                       description="Influence of unit k for class c = max(A_k) x w_ck (GAP+Dense head) or "
                                   "max(A_k) x mean(dy_c/dA_k) x Z (other heads). Writes rankings.json and units.csv.")
    _model_args(p)
    p.add_argument("--top-per-image", type=int, default=8, help="units counted per image and class (default 8)")
    p.add_argument("--select", type=int, default=20, help="units selected per class (default 20)")
    p.add_argument("--gradient", action="store_true", help="use the gradient form even for a GAP+Dense head")
    p.add_argument("--out", required=True, help="output folder")

    p = sub.add_parser("dissect", help="unit galleries: top-k activating items per unit, masked",
                       description="One streaming pass (per-unit top-k and quantile histogram; memory independent "
                                   "of the probe size), then a re-run of only the top-k items per unit. Writes "
                                   "dissection.json, units/<unit>.png galleries and units/<unit>/rank_NN.png tiles.")
    _model_args(p)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--rankings", default=None, help="rankings.json: dissect its selected units")
    group.add_argument("--units", default=None, help="comma-separated unit ids (unit_0001,...); default all units")
    p.add_argument("--top-k", type=int, default=32, help="items per unit (default 32)")
    p.add_argument("--threshold", choices=("top1", "quantile"), default="top1",
                   help="mask threshold: top1 = fraction x the unit's top-1 maximum (DeepMiner, default); "
                        "quantile = the unit's dataset quantile (NetDissect)")
    p.add_argument("--top1-fraction", type=float, default=0.2)
    p.add_argument("--quantile", type=float, default=0.995)
    p.add_argument("--bins", type=int, default=1024, help="histogram bins per unit for the quantile estimate")
    p.add_argument("--tile-size", type=int, default=224, help="saved tile size in pixels (longer side)")
    p.add_argument("--cache-mb", type=float, default=256,
                   help="keep the top-k feature maps from the pass when they fit in this many MB (no second "
                        "forward pass); 0 = always re-run the top-k items (default 256)")
    p.add_argument("--out", required=True, help="output folder")

    p = sub.add_parser("annotate", help="write the offline annotation site for a dissection",
                       description="Self-contained HTML site (open index.html from disk; no server). Answers persist "
                                   "in the browser and are exported as JSON with the Export button.")
    p.add_argument("--dissection", required=True, help="folder written by dissect")
    p.add_argument("--rankings", default=None, help="rankings.json (class badges; only its selected units)")
    p.add_argument("--vocabulary", default=None, help="concept vocabulary JSON (default: the shipped BI-RADS one)")
    p.add_argument("--title", default=None)
    p.add_argument("--out", required=True, help="site folder")

    p = sub.add_parser("merge", help="merge annotators' exported JSON files into unit_labels.json",
                       description="Majority concept, agreement, Cohen's (2 annotators) or Fleiss' kappa per concept.")
    p.add_argument("annotations", nargs="+", help="annotation JSON files exported from the site")
    p.add_argument("--vocabulary", default=None)
    p.add_argument("--out", required=True, help="output unit_labels.json")

    p = sub.add_parser("image", help="explain one mammogram (DICOM/PNG): the model's decision, class map, top units",
                       description="Leads with the decision of the model given (a whole-image run: its P(malignant) "
                                   "at its input size, calibrated with the run's calibration.json), then explains it: "
                                   "the mammogram at the training scale (--scale), the class map of the decision's "
                                   "class (malignant patch classes / positive class) per location of the fully "
                                   "convolutional network or per patch window (GAP+Dense heads; Grad-CAM and HiResCAM "
                                   "otherwise), its maximum as the decision's location, and the units ranked by their "
                                   "share of the decision there. Writes <name>.png/.html/.json.")
    _model_args(p, probe=False)
    p.add_argument("image", help="mammogram file (DICOM, PNG, PGM), or a folder (a DICOM study: each mammogram)")
    p.add_argument("--allow-for-processing", action="store_true",
                   help="explain DICOM images whose Presentation Intent Type is FOR PROCESSING (refused by default)")
    p.add_argument("--class", dest="class_", metavar="CLASS", default=None, help="class to explain (name or index; default predicted)")
    p.add_argument("--top-n", type=int, default=8,
                   help="the image's most influential units considered (default 8, DeepMiner's)")
    p.add_argument("--max-units", type=int, default=5,
                   help="annotated units shown among them (default 5: DeepMiner's 'up to five units "
                        "that have been annotated'); without --labels the top ones, unlabelled")
    p.add_argument("--labels", default=None, help="unit_labels.json from merge")
    _scale_args(p, "the mammogram is resized")
    p.add_argument("--class-map", choices=("fcn", "windows"), default=None,
                   help="fcn: every location of the fully convolutional network (DeepMiner); windows: the "
                        "patch classifier on every patch-size window (default: a heatmap classifier's own "
                        "mode, else fcn)")
    p.add_argument("--stride", type=int, default=None,
                   help="window stride in pixels for --class-map windows (default: the heatmap "
                        "classifier's, else a quarter of the patch)")
    p.add_argument("--out", required=True, help="output folder")

    p = sub.add_parser("evaluate", help="pointing game, energy share, deletion AUC and sanity check on ROI images",
                       description="Needs a manifest (or patch HDF5 + --manifest) with ROI masks.")
    _model_args(p)
    p.add_argument("--class", dest="class_", metavar="CLASS", default=None, help="class whose map is evaluated (default: 1 for "
                   "two-class models, else the predicted class)")
    p.add_argument("--step", type=float, default=0.01, help="deletion step as a fraction of the breast area")
    p.add_argument("--no-deletion", action="store_true", help="skip the deletion curves")
    p.add_argument("--randomize-layers", default=None, help="comma-separated layers for the sanity check "
                   "(default: the weighted layers after the feature layer)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output evaluation.json")
    return parser


def _check_positive(args, parser, *names):
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {value}")


_LOADED = {}  # one model load for all the images of a folder


def _load(args):
    from mammo_tf.deepminer.graph import split_model
    from mammo_tf.deepminer.pipeline import load_explained

    key = (args.model, args.pixel_mean, args.layer, args.fixed_size)
    if key not in _LOADED:
        model, pixel_mean, model_path, info, run_dir = load_explained(args.model, args.pixel_mean)
        _LOADED.clear()
        _LOADED[key] = (split_model(model, args.layer, fcn=not args.fixed_size), pixel_mean,
                        model_path, (model, info, run_dir))
    split, pixel_mean, model_path, args._loaded = _LOADED[key]
    return split, pixel_mean, model_path


def _explain_folder(args):
    """``explain image FOLDER``: each mammogram of a DICOM folder (``io.dicom_study.image_inputs``:
    refused instances listed, never stopping the others)."""
    import argparse

    from mammo_tf.io.dicom_study import image_inputs

    paths, problems = image_inputs(args.image, args.allow_for_processing)
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    if not paths:
        return report_error(f"{PROG} image", f"{args.image}: no image to explain")
    for path in paths:
        print(f"{path}:")
        run(argparse.Namespace(**dict(vars(args), image=path)))
    return 0


def _probe(args, split):
    from mammo_tf.deepminer.pipeline import patch_size_of
    from mammo_tf.deepminer.probe import ImageListProbe, open_probe
    from mammo_tf.deepminer.scale import resolve_scale

    probe = open_probe(args.probe, args.manifest, args.split)
    if isinstance(probe, ImageListProbe) and split.fully_convolutional:
        model, info, _ = args._loaded
        probe.scale = resolve_scale(info, patch_size_of(model), args.scale, args.pixel_spacing)
    return probe


def _report_failures(probe):
    if probe.failures:
        print(f"skipped {len(probe.failures)} unreadable item(s):", file=sys.stderr)
        for index, error in probe.failures[:20]:
            print(f"  item {index}: {error}", file=sys.stderr)


def run(args):
    from mammo_tf.deepminer.pipeline import class_names_for

    command = args.command
    progress = not getattr(args, "quiet", False)
    if command == "merge":
        from mammo_tf.deepminer.annotate import load_vocabulary
        from mammo_tf.deepminer.merge import merge_annotations, write_unit_labels

        vocab = load_vocabulary(args.vocabulary) if args.vocabulary else None
        record = write_unit_labels(merge_annotations(args.annotations, vocab), args.out)
        print(f"wrote {record}")
        return 0
    if command == "annotate":
        from mammo_tf.deepminer.annotate import build_site, load_vocabulary

        vocab = load_vocabulary(args.vocabulary) if args.vocabulary else None
        print(f"wrote {build_site(args.dissection, args.out, args.rankings, vocab, args.title)}")
        return 0
    if command == "image" and os.path.isdir(args.image):
        return _explain_folder(args)
    split, pixel_mean, model_path = _load(args)
    print(f"model {model_path or 'in memory'} ({split.conversion}); feature layer {split.layer_name} "
          f"({split.num_units} units); head {'GAP+Dense' if split.gap_dense else 'other (gradient form)'}")
    if command == "rank":
        from mammo_tf.deepminer.rank import rank_units, write_rankings

        probe = _probe(args, split)
        result = rank_units(split, probe, pixel_mean, args.top_per_image, args.select, args.batch_size,
                            args.gradient, class_names=class_names_for(model_path, split),
                            progress=progress, strict=args.strict)
        path = write_rankings(result, args.out, model_path)
        print(f"coverage: if the selected units were annotated, the share of the per-image top "
              f"{args.top_per_image} units over all {result['num_images']} images they would label")
        for name, info in result["classes"].items():
            print(f"{name:>16}: {len(info['selected'])} units cover {100 * info['coverage']:.2f}% of top-"
                  f"{args.top_per_image} slots")
        print(f"wrote {path} and units.csv")
        _report_failures(probe)
    elif command == "dissect":
        from mammo_tf.deepminer.dissect import dissect

        units = None
        if args.rankings:
            with open(args.rankings, encoding="utf-8") as f:
                units = json.load(f)["selected_units"]
        elif args.units:
            units = [u for u in args.units.split(",") if u.strip()]
        probe = _probe(args, split)
        result = dissect(split, probe, args.out, pixel_mean, units, args.top_k, args.batch_size, args.threshold,
                         args.top1_fraction, args.quantile, args.bins, args.tile_size, progress=progress,
                         strict=args.strict, model_path=model_path, cache_mb=args.cache_mb)
        print(f"dissected {len(result['units'])} units over {result['num_images']} items; "
              f"wrote {os.path.join(args.out, 'dissection.json')}")
        _report_failures(probe)
    elif command == "image":
        from mammo_tf.deepminer.explanation import resolve_class
        from mammo_tf.deepminer.merge import load_unit_labels
        from mammo_tf.deepminer.pipeline import explain_file

        labels = load_unit_labels(args.labels) if args.labels else None
        names = class_names_for(model_path, split)
        model, info, run_dir = args._loaded
        record = explain_file(model, pixel_mean, model_path, info, run_dir, args.image, args.out,
                              scale=args.scale, pixel_spacing=args.pixel_spacing, split=split,
                              class_map=args.class_map, stride=args.stride,
                              class_index=resolve_class(args.class_, names), top_n=args.top_n,
                              unit_labels=labels, max_units=args.max_units, class_names=names)
        d = record["decision"]
        print(f"decision: P({d['class']}) = {d['probability']:.4f}"
              f"{' (calibrated: ' + d['calibration'] + ')' if d.get('calibrated') else ''} -> "
              f"{'positive' if d['positive'] else 'negative'} ({d['model']})")
        scale = record.get("scale") or {}
        print(f"explained {' + '.join(record['explained_classes'])}: class map {record['class_map_definition']}, "
              f"max {record['class_map_max']:.3f} at (y {record['decision_point'][0]}, x "
              f"{record['decision_point'][1]}); scale {scale.get('rule', 'as given')} "
              f"{'x'.join(map(str, record['original_size']))} -> {'x'.join(map(str, record['input_size']))} "
              f"(feature map {'x'.join(map(str, record['feature_map_size']))} "
              + (f"per window)" if record["class_map"] == "windows"
                 else f"for a {'x'.join(map(str, record['input_size']))} input)"))
        print(f"{record['units_shown']}, ranked by influence on the decision:")
        for u in record["units"]:
            print(f"  {u['unit']}: {u['label']} (influence {u['influence']:.3g}"
                  f"{', saturated' if u.get('saturated') else ''})")
        if record["benchmark_explanation"]:
            print("benchmark explanation (3 most influential annotated units): "
                  + "; ".join(record["benchmark_explanation"]))
        print(f"wrote {record['figure']}, {record['html']}")
    elif command == "evaluate":
        from mammo_tf.deepminer.evaluation import evaluate_maps, write_evaluation
        from mammo_tf.deepminer.explanation import resolve_class

        probe = _probe(args, split)
        layers = args.randomize_layers.split(",") if args.randomize_layers else None
        summary = evaluate_maps(split, probe, pixel_mean, resolve_class(args.class_, class_names_for(model_path, split)),
                                args.step, args.seed, layers, not args.no_deletion, progress)
        write_evaluation(summary, args.out)
        for key in ("pointing_game", "energy_share", "deletion_auc"):
            if summary[key] is not None:
                print(f"{key:>14}: {summary[key]:.3f} (random map {summary[key + '_random']:.3f})")
        print(f"randomized-top-layer Spearman: {summary['randomized_spearman']:.3f}; wrote {args.out}")
        _report_failures(probe)
    return 0


def main(argv=None, prog=PROG):
    args = build_parser(prog).parse_args(argv)
    parser = _Parser(prog=f"{prog} {args.command}")  # later checks name the sub-command, as argparse's do
    _check_positive(args, parser, "batch_size", "top_per_image", "select", "top_k", "top_n", "max_units", "bins",
                    "tile_size", "step", "pixel_spacing", "stride")
    if getattr(args, "quantile", None) is not None and not 0 < args.quantile < 1:
        parser.error(f"--quantile must be in (0, 1), got {args.quantile}")
    for name in ("probe", "dissection", "image", "labels", "rankings", "manifest"):
        value = getattr(args, name, None)
        if value and not os.path.exists(value):
            parser.error(f"--{name} {value!r} does not exist" if name != "image" else f"image {value!r} does not exist")
    model = getattr(args, "model", None)
    if model and not os.path.exists(model):
        parser.error(f"--model {model!r} does not exist")
    for path in getattr(args, "annotations", None) or []:
        if not os.path.isfile(path):
            parser.error(f"annotation file {path!r} does not exist")
    setup_command()
    from mammo_tf.errors import MammoTfError

    try:
        return run(args)
    except MammoTfError as exc:  # an unusable model, probe, file or option: one line, exit 2
        return report_error(f"{prog} {args.command}", exc)
