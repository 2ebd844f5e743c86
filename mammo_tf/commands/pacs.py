# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The PACS command (``mammo-tf pacs``): take studies from a PACS over DICOMweb, predict them
with a run's model, and store the results back: per study a Structured Report (TID 1500:
image, breast and exam probabilities of malignancy, the calibrated ones where the run has a
``calibration.json``), per image a fractional Segmentation of the class map and a secondary
capture overlay (``mammo_tf.serving.dicom_results``).

Why DICOMweb (``dicomweb-client``) and not DIMSE (``pynetdicom``): one HTTP(S) URL is all the
configuration the PACS needs (no AE title, port and peer registration on its side, which DIMSE
C-GET / C-MOVE require), WADO-RS returns every instance whatever its SOP class and transfer
syntax (C-GET negotiates a presentation context per SOP class and syntax beforehand: a study
holding an unexpected object fails its sub-operations), STOW-RS stores the SR / SEG / SC in
one request, and HTTP passes proxies and TLS and takes the hospital's authentication (a
``requests`` session). Orthanc, dcm4chee, Google / AWS / Azure health imaging and OHIF speak
it; Orthanc needs its DICOMweb plugin (Debian package ``orthanc-dicomweb``).

Per instance, bad input is reported and the study's other images go on: a non-mammogram
(Modality not MG), a FOR PROCESSING image (unless ``--allow-for-processing``), a file that
cannot be read or decoded (e.g. truncated), an image whose side is unknown (image level only);
a study with fewer than four views is noted (breast and exam levels from the views present).

