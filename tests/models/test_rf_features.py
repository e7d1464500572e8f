"""The random forest's patch statistics (models.features) are the numbers the forests
were trained on: the fast implementation (pixel-major reductions, one partition per
channel, threads) gives exactly the features of the first implementation, kept here as
the reference, on random, edge and real windows."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import SHARED

from lcz_qgis.common.bands import patches_in_range
from lcz_qgis.models import features

S2 = ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"]
FUSION = [f"S2_{b}" for b in S2] + ["S1_VH_intensity", "S1_VV_intensity"]
ABER = SHARED / "real" / "s2_imagery" / "aberystwyth_rsgislib" / "sen2_20210527_aber_subset.tif"


# -- the first implementation (before issue 25), verbatim: the reference -------------------
def _old_norm_diff(a, b):
    d = a + b
    return np.where(np.abs(d) > 1e-6, (a - b) / np.where(np.abs(d) > 1e-6, d, 1.0), 0.0)


def _old_stats(x):
    n, h, w, c = x.shape
    flat = x.reshape(n, h * w, c)
    p10, p50, p90 = np.percentile(flat, [10, 50, 90], axis=1)
    grad = np.abs(np.diff(x, axis=1)).mean(axis=(1, 2)) + np.abs(np.diff(x, axis=2)).mean(
        axis=(1, 2)
    )
    return [flat.mean(axis=1), flat.std(axis=1), p10, p50, p90, grad]


def _old_stat_features(x, names):
    cols = _old_stats(x)
    idx = {b.split("_", 1)[-1] if b.startswith("S2_") else b: i for i, b in enumerate(names)}
    extra = []
    if all(b in idx for b in ("B3", "B4", "B8", "B11")):
        b3, b4, b8, b11 = (x[..., idx[b]] for b in ("B3", "B4", "B8", "B11"))
        extra += [_old_norm_diff(b8, b4), _old_norm_diff(b11, b8), _old_norm_diff(b3, b11)]
    for b in ("VH_intensity", "VV_intensity", "S1_VH_intensity", "S1_VV_intensity"):
        if b in names:
            extra.append(10.0 * np.log10(np.maximum(x[..., names.index(b)], 1e-6)))
    if extra:
        e = np.stack(extra, axis=-1)
        cols += [e.mean(axis=(1, 2)), e.std(axis=(1, 2))]
    return np.concatenate(cols, axis=1)


def old_patch_features(x, names):
    x = np.asarray(x, dtype=np.float32)
    names = list(names)
    wide = ~patches_in_range(x, 1e15)
    if not wide.any():
        return _old_stat_features(x, names).astype(np.float32, copy=False)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        big = _old_stat_features(x[wide].astype(np.float64), names)
    f32 = float(np.finfo(np.float32).max)
    np.clip(big, -f32, f32, out=big)
    out = np.empty((len(x), big.shape[1]), np.float32)
    out[wide] = big
    if not wide.all():
        out[~wide] = _old_stat_features(x[~wide], names)
    return out


# -- helpers ------------------------------------------------------------------------------
def _same(x, names, threads=None):
    """New and old features of ``x``: equal, NaN where the other has NaN. The reference
    runs on ``x`` in C order, as the forests were trained (patches read from HDF5) and
    as classify gathers windows: on other layouts its sums ran in another order."""
    want = old_patch_features(np.ascontiguousarray(x), names)
    got = features.patch_features(x, names, threads=threads)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got, want, equal_nan=True), np.argwhere(
        ~((got == want) | (np.isnan(got) & np.isnan(want)))
    )[:10]
    return got


def _reflectance(rng, n, c, dn=True):
    """Reflectance-like patches: DN/10000 (many ties, as real rasters) or continuous."""
    if dn:
        return (rng.integers(0, 6000, (n, 32, 32, c)) / 10000.0).astype(np.float32)
    return rng.gamma(2.0, 0.08, (n, 32, 32, c)).astype(np.float32)


# -- tests --------------------------------------------------------------------------------
@pytest.mark.parametrize("dn", [True, False])
def test_sentinel2_features_equal_the_first_implementation(dn):
    rng = np.random.default_rng(1 if dn else 2)
    x = _reflectance(rng, 300, 10, dn)  # several sub-batches and a short last one
    x[3] = 0.0  # a blank window (the index denominators are 0)
    x[4] = 0.125  # a constant window: every percentile the same value
    x[5, :, :, 2] = -x[5, :, :, 6]  # B4 = -B8: NDVI denominator 0 everywhere
    got = _same(x, S2)
    assert got.shape == (300, 6 * 10 + 2 * 3)
    assert np.all(np.isfinite(got))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads_and_batch_sizes_give_the_same_features(threads):
    rng = np.random.default_rng(3)
    x = _reflectance(rng, 2 * features.CHUNK + 5, 10)
    whole = _same(x, S2, threads=threads)
    one_by_one = np.concatenate([features.patch_features(x[i : i + 1], S2) for i in range(9)])
    assert np.array_equal(whole[:9], one_by_one)


def test_fusion_features_with_sentinel1_intensities_equal_the_first_implementation():
    rng = np.random.default_rng(4)
    s2 = _reflectance(rng, 70, 10)
    s1 = rng.exponential(0.05, (70, 32, 32, 2)).astype(np.float32)
    s1[0] = 0.0  # log10 of the 1e-6 floor
    got = _same(np.concatenate([s2, s1], axis=-1), FUSION)
    assert got.shape == (70, 6 * 12 + 2 * 5)
    # one extra channel (a single intensity): summed pairwise, as the first implementation
    _same(np.concatenate([s2[..., :2], s1[..., :1]], axis=-1), ["B2", "B3", "VH_intensity"])
    _same(s1[..., 1:], ["S1_VV_intensity"])  # one band, one extra


def test_no_patches_give_no_features():
    for x in (np.zeros((0, 32, 32, 10), np.float32), np.full((0, 32, 32, 10), np.nan)):
        assert features.patch_features(x, S2).shape == (0, 66)


def test_a_subset_without_index_bands_equals_the_first_implementation():
    rng = np.random.default_rng(5)
    _same(_reflectance(rng, 40, 3, dn=False), ["B2", "B3", "B4"])
    one = _reflectance(rng, 40, 1) - np.float32(0.1)  # one band, negative values too
    kept = one.copy()
    _same(one, ["B8"])
    assert np.array_equal(one.view(np.int32), kept.view(np.int32))  # the input untouched


def test_nan_huge_and_negative_values_equal_the_first_implementation():
    rng = np.random.default_rng(6)
    x = _reflectance(rng, 20, 10)
    x[1, 5, 5, 3] = np.nan  # the float64 path: NaN statistics for that channel
    x[2] *= 1e30  # |x| > 1e15: float64, clipped to the float32 range
    x[3, 0, 0, 0] = np.inf
    x[4] -= 0.3  # negative values (no physical meaning, still the same numbers)
    x[5, :16] = -0.0  # signed zeros
    got = _same(x, S2)
    assert np.isnan(got[1, 10 * 1 + 3])  # the std of that channel
    assert np.all(np.isfinite(got[[0, 2, 4, 5]]))


def test_patch_statistics_equal_numpy_percentile_on_many_ties():
    """Windows of few distinct values (a field, water): the 10/50/90th percentiles
    fall on and between ties."""
    rng = np.random.default_rng(7)
    x = rng.choice(np.float32([0.01, 0.0123, 0.02, 0.5]), (50, 32, 32, 4)).astype(np.float32)
    p = features._percentiles(x)
    want = np.percentile(x.reshape(50, 1024, 4), [10, 50, 90], axis=1).astype(np.float32)
    assert np.array_equal(p, want)
    assert not np.array_equal(p[0], p[2])  # the test does distinguish the percentiles


def test_real_sentinel2_windows_equal_the_first_implementation():
    if not ABER.exists():
        pytest.skip(f"{ABER} is not present")
    import rasterio

    with rasterio.open(ABER) as src:
        img = src.read().transpose(1, 2, 0)  # (rows, cols, 10), reflectance x 1000
    x = np.stack(
        [img[r : r + 32, c : c + 32] for r in range(0, 290, 10) for c in range(0, 290, 10)]
    ).astype(np.float32)
    x /= 1000.0  # So2Sat-scale reflectance
    assert len(x) == 29 * 29 and x.std() > 0
    assert not x.flags.c_contiguous  # band-planar windows: the same features as C order
    got = _same(x, S2)
    assert np.unique(got[:, 30]).size > 50  # real 50th percentiles, not constants


def test_the_statistics_use_the_cores_the_process_may_use(monkeypatch):
    import os

    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert features.feature_threads() == cores
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a cluster worker's share
    assert features.feature_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert features.feature_threads() == cores
