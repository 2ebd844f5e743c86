# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The export command (``mammo-tf export RUN``): a run's model as a TensorFlow SavedModel
(``mammo_tf.serving.savedmodel``, TensorFlow backend) or an ONNX file (``mammo_tf.serving.onnx``, any
backend; the ``onnx`` extra). Exit codes: 0 written, 2 bad input or a failed export."""
import argparse
import sys

from mammo_tf.commands.common import CommandParser, exit_on_bad_input, report_error, setup_command

EXAMPLES = """examples:
  {prog} runs/whole                              # runs/whole/saved_model (TensorFlow backend)
  {prog} runs/whole --format onnx --size 1152 896  # runs/whole/model.onnx, raw 16-bit input
  {prog} runs/nyu --format onnx --out nyu.onnx   # four named views in, cc / mlo out
"""


def build_parser(prog="mammo-tf export"):
    parser = CommandParser(
        prog=prog,
        description=(
            "Export a run's model for serving. SavedModel: endpoints serve / serving_default,\n"
            "serve_features (Shen), all returning named outputs ('probabilities'; NYU: 'cc', 'mlo');\n"
            "needs the TensorFlow backend. ONNX: Keras' own exporter on the PyTorch backend (run in a\n"
            "subprocess), input 'images' (NYU: l_cc r_cc l_mlo r_mlo), output 'probabilities';\n"
            "needs pip install -e '.[onnx]'. Shen models take the raw 16-bit image (the run's pixel\n"
            "mean inside) unless --network-input. See docs/serving.md."),
        epilog=EXAMPLES.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run", metavar="RUN", help="a run folder or a .keras file inside one")
    parser.add_argument("--format", choices=("savedmodel", "onnx"), default="savedmodel",
                        help="default: savedmodel")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="which checkpoint of a run folder; default: best")
    parser.add_argument("-o", "--out", default=None,
                        help="output path; default: RUN/saved_model or RUN/model.onnx")
    parser.add_argument("--size", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"), default=None,
                        help="ONNX: the image size to export an any-size whole-image model for "
                             "(default: the run's input size); the file is exact for that size")
    parser.add_argument("--network-input", action="store_true",
                        help="Shen models: take 3-channel network input instead of embedding the "
                             "run's preprocessing (raw 16-bit single-channel images)")
    return parser


def main(argv=None, prog="mammo-tf export"):
    parser = build_parser(prog)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.size is not None and min(args.size) <= 0:
        parser.error(f"--size must be positive, got {args.size[0]} {args.size[1]}")
    setup_command()
    import os

    from mammo_tf.runs import locate_run
    from mammo_tf.errors import RunError

    with exit_on_bad_input(prog):
        try:
            info, model_path, run, is_saved_model = locate_run(args.run, args.checkpoint)
        except RunError as exc:
            return report_error(prog, str(exc))
        if is_saved_model:
            return report_error(prog, f"{args.run} is already an exported SavedModel; give its "
                                      "run folder or .keras file")
        if not os.path.isfile(model_path):
            return report_error(prog, f"model file not found: {model_path}")
        pixel_mean = None if (info.is_nyu or args.network_input) else info.pixel_mean
        if not info.is_nyu and not args.network_input and pixel_mean is None:
            return report_error(prog, f"{args.run}: run.json has no pixel mean; give "
                                      "--network-input to export without the preprocessing")
        base = run.path if run is not None else os.path.dirname(os.path.abspath(model_path))
        if args.format == "onnx":
            return _onnx(prog, args, info, model_path, pixel_mean, base)
        return _saved_model(prog, args, info, model_path, pixel_mean, base)


def _saved_model(prog, args, info, model_path, pixel_mean, base):
    import os

    import keras

    if keras.backend.backend() != "tensorflow":
        return report_error(prog, f"SavedModel export needs the TensorFlow backend (KERAS_BACKEND="
                                  f"{keras.backend.backend()}); use --format onnx")
    from mammo_tf.serving.savedmodel import export_saved_model
    from mammo_tf.runs import load_keras_model

    out = args.out or os.path.join(base, "saved_model")
    export_saved_model(load_keras_model(model_path), out, pixel_mean=pixel_mean, info=info)
    print(f"wrote SavedModel {out} (outputs: {'cc, mlo' if info.is_nyu else 'probabilities'})")
    return 0


def _onnx(prog, args, info, model_path, pixel_mean, base):
    import os

    from mammo_tf.serving.onnx import OnnxExportError, export_onnx

    size = tuple(args.size) if args.size else None
    if size is None and not info.is_nyu and info.input_size is not None \
            and None not in tuple(info.input_size):
        size = tuple(info.input_size)
    out = args.out or os.path.join(base, "model.onnx")
    try:
        result = export_onnx(model_path, out, pixel_mean=pixel_mean, info=info, input_size=size)
    except OnnxExportError as exc:  # missing packages, a size to give, a failed export
        return report_error(prog, str(exc))
    diff = result["max_abs_diff"]
    check = "not checked (no onnxruntime)" if diff is None else f"max |ONNX - Keras| {diff:.2g}"
    print(f"wrote ONNX {out}: inputs {', '.join(result['inputs'])} -> outputs "
          f"{', '.join(result['outputs'])}; {check}")
    return 0
