# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The prediction command (``predict.py`` / ``mammo-tf predict``): argument parsing, cheap
checks before TensorFlow is imported, then ``mammo_tf.inference.predict``.

Exit codes: 0 done (unreadable images skipped and listed); 2 bad input: a bad argument, a
missing or unusable model / input / labels file, and an unreadable input image with
``--strict`` or when none of the images can be read (a bad input file is bad input).
"""
import argparse
import os
import sys

from mammo_tf.commands.common import CommandParser, exit_on_bad_input, report_error, setup_command

EXAMPLES = """examples:
  {prog} scans/ --model runs/whole --tta --out preds.csv
  {prog} dicom_study/ --model runs/whole --tta --out preds.csv   # DICOM folder: patient, side,
                                  # view and exam from the headers (or the image) in the CSV
  {prog} data/manifest.csv --split test --model runs/a/saved_model \\
      --model runs/b/checkpoints/best.keras --tta --out preds.csv   # averages two models
"""


def build_parser(prog="predict.py"):
    parser = CommandParser(
        prog=prog,
        description=(
            "Class probabilities for mammograms (DICOM, PNG, PGM) with the exact training\n"
            "preprocessing (16-bit scale -> 0-255, minus the run's pixel mean, grey -> 3 channels),\n"
            "optional 4-flip test-time augmentation and averaging of several models. Writes a CSV;\n"
            "with labels it also reports AUC with a bootstrap 95% CI and draws the ROC curve.\n"
            "Unreadable images are skipped and listed at the end (exit 2 at the first with --strict)."
        ),
        epilog=EXAMPLES.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image files, folders (searched recursively for .png/.pgm/.jpg and DICOM "
                             "files, with or without an extension) or manifest CSVs (columns image_id, "
                             "image_path, optional label, split). DICOM instances are checked (Modality "
                             "MG, FOR PRESENTATION, one grey frame) and grouped into exams by study; the "
                             "CSV gets their patient_id, side, view and study_id")
    parser.add_argument("-m", "--model", action="append", required=True, metavar="PATH",
                        help="a .keras model or an exported SavedModel folder; repeat to average models")
    parser.add_argument("-o", "--out", default="predictions.csv",
                        help="output CSV (image_id, path, prob_<class>..., n_models, tta[, label][, the manifest's "
                             "patient_id, side, view, study_id and subgroup columns]); "
                             "default: predictions.csv")
    parser.add_argument("--tta", action="store_true",
                        help="average the softmax over the image and its horizontal, vertical and "
                             "double flips (one batched forward pass)")
    parser.add_argument("--pixel-mean", type=float, default=None,
                        help="pixel mean (0-255 scale) to subtract; default: read from the model's run "
                             "folder. Not needed for SavedModels with embedded preprocessing")
    parser.add_argument("--size", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"), default=None,
                        help="resize images to this size for models without a fixed input size "
                             "(default 1152 896)")
    parser.add_argument("--batch-size", type=int, default=2, help="images per forward pass (x4 with --tta); default: 2")
    parser.add_argument("--split", default=None,
                        help="with a manifest input: only rows of this split (train/val/test)")
    parser.add_argument("--labels", default=None, metavar="CSV",
                        help="CSV with columns image_id,label (0/1 or class index) for evaluation")
    parser.add_argument("--roc", default=None, metavar="PNG",
                        help="ROC curve PNG when labels are known (default: <out>_roc.png)")
    parser.add_argument("--metrics", default=None, metavar="JSON",
                        help="metrics JSON when labels are known (default: <out>_metrics.json)")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the AUC CI; default: 1000")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed; default: 0")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first unreadable image or refused DICOM instance (exit 2) "
                             "instead of skipping it")
    parser.add_argument("--allow-for-processing", action="store_true",
                        help="read DICOM images whose Presentation Intent Type is FOR PROCESSING (raw "
                             "detector data; refused by default: models are trained on FOR PRESENTATION "
                             "images)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--report", default=None, metavar="DIR",
                        help="also write the screening report (report.json + report.html: image, breast "
                             "and exam AUC, calibration, operating points, subgroups; as 'mammo-tf "
                             "evaluate') into DIR; needs labels")
    parser.add_argument("--val-predictions", default=None, metavar="CSV",
                        help="with --report: this model's validation prediction CSV, on which the "
                             "calibration and the thresholds are fitted (never on these predictions)")
    from mammo_tf.commands.evaluate import add_report_options

    group = add_report_options(parser, with_manifest=False, with_n_boot=False)
    group.add_argument("--manifest", default=None, metavar="CSV",
                       help="manifest with patient_id, side, view (default: the first manifest CSV "
                            "among the inputs)")
    return parser


def check_arguments(parser, args):
    """Cheap checks done before TensorFlow is imported, so a bad call fails fast and cleanly."""
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.size is not None and min(args.size) < 32:
        parser.error(f"--size must be at least 32 32, got {args.size[0]} {args.size[1]}")
    if args.n_boot < 1:
        parser.error(f"--n-boot must be >= 1, got {args.n_boot}")
    for path in args.model:
        if not os.path.exists(path):
            parser.error(f"model {path!r} does not exist")
        if os.path.isfile(path) and not path.endswith(".keras"):
            parser.error(f"model {path!r} is neither a .keras file nor a SavedModel folder")
    for path in args.inputs:
        if not os.path.exists(path):
            parser.error(f"input {path!r} does not exist")
    if args.labels is not None and not os.path.isfile(args.labels):
        parser.error(f"labels file {args.labels!r} does not exist")
    for path in (args.val_predictions, args.manifest):
        if path is not None and not os.path.isfile(path):
            parser.error(f"file {path!r} does not exist")
    if args.report is None and (args.val_predictions or args.manifest or args.run or args.subgroup):
        parser.error("--val-predictions, --manifest, --run and --subgroup go with --report DIR")
    if args.run and len(args.run) != 1:
        parser.error("--run: one run folder (predict writes one averaged prediction set)")


def main(argv=None, prog="predict.py"):
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    setup_command()
    from mammo_tf.inference import predict as lib
    from mammo_tf.errors import DataError
    from mammo_tf.io import MammogramReadError
    from mammo_tf.utils import write_json_atomic

    with exit_on_bad_input(prog):  # an unusable manifest, labels file or model: one line, exit 2
        collected = lib.collect_inputs(args.inputs, split=args.split,
                                       allow_for_processing=args.allow_for_processing)
        items = collected.items
        if collected.problems and args.strict:
            return report_error(prog, f"{collected.problems[0]} (--strict)")
        _print_dicom_scan(collected)
        if not items:
            if collected.problems:
                return report_error(prog, f"none of the {len(collected.problems)} DICOM instance(s) can be "
                                          f"read ({collected.problems[0]})")
            parser.error(f"no images found in {' '.join(args.inputs)}")
        if args.labels is not None:
            labels = lib.read_labels_csv(args.labels)
            for item in items:
                if item.label is None:
                    item.label = labels.get(item.image_id)
        predictors = lib.load_predictors(args.model, args.pixel_mean)

    try:
        result = lib.predict_items(
            predictors, items, tta=args.tta, size=args.size, batch_size=args.batch_size,
            strict=args.strict, progress=not args.no_progress,
        )
    except MammogramReadError as exc:
        return report_error(prog, f"{exc} (--strict)")
    result.failures[:0] = [(p.path, str(p)) for p in collected.problems]
    if not result.items:
        first = result.failures[0][1] if result.failures else "no reason recorded"
        more = f"; and {len(result.failures) - 1} more" if len(result.failures) > 1 else ""
        return report_error(prog, f"none of the {len(result.failures)} images could be read ({first}{more})")
    lib.write_predictions_csv(args.out, result)
    print(f"wrote {len(result.items)} predictions ({len(predictors)} model(s), "
          f"TTA {'on' if args.tta else 'off'}) to {args.out}")

    stem = os.path.splitext(args.out)[0]
    if result.labels is not None:
        try:
            metrics = lib.evaluate_result(result, roc_path=args.roc or stem + "_roc.png",
                                          n_boot=args.n_boot, seed=args.seed,
                                          groups=lib.patient_ids(args.inputs, result.items))
        except DataError as exc:  # e.g. one class only: the AUC is undefined
            print(f"labels given but not evaluated: {exc}")
        else:
            metrics_path = args.metrics or stem + "_metrics.json"
            write_json_atomic(metrics_path, metrics)
            if "auc" in metrics:
                lo, hi = metrics["auc_ci95"]
                print(f"AUC {metrics['auc']:.4f} (95% CI {lo:.4f}-{hi:.4f}, {metrics['n_images']} "
                      f"images, {metrics['n_positive']} positive); ROC curve: {metrics['roc_png']}")
            else:
                print(f"one-vs-rest macro AUC {metrics['auc_ovr_macro']:.4f}, "
                      f"accuracy {metrics['accuracy']:.4f}")
            print(f"metrics: {metrics_path}")
    elif any(item.label is not None for item in result.items):
        print("some images have no label: AUC not computed")
    if args.report is not None:
        code = _write_report(args, result, prog)
        if code:
            return code

    if result.failures:
        print(f"skipped {len(result.failures)} unreadable image(s):", file=sys.stderr)
        for _, reason in result.failures:
            print(f"  {reason}", file=sys.stderr)
    return 0


def _print_dicom_scan(collected):
    """One summary of the DICOM scan: images, exams, where side and view came from, notes and
    exam-level reports (a study with missing views is reported, never refused)."""
    dicom = [item for item in collected.items if "sop_instance_uid" in item.info]
    if not dicom and not collected.problems:
        return
    sources = {}
    for item in dicom:
        for what in ("side", "view"):
            key = f"{what} from {item.info[what + '_source'] or 'nowhere (unknown)'}"
            sources[key] = sources.get(key, 0) + 1
    print(f"DICOM: {len(dicom)} image(s) in {len(collected.exams)} exam(s); "
          + ", ".join(f"{k} {v}" for k, v in sorted(sources.items())))
    for note, count in collected.notes.items():
        print(f"  note ({count} image(s)): {note}")
    for problem in collected.exam_problems:
        print(f"  {problem.message}")


def _write_report(args, result, prog):
    """The screening report of the predictions just written (``--report``)."""
    from mammo_tf.commands.evaluate import run_report, summary_lines

    if result.labels is None:
        return report_error(prog, "--report needs a label for every image")
    if args.manifest is None:
        args.manifest = next((p for p in args.inputs if p.lower().endswith(".csv")), None)
    args.report_n_boot = args.n_boot
    args.names = [os.path.splitext(os.path.basename(args.out))[0]]
    report, code = run_report(args, [args.out], args.report, args.val_predictions, prog)
    if report is None:
        return code
    for line in summary_lines(report):
        print(line)
    print(f"screening report: {report['files']['html']}")
    return 0

