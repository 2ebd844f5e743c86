"""keras.utils.PyDataset input pipeline over patch HDF5 files and whole-image manifests."""
import keras
import numpy as np
import pytest

from mammo_tf.constants import PIXEL_SCALE
from mammo_tf.datasets.manifest import read_manifest, resolve_path
from mammo_tf.datasets.phantom import write_phantom_manifest
from mammo_tf.io import read_png16
from mammo_tf.shen.patches.patch_set import PatchFileWriter
from mammo_tf.shen.patches.sampling import SampledPatches
from mammo_tf.shen.data import (
    PatchDataset,
    WholeImageDataset,
    class_balanced_weights,
    compute_pixel_mean,
)
from mammo_tf.preprocess import to_network_input

N, P = 37, 16


@pytest.fixture(scope="module")
def patch_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    labels = np.array([0] * 20 + [1] * 5 + [2] * 4 + [3] * 5 + [4] * 3, np.int64)
    patches = rng.integers(0, 65536, (N, P, P)).astype(np.uint16)
    path = tmp_path_factory.mktemp("pipeline") / "train.h5"
    writer = PatchFileWriter(path, P)
    zeros = np.zeros(N, np.int64)
    writer.append("img", SampledPatches(patches, labels, zeros - 1, zeros + 8, zeros + 8,
                                        np.zeros(N, np.float32), [], []))
    writer.close()
    return path, patches, labels


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return write_phantom_manifest(tmp_path_factory.mktemp("whole") / "data", n_patients=5, seed=2,
                                  size=(64, 48), abnormal_fraction=0.8, malignant_fraction=0.6,
                                  split_fractions=(("train", 0.6), ("val", 0.2), ("test", 0.2)))


def test_class_balanced_weights():
    weights = class_balanced_weights([0, 0, 0, 1, 2, 2])
    assert weights.sum() == pytest.approx(6)
    assert weights[:3].sum() == pytest.approx(weights[3]) == pytest.approx(weights[4:].sum())
    assert class_balanced_weights([1, 1]).tolist() == [1.0, 1.0]


def test_patch_batches_shapes_values_and_weights(patch_file):
    path, patches, labels = patch_file
    ds = PatchDataset(path, batch_size=8, pixel_mean=50.0, shuffle=False)
    assert len(ds) == 5 and ds.num_classes == 5 and np.array_equal(ds.labels, labels)
    x, y, w = ds[0]
    assert x.shape == (8, P, P, 3) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.allclose(x, to_network_input(patches[:8], 50.0))
    seen = []
    for index in range(len(ds)):
        x, y, w = ds[index]
        seen.append(y)
        assert w.sum() == pytest.approx(len(y))
        totals = [w[y == c].sum() for c in np.unique(y)]
        assert np.allclose(totals, totals[0])
    assert np.array_equal(np.concatenate(seen), labels)  # shuffle=False keeps file order
    x, y = PatchDataset(path, batch_size=8, pixel_mean=0.0, shuffle=False, class_balanced=False)[4]
    assert x.shape == (5, P, P, 3)
    with pytest.raises(ValueError, match="pixel_mean"):
        PatchDataset(path)


def test_shuffle_and_augmentation_are_deterministic(patch_file):
    path, _, labels = patch_file
    a = PatchDataset(path, batch_size=8, pixel_mean=40.0, augment=True, seed=3)
    b = PatchDataset(path, batch_size=8, pixel_mean=40.0, augment=True, seed=3)
    c = PatchDataset(path, batch_size=8, pixel_mean=40.0, augment=True, seed=4)
    for k in range(len(a)):
        for u, v in zip(a[k], b[k]):
            assert np.array_equal(u, v)
    assert not np.array_equal(a[0][0], c[0][0])
    first_epoch = np.concatenate([a[k][1] for k in range(len(a))])
    assert sorted(first_epoch) == sorted(labels) and not np.array_equal(first_epoch, labels)
    a.on_epoch_end()
    second_epoch = np.concatenate([a[k][1] for k in range(len(a))])
    assert sorted(second_epoch) == sorted(labels) and not np.array_equal(second_epoch, first_epoch)
    plain = PatchDataset(path, batch_size=8, pixel_mean=40.0, seed=3)
    assert np.array_equal(plain[0][1], b[0][1]) and not np.array_equal(plain[0][0], b[0][0])


def test_pixel_mean_streaming(patch_file, manifest):
    path, patches, _ = patch_file
    assert compute_pixel_mean(path, chunk=5) == pytest.approx(patches.mean() * PIXEL_SCALE)
    rows = [r for r in read_manifest(manifest) if r["split"] == "train"]
    images = [read_png16(resolve_path(manifest, r["image_path"])) for r in rows]
    expected = np.mean([img.mean() for img in images]) * PIXEL_SCALE  # all the same size
    assert compute_pixel_mean(manifest, "train") == pytest.approx(expected)


def test_whole_image_dataset(manifest):
    ds = WholeImageDataset(manifest, "train", batch_size=4, pixel_mean=30.0, image_size=(32, 24),
                           augment=True, seed=1)
    x, y, w = ds[0]
    assert x.shape == (4, 32, 24, 3) and x.dtype == np.float32
    assert set(y.tolist()) <= {0, 1} and w.sum() == pytest.approx(4)
    assert ds.num_classes == 2 and len(ds.labels) == len(ds.image_ids)
    native = WholeImageDataset(manifest, "test", batch_size=2, pixel_mean=30.0, shuffle=False)
    assert native[0][0].shape == (2, 64, 48, 3)
    with pytest.raises(ValueError, match="no images in split"):
        WholeImageDataset(manifest, "nope", pixel_mean=0.0)


def _tiny_model(num_classes):
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def test_keras_fit_with_worker_threads(patch_file, manifest):
    path, _, _ = patch_file
    ds = PatchDataset(path, batch_size=8, pixel_mean=127.0, augment=True, workers=2)
    history = _tiny_model(ds.num_classes).fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    assert ds.epoch >= 1  # Keras called on_epoch_end, so the next epoch was reshuffled
    whole = WholeImageDataset(manifest, "train", batch_size=2, pixel_mean=30.0, image_size=(32, 24))
    history = _tiny_model(2).fit(whole, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_channel_shift_is_per_channel_and_clipped(patch_file):
    from mammo_tf.shen.augment import AugmentConfig

    path, patches, _ = patch_file
    shift_only = AugmentConfig(horizontal_flip=False, vertical_flip=False, rotation_range=0,
                               shear_range=0, zoom_range=(1, 1), channel_shift_range=20)
    ds = PatchDataset(path, batch_size=4, pixel_mean=10.0, augment=shift_only, shuffle=False)
    x, _, _ = ds[0]
    plain = to_network_input(patches[:4], 10.0)
    for k in range(4):
        low, high = plain[k].min(), plain[k].max()
        assert x[k].min() >= low - 1e-3 and x[k].max() <= high + 1e-3
        inside = (plain[k] > low + 20) & (plain[k] < high - 20)  # not clipped
        offsets = [(x[k] - plain[k])[..., c][inside[..., c]] for c in range(3)]
        assert all(np.allclose(o, o[0], atol=1e-3) and abs(o[0]) <= 20 for o in offsets)
        assert len({round(float(o[0]), 3) for o in offsets}) == 3  # one offset per channel
