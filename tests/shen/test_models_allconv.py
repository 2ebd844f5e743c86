"""Shen's all-convolutional builders: architecture pinned by parameter counts and shapes."""
import keras
import numpy as np
import pytest
from harness import check_classifier

from mammo_tf import shen as models

# keras.applications backbones without top at the paper's sizes.
# MobileNet v1 alpha 0.25 (not in the paper; the CPU-sized backbone): 218,544 without the top.
BACKBONE_PARAMS = {"vgg16": 14_714_688, "vgg19": 20_024_384, "resnet50": 23_587_712,
                   "mobilenet": 218_544}
FEATURES = {"vgg16": 512, "vgg19": 512, "resnet50": 2048, "mobilenet": 256}
# The paper's backbones (its schedules and unfreezing boundaries are tested on these).
PAPER_BACKBONES = ("vgg16", "vgg19", "resnet50")
# A convolution inside stage 4 of each backbone, and its filters.
STAGE4_CONV = {"vgg16": ("block4_conv1", 512), "vgg19": ("block4_conv1", 512),
               "resnet50": ("conv4_block6_1_conv", 256), "mobilenet": ("conv_pw_6", 128)}


@pytest.fixture(scope="module")
def patch_models():
    """Tiny-input patch classifiers (64 px, weights=None), built once for the module."""
    return {
        name: models.build_patch_classifier(name, input_shape=(64, 64, 3), dropout=0.5, l2=1e-4)
        for name in models.BACKBONES
    }


@pytest.mark.parametrize("backbone", models.BACKBONES)
def test_patch_classifier_parameter_count_at_paper_size(backbone):
    model = models.build_patch_classifier(backbone)
    head = FEATURES[backbone] * 5 + 5
    assert model.count_params() == BACKBONE_PARAMS[backbone] + head
    assert model.input_shape == (None, 224, 224, 3)
    assert model.get_layer(models.CUT_LAYER[backbone]).output.shape[1:3] == (7, 7)


@pytest.mark.parametrize("backbone", models.BACKBONES)
def test_patch_classifier_harness(backbone, patch_models, tmp_path):
    model = patch_models[backbone]
    x = np.random.default_rng(0).normal(0, 50, (2, 64, 64, 3)).astype("float32")
    # Parameter count does not depend on the input size: the paper-size count holds at 64 px.
    check_classifier(model, x, 5, tmp_path, params=BACKBONE_PARAMS[backbone] + FEATURES[backbone] * 5 + 5)
    # The backbone's own layer names stay addressable (flattened, not nested).
    conv = model.get_layer(STAGE4_CONV[backbone][0])
    assert isinstance(conv, keras.layers.Conv2D)
    assert conv.filters == STAGE4_CONV[backbone][1]
    assert model.get_layer("predictions").kernel_regularizer.l2 == pytest.approx(1e-4)
    assert model.get_layer("head_dropout").rate == 0.5


# Paper sizes: ResNet50 + [512-512-1024]x2, VGG16 + 512x1 and the hybrid (conv biases on).
@pytest.mark.parametrize(
    "backbone, top, repetitions, params, cut_shape, top_shape",
    [
        ("resnet50", "resnet", (2, 2), 40_942_466, (36, 28, 2048), (9, 7, 1024)),
        ("vgg16", "vgg", (1, 1), 19_439_426, (36, 28, 512), (9, 7, 512)),
        ("vgg16", "resnet", (2, 2), 29_710_146, (36, 28, 512), (9, 7, 1024)),
        ("vgg19", "vgg", (1, 1), 24_749_122, (36, 28, 512), (9, 7, 512)),
    ],
)
def test_whole_image_classifier_at_paper_size(backbone, top, repetitions, params, cut_shape, top_shape):
    patch = models.build_patch_classifier(backbone)
    model = models.build_whole_image_classifier(patch, top=top, repetitions=repetitions)
    assert model.count_params() == params
    assert model.input_shape == (None, 1152, 896, 3)
    assert tuple(model.get_layer(models.CUT_LAYER[backbone]).output.shape[1:]) == cut_shape
    feature = model.get_layer(models.feature_layer_name(model))
    assert feature.name.startswith("top2_")
    assert tuple(feature.output.shape[1:]) == top_shape
    assert model.output_shape == (None, 2)


