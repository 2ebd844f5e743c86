# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Real-data check at scale: Shen's pipeline on 2,535 RSNA screening mammograms, then transfer
to mini-MIAS (issue 23, steps 2a-2d).

    python examples/real_data.py --rsna ../shared/data/rsna_screening_640 \\
        --mias ../shared/data/mini_mias_258.tar.xz --out real_data_output --seeds 0 1 2

Scale, from the lesions' physical size: the RSNA JPEGs are whole images stretched to 640x640,
about 0.35-0.45 mm per pixel (originals 2000-5000 px at 50-100 um); at 320x320 (this check)
0.7-0.9 mm/px, so a 17 mm mass (mini-MIAS median lesion diameter) is about 20 px. mini-MIAS
(200 um px, 1024x1024) is resized to 256x256: 800 um/px, the same scale; patches are 32 px
(25.6 mm, the physical patch of examples/mini_mias_check.py). Single calcifications are below
this resolution; masses and clusters are not. 320 px was chosen from the time budget too
(measured: 28 ms per image per training step at 320, 41 at 384, 20 at 256 on the 2 cores).

Steps, for every seed (run folders under ``<out>/runs``, each an ordinary run folder with its
best checkpoint and SavedModel; a killed check resumes there):

a. patch classifier (``rsna_patch``): MobileNet alpha 0.25 from ImageNet (the real Keras
   2.0.4 weights), the paper's frozen 3-stage schedule, on REAL lesion patches: mini-MIAS s10
   patches of the training patients (all 258 images of the archive; the test and validation
   patients of examples/mini_mias_check.py are kept out);
