"""Sliding-window geometry and views, and the post-classification filters."""

from __future__ import annotations

import numpy as np
import pytest

from lcz_qgis.classify.postfilter import (
    GAUSSIAN_KERNELS_M,
    filter_block,
    gaussian_kernel_1d,
    halo_cells,
)
from lcz_qgis.classify.sliding_window import gather, output_grid, window_validity, windows
from lcz_qgis.common.aligned_arrays import ALIGN
from lcz_qgis.common.errors import LczError


def test_output_grid_geometry_rule():
    g = output_grid(100, 80, (1000.0, 10.0, 0.0, 5000.0, 0.0, -10.0), 10)
    # first cell's centre = first window's centre (pixel 16 from the corner)
    assert g.geotransform[0] + g.geotransform[1] / 2 == 1000.0 + 16 * 10
    assert g.geotransform[3] + g.geotransform[5] / 2 == 5000.0 - 16 * 10
    assert g.geotransform[1] == 100.0 and g.geotransform[5] == -100.0
    assert (g.valid_cols, g.valid_rows) == ((100 - 32) // 10 + 1, (80 - 32) // 10 + 1)
    with pytest.raises(LczError, match="smaller than one"):
        output_grid(20, 80, (0, 10, 0, 0, 0, -10), 10)
    with pytest.raises(LczError, match="stride"):
        output_grid(100, 80, (0, 10, 0, 0, 0, -10), 40)


def test_windows_are_views_and_gather_matches_slices():
    x = np.arange(70 * 50 * 3, dtype=np.float32).reshape(70, 50, 3)
    v = windows(x, 6)
    assert v.shape == ((70 - 32) // 6 + 1, (50 - 32) // 6 + 1, 32, 32, 3)
    assert np.shares_memory(v, x)
    b = gather(v, np.array([0, 2, 6]), np.array([1, 3, 0]))
    assert b.shape == (3, 32, 32, 3) and b.flags.c_contiguous
    np.testing.assert_array_equal(b[1], x[12:44, 18:50])
    np.testing.assert_array_equal(b[2], x[36:68, 0:32])


def test_gather_is_aligned_and_equals_fancy_indexing_for_any_selection():
    rng = np.random.default_rng(0)
    x = rng.random((150, 120, 4)).astype(np.float32)
    v = windows(x, 7)
    for drop in (0.0, 0.03, 0.6):  # whole rows of windows, a few holes, a patchy mask
        keep = rng.random(v.shape[:2]) >= drop
        rr, cc = np.nonzero(keep)
        for a in range(0, len(rr), 50):
            b = gather(v, rr[a : a + 50], cc[a : a + 50])
            assert b.ctypes.data % ALIGN == 0 and b.flags.c_contiguous
            np.testing.assert_array_equal(b, v[rr[a : a + 50], cc[a : a + 50]])
    assert gather(v, rr[:0], cc[:0]).shape == (0, 32, 32, 4)


def test_window_validity_equals_a_direct_check():
    rng = np.random.default_rng(1)
    for h, w, stride, bad in ((64, 64, 8, 0.0), (97, 75, 5, 0.002), (40, 90, 1, 0.01)):
        ok = rng.random((h, w)) >= bad
        expect = np.array(
            [
                [ok[i : i + 32, j : j + 32].all() for j in range(0, w - 31, stride)]
                for i in range(0, h - 31, stride)
            ]
        )
        np.testing.assert_array_equal(window_validity(ok, stride), expect)


def test_window_validity_integral_image():
    ok = np.ones((64, 64), bool)
    ok[40, 5] = False
    v = window_validity(ok, 8)
    # windows with rows 9..40 and cols 0..5 hold the bad pixel
    expect = np.ones_like(v)
    for i in range(v.shape[0]):
        for j in range(v.shape[1]):
            expect[i, j] = ok[i * 8 : i * 8 + 32, j * 8 : j * 8 + 32].all()
    np.testing.assert_array_equal(v, expect)
    assert not v.all()


def _onehot(codes):
    p = np.zeros(codes.shape + (17,), np.float32)
    r, c = np.nonzero(codes)
    p[r, c, codes[r, c] - 1] = 1.0
    return p


def test_majority_removes_isolated_cells_and_keeps_nodata():
    codes = np.full((7, 7), 14, np.uint8)  # low plants
    codes[3, 3] = 2  # an isolated compact mid-rise cell
    codes[0, 0] = 0  # nodata
    valid = codes > 0
    out, conf, _ = filter_block("majority", _onehot(codes), valid, 100.0)
    assert out[3, 3] == 14 and out[0, 0] == 0 and (out[valid] == 14).all()
    assert conf[0, 0] == -1 and conf[3, 3] == 0.0  # the kept probability of class D there
    # a 2-cell-wide strip survives where it has its own majority... ties keep the own class
    codes2 = np.full((6, 6), 11, np.uint8)
    codes2[:, :3] = 17
    out2, _, _ = filter_block("majority", _onehot(codes2), codes2 > 0, 100.0)
    assert (out2 == codes2).all()


def test_gaussian_filter_class_specific_kernels():
    # Demuzere et al. (2020) table: sigma/radius in metres; water has the smallest kernel
    assert GAUSSIAN_KERNELS_M[17] == (25, 50) and GAUSSIAN_KERNELS_M[8] == (250, 500)
    assert GAUSSIAN_KERNELS_M[1] == (100, 200) and GAUSSIAN_KERNELS_M[11] == (75, 200)
    k = gaussian_kernel_1d(250, 500, 100.0)
    assert len(k) == 11 and k.sum() == pytest.approx(1.0) and k.argmax() == 5
    assert len(gaussian_kernel_1d(25, 50, 100.0)) == 1  # sub-cell kernel: no smoothing
    assert halo_cells("gaussian", 100.0) == 5 and halo_cells("majority", 100.0) == 1
    assert halo_cells("none", 100.0) == 0
    # a lone cell of large low-rise (8) in a field of open low-rise (6) is smoothed away;
    # a lone water cell (tiny kernel) with a confident probability survives
    codes = np.full((15, 15), 6, np.uint8)
    codes[7, 7] = 8
    codes[3, 3] = 17
    p = _onehot(codes) * 0.8 + 0.2 / 17
    valid = np.ones(codes.shape, bool)
    out, conf, pf = filter_block("gaussian", p, valid, 100.0)
    assert out[7, 7] == 6 and out[3, 3] == 17
    np.testing.assert_allclose(pf.sum(axis=-1), 1.0, rtol=1e-5)
    assert ((conf > 0) & (conf <= 1)).all()
    # nodata stays nodata and does not pull neighbours
    valid[0, :] = False
    out2, conf2, pf2 = filter_block("gaussian", np.where(valid[..., None], p, 0), valid, 100.0)
    assert (out2[0] == 0).all() and (conf2[0] == -1).all() and (pf2[0] == 0).all()
    assert out2[1, 5] == 6
    with pytest.raises(LczError, match="unknown filter"):
        filter_block("median", p, valid, 100.0)
