"""Block reading for classification: pixel validity and the order of blocks."""

from __future__ import annotations

import numpy as np

from lcz_qgis.raster.block_reader import block_spans, pixel_validity


def test_pixel_validity_checks_each_band_against_its_own_nodata():
    x = np.ones((40, 30, 3), np.float32)
    x[3, 4, 0] = -9999  # band 1's nodata
    x[5, 6, 1] = -9999  # band 2 has no nodata value: a valid number there
    x[7, 8, 2] = 0  # band 3's nodata
    x[9, 10, 1] = np.nan
    x[11, 12, 0] = np.inf
    x[33, 29, 2] = -np.inf  # in the last slab of rows
    ok = pixel_validity(x, [-9999.0, None, 0.0])
    bad = {(3, 4), (7, 8), (9, 10), (11, 12), (33, 29)}
    assert {tuple(p) for p in np.argwhere(~ok)} == bad
    # NaN as a nodata value means "none" (NaN is caught as non-finite anyway)
    assert pixel_validity(x, [float("nan"), None, None]).sum() == ok.size - 3  # NaN, inf, -inf


def test_pixel_validity_keeps_finite_pixels_whose_channel_sum_overflows():
    # the finiteness test runs on channel sums; 3 x 3e38 overflows float32 to inf
    x = np.full((20, 10, 3), 3e38, np.float32)
    x[4, 5, 1] = np.nan
    x[6, 7, 2] = -np.inf
    ok = pixel_validity(x, [None, None, -9999.0])
    assert {tuple(p) for p in np.argwhere(~ok)} == {(4, 5), (6, 7)}


def test_block_spans_ramp_up_then_cover_every_row_once():
    spans = block_spans(203, 78)
    assert spans[:3] == [(0, 9), (9, 28), (28, 67)]  # 1/8, 1/4, 1/2 of a block first
    assert all(b - a == 78 for a, b in spans[3:-1])
    rows = [r for a, b in spans for r in range(a, b)]
    assert rows == list(range(203))
    assert block_spans(5, 78) == [(0, 5)]
    assert block_spans(10, 1) == [(r, r + 1) for r in range(10)]