b. whole-image classifier cancer vs no cancer on the RSNA training split (``prepare
   image-folder``: patient-level 85/15 + 10% validation, inverted images corrected), three
   initialisations of the same architecture: ``patch`` (converted from (a): the paper's method,
   ``rsna_whole``), ``imagenet`` (the ImageNet MobileNet without patch training, the same
   schedule) and ``random`` (``rsna_whole_random``: the paper's random-init schedule); beside
   them the additions (``ADDITIONS``, each a named experiment file, never instead of the
   paper's method): ``patch_low_l2`` and its control ``imagenet_low_l2`` (``rsna_whole_low_l2``:
   the same two inits with L2 1e-4 instead of 1e-2 in the all-layer stage);
c. the patch baseline: (a) slid over the RSNA validation and test images (stride 8 px, max
   P(malignant) and max P(lesion)), beside every model;
d. transfer: the seed's RSNA model with the best validation AUC (of the three inits) rebuilt
   at 256x256 and finetuned on mini-MIAS whole images (abnormal vs
   normal) with 10 / 20 / 40 / all training patients (``rsna_transfer``), against a
   whole-image model trained on mini-MIAS alone from (a) on the same patients
   (``rsna_mias_whole``).

Every test number: image-level AUC on the test split (by patient), per seed, mean and range
over the seeds, the patient-level (cluster) bootstrap 95% CI of the seed mean, with 4-flip TTA,
and the seed-average model (plain and TTA). Every choice (best epoch, the transfer source) is
made on validation splits. Writes ``<out>/real_data_report.json``, the screening report of the
RSNA test split (``<out>/screening/report.html``), ``<out>/learning_curves.png`` and prints the
table. The RSNA runs record the inversion correction (run.json details), so ``predict --tta``
applies it to any other folder of images.
"""
import argparse
import dataclasses
import json
import logging
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mini_mias_check as check  # noqa: E402  (the mini-MIAS check's data and training helpers)

logger = logging.getLogger("mammo_tf.examples.real_data")

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
RSNA_SIZE = (320, 320)
MIAS_SIZE = (256, 256)
PIXEL_SPACING_MM = 0.8
PATCH_SIZE = 32
BASELINE_STRIDE = 8
INITS = ("patch", "imagenet", "random")  # the paper's comparison (its Table 2, on real data)
TRANSFER_SIZES = ("10", "20", "40", "all")
PATCH_EXPERIMENT, WHOLE_EXPERIMENT, RANDOM_EXPERIMENT = "rsna_patch", "rsna_whole", "rsna_whole_random"
TRANSFER_EXPERIMENT, MIAS_EXPERIMENT = "rsna_transfer", "rsna_mias_whole"
# Additions beyond the paper, trained beside its method (never instead of it): name -> (init,
# experiment file). The transfer source (2d) is chosen among INITS only.
ADDITIONS = {"patch_low_l2": ("patch", "rsna_whole_low_l2"),
             "imagenet_low_l2": ("imagenet", "rsna_whole_low_l2")}
# Every RSNA whole-image model of 2b: name -> (init, experiment file).
RSNA_MODELS = {"patch": ("patch", WHOLE_EXPERIMENT), "imagenet": ("imagenet", WHOLE_EXPERIMENT),
               "random": ("random", RANDOM_EXPERIMENT), **ADDITIONS}
MODELS = tuple(RSNA_MODELS)
INVERSION = {"inversion_correction": "border_median",
             "inversion_rule": "mammo_tf.io.images.correct_inversion (border median > half scale)"}
N_BOOT = check.N_BOOT


# --- data ---------------------------------------------------------------------------------

def prepare_rsna(src, work, size, progress=False):
    """``prepare image-folder`` of the RSNA folder at ``size`` (cached); returns the manifest."""
    from mammo_tf.datasets.prepare import prepare

    out = os.path.join(work, f"rsna_{size[0]}")
    manifest = os.path.join(out, "manifest.csv")
    if not os.path.isfile(manifest):
        manifest, report = prepare("image-folder", src, out, size=tuple(size), progress=progress)
        logger.info("%s", report.summary())
    return manifest


def load_data(args):
    mias_manifest, h5 = check.prepare_data(args.mias, args.out, image_size=args.mias_size,
                                           patch_size=args.patch_size, pixel_spacing=args.spacing)
    patches = {"names": None}
    for split, path in h5.items():
        x, y, ids, names = check.load_patches(path)
        patches[split], patches["names"] = (x, y, ids), names
    rsna_manifest = prepare_rsna(args.rsna, args.out, args.size)
    data = {"patches": patches, "mias_manifest": mias_manifest, "rsna_manifest": rsna_manifest,
            "mias": check.load_images(mias_manifest, args.mias_size),
            "rsna": check.load_images(rsna_manifest, args.size, label=lambda r: int(r["label"]))}
    for name in ("rsna", "mias"):
        logger.info(f"{name}: " + ", ".join(f"{s}: {len(data[name][s][1])} images "
                                            f"({int(data[name][s][1].sum())} positive)"
                                            for s in ("train", "val", "test")))
    return data


def subset_mask(patients, labels, n, seed):
    """Images of ``n`` training patients drawn at random (seeded, nested in n:
    ``mammo_tf.datasets.splits.draw_patient_subset``'s rule); ``all``: every image."""
    if n == "all":
        return np.ones(len(patients), bool)
    from mammo_tf.datasets.splits import draw_patient_subset

    rows = [{"patient_id": p, "split": "train", "i": i} for i, p in enumerate(patients)]
    kept = draw_patient_subset(rows, int(n), seed=seed)
    mask = np.zeros(len(patients), bool)
    mask[[r["i"] for r in kept]] = True
    return mask


# --- models ---------------------------------------------------------------------------------

def flip_scores(model, images16, pixel_mean, batch_size=8):
    """(plain P(positive), 4-flip TTA P(positive)) of 16-bit images, one forward pass per batch
    (``mammo_tf.inference.tta.flip_batch``; the plain score is the unflipped quarter)."""
    from mammo_tf.inference.tta import flip_batch
    from mammo_tf.preprocess import to_network_input

    plain, tta = [], []
    for i in range(0, len(images16), batch_size):
        x = to_network_input(images16[i:i + batch_size], pixel_mean)
        probs = np.asarray(model.predict_on_batch(flip_batch(x)), np.float64).reshape(4, len(x), -1)
        plain.append(probs[0, :, 1])
        tta.append(probs.mean(axis=0)[:, 1])
    return np.concatenate(plain), np.concatenate(tta)


def scored(y, scores, groups):
    from mammo_tf import evaluate

    auc, lo, hi = evaluate.bootstrap_auc_ci(y, scores, n_boot=N_BOOT, groups=groups)
    return {"auc": auc, "auc_ci95": [lo, hi], "scores": np.asarray(scores).tolist()}


class Check:
    """One seed's runs; every model through ``check.train_run`` (the library's StageRunner)."""

    def __init__(self, args, data, seed):
        import keras

        self.keras, self.args, self.data, self.seed = keras, args, data, seed
        self.runs_dir = os.path.join(args.out, "runs")
        self.names = data["patches"]["names"]
        self.pixel_mean = float(np.mean(data["patches"]["train"][0]) * (255.0 / 65535.0))

    def config(self, name, model, init, experiment_name, options):
        from mammo_tf.shen.augment import AugmentConfig

        return check.CheckRun(name=f"{name}_seed{self.seed}", runs_dir=self.runs_dir, model=model,
                              init=init, seed=self.seed, experiment=experiment_name,
                              options=dict(options), epochs_scale=self.args.epochs_scale,
                              augment=AugmentConfig().to_dict())

    def scaled(self, stages):
        return [dataclasses.replace(s, epochs=max(1, round(s.epochs * self.args.epochs_scale)))
                for s in stages]

    def dataset(self, x, y, batch, training, num_classes):
        return check.in_memory_dataset(x, y, batch_size=batch, pixel_mean=self.pixel_mean,
                                       training=training, seed=self.seed, num_classes=num_classes)

    def patch_model(self, weights):
        from mammo_tf.shen import build_patch_classifier

        self.keras.utils.set_random_seed(self.seed)
        options = check.experiment(PATCH_EXPERIMENT)[0]
        return build_patch_classifier("mobilenet", num_classes=len(self.names), weights=weights,
                                      input_shape=(self.args.patch_size, self.args.patch_size, 3),
                                      dropout=options.get("dropout", 0.0), l2=options.get("l2", 0.0))

    def info(self, kind, classes, training_data, details):
        return {"kind": kind, "classes": list(classes), "pixel_mean": self.pixel_mean,
                "pixel_mean_source": "mean of the mini-MIAS training patches (examples/real_data.py)",
                "backbone": "mobilenet", "training_data": training_data, "details": details}

    # a. patch classifier
    def train_patch(self):
        options, stages = check.experiment(PATCH_EXPERIMENT)
        x, y, _ = self.data["patches"]["train"]
        xv, yv, _ = self.data["patches"]["val"]
        model, curve, result = check.train_run(
            self.config("patch", "patch", "pretrained", PATCH_EXPERIMENT, options),
            check.stages_for("pretrained", self.scaled(stages)),
            lambda: self.patch_model(self.args.weights),
            self.dataset(x, y, int(options["batch_size"]), True, len(self.names)),
            self.dataset(xv, yv, 128, False, len(self.names)),
            check.lesion_evaluator(self.names), "lesion_auc",
            self.info("patch", self.names, {"check": "mini-MIAS patches", "init": "imagenet"},
                      {"pixel_spacing_mm": self.args.spacing, "weights": self.args.weights}),
            export=self.args.savedmodel)
        xt, yt, ids = self.data["patches"]["test"]
        from mammo_tf.preprocess import to_network_input

        score = check.lesion_score(check._predict(model, to_network_input(xt, self.pixel_mean), 128),
                                   self.names)
        lesion = (yt != 0).astype(int)
        report = scored(lesion, score, check.patient_of_image(ids))
        report.update(best_val_auc=result.best_value, best_epoch=result.best_epoch, curve=curve,
                      run=os.path.join(self.runs_dir, f"patch_seed{self.seed}"))
        return model, report

    def whole_model(self, source, size, options):
        from mammo_tf.shen import build_whole_image_classifier

        self.keras.utils.set_random_seed(self.seed)
        return build_whole_image_classifier(
            source, top=options.get("top", "resnet"), depths=options["depths"],
            repetitions=options["repetitions"], input_shape=(*size, 3),
            dropout=options.get("dropout", 0.0))

    def train_whole(self, name, init, build, experiment_name, images, mask, training_data,
                    details, stage_init):
        """A whole-image run on ``images`` (the data dict of one dataset) restricted to the
        training images in ``mask``; returns its report (val/test scores plain + TTA)."""
        from mammo_tf.constants import WHOLE_IMAGE_CLASSES

        options, stages = check.experiment(experiment_name)
        x, y, _ = images["train"]
        batch = int(options.get("batch_size", 8))
        t0 = time.time()
        model, curve, result = check.train_run(
            self.config(name, "whole", init, experiment_name, options),
            check.stages_for(stage_init, self.scaled(stages)), build,
            self.dataset(x[mask], y[mask], batch, True, 2),
            self.dataset(*images["val"][:2], batch, False, 2), check.image_evaluator, "auc",
            self.info("whole_top", WHOLE_IMAGE_CLASSES, training_data, details),
            export=self.args.savedmodel)
        seconds = time.time() - t0
        report = {"run": os.path.join(self.runs_dir, f"{name}_seed{self.seed}"), "curve": curve,
                  "best_val_auc": result.best_value, "best_epoch": result.best_epoch,
                  "n_train": int(mask.sum()), "train_seconds": round(seconds, 1)}
        t1 = time.time()
        for split in ("val", "test"):
            xs, ys, groups = images[split]
            plain, tta = flip_scores(model, xs, self.pixel_mean, batch)
            report[split] = {"plain": scored(ys, plain, groups), "tta": scored(ys, tta, groups)}
        report["predict_seconds"] = round(time.time() - t1, 1)
        return model, report

    # b. RSNA whole image, three inits (and the additions)
    def train_rsna(self, name, patch_model):
        """The RSNA whole-image model ``name`` (one of MODELS)."""
        init, experiment_name = RSNA_MODELS[name]
        options = check.experiment(experiment_name)[0]
        if init == "patch":
            source = patch_model
        else:
            source = self.patch_model(self.args.weights if init == "imagenet" else None)
        details = {"top": options.get("top", "resnet"), "depths": list(options["depths"]),
                   "repetitions": list(options["repetitions"]), "init": init,
                   "experiment": experiment_name, "image_size": list(self.args.size), **INVERSION}
        return self.train_whole(
            f"rsna_{name}", init, lambda: self.whole_model(source, self.args.size, options),
            experiment_name, self.data["rsna"], np.ones(len(self.data["rsna"]["train"][1]), bool),
            {"check": "RSNA screening", "init": init,
             "manifest": self.data["rsna_manifest"],
             "patch_run": os.path.join(self.runs_dir, f"patch_seed{self.seed}") if init == "patch" else None},
            details, "random" if init == "random" else "pretrained")

    # c. patch baseline
    def baseline(self, patch_model, images, splits=("val", "test")):
        from mammo_tf.preprocess import to_network_input
        from mammo_tf.shen.sliding import patch_baseline_scores

        t0 = time.time()
        out = {}
        for split in splits:
            x16, y, groups = images[split]
            scores = {}
            for i in range(0, len(x16), 32):
                part = patch_baseline_scores(patch_model, to_network_input(x16[i:i + 32], self.pixel_mean),
                                             self.args.baseline_stride, self.names)
                for key, value in part.items():
                    scores.setdefault(key, []).append(value)
            out[split] = {key: scored(y, np.concatenate(v), groups) for key, v in scores.items()}
        out["seconds"] = round(time.time() - t0, 1)
        return out

    # d. transfer to mini-MIAS
    def transfer(self, source_init, patch_model, n):
        """2d for ``n`` training patients: {"transfer": the RSNA model finetuned, "alone": the
        whole-image model from (a) on mini-MIAS alone}, the same training images."""
        from mammo_tf.runs import RunFolder, load_keras_model

        mias = self.data["mias"]
        options = check.experiment(WHOLE_EXPERIMENT)[0]
        source_run = RunFolder(os.path.join(self.runs_dir, f"rsna_{source_init}_seed{self.seed}"))
        mask = subset_mask(mias["train"][2], mias["train"][1], n, self.seed)

        def build_transfer():
            source = load_keras_model(source_run.best_model)
            model = self.whole_model(self.patch_model(None), self.args.mias_size, options)
            model.set_weights(source.get_weights())
            return model

        common = {"top": options.get("top", "resnet"), "depths": list(options["depths"]),
                  "repetitions": list(options["repetitions"]),
                  "image_size": list(self.args.mias_size), "train_patients": n}
        _, transferred = self.train_whole(
            f"mias_transfer_n{n}", source_init, build_transfer, TRANSFER_EXPERIMENT, mias, mask,
            {"check": "mini-MIAS", "source_run": source_run.path, "patients": n},
            dict(common, source=source_init), "pretrained")
        _, alone = self.train_whole(
            f"mias_alone_n{n}", "patch", lambda: self.whole_model(patch_model, self.args.mias_size, options),
            MIAS_EXPERIMENT, mias, mask,
            {"check": "mini-MIAS", "patch_run": os.path.join(self.runs_dir, f"patch_seed{self.seed}"),
             "patients": n}, common, "pretrained")
        return {"transfer": transferred, "alone": alone}


# --- summary -------------------------------------------------------------------------------

def seed_summary(y, groups, score_lists):
    """Mean [range] over seeds with the CI of the mean (``check.mean_with_ci``) and the
    seed-average model's AUC with its CI."""
    from mammo_tf import evaluate

    summary = check.mean_with_ci(y, score_lists, groups)
    auc, lo, hi = evaluate.bootstrap_auc_ci(y, np.mean(score_lists, axis=0), n_boot=N_BOOT, groups=groups)
    summary["average_model"] = {"auc": auc, "ci95": [lo, hi]}
    return summary


def summarise(seeds, data):
    """The table: RSNA test (models plain and TTA, baselines) and mini-MIAS test (transfer
    series vs mini-MIAS alone, the patch classifier)."""
    y, groups = data["rsna"]["test"][1], data["rsna"]["test"][2]
    table = {"rsna": {}, "mias": {}}
    for init in MODELS:
        runs = [s["rsna"][init] for s in seeds if init in s.get("rsna", {})]
        if runs:
            table["rsna"][init] = {
                mode: seed_summary(y, groups, [r["test"][mode]["scores"] for r in runs])
                for mode in ("plain", "tta")}
            table["rsna"][init]["val_auc_mean"] = float(np.mean([r["best_val_auc"] for r in runs]))
            table["rsna"][init]["train_minutes"] = [round(r["train_seconds"] / 60, 1) for r in runs]
    for key in ("max_malignant", "max_lesion"):
        runs = [s["baseline"]["test"][key]["scores"] for s in seeds if "baseline" in s]
        if runs:
            table["rsna"][f"baseline_{key}"] = {"plain": seed_summary(y, groups, runs)}
    ym, gm = data["mias"]["test"][1], data["mias"]["test"][2]
    sizes = set.intersection(*[set(s.get("transfer", {})) for s in seeds]) if seeds else set()  # every seed
    for n in sorted(sizes, key=lambda n: (n == "all", int(n) if n.isdigit() else 0)):
        for kind in ("transfer", "alone"):
            runs = [s["transfer"][n][kind] for s in seeds if n in s.get("transfer", {})]
            if runs:
                table["mias"][f"{kind}_n{n}"] = {
                    mode: seed_summary(ym, gm, [r["test"][mode]["scores"] for r in runs])
                    for mode in ("plain", "tta")}
                table["mias"][f"{kind}_n{n}"]["n_train_images"] = runs[0]["n_train"]
    for key in ("max_malignant", "max_lesion"):
        runs = [s["mias_baseline"]["test"][key]["scores"] for s in seeds if "mias_baseline" in s]
        if runs:
            table["mias"][f"baseline_{key}"] = {"plain": seed_summary(ym, gm, runs)}
    _, yp, ids = data["patches"]["test"]
    runs = [s["patch"]["scores"] for s in seeds if "patch" in s]
    if runs:
        table["mias"]["patch_lesion_vs_normal"] = {"plain": seed_summary(
            (yp != 0).astype(int), check.patient_of_image(ids), runs)}
    return table


def format_table(table, seeds):
    def cell(m):
        return (f"{m['mean']:.3f} [{m['min']:.3f}-{m['max']:.3f}] "
                f"({m['ci95'][0]:.2f}-{m['ci95'][1]:.2f})")

    def avg(m):
        return f"{m['average_model']['auc']:.3f}"

    label = {"patch": "patch classifier (2a) -> whole image: the paper's method",
             "imagenet": "ImageNet MobileNet -> whole image (no patch training)",
             "random": "random init -> whole image",
             "patch_low_l2": "addition: the paper's method, all-layer stage L2 1e-4 (paper 1e-2)",
             "imagenet_low_l2": "addition: ImageNet -> whole image, all-layer stage L2 1e-4",
             "baseline_max_malignant": "2a slid over the image: max P(malignant)",
             "baseline_max_lesion": "2a slid over the image: max P(lesion)"}
    lines = [f"RSNA screening test split (image AUC, cancer vs no cancer; {len(seeds)} seeds: mean "
             "[range] (patient-bootstrap 95% CI of the mean); average = the seed-average model)",
             "| model | AUC | AUC with flip TTA | average | average + TTA | val AUC (mean) |",
             "|---|---|---|---|---|---|"]
    for key, row in table["rsna"].items():
        tta = row.get("tta")
        lines.append(f"| {label.get(key, key)} | {cell(row['plain'])} | {cell(tta) if tta else '-'} | "
                     f"{avg(row['plain'])} | {avg(tta) if tta else '-'} | "
                     f"{row['val_auc_mean']:.3f} |" if "val_auc_mean" in row else
                     f"| {label.get(key, key)} | {cell(row['plain'])} | - | {avg(row['plain'])} | - | - |")
    lines += ["", "mini-MIAS test split (image AUC, abnormal vs normal; patch row: lesion vs normal "
              "patches)", "| model | training patients (images) | AUC | AUC with flip TTA | average | "
              "average + TTA |", "|---|---|---|---|---|---|"]
    for key, row in table["mias"].items():
        if key == "patch_lesion_vs_normal" or key.startswith("baseline_"):
            lines.append(f"| {label.get(key, 'patch classifier 2a (test patches)')} | - | "
                         f"{cell(row['plain'])} | - | {avg(row['plain'])} | - |")
            continue
        kind, n = key.rsplit("_n", 1)
        name = "RSNA model -> finetuned on mini-MIAS" if kind == "transfer" else "mini-MIAS alone, from 2a"
        lines.append(f"| {name} | {n} ({row['n_train_images']}) | {cell(row['plain'])} | "
                     f"{cell(row['tta'])} | {avg(row['plain'])} | {avg(row['tta'])} |")
    return "\n".join(lines)


def learning_curves_png(path, seeds):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    colours = {"patch": "C0", "imagenet": "C1", "random": "C2", "patch_low_l2": "C3",
               "imagenet_low_l2": "C4"}
    for s in seeds:
        for init, run in s.get("rsna", {}).items():
            c = run["curve"]
            axes[0].plot([e["epoch"] for e in c], [e["val_auc"] for e in c], "-o", color=colours[init],
                         label=f"{init} seed {s['seed']}", alpha=0.8)
            axes[1].plot([e["epoch"] for e in c], [e["train_loss"] for e in c], "-", color=colours[init],
                         alpha=0.8)
            axes[1].plot([e["epoch"] for e in c], [e["val_loss"] for e in c], ":", color=colours[init],
                         alpha=0.8)
        if "patch" in s:
            c = s["patch"]["curve"]
            axes[2].plot([e["epoch"] for e in c], [e["val_auc"] for e in c], "-o", color="k", alpha=0.7,
                         label=f"2a patch lesion AUC seed {s['seed']}")
        for n, pair in s.get("transfer", {}).items():
            c = pair["transfer"]["curve"]
            axes[2].plot([e["epoch"] for e in c], [e["val_auc"] for e in c], "-", alpha=0.6,
                         label=f"transfer n={n} seed {s['seed']}")
    axes[0].set(title="RSNA whole image: validation AUC", xlabel="epoch", ylabel="AUC")
    axes[1].set(title="RSNA: train loss (solid), validation loss (dotted)", xlabel="epoch")
    axes[2].set(title="mini-MIAS: 2a patch / 2d transfer validation AUC", xlabel="epoch")
    axes[0].legend(fontsize=6)
    axes[2].legend(fontsize=5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def screening_report(out, seeds, data):
    """``mammo_tf.screening.report.write_report`` on the RSNA test split: the seed-average
    models (TTA) and the patch baseline, validation sets for calibration."""
    from mammo_tf.screening.report import write_report

    def rows(split, scores):
        ids = [r["image_id"] for r in _manifest_rows(data["rsna_manifest"], split)]
        return [{"image_id": i, "prob_positive": float(np.clip(s, 0, 1))} for i, s in zip(ids, scores)]

    preds, vals, names = [], [], []
    for init in MODELS:
        runs = [s["rsna"][init] for s in seeds if init in s.get("rsna", {})]
        if runs:
            names.append(f"{init} (seed average, TTA)")
            preds.append(rows("test", np.mean([r["test"]["tta"]["scores"] for r in runs], axis=0)))
            vals.append(rows("val", np.mean([r["val"]["tta"]["scores"] for r in runs], axis=0)))
    runs = [s["baseline"] for s in seeds if "baseline" in s]
    if runs:
        names.append("patch baseline max P(malignant) (seed average)")
        preds.append(rows("test", np.mean([r["test"]["max_malignant"]["scores"] for r in runs], axis=0)))
        vals.append(rows("val", np.mean([r["val"]["max_malignant"]["scores"] for r in runs], axis=0)))
    return write_report(preds, os.path.join(out, "screening"), val=vals, manifest=data["rsna_manifest"],
                        names=names, n_boot=N_BOOT, title="RSNA screening test split (examples/real_data.py)")


def _manifest_rows(manifest, split):
    from mammo_tf.datasets.manifest import read_manifest

    return [r for r in read_manifest(manifest) if r["split"] == split]


def choose_transfer_source(seed):
    """The seed's RSNA init with the best validation AUC (ties: the paper's method first)."""
    values = {init: float(seed["rsna"][init]["best_val_auc"]) for init in INITS if init in seed["rsna"]}
    return max(values, key=lambda k: (values[k], -INITS.index(k))), values


def save_seed(path, seed):
    """Store one seed's results in ``path`` (read-modify-write: processes that run other seeds
    into the same --out keep theirs)."""
    from mammo_tf.utils import write_json_atomic

    saved = {}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
    saved[str(seed["seed"])] = seed
    write_json_atomic(path, saved)


def run_seed_rsna(args, data, seed, done):
    """Steps a-c of one seed (``done``: its saved part, reused when complete)."""
    if done.get("rsna") and all(i in done["rsna"] for i in args.models):
        return done
    c = Check(args, data, seed)
    t0 = time.time()
    patch_model, patch = c.train_patch()
    patch["seconds"] = round(time.time() - t0, 1)
    logger.info("[seed %d] 2a patch classifier: test lesion AUC %.3f (%.1f min)", seed, patch["auc"],
                patch["seconds"] / 60)
    out = {"seed": seed, "pixel_mean": c.pixel_mean, "patch": patch, "rsna": {}}
    for init in args.models:
        _, report = c.train_rsna(init, patch_model)
        out["rsna"][init] = report
        logger.info("[seed %d] 2b %s: val %.3f, test %.3f (TTA %.3f); train %.1f min, predict %.0f s",
                    seed, init, report["best_val_auc"], report["test"]["plain"]["auc"],
                    report["test"]["tta"]["auc"], report["train_seconds"] / 60, report["predict_seconds"])
    out["baseline"] = c.baseline(patch_model, data["rsna"])
    out["mias_baseline"] = c.baseline(patch_model, data["mias"], ("test",))
    logger.info("[seed %d] 2c baseline test: max P(malignant) %.3f, max P(lesion) %.3f (%.0f s)", seed,
                out["baseline"]["test"]["max_malignant"]["auc"], out["baseline"]["test"]["max_lesion"]["auc"],
                out["baseline"]["seconds"])
    out["seconds_a_to_c"] = round(time.time() - t0, 1)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="examples/real_data.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rsna", default=os.path.join(SHARED, "rsna_screening_640"),
                        help="folder of labelled screening images (prepare image-folder; default: %(default)s)")
    parser.add_argument("--mias", default=os.path.join(SHARED, "mini_mias_258.tar.xz"),
                        help="mini-MIAS archive or folder (default: %(default)s)")
    parser.add_argument("--out", default="/tmp/real_data_check", help="work folder, outside the repository")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--weights", default=check.DEFAULT_WEIGHTS,
                        help="MobileNet (alpha 0.25) no-top ImageNet weights (default: %(default)s); "
                             "'none': random weights in their place (toy runs only)")
    parser.add_argument("--size", type=int, nargs=2, default=list(RSNA_SIZE), metavar=("H", "W"),
                        help="RSNA network input (default: %(default)s)")
    parser.add_argument("--mias-size", type=int, nargs=2, default=list(MIAS_SIZE), metavar=("H", "W"))
    parser.add_argument("--spacing", type=float, default=PIXEL_SPACING_MM,
                        help="mini-MIAS mm per pixel at --mias-size (default: %(default)s)")
    parser.add_argument("--patch-size", type=int, default=PATCH_SIZE)
    parser.add_argument("--baseline-stride", type=int, default=BASELINE_STRIDE)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS,
                        help="RSNA whole-image models of 2b: the paper's three inits and the additions "
                             "(default: %(default)s)")
    parser.add_argument("--transfer-sizes", nargs="*", default=list(TRANSFER_SIZES),
                        help="mini-MIAS training patients of the transfer series (default: %(default)s)")
    parser.add_argument("--no-savedmodel", dest="savedmodel", action="store_false",
                        help="no SavedModel export (toy runs; the .keras checkpoints are kept)")
    parser.add_argument("--epochs-scale", type=float, default=1.0,
                        help="multiply every stage's epochs (smoke tests: small values)")
    args = parser.parse_args(argv)
    if args.weights == "none":
        args.weights = None
    for flag, path in (("--rsna", args.rsna), ("--mias", args.mias), ("--weights", args.weights)):
        if path is not None and not os.path.exists(path):
            parser.error(f"{flag} {path} not found")
    bad = [n for n in args.transfer_sizes if n != "all" and not n.isdigit()]
    if bad:
        parser.error(f"--transfer-sizes: numbers or 'all', got {bad}")
    if args.transfer_sizes and not set(args.models) & set(INITS):
        parser.error(f"--transfer-sizes needs one of the paper's inits {list(INITS)} in --models (the "
                     "transfer source is chosen among them); give --transfer-sizes no value to skip 2d")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mammo_tf.utils import setup_logging, write_json_atomic

    setup_logging()
    start = time.time()
    args.out = os.path.abspath(args.out)
    os.makedirs(args.out, exist_ok=True)
    data = load_data(args)
    logger.info("data ready (%.0f s)", time.time() - start)
    partial_path = os.path.join(args.out, "seeds_partial.json")
    saved = {}
    if os.path.isfile(partial_path):
        with open(partial_path, encoding="utf-8") as f:
            saved = {int(k): v for k, v in json.load(f).items()}
    from mammo_tf.runs import RunFolder, load_keras_model

    seeds = []
    for seed in args.seeds:
        s = run_seed_rsna(args, data, seed, saved.get(seed, {}))
        save_seed(partial_path, s)
        # 2d: the seed's best RSNA model by validation AUC -> mini-MIAS, one size at a time
        source, values = choose_transfer_source(s)
        if s.get("transfer_source") != source:
            s["transfer"] = {}
        s["transfer_source"], s["transfer_source_val_auc"] = source, values
        c = Check(args, data, seed)
        patch_model = None
        for n in args.transfer_sizes:
            if n in s["transfer"]:
                continue
            if patch_model is None:
                logger.info("[seed %d] 2d transfer source (best RSNA validation AUC): %s %s", seed, source, values)
                patch_model = load_keras_model(RunFolder(os.path.join(c.runs_dir, f"patch_seed{seed}")).best_model)
            t0 = time.time()
            s["transfer"][n] = c.transfer(source, patch_model, n)
            s["transfer"][n]["seconds"] = round(time.time() - t0, 1)
            logger.info("[seed %d] 2d n=%s: transfer test %.3f, alone %.3f (%.1f min)", seed, n,
                        s["transfer"][n]["transfer"]["test"]["plain"]["auc"],
                        s["transfer"][n]["alone"]["test"]["plain"]["auc"], s["transfer"][n]["seconds"] / 60)
            save_seed(partial_path, s)
        seeds.append(s)
    sources = {s["seed"]: s["transfer_source"] for s in seeds}
    table = summarise(seeds, data)
    experiments = [PATCH_EXPERIMENT, *dict.fromkeys(e for _, e in RSNA_MODELS.values()),
                   TRANSFER_EXPERIMENT, MIAS_EXPERIMENT]
    report = {"settings": dict(vars(args), experiments=experiments),
              "transfer_source": sources,
              "table": table, "seeds": seeds, "seconds": round(time.time() - start, 1)}
    try:
        screening = screening_report(args.out, seeds, data)
        report["screening_report"] = screening["files"]
    except Exception as exc:  # noqa: BLE001 - the table and JSON come first
        logger.warning("screening report failed: %s: %s", type(exc).__name__, exc)
    learning_curves_png(os.path.join(args.out, "learning_curves.png"), seeds)
    path = os.path.join(args.out, "real_data_report.json")
    write_json_atomic(path, report)
    text = format_table(table, seeds)
    print(text)
    logger.info("report: %s, learning curves: %s (%.1f min)", path,
                os.path.join(args.out, "learning_curves.png"), report["seconds"] / 60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
