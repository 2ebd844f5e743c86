# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Wu et al. (NYU four-view screening) point by point: breast-level AUCs and the BI-RADS
pretraining batch size; each test quotes the paper."""
import numpy as np
import pytest

from mammo_tf.nyu.constants import OUTPUT_NAMES


def _exams():
    # OUTPUT_NAMES order: left_benign, right_benign, left_malignant, right_malignant
    assert OUTPUT_NAMES == ("left_benign", "right_benign", "left_malignant", "right_malignant")
    labels = np.array([[0, 1, 1, 0],
                       [0, 0, 0, 0],
                       [1, 0, 0, 1]])
    probs = np.array([[0.2, 0.7, 0.9, 0.1],
                      [0.3, 0.4, 0.5, 0.2],
                      [0.6, 0.1, 0.3, 0.4]])
    return labels, probs


def test_breast_level_auc_pools_left_and_right_breasts():
    """Wu et al., section IV (Table III): AUCs "for malignant/not malignant and benign/not benign
    classification tasks on the breast level". Each exam contributes two breasts; one AUC per label over all
    breasts pooled.

    Hand computation. Malignant: breasts (label, score) L = (1, .9) (0, .5) (0, .3),
    R = (0, .1) (0, .2) (1, .4). Positives .9, .4; negatives .5 .3 .1 .2: pairs won 4 + 3 = 7 of
    8 -> 0.875. Benign: L = (0, .2) (0, .3) (1, .6), R = (1, .7) (0, .4) (0, .1). Positives .6,
    .7; negatives .2 .3 .4 .1: 8 of 8 -> 1.0. The mean of the four per-side AUCs (what the
    monitor averages) differs: left_malignant 1.0, right_malignant 1.0, left_benign 1.0,
    right_benign 1.0."""
    from mammo_tf.nyu.metrics import breast_level_aucs, mean_auc

    labels, probs = _exams()
    aucs = breast_level_aucs(labels, probs)
    assert aucs == {"malignant": pytest.approx(0.875), "benign": pytest.approx(1.0)}
    mean, per_side = mean_auc(labels, probs)
    assert mean == pytest.approx(1.0) and set(per_side) == set(OUTPUT_NAMES)
    # undefined when the pooled breasts hold one class only
    none = breast_level_aucs(np.zeros_like(labels), probs)
    assert all(np.isnan(v) for v in none.values())


def test_breast_level_report_resamples_patients():
    """The CIs of the breast-level AUCs come from a cluster bootstrap over patients: both
    breasts (and every exam) of a patient are drawn together."""
    from mammo_tf.nyu.metrics import breast_level_report

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, (40, 4))
    probs = np.clip(labels * 0.3 + rng.uniform(0, 0.7, (40, 4)), 0, 1)
    patients = [f"p{i // 2}" for i in range(40)]  # two exams per patient
    report = breast_level_report(labels, probs, patients, n_boot=200)
    for label in ("malignant", "benign"):
        lo, hi = report[label]["auc_ci95"]
        assert lo <= report[label]["auc"] <= hi
    # duplicating every exam of every patient must not narrow the patient-level interval
    twice = breast_level_report(np.repeat(labels, 2, 0), np.repeat(probs, 2, 0),
                                [p for p in patients for _ in range(2)], n_boot=200)
    for label in ("malignant", "benign"):
        width = np.diff(report[label]["auc_ci95"])[0]
        assert np.diff(twice[label]["auc_ci95"])[0] >= 0.9 * width


@pytest.mark.parametrize("task, batch", [("cancer", 4), ("birads", 24)])
def test_default_batch_size_follows_the_task(task, batch):
    """Wu et al., IV-A-1: "using a learning rate of 10^-5 and a minibatch of size 4"; IV-C: "the
    model was trained with a minibatch size of 24 instead of 4" (BI-RADS pretraining)."""
    from mammo_tf.nyu.config import MultiviewConfig
    from mammo_tf.training.config import parse_config

    config, _ = parse_config(MultiviewConfig, ["--manifest", "m.csv", "--task", task], "x", "")
    assert config.batch_size == batch
    given, _ = parse_config(MultiviewConfig, ["--manifest", "m.csv", "--task", task,
                                              "--batch-size", "2"], "x", "")
    assert given.batch_size == 2