Exit codes: 0 done (problems listed; a study with no usable image stores nothing); 2 bad input
(a bad argument, an unusable run; a study the PACS could not return or store: the other studies
still run, and ``--out``'s summary.json lists every study).
"""
import argparse
import dataclasses
import os
import sys
import tempfile

from mammo_tf.commands.common import CommandParser, exit_on_bad_input, report_error, setup_command

EXAMPLES = """examples:
  {prog} --url http://localhost:8042/dicom-web --study 1.2.840... --model runs/whole
  {prog} --url http://pacs/dicom-web --study UID1 --study UID2 --model runs/whole --tta \\
      --out results/ --no-store      # write the DICOM results locally only
"""


def build_parser(prog="mammo-tf pacs"):
    parser = CommandParser(
        prog=prog,
        description=(
            "Predict studies stored in a PACS (DICOMweb: WADO-RS in, STOW-RS out) and store the\n"
            "results back: per study a Structured Report (TID 1500: image, breast and exam\n"
            "probabilities of malignancy, calibrated where the run has a calibration), per image\n"
            "a fractional Segmentation of the class map and a secondary-capture overlay.\n"
            "Bad instances (not MG, FOR PROCESSING, unreadable) are listed and skipped."
        ),
        epilog=EXAMPLES.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", required=True,
                        help="the PACS's DICOMweb root, e.g. http://localhost:8042/dicom-web (Orthanc)")
    parser.add_argument("--study", action="append", required=True, metavar="UID",
                        help="StudyInstanceUID to predict; repeat for several studies")
    parser.add_argument("-m", "--model", required=True, metavar="PATH",
                        help="a run folder (or a .keras model / SavedModel inside one) of a Shen image classifier")
    parser.add_argument("--tta", action="store_true", help="4-flip test-time augmentation of the probabilities")
    parser.add_argument("--calibration", default=None, metavar="JSON",
                        help="calibration JSON (default: the run folder's calibration.json, when there is one)")
    parser.add_argument("--allow-for-processing", action="store_true",
                        help="also predict FOR PROCESSING images (refused by default: the models are "
                             "trained on FOR PRESENTATION images)")
    parser.add_argument("--no-class-map", action="store_true",
                        help="the SR only: no Segmentation, no overlay")
    parser.add_argument("--no-overlay", action="store_true", help="no secondary-capture overlay")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="also keep the written DICOM objects and summary.json in DIR/<study UID>/")
    parser.add_argument("--no-store", action="store_true", help="do not store the results in the PACS (needs --out)")
    parser.add_argument("--timeout", type=float, default=60.0, help="HTTP timeout in seconds; default: 60")
    return parser


def check_arguments(parser, args):
    if not os.path.exists(args.model):
        parser.error(f"model {args.model!r} does not exist")
    if args.calibration is not None and not os.path.isfile(args.calibration):
        parser.error(f"calibration file {args.calibration!r} does not exist")
    if args.no_store and not args.out:
        parser.error("--no-store needs --out (the results must go somewhere)")
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"--url must be an http(s) DICOMweb root, got {args.url!r}")
    if args.timeout <= 0:
        parser.error(f"--timeout must be > 0, got {args.timeout}")




def malignancy(probabilities, class_names):
    """Probability of malignancy from class probabilities (N, C): the malignant classes' sum
    (names containing 'malignant'), else the positive class of a two-class model (index 1)."""
    import numpy as np

    probabilities = np.asarray(probabilities, dtype=np.float64)
    names = [str(n).lower() for n in class_names]
    which = [i for i, n in enumerate(names) if "malignant" in n and "non" not in n]
    if not which:
        if probabilities.shape[1] != 2:
            raise ValueError(f"no malignant class among {class_names}")
        which = [1]
    return probabilities[:, which].sum(axis=1), which


def class_map(split, x, classes):
    """Per-location probability of malignancy (h, w): the GAP+Dense head applied at every
    location of the feature map (the classifier's output for a window whose features are that
    location's; bias included), summed over the malignant ``classes``. None for other heads."""
    import numpy as np

    from mammo_tf.deepminer.graph import scores_to_probabilities

    if not split.gap_dense:
        return None
    features, _ = split.features_and_probabilities(x)
    scores = np.tensordot(features[0].astype(np.float64), split.kernel, axes=([-1], [0])) + split.bias
    return scores_to_probabilities(scores, split.output_activation)[..., classes].sum(axis=-1)


# --------------------------------------------------------------------------- one study


def _download(client, study_uid, folder):
    """Every instance of the study (WADO-RS) as a file in ``folder``; returns the paths."""
    datasets = client.retrieve_study(study_uid)
    paths = []
    for n, ds in enumerate(datasets):
        path = os.path.join(folder, f"{n:04d}.dcm")
        ds.save_as(path, enforce_file_format=False)
        paths.append(path)
    return paths


def predict_study(paths, predictor, split, args):
    """(ImageResults, problems as (path, message), notes) of one study's files: the run's
    prediction (``mammo_tf.inference.predict.predict_items``: its preprocessing, TTA with
    ``--tta``) and, with a ``split``, the class map of the image as the model sees it."""
    import pydicom

    from mammo_tf.constants import WHOLE_IMAGE_SIZE
    from mammo_tf.datasets.manifest import ImageItem
    from mammo_tf.inference import predict as lib
    from mammo_tf.io.images import load_image, resize_image
    from mammo_tf.serving.dicom_results import ImageResult

    from mammo_tf.io.dicom_study import scan_dicom

    images, problems = scan_dicom(paths, allow_for_processing=args.allow_for_processing)
    problems = [(p.path, p.message) for p in problems]
    items = [ImageItem(im.sop_instance_uid, im.path) for im in images]
    result = lib.predict_items([predictor], items, tta=args.tta, progress=False)
    problems += result.failures
    by_path = {im.path: im for im in images}
    p_malignant, classes = malignancy(result.probabilities, result.class_names) if result.items else ([], [])
    out = []
    size = tuple(predictor.input_size or WHOLE_IMAGE_SIZE)
    notes = []
    for item, p in zip(result.items, p_malignant):
        image = by_path[item.path]
        ds = pydicom.dcmread(item.path, stop_before_pixels=True)
        side = image.laterality if image.laterality in ("L", "R") else None
        if side is None:
            notes.append(f"{image.sop_instance_uid}: side unknown (no laterality tag, none in the "
                         "series description or patient ID): image level only")
        cmap, pixels = None, None
        if split is not None:
            pixels = load_image(item.path)
            x = predictor.network_input(resize_image(pixels, size, "cubic")[None])
            cmap = class_map(split, x, classes)
        out.append(ImageResult(ds, float(p), side, image.view, cmap,
                               None if args.no_overlay else pixels))
    views = sorted({(im.side, im.view) for im in out if im.side}, key=str)
    if out and len(views) < 4:
        notes.append(f"{len(views)} of the 4 standard views ({', '.join(f'{s} {v}' for s, v in views) or 'none with a side'}): "
                     "breast and exam levels from the views present")
    return out, problems, notes


def _load(args):
    """(predictor, class-map split or None, ModelInfo)."""
    from mammo_tf.inference.predict import Predictor
    from mammo_tf.screening.calibration import load_calibration
    from mammo_tf.serving.dicom_results import ModelInfo
    from mammo_tf import __version__

    predictor = Predictor.load(args.model)
    split = None
    if not args.no_class_map and not predictor.raw_input:
        import keras

        from mammo_tf.deepminer.graph import split_model
        from mammo_tf.errors import RunError

        if isinstance(predictor.model, keras.Model):
            try:
                split = split_model(predictor.model, fcn=False)
            except (ValueError, RunError) as exc:  # no feature layer / unsupported head: SR only
                print(f"no class map: {exc}", file=sys.stderr)
            if split is not None and not split.gap_dense:
                print("no class map: the model's head is not global average pooling + Dense", file=sys.stderr)
                split = None
    run = _run_folder(args.model)
    cal_path = args.calibration
    if cal_path is None and run is not None and os.path.isfile(os.path.join(run.path, "calibration.json")):
        cal_path = os.path.join(run.path, "calibration.json")
    calibration = load_calibration(cal_path).to_dict() if cal_path else None
    name = os.path.basename(os.path.normpath(run.path if run is not None else args.model))
    return predictor, split, ModelInfo(name=f"mammo_tf {name}", version=__version__, calibration=calibration)


def _run_folder(path):
    """The model's run folder (``RunFolder``) or None."""
    from mammo_tf.errors import RunError
    from mammo_tf.runs import locate_run

    try:
        return locate_run(path)[2]
    except RunError:
        return None


def _session(timeout):
    """A requests session whose every request has ``timeout`` (dicomweb-client takes a session
    but has no timeout of its own)."""
    import requests

    class TimeoutSession(requests.Session):
        def request(self, *args, **kwargs):
            kwargs.setdefault("timeout", timeout)
            return super().request(*args, **kwargs)

    return TimeoutSession()


def _instance_uids(paths):
    """SOP instance UID per downloaded file (problems are reported by UID: the files vanish)."""
    import pydicom

    uids = {}
    for path in paths:
        try:
            uids[path] = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        except Exception:  # damaged files make pydicom raise many exception types
            uids[path] = os.path.basename(path)
    return uids


def run_study(client, study_uid, predictor, split, model_info, args):
    """Retrieve, predict, write (and store) one study; its summary entry. Raises
    ``requests.RequestException`` where the PACS fails."""
    import pydicom

    from mammo_tf.serving.dicom_results import write_study_results

    entry = {"problems": [], "notes": [], "instances": 0, "images": [], "stored": []}
    with tempfile.TemporaryDirectory(prefix="mammo_tf_pacs_") as tmp:
        paths = _download(client, study_uid, tmp)
        entry["instances"] = len(paths)
        if not paths:
            entry["error"] = "no instances in the PACS"
            return entry
        results, problems, notes = predict_study(paths, predictor, split, args)
        uids = _instance_uids(paths)
        entry["problems"] = [{"instance": uids.get(p, p), "message": m} for p, m in problems]
        entry["notes"] = notes
        if not results:
            entry["error"] = "no usable image: nothing written"
            return entry
        out_dir = os.path.join(args.out, study_uid) if args.out else os.path.join(tmp, "results")
        files = write_study_results(results, model_info, out_dir, overlay=not args.no_overlay)
        entry["images"] = [{"instance": r.sop_instance_uid, "side": r.side, "view": r.view,
                            "probability": r.probability, "calibrated": r.calibrated} for r in results]
        entry["files"] = files.uids
        entry["written"] = f"SR + {len(files.seg)} SEG + {len(files.sc)} SC"
        if not args.no_store:
            client.store_instances(datasets=[pydicom.dcmread(p) for p in [files.sr, *files.seg, *files.sc]])
            entry["stored"] = sorted(files.uids.values())
    return entry


def main(argv=None, prog="mammo-tf pacs"):
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    setup_command()
    import requests
    from dicomweb_client.api import DICOMwebClient

    with exit_on_bad_input(prog):
        predictor, split, model_info = _load(args)
    client = DICOMwebClient(url=args.url.rstrip("/"), session=_session(args.timeout))
    summary = {"model": dataclasses.asdict(model_info), "studies": {}}
    for study_uid in args.study:
        try:
            entry = run_study(client, study_uid, predictor, split, model_info, args)
        except requests.RequestException as exc:  # this study fails; the others go on
            entry = {"problems": [], "notes": [], "instances": 0, "images": [], "stored": [],
                     "error": f"PACS request failed ({exc})"}
        summary["studies"][study_uid] = entry
        what = entry.get("error") or f"{'written' if args.no_store else 'stored'}: {entry['written']}"
        print(f"study {study_uid}: {len(entry['images'])} of {entry['instances']} instance(s) "
              f"predicted, {len(entry['problems'])} problem(s); {what}")
        for problem in entry["problems"]:
            print(f"  {problem['instance']}: {problem['message']}", file=sys.stderr)
        for note in entry["notes"]:
            print(f"  note: {note}")
    if args.out:
        from mammo_tf.utils import write_json_atomic

        os.makedirs(args.out, exist_ok=True)
        write_json_atomic(os.path.join(args.out, "summary.json"), summary)
    failed = [uid for uid, e in summary["studies"].items() if "PACS request failed" in e.get("error", "")]
    if failed:
        first = summary["studies"][failed[0]]["error"]
        return report_error(prog, f"{len(failed)} of {len(args.study)} studies failed at {args.url}: "
                                  f"{failed[0]}: {first}")
    return 0
