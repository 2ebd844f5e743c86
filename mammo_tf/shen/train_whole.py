# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The whole-image pipeline (paper section 2.3): a trained patch classifier -> whole-image
classifier (resnet / vgg / hybrid top, or the heatmap + FC alternative) -> 2-stage training
-> test AUC (with and without 4-flip TTA); optionally the heatmap + random-forest baseline."""
import dataclasses
import functools

import numpy as np

from mammo_tf.shen import data
from mammo_tf.training import common
from mammo_tf.training.config import REQUIRED, CommonConfig, UsageError, option
from mammo_tf.training.metrics import predict_dataset, predict_padded
from mammo_tf.training.runner import StageRunner

TOPS = ("resnet", "vgg", "hybrid", "heatmap")


@dataclasses.dataclass
class WholeConfig(CommonConfig):
    """Configuration of ``train_whole.py``; defaults are the paper's."""

    patch_model: str = option(REQUIRED, "trained patch classifier (.keras, e.g. "
                              "runs/<patch run>/checkpoints/best.keras)")
    manifest: str = option(REQUIRED, "whole-image manifest CSV with train/val/test splits")
    top: str = option("resnet", "top blocks: resnet ([512-512-1024]x2), vgg (512x1 with "
                      "--repetitions 1 1), hybrid (resnet top on a VGG patch model) or heatmap "
                      "(probabilistic heatmap + FC layers)", choices=TOPS)
    depths: list = option([512, 512], "top-block depths", nargs="+", type=int)
    repetitions: list = option([2, 2], "units (resnet) / conv layers (vgg) per top block",
                               nargs="+", type=int)
    image_size: list = option([1152, 896], "whole-image input size: height width", nargs=2, type=int)
    learning_rates: list = option([1e-4, 1e-6], "learning rates of stage 1 (top) and 2 (all)",
                                  nargs=2, type=float)
    epochs: list = option([30, 20], "epochs of stage 1 and 2", nargs=2, type=int)
    l2: list = option([1e-3, 1e-2], "L2 weight decay of stage 1 and 2 (applied for real)",
                      nargs=2, type=float)
    dropout: float = option(0.0, "dropout rate before the output layer")
    batch_size: int = option(2, "batch size")
    augment: bool = option(True, "random flips/rotation/shear/zoom/channel shift while training")
    class_balanced: bool = option(True, "per-batch class-balancing sample weights")
    bn_momentum: float | None = option(None, "BatchNormalization moving-average momentum "
                                       "(default: Keras' 0.99; 0.9 suits short runs)")
    tta: bool = option(True, "also report the test AUC with 4-flip test-time augmentation")
    heatmap_pool: int = option(5, "--top heatmap: max-pooling size of the heatmap")
    heatmap_hidden: list = option([512, 256], "--top heatmap: FC layer sizes", nargs="+", type=int)
    heatmap_shortcut: bool = option(False, "--top heatmap: shortcut Dense from the pooled heatmap")
    rf_baseline: bool = option(False, "also run the heatmap + random-forest baseline "
                               "(cutoffs 0.3/0.5/0.7/0.9, 500 trees) on the patch model")
    rf_trees: int = option(500, "random-forest size for --rf-baseline")


def whole_stages(learning_rates, epochs, l2):
    from mammo_tf.shen import WHOLE_IMAGE_STAGES

    return [dataclasses.replace(s, learning_rate=lr, epochs=e, l2=w)
            for s, lr, e, w in zip(WHOLE_IMAGE_STAGES, learning_rates, epochs, l2)]


def check_patch_model(model, path, top):
    """UsageError unless ``model`` is a mammo_tf patch classifier usable with ``top``."""
    from mammo_tf.shen import backbone_of

    names = {layer.name for layer in model.layers}
    try:
        backbone = backbone_of(model)
    except ValueError:
        raise UsageError(f"{path}: not a VGG16/VGG19/ResNet50 patch classifier") from None
    if any(n.startswith("top1_") for n in names) or "heatmap" in names:
        raise UsageError(f"{path}: this is a whole-image classifier; --patch-model needs the "
                         "patch classifier (train_patch.py's checkpoints/best.keras)")
    if "global_pool" not in names or "predictions" not in names:
        raise UsageError(f"{path}: not a mammo_tf patch classifier (no global_pool/predictions)")
    if top == "hybrid" and backbone == "resnet50":
        raise UsageError(f"{path}: --top hybrid needs a VGG16/VGG19 patch model, got resnet50")
    return backbone


def build_whole_model(patch_model, config):
    from mammo_tf.shen import build_heatmap_classifier, build_whole_image_classifier

    shape = (*config.image_size, 3)
    if config.top == "heatmap":
        return build_heatmap_classifier(patch_model, input_shape=shape, pool_size=config.heatmap_pool,
                                        hidden=tuple(config.heatmap_hidden),
                                        shortcut=config.heatmap_shortcut, dropout=config.dropout,
                                        l2=config.l2[0])
    return build_whole_image_classifier(
        patch_model, top="resnet" if config.top == "hybrid" else config.top,
        depths=tuple(config.depths), repetitions=tuple(config.repetitions), input_shape=shape,
        dropout=config.dropout, l2=config.l2[0])