def test_heatmap_scale_check_refuses_a_classifier_at_another_pixel_spacing():
    """Wu et al.: "we trained an auxiliary model to classify 256×256 -pixel patches of
    mammograms" of the full-resolution images. A classifier trained at another pixel spacing sees windows of
    another tissue size: more than 10% off is refused unless --allow-scale-mismatch."""
    from mammo_tf.nyu.heatmaps import HeatmapScaleError, check_heatmap_scale

    assert check_heatmap_scale(0.1, 0.1) == pytest.approx(1.0)
    assert check_heatmap_scale(0.105, 0.1) == pytest.approx(1.05)  # within 10%
    with pytest.raises(HeatmapScaleError, match=r"0\.18 mm/pixel.*0\.05 mm/pixel.*--allow-scale-mismatch"):
        check_heatmap_scale(0.18, 0.05, image="a.dcm")  # Shen's 1152x896 DDSM vs full resolution
    assert check_heatmap_scale(0.18, 0.05, allow_mismatch=True) == pytest.approx(3.6)
    # an unknown spacing cannot be checked: an error naming the flag that states it
    with pytest.raises(HeatmapScaleError, match="--heatmap-pixel-spacing"):
        check_heatmap_scale(None, 0.05)
    with pytest.raises(HeatmapScaleError, match="--image-pixel-spacing"):
        check_heatmap_scale(0.1, None, image="view.png")
    assert check_heatmap_scale(None, 0.05, allow_mismatch=True) is None


def test_scale_check_reads_the_run_and_the_dicom_header(tmp_path):
    import pydicom
    from pydicom.dataset import FileMetaDataset

    from mammo_tf.nyu.config import MultiviewConfig
    from mammo_tf.nyu.heatmaps import classifier_pixel_spacing, image_pixel_spacing
    from mammo_tf.nyu.predict import check_scale
    from mammo_tf.runs import RunFolder, RunInfo
    from mammo_tf.errors import UsageError

    run = RunFolder(tmp_path / "patch")
    run.write_info(RunInfo(kind="patch", classes=["a", "b"], input_size=[256, 256], channels=3,
                           pixel_mean=50.0, pixel_mean_source="test", backbone="vgg16",
                           details={"pixel_spacing_mm": 0.18}))
    model_path = str(tmp_path / "patch" / "checkpoints" / "best.keras")
    assert classifier_pixel_spacing(model_path) == pytest.approx(0.18)
    assert classifier_pixel_spacing(str(tmp_path / "nowhere.keras")) is None

    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.PixelSpacing = [0.07, 0.07]
    dicom = str(tmp_path / "view.dcm")
    ds.save_as(dicom, enforce_file_format=True)
    assert image_pixel_spacing(dicom) == pytest.approx(0.07)
    assert image_pixel_spacing(str(tmp_path / "view.png")) is None

    config = MultiviewConfig(manifest="m.csv", heatmap_model=model_path, heatmap_pixel_mean=50.0)
    with pytest.raises(UsageError, match="--allow-scale-mismatch"):
        check_scale(dicom, 0.18, config)
    check_scale(dicom, 0.072, config)  # 3% off: fine
    allowed = MultiviewConfig(manifest="m.csv", heatmap_model=model_path, heatmap_pixel_mean=50.0,
                              allow_scale_mismatch=True)
    check_scale(dicom, 0.18, allowed)
    png = MultiviewConfig(manifest="m.csv", heatmap_model=model_path, heatmap_pixel_mean=50.0,
                          image_pixel_spacing=0.18)
    check_scale(str(tmp_path / "view.png"), 0.18, png)  # --image-pixel-spacing for PNG views
    with pytest.raises(UsageError, match="--image-pixel-spacing"):  # a PNG view, no spacing
        check_scale(str(tmp_path / "view.png"), 0.18, config)


WU_TABLE_III = ("ALL MODELS, EXCEPT THE ONES INDICATED WITH * WERE PRETRAINED ON BI-RADS "
                "CLASSIFICATION")  # Wu et al., Table III caption


@pytest.mark.parametrize("name, init", [
    ("nyu_image_only", "birads"), ("nyu_image_heatmaps", "birads"),
    ("nyu_image_only_image_wise", "birads"), ("nyu_image_heatmaps_image_wise", "birads"),
    ("nyu_image_only_random", "random"), ("nyu_image_heatmaps_random", "random")])
def test_table_iii_rows_state_their_initialisation(name, init, tmp_path):
    """WU_TABLE_III: the rows without * start from the BI-RADS model's columns, the * rows from
    random weights. A row file without the weights it needs is a usage error naming the flag."""
    from mammo_tf.errors import UsageError
    from mammo_tf.nyu.config import MultiviewConfig, check_training
    from mammo_tf.training.config import config_from_dict, load_config_file

    assert "EXCEPT THE ONES INDICATED WITH *" in WU_TABLE_III
    manifest = tmp_path / "exams.csv"
    manifest.write_text("x\n")
    birads = tmp_path / "birads.keras"
    birads.write_text("")
    values = load_config_file(name, MultiviewConfig)
    assert values["init"] == init
    extra = {"heatmap_model": str(birads), "heatmap_pixel_mean": 50.0} if values["channels"] == 3 else {}
    bare = config_from_dict(MultiviewConfig, dict(values, manifest=str(manifest), **extra))
    pretrained = config_from_dict(MultiviewConfig, dict(values, manifest=str(manifest),
                                                        init_columns=str(birads), **extra))
    if init == "birads":
        with pytest.raises(UsageError, match="--init-columns"):
            check_training(bare)
        check_training(pretrained)
    else:
        check_training(bare)
        with pytest.raises(UsageError, match="--init random"):
            check_training(pretrained)
