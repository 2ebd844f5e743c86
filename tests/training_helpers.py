# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Shared helpers of the training tests: a tiny learnable in-memory dataset."""
import keras
import numpy as np


class ToyPatchData(keras.utils.PyDataset):
    """Images whose brightness pattern encodes the class; reshuffled per epoch from the seed.

    Like mammo_tf.shen.data datasets it yields ``(x, y, sample_weight)`` and has ``set_epoch``.
    """

    def __init__(self, n=24, size=32, num_classes=5, batch_size=8, seed=0, shuffle=True):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.y = np.arange(n) % num_classes
        x = rng.normal(0.0, 20.0, size=(n, size, size, 3)).astype(np.float32)
        for c in range(num_classes):
            x[self.y == c, : size // 2, : size // (c + 1)] += 60.0
        self.x = x
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.order = np.arange(n)

    def set_epoch(self, epoch):
        if self.shuffle:
            self.order = np.random.default_rng([self.seed, epoch]).permutation(len(self.y))

    def __len__(self):
        return int(np.ceil(len(self.y) / self.batch_size))

    def __getitem__(self, index):
        idx = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[idx], self.y[idx], np.ones(len(idx), np.float32)


class CrashAfterEpoch(keras.callbacks.Callback):
    """Simulates a crash: raises once global epoch ``epoch`` (1-based) has been committed."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt(f"simulated crash after epoch {self.epoch}")


class EpochRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs, self.learning_rates = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch + 1)
        self.learning_rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


class CrashInFirstEpoch(keras.callbacks.Callback):
    """Simulates a kill during the first epoch: raises after its first batch, before anything
    of the epoch was committed (the run folder then has run.json but no state.json)."""

    def on_train_batch_end(self, batch, logs=None):
        raise KeyboardInterrupt("simulated crash in the first epoch")


def make_toy_shen_data(root):
    """A 10-patient phantom (drawn at 128x96, stored at 64x64) with both classes in every
    split, and s1 patch sets of 32x32 patches, under ``root``."""
    from mammo_tf.datasets.manifest import read_manifest, write_manifest
    from mammo_tf.datasets.prepare import prepare
    from mammo_tf.shen.patches.patch_set import make_patch_set

    manifest, _ = prepare("phantom", None, root / "phantom", size=(64, 64), n_patients=10,
                          phantom_size=(128, 96), progress=False)
    rows = read_manifest(manifest)
    # Reassign splits by patient so that val and test each hold positives and negatives.
    patients = sorted({r["patient_id"] for r in rows})
    positive = sorted({r["patient_id"] for r in rows if r["label"] == 1})
    negative = [p for p in patients if p not in positive]
    assert len(positive) >= 3 and len(negative) >= 2, (positive, negative)
    split_of = {p: "train" for p in patients}
    split_of[positive[0]] = split_of[negative[0]] = "val"
    split_of[positive[1]] = split_of[negative[1]] = "test"
    for r in rows:
        r["split"] = split_of[r["patient_id"]]
    write_manifest(manifest, rows)
    make_patch_set(manifest, root / "patches", set_name="s1", patch_size=32, progress=False)
    return {"root": root, "manifest": str(manifest),
            "train_h5": str(root / "patches" / "train.h5"), "val_h5": str(root / "patches" / "val.h5"),
            "test_h5": str(root / "patches" / "test.h5"), "runs": str(root / "runs")}
