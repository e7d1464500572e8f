"""Counting by runs gives np.bincount's numbers, on blocky maps (runs) and noisy ones
(np.bincount itself), with and without per-row weights."""

from __future__ import annotations

import numpy as np
import pytest

from lcz_qgis.analysis import run_counts
from lcz_qgis.analysis.run_counts import count_keys, long_runs


def _blocky(rows, cols, size, block, seed=0):
    """Classes in ``block`` x ``block`` squares, with a few odd cells (as a 10 m map)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, size, (-(-rows // block), -(-cols // block)))
    keys = np.kron(coarse, np.ones((block, block), np.int64))[:rows, :cols]
    odd = rng.random((rows, cols)) < 0.01
    keys[odd] = rng.integers(0, size, int(odd.sum()))
    return keys


def _want(keys, size, row_weights):
    counts = np.bincount(keys.ravel(), minlength=size)
    if row_weights is None:
        return counts, None
    w = np.broadcast_to(np.asarray(row_weights)[:, None], keys.shape).ravel()
    return counts, np.bincount(keys.ravel(), weights=w, minlength=size)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.intp])
@pytest.mark.parametrize("shape, block", [((300, 400), 40), ((1, 5000), 50), ((700, 3), 9),
                                          ((256, 1000), 1)])  # fmt: skip
@pytest.mark.parametrize("weighted", [False, True])
def test_the_counts_are_bincounts(dtype, shape, block, weighted):
    size = 324
    keys = _blocky(*shape, 255 if dtype == np.uint8 else size, block).astype(dtype)
    rows = shape[0]
    weights = np.linspace(1.0, 3.0, rows) * 1e4 if weighted else None
    counts, sums = count_keys(keys, size, weights)
    want_counts, want_sums = _want(keys, size, weights)
    assert counts.dtype == np.int64 and np.array_equal(counts, want_counts)
    if weighted:
        np.testing.assert_allclose(sums, want_sums, rtol=1e-12)
    else:
        assert sums is None
    # the 40 x 40 squares are counted by runs, the one-cell noise by np.bincount
    assert long_runs(keys.ravel()) == (block >= run_counts.MIN_RUN)


def test_runs_that_cross_a_row_end_count_whole_and_weigh_by_their_rows():
    keys = np.array([[1, 1, 2, 2], [2, 2, 2, 1]], np.uint8)  # the 2s run on to row 1
    weights = np.array([10.0, 1000.0])
    counts, sums = count_keys(np.repeat(keys, 1, axis=0), 3, weights)
    assert counts.tolist() == [0, 3, 5]
    assert sums.tolist() == [0.0, 1020.0, 3020.0]
    # in the run path too (forced)
    big = np.repeat(np.repeat(keys, 64, axis=1), 64, axis=0)
    counts, sums = count_keys(big, 3, np.repeat(weights, 64))
    assert long_runs(big.ravel())
    assert counts.tolist() == [0, 3 * 64 * 64, 5 * 64 * 64]
    assert sums.tolist() == [0.0, 64 * 64 * 1020.0, 64 * 64 * 3020.0]


def test_an_empty_strip_counts_nothing():
    counts, sums = count_keys(np.zeros((0, 7), np.uint8), 18, np.zeros(0))
    assert counts.tolist() == [0] * 18 and sums.tolist() == [0.0] * 18
