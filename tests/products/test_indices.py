"""Spectral indices and composites on numpy arrays (lcz_qgis.products.indices)."""

from __future__ import annotations

import numpy as np
import pytest

from lcz_qgis.common.errors import LczError
from lcz_qgis.products import indices

ND = indices.NODATA


def s2(**bands) -> np.ndarray:
    """A (k,10) Sentinel-2 'pixel list' in So2Sat order with the given band columns."""
    k = len(next(iter(bands.values())))
    x = np.full((k, 10), 0.1, dtype=np.float64)
    names = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
    for name, vals in bands.items():
        x[:, names.index(name)] = vals
    return x


def s1(vh, vv) -> np.ndarray:
    x = np.full((len(vh), 8), 0.05)
    x[:, 4], x[:, 5] = vh, vv
    return x


@pytest.mark.parametrize(
    "func,a,b",
    [
        (indices.ndvi, "B8", "B4"),
        (indices.ndbi, "B11", "B8"),
        (indices.ndwi, "B3", "B8"),
        (indices.mndwi, "B3", "B11"),
    ],
)
def test_normalized_differences_match_formula_and_flag_undefined(func, a, b):
    av = np.array([0.4, 0.1, 0.0, 0.3, np.nan, 0.2, np.inf, -9999.0, 0.25])
    bv = np.array([0.1, 0.4, 0.0, -0.3, 0.2, np.nan, 0.1, 0.3, 0.25])
    out = func(s2(**{a: av, b: bv}), input_nodata=-9999.0)
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    with np.errstate(divide="ignore", invalid="ignore"):
        expect = (av - bv) / (av + bv)
    np.testing.assert_allclose(out[[0, 1, 8]], expect[[0, 1, 8]].astype(np.float32), rtol=1e-6)
    assert out[0] == pytest.approx(0.6)  # (0.4 - 0.1) / 0.5
    assert out[8] == 0.0
    # zero denominators (0+0, 0.3-0.3), NaN, inf and the input nodata value -> nodata
    assert (out[[2, 3, 4, 5, 6, 7]] == ND).all()


def test_rvi_on_linear_intensities_and_custom_nodata():
    vh = np.array([0.02, 0.0, 0.05, 0.0])
    vv = np.array([0.08, 0.1, 0.05, 0.0])
    out = indices.rvi(s1(vh, vv), nodata=-1.0)
    np.testing.assert_allclose(out[:3], [4 * 0.02 / 0.10, 0.0, 2.0], rtol=1e-6)
    assert out[3] == -1.0
    assert np.isfinite(out).all()


def test_overflowing_ratio_becomes_nodata_not_inf():
    # finite in float64 but beyond float32: must not come back as inf
    out = indices.normalized_difference(np.array([1.0]), np.array([-1.0 + 1e-300]))
    assert out[0] == ND


def test_works_on_patch_stacks_and_keeps_shape():
    rng = np.random.default_rng(0)
    x = rng.random((3, 32, 32, 10))
    v = indices.ndvi(x)
    assert v.shape == (3, 32, 32)
    np.testing.assert_allclose(
        v, ((x[..., 6] - x[..., 2]) / (x[..., 6] + x[..., 2])).astype(np.float32), rtol=1e-6
    )


def test_fusion_order_and_explicit_band_mapping():
    rng = np.random.default_rng(1)
    x = rng.random((5, 18))  # S1 0-7, S2 8-17: B4 = 10, B8 = 14; VH = 4, VV = 5
    np.testing.assert_allclose(
        indices.ndvi(x), (x[:, 14] - x[:, 10]) / (x[:, 14] + x[:, 10]), rtol=1e-6
    )
    np.testing.assert_allclose(indices.rvi(x), 4 * x[:, 4] / (x[:, 5] + x[:, 4]), rtol=1e-6)
    four = rng.random((5, 4))  # B2, B3, B4, B8
    out = indices.ndvi(four, bands={"B4": 2, "b8": 3})
    np.testing.assert_allclose(
        out, (four[:, 3] - four[:, 2]) / (four[:, 3] + four[:, 2]), rtol=1e-6
    )


def test_missing_bands_are_named():
    with pytest.raises(LczError, match="B8"):
        indices.ndvi(np.zeros((4, 4)))
    with pytest.raises(LczError, match="VH_intensity"):
        indices.rvi(np.zeros((4, 10)))  # a Sentinel-2 array has no VH
    with pytest.raises(LczError, match="unknown product"):
        indices.compute("evi", np.zeros((2, 10)))


def test_truecolor_percentile_stretch_and_invalid_pixels():
    rng = np.random.default_rng(2)
    x = rng.random((32, 32, 10)) * 0.3
    x[0, 0, 2] = np.nan  # invalid B4
    rgb = indices.truecolor(x)
    assert rgb.dtype == np.uint8 and rgb.shape == (32, 32, 3)
    assert (rgb[0, 0] == 0).all()
    ok = np.isfinite(x[..., 2])
    for k, band in enumerate((2, 1, 0)):  # R=B4, G=B3, B=B2
        lo, hi = np.percentile(x[..., band][ok], (2, 98))
        expect = np.rint(255 * np.clip((x[..., band] - lo) / (hi - lo), 0, 1))
        np.testing.assert_array_equal(rgb[..., k][ok], expect[ok].astype(np.uint8))
    # about 2 % of the pixels saturate at each end
    assert 0.01 < (rgb[..., 0][ok] == 255).mean() < 0.04
    fixed = indices.truecolor(x, limits=[(0, 0.3)] * 3)
    assert fixed[5, 5, 0] == round(255 * x[5, 5, 2] / 0.3)


def test_s1_falsecolor_documented_formula():
    vh = np.array([0.01, 0.0, np.nan, 1e-4])
    vv = np.array([0.1, 1.0, 0.1, 1e-2])
    rgb = indices.s1_falsecolor(s1(vh, vv))
    # VV -10 dB -> (15/25), VH -20 dB -> (12/27), ratio 10 dB -> (10/15)
    assert rgb[0].tolist() == [round(255 * 15 / 25), round(255 * 12 / 27), round(255 * 10 / 15)]
    # VH = 0 is floored at 1e-6 (-60 dB): G = 0, ratio 60 dB -> B saturates
    assert rgb[1].tolist() == [255, 0, 255]
    assert rgb[2].tolist() == [0, 0, 0]  # NaN input
    # VV -20 dB -> 5/25, VH -40 dB -> 0, ratio 20 dB -> 255
    assert rgb[3].tolist() == [round(255 * 5 / 25), 0, 255]
    pct = indices.s1_falsecolor(
        s1(np.linspace(0.001, 0.1, 50), np.linspace(0.01, 0.5, 50)), mode="percentile"
    )
    assert pct[:, 0].max() == 255 and pct[:, 0].min() == 0
    with pytest.raises(LczError, match="mode"):
        indices.s1_falsecolor(s1(vh, vv), mode="auto")


def test_compute_dispatches_every_product():
    rng = np.random.default_rng(3)
    x2, x1 = rng.random((8, 8, 10)), rng.random((8, 8, 8))
    for name, p in indices.PRODUCTS.items():
        x = x1 if "VV_intensity" in p.needs else x2
        out = indices.compute(name, x)
        assert out.shape[:2] == (8, 8)
        assert out.dtype == (np.uint8 if p.kind == "rgb" else np.float32)
