# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""``make demo``: the paper's whole-image pipeline end to end on the embedded phantom, on CPU.

Steps (each a plain function call):
1. generate the phantom dataset (CBIS-DDSM layout, "ddsm" intensity profile) and prepare it
   with the real CBIS-DDSM loader -> 16-bit PNGs + manifest;
2. sample s3 patch sets (48x48 patches at the whole-image resolution);
3. train a patch classifier (MobileNet alpha 0.25, random init: the paper's schedule for
   randomly initialised networks, all layers at 1e-3);
4. convert it into the paper's heatmap whole-image classifier (Tables 2-3: the patch
   classifier on every 48 px window at stride 16 -> probabilistic heatmap -> global max
   pooling -> FC 16 + a shortcut from the pooled heatmap), started at the patch baseline, and
   train it in 2 stages; the patch baseline (the patch classifier slid over the images at
   stride 12, max P(malignant)) is reported beside it;
5. generate a second phantom with the "inbreast" intensity profile (another acquisition) and
   finetune the whole-image model on it (the INbreast transfer step in miniature);
6. predict the second set's validation and test splits with the exported SavedModel and 4-flip
   TTA, and write the screening report of the final model (image / breast / exam level AUCs
   with patient-level CIs, calibration fitted on validation, operating points; report.html);
7. the pointing game of the final model's malignancy heatmap against the ROI masks of the
   malignant test images;
8. explain a correctly classified malignant test image (DeepMiner: explanation PNG + HTML led by
   the final model's calibrated P(malignant), the patch classifier's P(malignant) map at the
   run's input scale, and the model's annotation site), and the pointing game of that class
   map's maximum over the malignant test images, beside step 7's window rule.

Every hyperparameter of the three experiment files (demo_patch, demo_whole, demo_transfer in
mammo_tf/experiments/) was chosen on the validation splits; test AUCs were not looked at to
choose anything. ``--seed`` changes the training seed (initialisation, data order,
augmentation); ``--data-seed`` the phantom. The same seeds give the same numbers. Re-running
skips finished steps (datasets and runs are reused).

