"""Counting small whole-number keys over a strip of a map: codes, pairs of codes, zone
and code. An LCZ map's cells come in runs of one class along a row, so one comparison
per cell and one count per run cost less than ``np.bincount`` of every cell (which first
copies its input to 64-bit integers). At 100 m the real maps in ``../shared/real``
have runs of 7-12 cells (a 10 m map, longer ones). A strip whose runs are short (a noisy
map) is counted by ``np.bincount`` as before. The counts are the same either way;
weighted sums agree to float rounding.
"""

from __future__ import annotations

import numpy as np

# cells looked at, in the middle of a strip, to choose the method, and the mean run
# length from which counting by runs pays
SAMPLE = 1 << 16
MIN_RUN = 4.0


def long_runs(flat: np.ndarray) -> bool:
    """Whether the cells of ``flat`` (1-D) come in runs of at least :data:`MIN_RUN` on
    average, judged on :data:`SAMPLE` cells from its middle."""
    start = max(0, flat.size // 2 - SAMPLE // 2)
    sample = flat[start : start + SAMPLE]
    if sample.size < 2:
        return False
    runs = 1 + int(np.count_nonzero(sample[1:] != sample[:-1]))
    return sample.size >= MIN_RUN * runs


def count_keys(
    keys: np.ndarray, size: int, row_weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(counts, weighted)`` of the (rows, cols) array ``keys`` of whole numbers in
    ``[0, size)``: the cells holding each key (int64, ``size`` long), and with
    ``row_weights`` (one per row: a cell's area on a geographic map) the sums of their
    weights (float64; None without), as ``np.bincount`` with and without weights gives.
    Counted by runs where the keys come in runs (:func:`long_runs`)."""
    width = keys.shape[1]
    flat = keys.reshape(-1)
    weights = None if row_weights is None else np.asarray(row_weights, np.float64)
    if flat.size == 0 or not long_runs(flat):
        counts = np.bincount(flat, minlength=size).astype(np.int64, copy=False)
        if weights is None:
            return counts, None
        return counts, np.bincount(flat, weights=np.repeat(weights, width), minlength=size)
    edge = flat[1:] != flat[:-1]
    if weights is not None:
        edge[width - 1 :: width] = True  # a run ends with its row: one weight per run
    starts = np.flatnonzero(edge)
    starts += 1
    starts = np.concatenate(([0], starts))
    lengths = np.diff(starts, append=flat.size)
    values = flat[starts]
    counts = np.bincount(values, weights=lengths, minlength=size).astype(np.int64)
    if weights is None:
        return counts, None
    return counts, np.bincount(values, weights=lengths * weights[starts // width], minlength=size)


__all__ = ["MIN_RUN", "SAMPLE", "count_keys", "long_runs"]
