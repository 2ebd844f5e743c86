# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DeepMiner runs fully convolutionally (issue 13, item 1): whole mammograms at their own
resolution through the FCN form of a patch classifier; a heatmap classifier's units are its
backbone's last conv units; explanations show up to five annotated units among the top 8."""
import numpy as np
import pytest

from explain_fixtures import gap_dense_model

DEEPMINER_FCN = ("We first convert our trained network into a fully convolutional network (FCN) "
                 "... able to take in full mammogram images")  # Wu et al., DeepMiner, section 3


def test_whole_mammogram_through_the_fcn_of_a_64px_patch_model():
    """DeepMiner, section 3: "We first convert our trained network into a fully convolutional
    network (FCN) ... able to take in full mammogram images". A 256x192 image with a 64 px
    ResNet50 patch classifier (stride 32) gives an 8x6 feature map, not the 2x2 of the image
    squashed to 64x64."""
    from mammo_tf.deepminer.explanation import explain
    from mammo_tf.deepminer.graph import split_model
    from mammo_tf.shen import build_patch_classifier

    assert DEEPMINER_FCN
    patch = build_patch_classifier("vgg16", input_shape=(64, 64, 3), weights=None)
    split = split_model(patch)
    assert split.fully_convolutional and split.native_size == (64, 64)
    assert split.layer_name == "block5_pool" and split.num_units == 512 and split.gap_dense
    image = np.random.default_rng(0).integers(0, 65535, (256, 192)).astype(np.uint16)
    result = explain(split, image, pixel_mean=50.0)
    assert result["record"]["feature_map_size"] == [8, 6]
    assert result["record"]["input_size"] == [256, 192]
    assert result["maps"]["class_map"].shape == (256, 192)
    # the fixed-size form (the old behaviour, --fixed-size) squashes it to 2x2
    fixed = explain(split_model(patch, fcn=False), image, pixel_mean=50.0)
    assert fixed["record"]["feature_map_size"] == [2, 2]
    # the FCN form computes the same function at the patch size
    x = np.random.default_rng(1).normal(0, 40, (2, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(split.model.predict(x, verbose=0), patch.predict(x, verbose=0),
                               atol=1e-5)


def test_heatmap_classifier_units_are_the_backbones_last_conv_units():
    """DeepMiner's units are the last convolutional layer's (2048 for ResNet, 512 for VGG),
    whatever head sits on top: a Shen heatmap classifier is explained through its patch
    classifier (backbone + global pooling + the patch softmax), not its 5 class channels."""
    from mammo_tf.deepminer.graph import split_model
    from mammo_tf.shen import build_heatmap_classifier, build_patch_classifier

    patch = build_patch_classifier("vgg16", input_shape=(32, 32, 3), weights=None)
    whole = build_heatmap_classifier(patch, input_shape=(64, 64, 3), pool_size=1, hidden=(4,),
                                     mode="sliding", stride=32)
    split = split_model(whole)
    assert split.layer_name == "block5_pool" and split.num_units == 512
    assert split.num_classes == 5 and split.gap_dense and split.fully_convolutional
    assert "heatmap" in split.conversion
    x = np.random.default_rng(2).normal(0, 40, (3, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(split.model.predict(x, verbose=0), patch.predict(x, verbose=0),
                               atol=1e-5)
    features, _ = split.features_and_probabilities(
        np.random.default_rng(3).normal(0, 40, (1, 96, 64, 3)).astype(np.float32))
    assert features.shape == (1, 3, 2, 512)


def test_rank_takes_whole_mammograms_of_different_sizes_at_full_resolution(tmp_path):
    """A manifest / folder probe goes in at full resolution (batched by image shape); a patch
    HDF5 probe at the patch classifier's size."""
    import h5py

    from mammo_tf.deepminer.graph import split_model
    from mammo_tf.deepminer.probe import ImageListProbe, PatchH5Probe, probe_size
    from mammo_tf.deepminer.rank import rank_units
    from mammo_tf.io import write_png16

    rng = np.random.default_rng(4)
    paths = []
    for i, shape in enumerate([(64, 48), (80, 40), (64, 48)]):
        path = tmp_path / f"im{i}.png"
        write_png16(path, rng.integers(0, 65535, shape).astype(np.uint16))
        paths.append(str(path))
    split = split_model(gap_dense_model(size=(32, 32), units=12, classes=3))
    probe = ImageListProbe(paths)
    assert probe_size(probe, split) is None
    shapes = [x.shape for _, x in probe.batches(16, None, 50.0)]
    assert sorted(shapes) == [(1, 80, 40, 3), (2, 64, 48, 3)]
    result = rank_units(split, probe, 50.0, top_per_image=8, select=5, progress=False)
    assert result["num_images"] == 3
    for info in result["classes"].values():
        assert len(info["selected"]) == 5 and 0 < info["coverage"] <= 1
    h5 = str(tmp_path / "p.h5")
    with h5py.File(h5, "w") as f:
        f["patches"] = rng.integers(0, 65535, (2, 48, 48)).astype(np.uint16)
    assert probe_size(PatchH5Probe(h5), split) == (32, 32)


def test_explanation_shows_up_to_five_annotated_units_among_the_top_8():
    """DeepMiner, section 3: the explanation shows "up to five units that have been annotated"
    among the image's most influential (top 8) units."""
    from mammo_tf.deepminer.explanation import UNLABELLED, explain
    from mammo_tf.deepminer.graph import split_model

    split = split_model(gap_dense_model(size=(32, 32), units=12, classes=3))
    image = np.random.default_rng(5).integers(0, 65535, (64, 48)).astype(np.uint16)
    plain = explain(split, image, 50.0)["record"]
    top8 = [u["unit"] for u in plain["top_units"]]
    assert len(top8) == 8 and len(plain["units"]) == 5  # no labels yet: the top 5, unlabelled
    assert all(u["label"] == UNLABELLED for u in plain["units"])
    # label 6 of the top 8 and one unit outside it
    outside = next(f"unit_{c:04d}" for c in range(1, 13) if f"unit_{c:04d}" not in top8)
    labels = {uid: f"concept {uid}" for uid in top8[2:]}
    labels[outside] = "never shown"
    record = explain(split, image, 50.0, unit_labels=labels)["record"]
    assert [u["unit"] for u in record["units"]] == top8[2:7]  # annotated, at most five, in order
    assert all(u["label"] != UNLABELLED for u in record["units"])
    few = explain(split, image, 50.0, unit_labels={top8[7]: "one", outside: "x"})["record"]
    assert [u["unit"] for u in few["units"]] == [top8[7]]


def test_a_model_that_is_not_fully_convolutional_is_explained_at_its_fixed_size():
    import keras

    from mammo_tf.deepminer.graph import split_model

    x = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", name="feat")(x)
    g = keras.layers.GlobalAveragePooling2D(name="global_pool")(h)
    flat = keras.layers.Flatten()(h)
    out = keras.layers.Dense(2, activation="softmax", name="predictions")(
        keras.layers.Concatenate()([g, flat]))
    split = split_model(keras.Model(x, out))
    assert not split.fully_convolutional and split.conversion == "as given"
    assert split.input_size == (16, 16)


@pytest.mark.parametrize("fixed", [False, True])
def test_cli_image_prints_the_feature_map_size(tmp_path, capsys, fixed):
    from mammo_tf.commands.explain import main
    from mammo_tf.io import write_png16

    model_path = str(tmp_path / "m.keras")
    gap_dense_model(size=(32, 32), units=6, classes=3).save(model_path)
    image = str(tmp_path / "im.png")
    write_png16(image, np.random.default_rng(6).integers(0, 65535, (64, 48)).astype(np.uint16))
    argv = ["image", "--model", model_path, "--pixel-mean", "50", image, "--out", str(tmp_path / "o")]
    # a .keras file outside a run folder: the scale is stated (--scale native), or the model is
    # explained at its fixed input size
    assert main(argv + (["--fixed-size"] if fixed else ["--scale", "native"])) == 0
    out = capsys.readouterr().out
    assert ("feature map 8x8 for a 32x32 input" if fixed else "feature map 16x12 for a 64x48 input") in out
    assert "no unit labels given" in out