@pytest.mark.parametrize("backbone, top", [("resnet50", "resnet"), ("vgg16", "vgg"), ("vgg16", "resnet")])
def test_whole_image_classifier_carries_weights_and_serves_any_size(backbone, top, patch_models, tmp_path):
    patch = patch_models[backbone]
    model = models.build_whole_image_classifier(
        patch, top=top, depths=(16, 16), repetitions=(2, 1), input_shape=(None, None, 3), dropout=0.2
    )
    for layer in patch.layers:
        if layer.weights and layer.name not in ("predictions",):
            for a, b in zip(layer.get_weights(), model.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(1)
    # Two VGG top blocks halve the 1/32 map twice: 128 px is the smallest size they accept.
    # (A direct call: predict would trace the graph once per size, seconds each.)
    for shape in [(128, 128), (160, 128)]:
        x = rng.normal(0, 50, (1, *shape, 3)).astype("float32")
        assert model(x, training=False).shape == (1, 2)
    check_classifier(model, rng.normal(0, 50, (2, 128, 160, 3)).astype("float32"), 2, tmp_path)


def test_whole_image_cut_matches_patch_features(patch_models):
    """The rebuilt backbone computes exactly the patch model's features at the patch size."""
    patch = patch_models["vgg16"]
    model = models.build_whole_image_classifier(patch, depths=(8, 8), input_shape=(64, 64, 3))
    x = np.random.default_rng(2).normal(0, 50, (2, 64, 64, 3)).astype("float32")
    cut = models.CUT_LAYER["vgg16"]
    a = keras.Model(patch.inputs, patch.get_layer(cut).output).predict(x, verbose=0)
    b = keras.Model(model.inputs, model.get_layer(cut).output).predict(x, verbose=0)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_resnet_top_block_structure(patch_models):
    model = models.build_whole_image_classifier(
        patch_models["resnet50"], depths=(8, 8), input_shape=(64, 64, 3), l2=1e-3
    )
    names = {layer.name for layer in model.layers}
    # First unit of each block: stride 2 and a projection shortcut; second unit: identity.
    assert {"top1_unit1_proj_conv", "top1_unit1_proj_bn", "top2_unit1_proj_conv"} <= names
    assert "top1_unit2_proj_conv" not in names
    assert model.get_layer("top1_unit1_1_conv").strides == (2, 2)
    assert model.get_layer("top1_unit1_proj_conv").strides == (2, 2)
    assert model.get_layer("top1_unit2_1_conv").strides == (1, 1)
    assert model.get_layer("top1_unit1_3_conv").filters == 16
    assert model.get_layer("top1_unit1_2_conv").kernel_regularizer.l2 == pytest.approx(1e-3)


def test_heatmap_classifier_reproduces_patch_softmax(patch_models, tmp_path):
    """At the patch size, the heatmap (1x1) equals the patch classifier's own softmax."""
    patch = patch_models["resnet50"]
    x = np.random.default_rng(3).normal(0, 50, (2, 64, 64, 3)).astype("float32")
    # direct calls (inference mode): each predict traces a ResNet-50 graph, seconds each
    expected = np.asarray(patch(x, training=False))
    for mode, layer in (("fcn", "heatmap"), ("sliding", "heatmap_grid")):
        model = models.build_heatmap_classifier(
            patch, input_shape=(64, 64, 3), pool_size=1, hidden=(8, 4), shortcut=True, mode=mode
        )
        heatmap = np.asarray(keras.Model(model.input, model.get_layer(layer).output)(x, training=False))
        assert heatmap.shape == (2, 1, 1, 5)
        np.testing.assert_allclose(heatmap[:, 0, 0], expected, atol=1e-5)
        assert "shortcut" in {layer.name for layer in model.layers}
    check_classifier(model, x, 2, tmp_path)


@pytest.mark.parametrize("pool_size, hidden, mode", [(5, (512, 256), "fcn"), (2, (64, 32), "fcn"),
                                                     (1, (64, 32), "sliding")])
def test_heatmap_classifier_at_paper_size(pool_size, hidden, mode):
    """Both conversions give the paper's 30x22 heatmap at 1152x896 (224 px windows, 32 px)."""
    patch = models.build_patch_classifier("vgg16")
    model = models.build_heatmap_classifier(patch, pool_size=pool_size, hidden=hidden, mode=mode)
    layer = "heatmap" if mode == "fcn" else "heatmap_grid"
    assert tuple(model.get_layer(layer).output.shape[1:]) == (30, 22, 5)
    pooled = model.get_layer("heatmap_pool").output.shape[1:]
    assert tuple(pooled) == (30 // pool_size, 22 // pool_size, 5)


@pytest.mark.parametrize("backbone", PAPER_BACKBONES)
def test_trainable_sets_per_stage(backbone, patch_models):
    model = patch_models[backbone]
    names = [layer.name for layer in model.layers]
    boundary = names.index(models.UNFREEZE_FROM[backbone])
    stages = models.patch_stages(backbone)
    assert [(s.trainable_from, s.learning_rate, s.epochs) for s in stages] == [
        ("head", 1e-3, 3), (models.UNFREEZE_FROM[backbone], 1e-4, 10), ("all", 1e-5, 37)]

    models.set_trainable(model, stages[0].trainable_from)
    assert {v.path.split("/")[0] for v in model.trainable_weights} == {"predictions"}

    models.set_trainable(model, stages[1].trainable_from)
    for index, layer in enumerate(model.layers):
        assert layer.trainable == (index >= boundary), layer.name
    trainable = {v.path.split("/")[0] for v in model.trainable_weights}
    assert models.UNFREEZE_FROM[backbone] in trainable and "block1_conv1" not in trainable
    assert "conv1_conv" not in trainable

    models.set_trainable(model, stages[2].trainable_from)
    assert all(layer.trainable for layer in model.layers)
    trainable = {v.path.split("/")[0] for v in model.trainable_weights}
    assert {"block1_conv1" if backbone != "resnet50" else "conv1_conv", "predictions"} <= trainable


def test_schedules_as_data():
    assert sum(s.epochs for s in models.patch_stages("vgg16")) == 50
    assert sum(s.epochs for s in models.patch_stages("vgg16", "s1")) == 200
    s1, s2 = models.WHOLE_IMAGE_STAGES
    assert (s1.trainable_from, s1.learning_rate, s1.l2, s1.epochs) == ("head", 1e-4, 1e-3, 30)
    assert (s2.trainable_from, s2.learning_rate, s2.l2, s2.epochs) == ("all", 1e-6, 1e-2, 20)
    with pytest.raises(ValueError, match="s10"):
        models.patch_stages("vgg16", "s5")


def test_whole_image_head_stage_freezes_backbone(patch_models):
    model = models.build_whole_image_classifier(patch_models["vgg16"], depths=(8, 8), input_shape=(64, 64, 3))
    opened = models.set_trainable(model, "head")
    assert opened[0].startswith("top1_") and "block5_conv3" not in opened and opened[-1] == "predictions"


def test_set_l2_and_dropout_take_effect(patch_models):
    model = models.build_whole_image_classifier(patch_models["vgg16"], depths=(8, 8), input_shape=(64, 64, 3))
    x = np.ones((1, 64, 64, 3), "float32")
    assert len(model.losses) == 0
    models.set_l2(model, 0.5)
    reg = float(sum(keras.ops.convert_to_numpy(l) for l in model.losses))
    kernel = model.get_layer("predictions").kernel
    assert reg > 0.5 * float(np.sum(np.square(keras.ops.convert_to_numpy(kernel))))
    assert model.get_layer("top1_unit1_1_conv").get_config()["kernel_regularizer"] is not None
    models.set_dropout(model, 0.9)
    feats = keras.Model(model.inputs, model.get_layer("head_dropout").output)
    assert not np.allclose(feats(x, training=True), feats(x, training=False))


# The paper (stage 2): "unfreeze the top layers ... the top layer number is set to 46 for
# Resnet50, 11 for VGG16 and 13 for VGG19", counted in Keras 2.0.8 layers, from the top of the
# patch classifier down, layers without weights (pooling, ReLU, add) included. The head is
# global_pool + head_dropout + predictions (3 layers); the rest is the backbone from the boundary:
# VGG16 block4_conv1..block5_pool = 8, VGG19 = 10, ResNet50 conv4_block6_1_conv..conv5_block3_out
# = 10 + 12 + 10 + 10 = 42. Keras 2.0.8's no-top ResNet50 also ended in a 7x7 `avg_pool` layer
# that Keras 3 no longer builds, so Keras 3 counts one layer fewer for ResNet50 (45).
PAPER_TOP_LAYERS = {"vgg16": 11, "vgg19": 13, "resnet50": 46}
KERAS2_ONLY_LAYERS = {"vgg16": 0, "vgg19": 0, "resnet50": 1}


@pytest.mark.parametrize("backbone", PAPER_BACKBONES)
def test_unfreeze_boundary_leaves_the_papers_layer_count_trainable(backbone, patch_models):
    model = patch_models[backbone]
    expected = PAPER_TOP_LAYERS[backbone] - KERAS2_ONLY_LAYERS[backbone]
    names = [layer.name for layer in model.layers]
    boundary = models.UNFREEZE_FROM[backbone]  # what stage 2 opens (test_trainable_sets_per_stage)
    assert len(names) - names.index(boundary) == expected
    models.set_trainable(model, boundary)
    trainable = [layer.name for layer in model.layers if layer.trainable]
    assert len(trainable) == expected and trainable[0] == boundary and trainable[-1] == "predictions"
    # the layer below the boundary ends the previous block (VGG pooling / ResNet block output)
    below = names[names.index(boundary) - 1]
    assert below == {"vgg16": "block3_pool", "vgg19": "block3_pool", "resnet50": "conv4_block5_out"}[backbone]
    models.set_trainable(model, "all")


# --- bad input: each a clear error --------------------------------------------------------

def test_unknown_backbone_lists_valid_ones():
    with pytest.raises(ValueError, match="vgg16, vgg19, resnet50"):
        models.build_patch_classifier("inception")


def test_missing_weights_path(tmp_path):
    missing = tmp_path / "nope.weights.h5"
    with pytest.raises(FileNotFoundError, match="nope.weights.h5"):
        models.build_patch_classifier("vgg16", weights=str(missing), input_shape=(32, 32, 3))


def test_input_smaller_than_backbone_allows():
    with pytest.raises(ValueError, match="at least 32"):
        models.build_patch_classifier("resnet50", input_shape=(16, 16, 3))


def test_imagenet_offline_error_names_file_and_both_ways(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(models.WeightsUnavailableError) as err:
        models.build_patch_classifier("vgg16", weights="imagenet", input_shape=(32, 32, 3))
    message = str(err.value)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(tmp_path / "models") in message and "weights='/path/to/" in message


def test_weights_from_local_files(patch_models, tmp_path):
    """A .weights.h5 file of backbone weights loads (the offline route for ImageNet weights)."""
    source = models.build_patch_classifier("vgg16", input_shape=(32, 32, 3))
    backbone = keras.Model(source.inputs, source.get_layer("block5_pool").output)
    path = tmp_path / "vgg16_backbone.weights.h5"
    backbone.save_weights(path)
    model = models.build_patch_classifier("vgg16", weights=str(path), input_shape=(32, 32, 3))
    np.testing.assert_array_equal(
        model.get_layer("block3_conv2").get_weights()[0], source.get_layer("block3_conv2").get_weights()[0]
    )


def test_whole_image_conversion_of_a_non_patch_model(patch_models):
    plain = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match="no VGG16/VGG19/ResNet50/MobileNet backbone"):
        models.build_whole_image_classifier(plain)
    whole = models.build_whole_image_classifier(patch_models["vgg16"], depths=(8, 8), input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="already a whole-image classifier"):
        models.build_whole_image_classifier(whole)
    with pytest.raises(ValueError, match="Unknown top"):
        models.build_whole_image_classifier(patch_models["vgg16"], top="dense")
