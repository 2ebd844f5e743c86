# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The dissection pass: streaming top-k and quantiles vs brute force, constant memory."""
import numpy as np
import pytest

from explain_fixtures import gap_dense_model, write_patch_h5
from mammo_tf.deepminer.dissect import streaming_pass
from mammo_tf.deepminer.graph import split_model
from mammo_tf.deepminer.probe import open_probe
from mammo_tf.deepminer.streaming import StreamingHistogram, TopK
from mammo_tf.preprocess import to_network_input


def test_topk_matches_brute_force_across_uneven_batches():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(53, 7))
    topk = TopK(7, 5)
    start = 0
    for size in (1, 9, 4, 17, 22):
        topk.update(values[start:start + size], np.arange(start, start + size))
        start += size
    got_values, got_indices = topk.result()
    expected = np.argsort(-values, axis=0)[:5].T
    np.testing.assert_array_equal(got_indices, expected)
    np.testing.assert_allclose(got_values, np.take_along_axis(values.T, expected, axis=1))


def _within_one_bin(approx, values, q, width):
    """The estimate lies within one bin width of the two order statistics bracketing the quantile."""
    lower = np.quantile(values, q, axis=-1, method="lower")
    higher = np.quantile(values, q, axis=-1, method="higher")
    return np.all((approx >= lower - width - 1e-9) & (approx <= higher + width + 1e-9))


@pytest.mark.parametrize("q", [0.5, 0.9, 0.995])
def test_streaming_quantile_within_one_bin_of_exact(q):
    rng = np.random.default_rng(1)
    hist = StreamingHistogram(4, bins=256)
    chunks = []
    for b in range(30):  # drifting, growing ranges force upward and downward range doublings
        v = np.stack([
            np.maximum(rng.normal(0, 1 + b, 200), 0),  # ReLU-like, many exact zeros
            rng.exponential(1 + 0.5 * b, 200),
            rng.normal(-b, 2, 200),
            rng.uniform(5, 5 + b * 0.1, 200),
        ])
        hist.update(v)
        chunks.append(v)
    values = np.concatenate(chunks, axis=1)
    approx = hist.quantile(q)
    assert _within_one_bin(approx, values, q, hist.width), (approx, np.quantile(values, q, axis=1), hist.width)
    # Dense data: also close to numpy's interpolated quantile.
    assert np.all(np.abs(approx - np.quantile(values, q, axis=1)) <= 2 * hist.width + 1e-9)


def test_streaming_pass_topk_and_quantile_match_brute_force(tmp_path):
    h5 = write_patch_h5(tmp_path / "p.h5", n=23)
    probe = open_probe(h5)
    split = split_model(gap_dense_model())
    state = streaming_pass(split, probe, 100.0, top_k=4, batch_size=5, bins=512, progress=False)
    x = to_network_input(np.stack(probe._read(np.arange(23))), 100.0)
    a = np.asarray(split.features.predict_on_batch(x))
    per_image_max = a.reshape(23, -1, a.shape[-1]).max(axis=1)
    values, indices = state.topk.result()
    np.testing.assert_array_equal(indices, np.argsort(-per_image_max, axis=0)[:4].T)
    np.testing.assert_allclose(values, -np.sort(-per_image_max, axis=0)[:4].T, rtol=1e-6)
    values = a.reshape(-1, a.shape[-1]).T
    assert _within_one_bin(state.histogram.quantile(0.995), values, 0.995, state.histogram.width)
    assert state.num_images == 23


def test_dissect_state_does_not_grow_with_the_number_of_images(tmp_path):
    split = split_model(gap_dense_model())
    sizes = []
    for n in (8, 16):
        probe = open_probe(write_patch_h5(tmp_path / f"p{n}.h5", n=n, seed=n))
        state = streaming_pass(split, probe, 100.0, top_k=4, batch_size=4, bins=64, progress=False)
        assert state.num_images == n
        sizes.append(([a.shape for a in state.arrays()], state.nbytes(), len(vars(state)), len(vars(state.topk)),
                      len(vars(state.histogram))))
    assert sizes[0] == sizes[1]


def test_kept_maps_equal_a_rerun_and_state_stays_constant(tmp_path):
    from mammo_tf.deepminer.dissect import dissect

    split = split_model(gap_dense_model())
    probe = open_probe(write_patch_h5(tmp_path / "p.h5", n=12))
    kept = dissect(split, probe, str(tmp_path / "kept"), 100.0, ["unit_0002", "unit_0005"], top_k=3, batch_size=5,
                   progress=False)
    rerun = dissect(split, probe, str(tmp_path / "rerun"), 100.0, ["unit_0002", "unit_0005"], top_k=3, batch_size=5,
                    progress=False, cache_mb=0)
    assert kept.pop("maps").startswith("kept") and rerun.pop("maps").startswith("re-computed")
    assert kept == rerun
    for tile in kept["units"]["unit_0005"]["tiles"]:
        assert (tmp_path / "kept" / tile["tile"]).read_bytes() == (tmp_path / "rerun" / tile["tile"]).read_bytes()
    for cache_mb in (0, 256):  # with and without kept maps, the state does not grow with N
        shapes = []
        for n in (6, 12):
            state = streaming_pass(split, open_probe(write_patch_h5(tmp_path / f"q{n}.h5", n=n)), 100.0, [1, 4],
                                   top_k=3, batch_size=4, bins=64, progress=False, cache_mb=cache_mb)
            shapes.append([a.shape for a in state.arrays()])
        assert shapes[0] == shapes[1]
        assert (state.topk.payload is None) == (cache_mb == 0)
