# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""``make demo``: the paper's pipelines end to end on the embedded phantom dataset, on CPU.

Steps (each a plain function call, so more can be appended):
1. generate the phantom dataset (CBIS-DDSM layout, "ddsm" intensity profile) and prepare it
   with the real CBIS-DDSM loader -> 16-bit PNGs + manifest;
2. sample s3 patch sets (48x48 patches);
3. train a ResNet50 patch classifier in 3 stages;
4. convert it into a whole-image classifier (the patch classifier applied over the whole
   image as a probabilistic heatmap + FC layers, the paper's Tables 2-3 alternative) and train
   it in 2 stages (stage 2, all layers, is where the demo's learning happens);
5. generate a second phantom with the "inbreast" intensity profile and finetune the
   whole-image model on it (the INbreast transfer step in miniature);
6. predict the second set's test split with 4-flip TTA (``mammo_tf.predict``), report AUC with
   a bootstrap 95% CI and the ROC curve;
7. the SavedModels are exported into each run folder;
8. explain one malignant test image with the final model (``mammo_tf.deepminer.mine_and_explain``:
   explanation PNG + HTML, and the model's annotation site); print where the report is.

Sizes are reduced so it runs on 2 CPU cores in minutes: whole images 192x176 (1152x896 is
1/6 of it in height), 48x48 patches, random initialisation (no ImageNet download), few epochs,
the phantom's official split (25% of the patients held out for the test split).
The three training runs are configured by the experiment files demo_patch, demo_whole and
demo_transfer (mammo_tf/experiments/*.json: schedules, sizes and their reasons); this script
adds only the data paths and run names. Re-running skips finished steps (datasets and runs
are reused).
"""
import argparse
import json
import os
import time

from mammo_tf.training.schedule import load_experiment
from mammo_tf.utils import write_json_atomic

# Whole-image input (1152x896 in the paper), from demo_whole.json: 192x176 makes the ResNet50
# feature map 6x6 and the 48x48-patch heatmap 5x5, so one 5x5 max pooling covers the whole
# heatmap (at 192x144 the 5x4 heatmap's 4x4 pooling missed a row and the model depended on flips).
IMAGE_SIZE = tuple(load_experiment("demo_whole")["image_size"])
PHANTOM_SIZE = (288, 264)  # the phantom is drawn finer (same aspect), then resized like real mammograms
PATCH_SIZE = 48
EXPLAIN = {"max_probe": 16, "select": 4, "top_k": 4}  # small: the explanation step takes seconds
# Most lesions malignant, so that the small test splits hold enough positive images.
PHANTOM_CASES = {"abnormal_fraction": 0.6, "mass_fraction": 0.5, "malignant_fraction": 0.9}


def experiment_config(config_cls, experiment, **values):
    """``config_cls`` from the shipped experiment file ``experiment`` plus ``values`` (data
    paths, run names), with the same checks as ``--config NAME`` on the command line."""
    from mammo_tf.training.config import config_from_dict, load_config_file

    options = load_config_file(experiment, config_cls)
    options.update(values)
    return config_from_dict(config_cls, options, f"experiment {experiment}")


def prepare_phantom(out_dir, profile, n_patients, seed):
    """Generate a phantom (drawn at PHANTOM_SIZE, more abnormal and malignant cases than the
    generator's defaults so the small test split has positives) and prepare it with the real
    CBIS-DDSM loader at IMAGE_SIZE; returns the manifest path."""
    from mammo_tf.datasets.phantom import write_phantom_cbis
    from mammo_tf.datasets.prepare import prepare

    manifest = os.path.join(out_dir, "manifest.csv")
    if os.path.isfile(manifest) and os.path.isfile(os.path.join(out_dir, "dataset.json")):
        return manifest
    source = os.path.join(out_dir, "source")
    if not os.path.isfile(os.path.join(source, "phantom.json")):
        write_phantom_cbis(source, n_patients=n_patients, seed=seed, profile=profile,
                           size=PHANTOM_SIZE, progress=True, **PHANTOM_CASES)
    # prepare() reuses the source above (same seed, profile, size and patient count)
    # The phantom's official (CBIS-DDSM style) split holds out 25% of the patients, which gives
    # the demo a test split large enough for a meaningful AUC (the paper split holds out 15%).
    manifest, report = prepare("phantom", source, out_dir, size=IMAGE_SIZE, n_patients=n_patients,
                               profile=profile, phantom_size=PHANTOM_SIZE, seed=seed,
                               split="official")
    print(report.summary())
    return manifest


def sample_patches(manifest, out_dir, set_name="s3"):
    """Patch HDF5 files per split; returns {split: path}."""
    from mammo_tf.shen.patches.patch_set import make_patch_set

    paths = {s: os.path.join(out_dir, f"{s}.h5") for s in ("train", "val", "test")}
    if not all(os.path.isfile(p) for p in paths.values()):
        make_patch_set(manifest, out_dir, set_name=set_name, patch_size=PATCH_SIZE)
    return paths


def train_patch(patches, runs_dir):
    """ResNet50 patch classifier, 3 stages (demo_patch.json: random init, so larger rates than
    the paper's pretrained 1e-3/1e-4/1e-5: 1e-3/1e-3/1e-4, 1+2+4 epochs; BN momentum 0.9 for
    the short run)."""
    from mammo_tf.shen.train_patch import PatchConfig, train_patch_classifier

    config = experiment_config(PatchConfig, "demo_patch", train_h5=[patches["train"]],
                               val_h5=[patches["val"]], test_h5=[patches["test"]],
                               runs_dir=runs_dir, name="patch")
    return _run(train_patch_classifier, config)


def train_whole(patch_run, manifest, runs_dir):
    """Whole-image classifier: the patch classifier's softmax applied at every location of the
    whole-image feature map (probabilistic 5x5 heatmap, global 5x5 max pooling) + FC 16 and a shortcut
    from the pooled heatmap to the output, 2 stages: stage 1 new layers (lr 1e-3, L2 1e-3),
    stage 2 all layers (lr 1e-4, L2 1e-2); demo_whole.json.

    Demo reduction: the paper trains stage 1 for 30 epochs at 1e-4 and stage 2 for 20 at 1e-6.
    On the 48x48-patch demo the patch classifier's features do not carry over to whole images
    as they are (a frozen backbone left every top at chance), so the demo's stage 2 is where the
    learning happens: all layers at 1e-4 for a few epochs.
    """
    from mammo_tf.shen.train_whole import WholeConfig, train_whole_image_classifier

    config = experiment_config(WholeConfig, "demo_whole",
                               patch_model=os.path.join(patch_run, "checkpoints", "best.keras"),
                               manifest=manifest, runs_dir=runs_dir, name="whole")
    return _run(train_whole_image_classifier, config)


def finetune(whole_run, manifest, runs_dir):
    """Transfer to the second intensity profile (demo_transfer.json: all layers, L2 0.01; lr
    2e-5 for 4 epochs instead of the paper's 1e-6 for up to 200: a low rate keeps the ddsm
    model near its source solution, 1e-4 and 3e-4 left it at chance)."""
    from mammo_tf.shen.transfer import TransferConfig, transfer

    config = experiment_config(TransferConfig, "demo_transfer",
                               model=os.path.join(whole_run, "checkpoints", "best.keras"),
                               manifest=manifest, runs_dir=runs_dir, name="transfer")
    return _run(transfer, config)


def predict_with_tta(model_dir, manifest, out_dir):
    """Predict the test split with the exported SavedModel (raw 16-bit input) and 4-flip TTA."""
    from mammo_tf.predict import (Predictor, evaluate_result, items_from_manifest, predict_items,
                                  write_predictions_csv)

    predictor = Predictor.load(model_dir)
    result = predict_items([predictor], items_from_manifest(manifest, "test"), tta=True,
                           batch_size=4, progress=False)
    os.makedirs(out_dir, exist_ok=True)
    write_predictions_csv(os.path.join(out_dir, "predictions.csv"), result)
    metrics = evaluate_result(result, roc_path=os.path.join(out_dir, "roc_tta.png"))
    write_json_atomic(os.path.join(out_dir, "metrics_tta.json"), metrics)
    return metrics


def explain_one(run, manifest, out_dir):
    """Explain the first malignant test image of ``manifest`` with ``run``'s model (PNG + HTML)
    and build the model's annotation site (DeepMiner ranking + dissection on a small probe)."""
    from mammo_tf.datasets.manifest import read_manifest
    from mammo_tf.deepminer import mine_and_explain

    rows = read_manifest(manifest)
    positives = [r for r in rows if r["split"] == "test" and int(r["label"]) == 1]
    if not positives:
        raise ValueError(f"{manifest}: no malignant test image to explain")
    image = os.path.join(os.path.dirname(os.path.abspath(manifest)), positives[0]["image_path"])
    return mine_and_explain(run, image, out_dir, **EXPLAIN)


def _run(pipeline, config):
    from mammo_tf.runs import RunFolder

    run = os.path.join(config.runs_dir, config.name)
    resume = run if os.path.isfile(os.path.join(run, "state.json")) else None
    if resume is None and os.path.isdir(run):
        import shutil

        shutil.rmtree(run)  # an earlier attempt that did not get to its first epoch
    pipeline(config, resume=resume)
    return RunFolder(run).path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="examples/demo.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo_output", help="work folder (default: %(default)s)")
    parser.add_argument("--patients", type=int, default=60, help="phantom patients (default: 60)")
    parser.add_argument("--transfer-patients", type=int, default=100,
                        help="patients of the second phantom (default: 100)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from mammo_tf.utils import setup_logging

    setup_logging()  # the library's stage/epoch reports, as the commands show them
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    out = os.path.abspath(args.out)
    runs = os.path.join(out, "runs")
    times, start = {}, time.time()

    def step(name, fn, *a, **k):
        t = time.time()
        print(f"\n##### {name}", flush=True)
        value = fn(*a, **k)
        times[name] = round(time.time() - t, 1)
        return value

    manifest = step("phantom (ddsm profile)", prepare_phantom, os.path.join(out, "phantom_ddsm"),
                    "ddsm", args.patients, args.seed)
    patches = step("patch sampling", sample_patches, manifest, os.path.join(out, "patches"))
    patch_run = step("patch classifier", train_patch, patches, runs)
    whole_run = step("whole-image classifier", train_whole, patch_run, manifest, runs)
    manifest2 = step("phantom (inbreast profile)", prepare_phantom,
                     os.path.join(out, "phantom_inbreast"), "inbreast", args.transfer_patients,
                     args.seed + 1)
    transfer_run = step("transfer", finetune, whole_run, manifest2, runs)
    tta = step("predict with TTA", predict_with_tta, os.path.join(transfer_run, "saved_model"),
               manifest2, os.path.join(out, "predictions"))

    explanation = step("explanation", explain_one, transfer_run, manifest2,
                       os.path.join(out, "explanation"))

    report = {
        "architecture": "ResNet50 patch classifier (48x48 patches) -> whole-image classifier at "
                        "192x176: ResNet50 heatmap (patch softmax at every location, 5x5 heatmap, global max pooling) "
                        "+ FC 16 with a heatmap shortcut, random init",
        "patch": _metrics(patch_run), "whole": _metrics(whole_run),
        "transfer": _metrics(transfer_run), "transfer_tta_prediction": tta,
        "explanation": explanation,
        "seconds": dict(times, total=round(time.time() - start, 1)),
    }
    report_path = os.path.join(out, "demo_report.json")
    write_json_atomic(report_path, report)
    print("\n##### report")
    print(f"patch classifier: test accuracy {report['patch'].get('test_accuracy'):.3f}, "
          f"one-vs-rest AUC {report['patch'].get('test_auc_ovr_macro'):.3f}")
    for key, label in (("whole", "whole-image (ddsm profile)"), ("transfer", "after transfer (inbreast profile)")):
        m = report[key]
        print(f"{label}: test AUC {_fmt(m.get('test_auc'))} (95% CI {_fmt_ci(m.get('test_auc_ci95'))}), "
              f"with TTA {_fmt(m.get('test_auc_tta'))}")
    print(f"predict.py with TTA on the exported SavedModel: AUC {_fmt(tta.get('auc'))} "
          f"(95% CI {_fmt_ci(tta.get('auc_ci95'))})")
    print(f"total time {report['seconds']['total']:.0f} s")
    print(f"\nreport: {report_path}\nROC curves: {os.path.join(whole_run, 'roc.png')}, "
          f"{os.path.join(out, 'predictions', 'roc_tta.png')}\nSavedModel: "
          f"{os.path.join(transfer_run, 'saved_model')}\nexplanation: {explanation['figure']}, "
          f"{explanation['html']}\nannotation site: {explanation['site']}")
    return 0


def _metrics(run):
    with open(os.path.join(run, "metrics.json"), encoding="utf-8") as f:
        return json.load(f)


def _fmt(value):
    return "n/a" if value is None else f"{value:.3f}"


def _fmt_ci(ci):
    return "n/a" if not ci else f"{ci[0]:.3f}-{ci[1]:.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
