# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""``mammo-tf evaluate``: the screening report (report.json + report.html) from prediction CSVs.

Exit codes: 0 done; 2 bad input (a missing or unusable CSV, manifest or option), one line on
stderr. Imports no TensorFlow.
"""
import argparse
import os
import sys

from mammo_tf.cli import CommandParser, report_error, setup_command

EXAMPLES = """examples:
  {prog} runs/whole/test_preds.csv --val runs/whole/val_preds.csv \\
      --manifest data/prepared/manifest.csv --out runs/whole/report
  {prog} a_test.csv b_test.csv --val a_val.csv --val b_val.csv --names A B \\
      --manifest data/prepared/manifest.csv --subgroup view --subgroup density --out cmp/
  {prog} nyu_test.csv --manifest data/exams.csv --val nyu_val.csv --out nyu_report/
"""


def add_report_options(parser, with_manifest=True, with_n_boot=True):
    """The report's options (shared with ``predict --report``, which has its own --manifest
    default and --n-boot)."""
    group = parser.add_argument_group("screening report")
    if with_manifest:
        group.add_argument("--manifest", default=None, metavar="CSV",
                           help="image manifest (patient_id, side, view, label, subgroup columns) or "
                                "NYU exam manifest (exam_id, patient_id, breast labels)")
    group.add_argument("--reducer", choices=("mean", "max", "nyu"), default="mean",
                       help="breast level from its images: mean (default), max, or nyu (mean of the CC "
                            "and MLO view means, the NYU view-wise rule)")
    group.add_argument("--missing-views", choices=("use", "drop"), default="use",
                       help="breasts lacking a CC or MLO image: use what exists (default) or drop them; "
                            "either way the report counts them")
    group.add_argument("--calibration", choices=("temperature", "isotonic", "none"), default="temperature",
                       help="calibration fitted on the validation predictions (default: temperature)")
    group.add_argument("--subgroup", action="append", default=[], metavar="COLUMN",
                       help="AUC by this manifest column (repeat): e.g. view, side, and the loaders' "
                            "density, age_band, manufacturer")
    group.add_argument("--task", choices=("malignant", "benign"), default="malignant",
                       help="NYU exam predictions: which breast columns (default: malignant)")
    group.add_argument("--run", action="append", default=None, metavar="RUN_DIR",
                       help="store each model's calibration.json in this run folder (one per model)")
    if with_n_boot:
        group.add_argument("--n-boot", dest="report_n_boot", type=int, default=1000,
                           help="bootstrap resamples (patients) for every CI; default: 1000")
    return group


def build_parser(prog="mammo-tf evaluate"):
    parser = CommandParser(
        prog=prog,
        description=(
            "Screening evaluation of prediction CSVs (predict.py's image predictions or the NYU\n"
            "model's exam predictions): image, breast and exam AUC with patient-bootstrap CIs,\n"
            "calibration fitted on validation (ECE, Brier, reliability diagrams), operating\n"
            "points, thresholds chosen on validation and applied unchanged to test, subgroups and,\n"
            "for several CSVs of the same cases, DeLong's paired test. Writes report.json and\n"
            "report.html (+ PNGs) into --out."),
        epilog=EXAMPLES.format(prog=prog), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("predictions", nargs="+", metavar="CSV",
                        help="test prediction CSV(s), one per model, of the same cases")
    parser.add_argument("--val", action="append", default=None, metavar="CSV",
                        help="validation prediction CSV, one per model in the same order (calibration "
                             "and thresholds are fitted on it only)")
    parser.add_argument("--names", nargs="+", default=None, help="model names (default: file names)")
    parser.add_argument("-o", "--out", default="report", help="output folder (default: report)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed; default: 0")
    add_report_options(parser)
    return parser


def check_files(parser, args):
    for path in list(args.predictions) + list(args.val or ()) + ([args.manifest] if args.manifest else []):
        if not os.path.isfile(path):
            parser.error(f"file {path!r} does not exist")
    for run in args.run or ():
        if not os.path.isdir(run):
            parser.error(f"run folder {run!r} does not exist")
    if args.report_n_boot < 1:
        parser.error(f"--n-boot must be >= 1, got {args.report_n_boot}")


def run_report(args, predictions, out, val, prog):
    """Write the report from parsed options; returns (report or None, exit code)."""
    from mammo_tf.screening.inputs import ReportError
    from mammo_tf.screening.report import write_report

    try:
        report = write_report(predictions, out, val=val, manifest=args.manifest,
                              names=getattr(args, "names", None), reducer=args.reducer,
                              missing_views=args.missing_views, calibration=args.calibration,
                              subgroups=args.subgroup, task=args.task, n_boot=args.report_n_boot,
                              seed=args.seed, run_dir=args.run)
    except (ReportError, ValueError) as exc:
        return None, report_error(prog, exc)
    return report, 0


def summary_lines(report):
    lines = []
    for name, model in report["models"].items():
        for level, e in model["levels"].items():
            ci = e.get("auc_ci95")
            auc = "undefined" if e["auc"] is None else f"{e['auc']:.4f}" + (
                f" (95% CI {ci[0]:.4f}-{ci[1]:.4f})" if ci else "")
            cal = e["calibration"]
            ece = f"ECE {cal['before']['ece']:.3f}" + (f" -> {cal['after']['ece']:.3f}" if "after" in cal else "")
            lines.append(f"{name} {level}: AUC {auc}, n={e['n']} ({e['n_positive']} positive, "
                         f"{e['n_patients']} patients), {ece}")
    for c in report["comparisons"]:
        if c.get("delong") and c["delong"]["p_value"] is not None:
            d = c["delong"]
            lines.append(f"{c['model_1']} - {c['model_2']} ({c['level']}): AUC difference "
                         f"{d['difference']:+.4f}, DeLong p = {d['p_value']:.4g}")
    return lines


def main(argv=None, prog="mammo-tf evaluate"):
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    check_files(parser, args)
    setup_command()
    report, code = run_report(args, args.predictions, args.out, args.val, prog)
    if report is None:
        return code
    for line in summary_lines(report):
        print(line)
    print(f"report: {report['files']['html']} (and report.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
