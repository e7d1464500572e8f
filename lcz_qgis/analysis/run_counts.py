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
# cells of a noisy strip given their keys at once (``count_zone_codes``)
CELL_CHUNK = 1 << 18


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
    first, lengths = _runs(flat, width if weights is not None else 0)
    return _count_runs(flat[first], first, lengths, size, weights, width)


def _runs(flat: np.ndarray, width: int, cuts=()) -> tuple[np.ndarray, np.ndarray]:
    """``(first, lengths)``: where each run of equal values of ``flat`` starts, and how
    long it is; runs also end with each row of ``width`` cells (``width`` 0: rows not
    cut) and before each position of ``cuts`` (arrays of positions)."""
    edge = np.empty(flat.size, bool)
    edge[0] = True
    np.not_equal(flat[1:], flat[:-1], out=edge[1:])
    if width:
        edge[::width] = True  # a run ends with its row: one weight per run
    for cut in cuts:
        edge[cut[cut < flat.size]] = True
    first = np.flatnonzero(edge)
    return first, np.diff(first, append=flat.size)


def _count_runs(values, first, lengths, size: int, weights, width: int) -> tuple:
    """``count_keys``' result from runs: each run's key, start and length (runs within
    one row when ``weights``, one per row of ``width`` cells, are given)."""
    counts = np.bincount(values, weights=lengths, minlength=size).astype(np.int64)
    if weights is None:
        return counts, None
    return counts, np.bincount(values, weights=lengths * weights[first // width], minlength=size)


def count_zone_codes(
    codes: np.ndarray, spans: tuple, zones: int, row_weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``count_keys`` of the keys ``id * 18 + code`` of a (rows, cols) strip of ``codes``
    (0-17), where ``spans = (starts, stops, ids)`` give each zone's cells as runs
    ``[start, stop)`` of flat positions (sorted, not overlapping, each within a row; ids
    1..``zones``) and the id is 0 elsewhere. Where the codes come in runs
    (:func:`long_runs`), the runs are split where a zone starts or stops and each run is
    counted once; else each cell has its key (:func:`_count_cells`)."""
    width, flat = codes.shape[1], codes.reshape(-1)
    starts, stops, ids = spans
    size = (zones + 1) * 18
    if flat.size == 0 or not long_runs(flat):
        return _count_cells(codes, spans, size, row_weights)
    weights = None if row_weights is None else np.asarray(row_weights, np.float64)
    first, lengths = _runs(flat, width if weights is not None else 0, (starts, stops))
    keys = _fill(np.searchsorted(first, starts), np.searchsorted(first, stops), ids * 18,
                 first.size)  # fmt: skip
    keys += flat[first]
    return _count_runs(keys, first, lengths, size, weights, width)


def _count_cells(codes: np.ndarray, spans: tuple, size: int, row_weights) -> tuple:
    """``count_zone_codes`` by a key per cell, :data:`CELL_CHUNK` cells of whole rows at
    a time: the int64 keys stay in the CPU's cache (a 4 Mcell strip at once was twice as
    slow)."""
    rows, width = codes.shape
    step = max(1, CELL_CHUNK // max(width, 1))
    starts, stops, ids = spans
    counts = np.zeros(size, np.int64)
    sums = None if row_weights is None else np.zeros(size)
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        lo, hi = np.searchsorted(starts, [r0 * width, r1 * width])  # a span ends in its row
        keys = _fill(starts[lo:hi] - r0 * width, stops[lo:hi] - r0 * width, ids[lo:hi] * 18,
                     (r1 - r0) * width)  # fmt: skip
        keys += codes[r0:r1].reshape(-1)
        weights = None if row_weights is None else np.asarray(row_weights)[r0:r1]
        c, w = count_keys(keys.reshape(r1 - r0, width), size, weights)
        counts += c
        if sums is not None:
            sums += w
    return counts, sums


def zone_ids(spans: tuple, shape: tuple) -> np.ndarray:
    """The (rows, cols) zone id (int64) of each cell of a strip from ``spans`` (as
    :func:`count_zone_codes` takes them), 0 outside every span."""
    starts, stops, ids = spans
    return _fill(starts, stops, ids, shape[0] * shape[1]).reshape(shape)


def _fill(starts, stops, ids, size: int) -> np.ndarray:
    """``size`` int64 values: ``ids`` over ``[starts, stops)`` (sorted, not overlapping),
    0 elsewhere; the running sum of the changes at each span's ends."""
    change = np.zeros(size + 1, np.int64)
    change[starts] = ids
    change[stops] -= ids  # a span may stop where the next starts: that change is the sum
    return np.cumsum(change[:-1])


__all__ = [
    "CELL_CHUNK",
    "MIN_RUN",
    "SAMPLE",
    "count_keys",
    "count_zone_codes",
    "long_runs",
    "zone_ids",
]