def evaluate_whole(model, dataset, run, tta=True, n_boot=1000, seed=0, prefix="test"):
    """AUC (+95% bootstrap CI) of the positive class, with and without TTA; ROC PNG."""
    from mammo_tf import evaluate
    from mammo_tf.tta import tta_predict

    y, probs = predict_dataset(model, dataset)
    out = {f"{prefix}_n": int(len(y)), f"{prefix}_n_positive": int(np.sum(y == 1)),
           f"{prefix}_accuracy": evaluate.accuracy(y, probs.argmax(axis=1))}
    curves = {"model": (y, probs[:, 1])}
    if 0 < np.sum(y == 1) < len(y):
        auc, lo, hi = evaluate.bootstrap_auc_ci(y, probs[:, 1], n_boot=n_boot, seed=seed)
        out.update({f"{prefix}_auc": auc, f"{prefix}_auc_ci95": [lo, hi]})
        if tta:
            forward = functools.partial(predict_padded, model,
                                        batch_size=4 * getattr(dataset, "batch_size", 1))
            tta_probs = np.concatenate([tta_predict(forward, dataset[i][0])
                                        for i in range(len(dataset))])
            auc, lo, hi = evaluate.bootstrap_auc_ci(y, tta_probs[:, 1], n_boot=n_boot, seed=seed)
            out.update({f"{prefix}_auc_tta": auc, f"{prefix}_auc_tta_ci95": [lo, hi]})
            curves["model + TTA"] = (y, tta_probs[:, 1])
        evaluate.plot_roc(run.roc_png, curves, title=f"whole-image classifier ({prefix})")
    else:
        out[f"{prefix}_auc"] = None  # undefined: one class only
    return out


def pixel_mean_for(config, run, resume, patch_model_path):
    """Resume: the run's. Else --pixel-mean, else the patch run's (the paper uses one mean for
    patch and whole-image training), else computed on the manifest's training split."""
    from mammo_tf.predict import find_pixel_mean

    if resume:
        return run.read_pixel_mean()
    if config.pixel_mean is not None:
        value, source = config.pixel_mean, "--pixel-mean"
    elif find_pixel_mean(patch_model_path) is not None:
        value, source = find_pixel_mean(patch_model_path), f"run folder of {patch_model_path}"
    else:
        value = data.pixel_mean_of(config.manifest, "train", config.image_size)
        source = f"compute_pixel_mean({config.manifest}, train)"
    run.write_pixel_mean(value, source)
    return value


def train_whole_image_classifier(config, resume=None, callbacks=()):
    """Run the whole-image pipeline; returns the metrics dict (also in ``metrics.json``)."""
    if config.top not in TOPS:
        raise UsageError(f"unknown top {config.top!r}; choose one of {', '.join(TOPS)}")
    if len(config.depths) != len(config.repetitions):
        raise UsageError(f"--depths {config.depths} and --repetitions {config.repetitions} "
                         "need the same length")
    data.check_manifest(config.manifest)
    patch_model = common.load_model_file(config.patch_model, "patch model")
    backbone = check_patch_model(patch_model, config.patch_model, config.top)
    stages = whole_stages(config.learning_rates, config.epochs, config.l2)
    run = common.open_run(config, "whole", resume, stages)
    if run.is_finished():
        print(f"{run.path}: run already finished; nothing to do")
        return run.read_metrics()
    strategy = common.prepare_environment(config)
    pixel_mean = pixel_mean_for(config, run, resume, config.patch_model)

    train = data.whole_image_dataset(config.manifest, "train", pixel_mean, config.batch_size,
                                     config.image_size, training=True, seed=config.seed,
                                     augment=config.augment, class_balanced=config.class_balanced,
                                     workers=config.workers)
    val = data.whole_image_dataset(config.manifest, "val", pixel_mean, config.batch_size,
                                   config.image_size, training=False, workers=config.workers)
    model = None
    if not resume:
        with common.scope(strategy):
            try:
                model = common.set_bn_momentum(common.float32_output(
                    build_whole_model(patch_model, config)), config.bn_momentum)
            except ValueError as exc:
                raise UsageError(str(exc).splitlines()[0]) from None
    result = StageRunner(run, stages, train, val, common.training_options(config), strategy,
                         callbacks).train(model)

    best = common.load_model_file(run.best_model, "best checkpoint")
    test = data.whole_image_dataset(config.manifest, "test", pixel_mean, config.batch_size,
                                    config.image_size, training=False, workers=config.workers)
    metrics = {"pipeline": "whole", "backbone": backbone, "top": config.top,
               "image_size": list(config.image_size), "pixel_mean": pixel_mean,
               "best_epoch": result.best_epoch, "best_val_auc": result.best_val_auc,
               "completed_epochs": result.completed_epochs}
    metrics.update(evaluate_whole(best, test, run, tta=config.tta, seed=config.seed))
    if config.rf_baseline:
        metrics["heatmap_rf"] = heatmap_rf_baseline(patch_model, config, pixel_mean, run)
    if config.export:
        common.export_model(run, run.best_model, pixel_mean)
    run.write_metrics(metrics)
    common.print_report(run, metrics, ("test_auc", "test_auc_ci95", "test_auc_tta", "best_epoch"))
    return metrics


def heatmap_rf_baseline(patch_model, config, pixel_mean, run):
    """The paper's heatmap + random-forest baseline on the same manifest (train -> test)."""
    from mammo_tf.shen.heatmap_rf import run_heatmap_rf_from_manifest

    try:
        result = run_heatmap_rf_from_manifest(patch_model, config.manifest, pixel_mean,
                                              image_size=tuple(config.image_size),
                                              n_estimators=config.rf_trees, seed=config.seed,
                                              batch_size=config.batch_size, out_dir=run.path,
                                              progress=bool(config.verbose))
    except ValueError as exc:
        return {"error": str(exc)}
    result.pop("test_scores", None)
    print(f"heatmap + random forest: test AUC {result['auc']:.3f} "
          f"(95% CI {result['auc_ci95'][0]:.3f}-{result['auc_ci95'][1]:.3f})")
    return result