Why MobileNet: the demo must run on 2 CPU cores in minutes, and the sliding-window heatmap runs
the patch classifier once per window; MobileNet alpha 0.25 is ~10x cheaper per training step
than ResNet50 at 48 px (`--backbone resnet50` runs the same demo with the paper's network).
"""
import argparse
import json
import os
import time

import numpy as np

from mammo_tf.training.schedule import load_experiment
from mammo_tf.utils import write_json_atomic

SIZES = {
    # whole-image input (1152x896 in the paper; 192x176 keeps lesions of 10-25 px), phantom
    # drawing size (finer, same aspect, then resized like real mammograms), patch size
    "demo": {"image_size": tuple(load_experiment("demo_whole")["image_size"]),
             "phantom_size": (288, 264), "patch_size": 48},
    # the smoke test's miniature: same steps, toy sizes, one epoch per stage
    "toy": {"image_size": (64, 64), "phantom_size": (128, 96), "patch_size": 32},
}
EXPLAIN = {"max_probe": 16, "select": 4, "top_k": 4}  # small: the explanation step takes seconds
# More abnormal and malignant cases than the generator's defaults so that the test splits hold
# enough positives; benign lesions (circumscribed masses, coarse calcifications) are the
# negatives' look-alikes.
PHANTOM_CASES = {"abnormal_fraction": 0.6, "mass_fraction": 0.5, "malignant_fraction": 0.8}


def experiment_config(config_cls, experiment, **values):
    """``config_cls`` from the shipped experiment file ``experiment`` plus ``values`` (data
    paths, run names), with the same checks as ``--config NAME`` on the command line."""
    from mammo_tf.training.config import config_from_dict, load_config_file

    options = load_config_file(experiment, config_cls)
    options.update(values)
    return config_from_dict(config_cls, options, f"experiment {experiment}")


def prepare_phantom(out_dir, profile, n_patients, seed, sizes=SIZES["demo"]):
    """Generate a phantom and prepare it with the real CBIS-DDSM loader at the demo's image
    size (official split: 25% of the patients held out for the test split, 10% of the rest
    for validation); returns the manifest path."""
    from mammo_tf.datasets.phantom import write_phantom_cbis
    from mammo_tf.datasets.prepare import prepare

    manifest = os.path.join(out_dir, "manifest.csv")
    if os.path.isfile(manifest) and os.path.isfile(os.path.join(out_dir, "dataset.json")):
        return manifest
    source = os.path.join(out_dir, "source")
    if not os.path.isfile(os.path.join(source, "phantom.json")):
        write_phantom_cbis(source, n_patients=n_patients, seed=seed, profile=profile,
                           size=sizes["phantom_size"], progress=False, **PHANTOM_CASES)
    manifest, report = prepare("phantom", source, out_dir, size=sizes["image_size"],
                               n_patients=n_patients, profile=profile,
                               phantom_size=sizes["phantom_size"], seed=seed, split="official",
                               progress=False)
    print(report.summary())
    return manifest


def sample_patches(manifest, out_dir, patch_size, set_name="s3"):
    """Patch HDF5 files per split; returns {split: path}."""
    from mammo_tf.shen.patches.patch_set import make_patch_set

    paths = {s: os.path.join(out_dir, f"{s}.h5") for s in ("train", "val", "test")}
    if not all(os.path.isfile(p) for p in paths.values()):
        make_patch_set(manifest, out_dir, set_name=set_name, patch_size=patch_size, progress=False)
    return paths


def train_patch(patches, runs_dir, seed, overrides):
    """The patch classifier (demo_patch.json)."""
    from mammo_tf.shen.config import PatchConfig
    from mammo_tf.shen.train_patch import train_patch_classifier

    config = experiment_config(PatchConfig, "demo_patch", train_h5=[patches["train"]],
                               val_h5=[patches["val"]], test_h5=[patches["test"]],
                               runs_dir=runs_dir, name="patch", seed=seed, **overrides)
    return _run(train_patch_classifier, config)


def train_whole(patch_run, manifest, runs_dir, seed, overrides):
    """The heatmap whole-image classifier (demo_whole.json), 2 stages, with its patch baseline."""
    from mammo_tf.shen.config import WholeConfig
    from mammo_tf.shen.train_whole import train_whole_image_classifier

    config = experiment_config(WholeConfig, "demo_whole",
                               patch_model=os.path.join(patch_run, "checkpoints", "best.keras"),
                               manifest=manifest, runs_dir=runs_dir, name="whole", seed=seed,
                               **overrides)
    return _run(train_whole_image_classifier, config)


def finetune(whole_run, manifest, runs_dir, seed, overrides):
    """Transfer to the second intensity profile (demo_transfer.json)."""
    from mammo_tf.shen.config import TransferConfig
    from mammo_tf.shen.transfer import transfer

    config = experiment_config(TransferConfig, "demo_transfer",
                               model=os.path.join(whole_run, "checkpoints", "best.keras"),
                               manifest=manifest, runs_dir=runs_dir, name="transfer", seed=seed,
                               **overrides)
    return _run(transfer, config)


def predict_with_tta(model_dir, manifest, out_dir):
    """Predict the validation and test splits with the exported model (raw 16-bit input) and
    4-flip TTA; returns (test metrics, test result, validation result)."""
    from mammo_tf.inference.predict import (Predictor, evaluate_result, items_from_manifest, predict_items,
                                  write_predictions_csv)

    predictor = Predictor.load(model_dir)
    results = {split: predict_items([predictor], items_from_manifest(manifest, split), tta=True,
                                    batch_size=4, progress=False) for split in ("val", "test")}
    os.makedirs(out_dir, exist_ok=True)
    for split, result in results.items():
        write_predictions_csv(os.path.join(out_dir, f"predictions_{split}.csv"), result)
    metrics = evaluate_result(results["test"], roc_path=os.path.join(out_dir, "roc_tta.png"))
    write_json_atomic(os.path.join(out_dir, "metrics_tta.json"), metrics)
    return metrics, results["test"], results["val"]


def screening_report(test, val, manifest, out_dir, run_dir):
    """The screening report of the final model (``mammo_tf.screening``): image, breast and
    exam level AUCs with patient-level CIs, temperature scaling fitted on validation (stored
    in the run), operating points chosen on validation, subgroups by view."""
    from mammo_tf.screening import write_report

    report = write_report(test, out_dir, val=val, manifest=manifest, names=["final model + TTA"],
                          subgroups=["view"], run_dir=run_dir, title="make demo: final model")
    model = report["models"]["final model + TTA"]
    return {"html": os.path.join(out_dir, "report.html"),
            "levels": {level: {k: model["levels"][level].get(k) for k in ("auc", "auc_ci95", "n")}
                       for level in model["levels"]},
            "calibration": {level: model["levels"][level].get("calibration")
                            for level in model["levels"]}}


def _malignant_test_cases(manifest, size=None):
    """The pointing game's cases: (manifest row, image, union of its malignant ROI masks) of each
    malignant test image that has a malignant ROI; the image read by ``load_image`` (at ``size``
    when given), the mask at the image's size."""
    from mammo_tf.datasets.manifest import read_manifest, resolve_path
    from mammo_tf.io import read_mask
    from mammo_tf.io.images import load_image

    for r in read_manifest(manifest):
        if r["split"] != "test" or int(r["label"]) != 1:
            continue
        masks = [p for p, c in zip(r["roi_mask_paths"], r["roi_classes"]) if p and "malignant" in c]
        if not masks:
            continue
        image = load_image(resolve_path(manifest, r["image_path"]), size)
        roi = np.zeros(image.shape, np.uint8)
        for path in masks:
            roi |= read_mask(resolve_path(manifest, path), image.shape).astype(np.uint8)
        yield r, image, roi


def _write_pointing_game(results, tolerance, out_path, **about):
    """Hits (inside a malignant ROI) and hits within ``tolerance`` pixels over ``results`` (one
    dict per image with ``hit`` and ``hit_within_tolerance``), written to ``out_path``."""
    n = len(results)
    hits = sum(r["hit"] for r in results)
    near = sum(r["hit_within_tolerance"] for r in results)
    summary = {"images": n, "hits": hits, "pointing_game": hits / n if n else None,
               "tolerance_px": tolerance, "hits_within_tolerance": near,
               "pointing_game_within_tolerance": near / n if n else None,
               **about, "per_image": results}
    write_json_atomic(out_path, summary)
    return summary


def pointing_game(run, manifest, out_path):
    """Pointing game of ``run``'s own malignancy heatmap (P(malignant) of its ``heatmap_grid``
    layer) against the ROI masks, over the malignant test images. The model points at the centre
    of its most malignant window (``most_probable_window_centre``); a hit when that point lies
    inside a malignant ROI, and, as a second number, within half a stride of one (the grid's own
    resolution, as the pointing game's tolerance of Zhang et al. absorbs a map's coarseness)."""
    import keras

    from mammo_tf.constants import PATCH_CLASSES
    from mammo_tf.deepminer.evaluation import pointing_hit
    from mammo_tf.preprocess import to_network_input
    from mammo_tf.runs import load_run
    from mammo_tf.shen.sliding import malignant_map, most_probable_window_centre

    loaded = load_run(run)
    model = loaded.model
    windows = model.get_layer("windows")
    heat_model = keras.Model(model.input, model.get_layer("heatmap_grid").output)
    # the heatmap's channels (run folders of earlier versions did not record them)
    classes = loaded.info.details.get("patch_classes") or list(PATCH_CLASSES)
    size = tuple(loaded.info.input_size)
    tolerance = windows.stride // 2
    results = []
    for r, image, roi in _malignant_test_cases(manifest, size):
        x = to_network_input(image, loaded.info.pixel_mean)[None]
        cells = malignant_map(np.asarray(heat_model(x, training=False))[0], classes)
        y0, x0 = most_probable_window_centre(cells, size, windows.window, windows.stride)
        results.append({"image_id": r["image_id"], "point": [y0, x0],
                        "hit": pointing_hit((y0, x0), roi),
                        "hit_within_tolerance": pointing_hit((y0, x0), roi, tolerance)})
    return _write_pointing_game(results, tolerance, out_path,
                                point="centre of the most malignant window")


def explanation_pointing_game(run, manifest, out_path):
    """Pointing game of the explanation's own class map (DeepMiner, ``explain.py image``: the
    patch classifier's P(malignant) per location at the run's scale; its maximum is the point)
    over the malignant test images, scored as ``pointing_game`` scores the most-malignant-window
    rule (inside a malignant ROI; and within half the class map's stride)."""
    from mammo_tf.deepminer.evaluation import pointing_hit
    from mammo_tf.deepminer.graph import split_model
    from mammo_tf.deepminer.pipeline import class_map_settings, explain_file, load_explained

    loaded = load_explained(run)
    split = split_model(loaded[0])
    mode, _, stride = class_map_settings(loaded[0], loaded[3])
    tolerance = (stride or 32) // 2
    results = []
    for r, image, roi in _malignant_test_cases(manifest):
        record = explain_file(*loaded, image, split=split, top_n=1, max_units=0)["record"]
        point = record["decision_point"]
        results.append({"image_id": r["image_id"], "point": point, "hit": pointing_hit(point, roi),
                        "hit_within_tolerance": pointing_hit(point, roi, tolerance),
                        "class_map_max": record["class_map_max"],
                        "p_malignant": record["decision"]["probability"]})
    return _write_pointing_game(results, tolerance, out_path, class_map=mode,
                                point="maximum of the explanation's class map")


def explain_one(run, manifest, result, out_dir):
    """Explain the malignant test image the final model (with TTA) is most sure of (correctly
    classified when P(malignant) >= 0.5; said when none is), and build the model's annotation
    site. The explanation leads with the final model's own (calibrated) P(malignant) and
    explains it: the patch classifier's P(malignant) map at the run's input scale, units ranked
    by their share of the decision at its maximum."""
    from mammo_tf.datasets.manifest import read_manifest, resolve_path
    from mammo_tf.deepminer import mine_and_explain

    rows = {r["image_id"]: r for r in read_manifest(manifest)}
    p = np.asarray(result.probabilities)[:, 1]
    malignant = [(p[i], item.image_id) for i, item in enumerate(result.items)
                 if int(rows[item.image_id]["label"]) == 1]
    if not malignant:
        raise ValueError(f"{manifest}: no malignant test image to explain")
    probability, image_id = max(malignant)
    if probability < 0.5:
        print(f"no malignant test image is classified correctly; explaining the most probable "
              f"one ({image_id}, P(malignant) {probability:.3f})")
    image = resolve_path(manifest, rows[image_id]["image_path"])
    explanation = mine_and_explain(run, image, out_dir, **EXPLAIN)
    with open(explanation["record"], encoding="utf-8") as f:
        record = json.load(f)
    decision = record["decision"]
    print(f"explanation of {image_id}: decision P(malignant) {decision['probability']:.4f}"
          f"{' (calibrated)' if decision.get('calibrated') else ''}; class map "
          f"P({' + '.join(record['explained_classes'])}) max {record['class_map_max']:.3f} at "
          f"(y {record['decision_point'][0]}, x {record['decision_point'][1]})")
    return dict(explanation, image_id=image_id, probability=float(probability),
                correct=bool(probability >= 0.5), decision=decision,
                class_map_max=record["class_map_max"], decision_point=record["decision_point"])


def _run(pipeline, config):
    from mammo_tf.runs import RunFolder

    run = os.path.join(config.runs_dir, config.name)
    resume = run if os.path.isfile(os.path.join(run, "state.json")) else None
    if resume is None and os.path.isdir(run):
        import shutil

        shutil.rmtree(run)  # an earlier attempt that did not get to its first epoch
    pipeline(config, resume=resume)
    return RunFolder(run).path


def _toy_overrides(sizes):
    """One epoch per stage at toy sizes (the smoke test)."""
    one = [{"name": "all_layers", "trainable_from": "all", "learning_rate": 1e-3, "epochs": 1}]
    # only the final model is exported (predict reads its SavedModel)
    return {
        "patch": {"stages": one, "backbone": "mobilenet", "export": False},
        "whole": {"image_size": list(sizes["image_size"]), "heatmap_stride": 16, "heatmap_pool": 3,
                  "baseline_stride": 16, "export": False, "tta": False,
                  "stages": [{"name": "top_blocks", "trainable_from": "head", "learning_rate": 1e-3,
                              "epochs": 1},
                             {"name": "all_layers", "trainable_from": "all", "learning_rate": 1e-4,
                              "epochs": 1}]},
        "transfer": {"stages": [{"name": "finetune", "trainable_from": "all",
                                 "learning_rate": 1e-5, "epochs": 1}], "baseline_stride": 16,
                     "tta": False},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="examples/demo.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo_output", help="work folder (default: %(default)s)")
    parser.add_argument("--patients", type=int, default=160, help="phantom patients (default: 160)")
    parser.add_argument("--transfer-patients", type=int, default=100,
                        help="patients of the second phantom (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    parser.add_argument("--data-seed", type=int, default=0, help="phantom seed (default: 0)")
    parser.add_argument("--backbone", default=None,
                        help="patch classifier backbone (default: demo_patch.json's, mobilenet)")
    parser.add_argument("--toy", action="store_true",
                        help="toy sizes and one epoch per stage (the smoke test; numbers mean nothing)")
    parser.add_argument("--merge", nargs="+", metavar="REPORT",
                        help="no training: the mean and range over these demo_report.json files "
                             "(one per --seed), and whether reports of the same seed agree to 3 "
                             "decimals; written to <out>/demo_seeds.json")
    parser.add_argument("--seeds", nargs="+", type=int, metavar="SEED",
                        help="the README's demo table: one fresh demo per training seed (the "
                             "phantoms and patch sets shared, in <out>/data; runs in "
                             "<out>/seed_<SEED>), then the per-seed table written to --table "
                             "and between the demo-table markers of --readme (make demo-table: "
                             "--seeds 0 1 2)")
    parser.add_argument("--table", default=None,
                        help="with --seeds / --merge: markdown file of the table (default with "
                             "--seeds: docs/demo_table.md next to this script's repository)")
    parser.add_argument("--readme", default=None,
                        help="with --seeds / --merge: README whose block between "
                             f"'{TABLE_BEGIN}' and '{TABLE_END}' is replaced by the table "
                             "(default with --seeds: the repository's README.md)")
    args = parser.parse_args(argv)
    if args.merge or args.seeds:
        if args.seeds:
            from mammo_tf.utils import setup_logging

            setup_logging()
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            out = os.path.abspath(args.out)
            reports = []
            for seed in args.seeds:
                run_args = argparse.Namespace(**dict(vars(args), seed=seed))
                print(f"\n########## seed {seed}", flush=True)
                run_demo(run_args, os.path.join(out, f"seed_{seed}"), os.path.join(out, "data"))
                reports.append(os.path.join(out, f"seed_{seed}", "demo_report.json"))
            repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            args.table = args.table or os.path.join(repo, "docs", "demo_table.md")
            args.readme = args.readme or os.path.join(repo, "README.md")
        else:
            reports = args.merge
        table = merge_reports(reports)
        os.makedirs(args.out, exist_ok=True)
        write_json_atomic(os.path.join(args.out, "demo_seeds.json"), table)
        for line in seed_table_lines(table):
            print(line)
        if args.table or args.readme:
            markdown = readme_table(table)
            if args.table:
                with open(args.table, "w", encoding="utf-8") as f:
                    f.write(markdown)
                print(f"table: {args.table}")
            if args.readme:
                replace_readme_table(args.readme, markdown)
                print(f"README table replaced: {args.readme}")
        return 0
    from mammo_tf.utils import setup_logging

    setup_logging()  # the library's stage/epoch reports, as the commands show them
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    run_demo(args, os.path.abspath(args.out))
    return 0


def run_demo(args, out, data_out=None):
    """One demo (every step) with ``args.seed`` in ``out``; the phantoms and patch sets in
    ``data_out`` (default: ``out``; shared between the seeds of ``--seeds``). Returns the
    report (also written to ``<out>/demo_report.json``)."""
    sizes = SIZES["toy" if args.toy else "demo"]
    overrides = _toy_overrides(sizes) if args.toy else {"patch": {}, "whole": {}, "transfer": {}}
    if args.backbone:
        overrides["patch"]["backbone"] = args.backbone
    data_out = data_out or out
    runs = os.path.join(out, "runs")
    times, start = {}, time.time()

    def step(name, fn, *a, **k):
        t = time.time()
        print(f"\n##### {name}", flush=True)
        value = fn(*a, **k)
        times[name] = round(time.time() - t, 1)
        return value

    manifest = step("phantom (ddsm profile)", prepare_phantom, os.path.join(data_out, "phantom_ddsm"),
                    "ddsm", args.patients, args.data_seed, sizes)
    patches = step("patch sampling", sample_patches, manifest, os.path.join(data_out, "patches"),
                   sizes["patch_size"])
    patch_run = step("patch classifier", train_patch, patches, runs, args.seed, overrides["patch"])
    whole_run = step("whole-image classifier", train_whole, patch_run, manifest, runs, args.seed,
                     overrides["whole"])
    manifest2 = step("phantom (inbreast profile)", prepare_phantom,
                     os.path.join(data_out, "phantom_inbreast"), "inbreast", args.transfer_patients,
                     args.data_seed + 1, sizes)
    transfer_run = step("transfer", finetune, whole_run, manifest2, runs, args.seed,
                        overrides["transfer"])
    tta, result, val_result = step("predict with TTA", predict_with_tta,
                                   os.path.join(transfer_run, "saved_model"), manifest2,
                                   os.path.join(out, "predictions"))
    screening = step("screening report", screening_report, result, val_result, manifest2,
                     os.path.join(out, "report"), transfer_run)
    pointing = step("pointing game", pointing_game, transfer_run, manifest2,
                    os.path.join(out, "pointing_game.json"))
    explanation = step("explanation", explain_one, transfer_run, manifest2, result,
                       os.path.join(out, "explanation"))
    explained_pointing = step("explanation pointing game", explanation_pointing_game, transfer_run,
                              manifest2, os.path.join(out, "explanation_pointing_game.json"))

    report = {
        "architecture": f"{_backbone(patch_run)} patch classifier ({sizes['patch_size']} px "
                        f"patches) -> heatmap whole-image classifier at "
                        f"{sizes['image_size'][0]}x{sizes['image_size'][1]} (the patch classifier "
                        "on every window, global max pooling, FC 16 + heatmap shortcut), random init",
        "seed": args.seed, "data_seed": args.data_seed, "toy": args.toy,
        "patch": _metrics(patch_run), "whole": _metrics(whole_run),
        "transfer": _metrics(transfer_run), "transfer_tta_prediction": tta,
        "screening_report": screening,
        "pointing_game": {k: v for k, v in pointing.items() if k != "per_image"},
        "explanation": explanation,
        "explanation_pointing_game": {k: v for k, v in explained_pointing.items() if k != "per_image"},
        "seconds": dict(times, total=round(time.time() - start, 1)),
    }
    report["summary"] = summary(report)
    report_path = os.path.join(out, "demo_report.json")
    write_json_atomic(report_path, report)
    print("\n##### report")
    for line in report_lines(report):
        print(line)
    print(f"\nreport: {report_path}\nscreening report: {screening['html']}\nROC curves: {os.path.join(whole_run, 'roc.png')}, "
          f"{os.path.join(out, 'predictions', 'roc_tta.png')}\nSavedModel: "
          f"{os.path.join(transfer_run, 'saved_model')}\nexplanation: {explanation['figure']}, "
          f"{explanation['html']}\nannotation site: {explanation['site']}")
    return report


def summary(report):
    """The headline numbers: test AUC of each whole-image model beside its patch baseline."""
    out = {"patch_test_accuracy": report["patch"].get("test_accuracy"),
           "patch_test_auc_ovr_macro": report["patch"].get("test_auc_ovr_macro")}
    for key in ("whole", "transfer"):
        m = report[key]
        baseline = (m.get("patch_baseline") or {}).get("test", {})
        out[key] = {"test_auc": m.get("test_auc"), "test_auc_ci95": m.get("test_auc_ci95"),
                    "test_auc_tta": m.get("test_auc_tta"), "best_val_auc": m.get("best_val_auc"),
                    "baseline_test_auc": (baseline.get("max_malignant") or {}).get("auc"),
                    "baseline_test_auc_ci95": (baseline.get("max_malignant") or {}).get("auc_ci95"),
                    "baseline_val_auc": ((m.get("patch_baseline") or {}).get("val", {})
                                         .get("max_malignant") or {}).get("auc"),
                    "beats_patch_baseline_on_val": m.get("beats_patch_baseline")}
    out["tta_prediction_auc"] = report["transfer_tta_prediction"].get("auc")
    out["pointing_game"] = report["pointing_game"].get("pointing_game")
    out["pointing_game_within_tolerance"] = report["pointing_game"].get("pointing_game_within_tolerance")
    out["explanation_pointing_game"] = (report.get("explanation_pointing_game") or {}).get("pointing_game")
    out["seconds"] = report["seconds"]["total"]
    return out


def report_lines(report):
    s = report["summary"]
    lines = [f"patch classifier: test accuracy {_fmt(s['patch_test_accuracy'])}, one-vs-rest AUC "
             f"{_fmt(s['patch_test_auc_ovr_macro'])}"]
    for key, label in (("whole", "whole-image (ddsm profile)"),
                       ("transfer", "after transfer (inbreast profile)")):
        m = s[key]
        lines.append(f"{label}: test AUC {_fmt(m['test_auc'])} (95% CI {_fmt_ci(m['test_auc_ci95'])}), "
                     f"TTA {_fmt(m['test_auc_tta'])} | patch baseline {_fmt(m['baseline_test_auc'])} "
                     f"(95% CI {_fmt_ci(m['baseline_test_auc_ci95'])}) | validation: model "
                     f"{_fmt(m['best_val_auc'])} vs baseline {_fmt(m['baseline_val_auc'])}")
    lines.append(f"predict with TTA on the exported SavedModel: AUC {_fmt(s['tta_prediction_auc'])}")
    for level, m in report["screening_report"]["levels"].items():
        lines.append(f"  {level} level: AUC {_fmt(m.get('auc'))} (95% CI {_fmt_ci(m.get('auc_ci95'))}), "
                     f"n={m.get('n')}")
    pg = report["pointing_game"]
    lines.append(f"pointing game (final model's most malignant window vs malignant ROIs, test): "
                 f"{pg['hits']}/{pg['images']} = {_fmt(pg['pointing_game'])}; within "
                 f"{pg.get('tolerance_px')} px: {pg.get('hits_within_tolerance')}/{pg['images']} = "
                 f"{_fmt(pg.get('pointing_game_within_tolerance'))}")
    ex = report.get("explanation_pointing_game")
    if ex:
        lines.append(f"pointing game of the explanation's class map (DeepMiner, {ex['class_map']}; its "
                     f"maximum): {ex['hits']}/{ex['images']} = {_fmt(ex['pointing_game'])}; within "
                     f"{ex['tolerance_px']} px: {ex['hits_within_tolerance']}/{ex['images']} = "
                     f"{_fmt(ex['pointing_game_within_tolerance'])}")
    lines.append(f"total time {s['seconds']:.0f} s")
    return lines


# The headline numbers of demo_report.json's summary, as (label, path in the summary).
SEED_ROWS = (
    ("patch classifier: test accuracy", ("patch_test_accuracy",)),
    ("patch classifier: test one-vs-rest AUC", ("patch_test_auc_ovr_macro",)),
    ("whole image (ddsm): test AUC", ("whole", "test_auc")),
    ("whole image (ddsm): test AUC, TTA", ("whole", "test_auc_tta")),
    ("whole image (ddsm): patch baseline test AUC", ("whole", "baseline_test_auc")),
    ("whole image (ddsm): best val AUC", ("whole", "best_val_auc")),
    ("whole image (ddsm): patch baseline val AUC", ("whole", "baseline_val_auc")),
    ("after transfer (inbreast): test AUC", ("transfer", "test_auc")),
    ("after transfer (inbreast): test AUC, TTA", ("transfer", "test_auc_tta")),
    ("after transfer (inbreast): patch baseline test AUC", ("transfer", "baseline_test_auc")),
    ("after transfer (inbreast): best val AUC", ("transfer", "best_val_auc")),
    ("after transfer (inbreast): patch baseline val AUC", ("transfer", "baseline_val_auc")),
    ("SavedModel + TTA (predict): test AUC", ("tta_prediction_auc",)),
    ("pointing game (test)", ("pointing_game",)),
    ("pointing game within half a stride (test)", ("pointing_game_within_tolerance",)),
    ("pointing game of the explanation's class map (test)", ("explanation_pointing_game",)),
    ("run time (s)", ("seconds",)),
)


def _lookup(summary, path):
    for key in path:
        summary = (summary or {}).get(key)
    return summary


def merge_reports(paths):
    """Mean and range over seeds of the headline numbers; reports of the same seed are compared
    (to 3 decimals, run time excepted) instead of being counted twice."""
    by_seed, repeats = {}, []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
        seed = report["seed"]
        if seed in by_seed:
            first = by_seed[seed]
            differ = [label for label, key in SEED_ROWS[:-1]
                      if _fmt(_lookup(first["summary"], key)) != _fmt(_lookup(report["summary"], key))]
            repeats.append({"seed": seed, "reports": [first["path"], path],
                            "same_to_3_decimals": not differ, "differing": differ})
            continue
        by_seed[seed] = dict(report, path=path)
    rows = []
    for label, key in SEED_ROWS:
        by = {seed: _lookup(by_seed[seed]["summary"], key) for seed in sorted(by_seed)}
        values = [v for v in by.values() if v is not None]
        rows.append({"label": label, "values": values, "by_seed": by,
                     "mean": float(np.mean(values)) if values else None,
                     "min": min(values) if values else None, "max": max(values) if values else None})
    return {"seeds": sorted(by_seed), "reports": [r["path"] for r in by_seed.values()],
            "rows": rows, "repeats": repeats}


# The README's demo table lies between these two lines (``--seeds`` / ``--readme`` rewrite it).
TABLE_BEGIN = "<!-- demo-table: written by python examples/demo.py --seeds 0 1 2 -->"
TABLE_END = "<!-- demo-table end -->"
# The demo's targets (issue 24): test AUC without TTA.
TARGETS = (("whole image (ddsm): test AUC", 0.90), ("after transfer (inbreast): test AUC", 0.85))


def readme_table(table):
    """The markdown the README includes: every headline number per seed, their mean, and
    whether each seed meets the demo's targets."""
    seeds = table["seeds"]
    lines = [f"| number | {' | '.join(f'seed {s}' for s in seeds)} | mean |",
             "|---" * (len(seeds) + 2) + "|"]
    for row in table["rows"]:
        fmt = (lambda v: "n/a" if v is None else f"{v:.0f}") if row["label"].startswith("run time") \
            else _fmt
        by = row.get("by_seed") or {}
        cells = [fmt(by.get(s, by.get(str(s)))) for s in seeds]
        lines.append(f"| {row['label']} | {' | '.join(cells)} | {fmt(row['mean'])} |")
    lines.append("")
    rows = {row["label"]: row for row in table["rows"]}
    for label, target in TARGETS:
        by = rows[label].get("by_seed") or {}
        values = {s: by.get(s, by.get(str(s))) for s in seeds}
        met = [s for s, v in values.items() if v is not None and v >= target]
        missed = [s for s in seeds if s not in met]
        verdict = ("met by every seed" if not missed else
                   f"NOT met by seed{'s' if len(missed) > 1 else ''} "
                   f"{', '.join(map(str, missed))}" + (f" (met by {', '.join(map(str, met))})" if met else ""))
        lines.append(f"- target {label} >= {target:.2f} (no TTA): {verdict}")
    for rep in table.get("repeats", []):
        verdict = "identical to 3 decimals" if rep["same_to_3_decimals"] else \
            "DIFFER: " + "; ".join(rep["differing"])
        lines.append(f"- seed {rep['seed']} run twice: {verdict}")
    return "\n".join(lines) + "\n"


def replace_readme_table(readme, markdown):
    """Replace the block between TABLE_BEGIN and TABLE_END of ``readme`` by ``markdown``."""
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    if TABLE_BEGIN not in text or TABLE_END not in text:
        raise SystemExit(f"{readme}: no '{TABLE_BEGIN}' ... '{TABLE_END}' block to replace")
    head, rest = text.split(TABLE_BEGIN, 1)
    _, tail = rest.split(TABLE_END, 1)
    with open(readme, "w", encoding="utf-8") as f:
        f.write(f"{head}{TABLE_BEGIN}\n{markdown}{TABLE_END}{tail}")


def seed_table_lines(table):
    lines = [f"| over seeds {', '.join(map(str, table['seeds']))} | mean | range |", "|---|---|---|"]
    for row in table["rows"]:
        fmt = (lambda v: f"{v:.0f}") if row["label"].startswith("run time") else _fmt
        lines.append(f"| {row['label']} | {fmt(row['mean'])} | "
                     f"{fmt(row['min'])}-{fmt(row['max'])} |")
    for rep in table["repeats"]:
        verdict = "identical to 3 decimals" if rep["same_to_3_decimals"] else \
            "DIFFER: " + "; ".join(rep["differing"])
        lines.append(f"seed {rep['seed']} run twice: {verdict}")
    return lines


def _backbone(run):
    return json.load(open(os.path.join(run, "run.json"))).get("backbone")


def _metrics(run):
    with open(os.path.join(run, "metrics.json"), encoding="utf-8") as f:
        return json.load(f)


def _fmt(value):
    return "n/a" if value is None else f"{value:.3f}"


def _fmt_ci(ci):
    return "n/a" if not ci else f"{ci[0]:.3f}-{ci[1]:.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
