"""The So2Sat ResNet-20's Sentinel-2 input (the authors' float16 rounding) computed in
float32 (models.preprocessing) has the same bits as the first float64 implementation,
kept here as the reference, and as the authors' own computation on DN."""

from __future__ import annotations

import numpy as np
import pytest

from lcz_qgis.common.errors import LczError
from lcz_qgis.models import preprocessing
from lcz_qgis.models.preprocessing import so2sat_resnet20_s2_scaling as scaling


def old_scaling(x):
    """The first implementation (lcz_qgis.models.pretrained before issue 25), verbatim."""
    dn = np.asarray(x, np.float64) * 10000.0
    whole = np.rint(dn)
    dn = np.where(np.abs(dn - whole) <= 1e-6 * np.maximum(np.abs(whole), 1e4), whole, dn)
    return (dn.astype(np.float16) / np.float16(10000.0)).astype(np.float32)


def _bits_equal(x):
    """New and old outputs of ``x``: the same bits (NaN payloads and signed zeros too)."""
    with np.errstate(all="ignore"):
        want = old_scaling(x)
    got = scaling(x)
    assert got.dtype == np.float32 and got.shape == want.shape
    same = got.view(np.uint32) == want.view(np.uint32)
    assert same.all(), (x.reshape(-1)[~same.reshape(-1)][:10], got[~same][:10], want[~same][:10])
    return got


def _patches(values, dtype=np.float32):
    """``values`` laid into whole (N, 32, 32, 10) patches (repeated to fill the last)."""
    v = np.asarray(values, dtype).reshape(-1)
    n = -(-v.size // 10240)
    return np.resize(v, (n, 32, 32, 10)).astype(dtype)


def test_random_reflectance_has_the_same_bits():
    rng = np.random.default_rng(0)
    continuous = rng.uniform(-0.1, 1.6, 300_000).astype(np.float32)
    dn = (rng.integers(0, 16000, 300_000).astype(np.float32) * np.float32(1e-4)).astype(np.float32)
    divided = (rng.integers(0, 16000, 300_000) / 10000.0).astype(np.float32)
    for values in (continuous, dn, divided):
        _bits_equal(_patches(values))


def test_chunks_of_whole_dn_have_the_same_bits():
    """Chunks holding only whole DN below 9999 (a DN raster divided by 10000, the usual
    input) take the DN table; one -0.0, a negative or a DN of 9999 sends a chunk the
    general way. Each case fills whole chunks of the implementation."""
    chunk = preprocessing._CHUNK
    rng = np.random.default_rng(2)
    dn = rng.integers(0, 9999, 3 * chunk)
    dn[:9999] = np.arange(9999)  # every whole DN of the table
    as_f32 = dn.astype(np.float32) * np.float32(1e-4)
    divided = (dn / 10000.0).astype(np.float32)
    for x in (as_f32, divided):
        odd = [x.copy() for _ in range(4)]
        odd[0][chunk + 5] = -0.0  # the output keeps its sign
        odd[1][chunk + 5] = np.float32(-0.0003)
        odd[2][chunk + 5] = np.float32(0.9999)
        odd[3][chunk + 5] = np.float32(2049.015 / 10000)  # beyond snapping: not 2049
        for values in (x, *odd):
            _bits_equal(_patches(values))


def test_every_dn_and_every_float16_tie_has_the_same_bits():
    """Every whole DN 0..16383 divided by 10000 both ways the classifier does, and the
    DN halfway between two float16 (the ties the snapping exists for), with float32
    neighbours a few ulps away on either side."""
    dn = np.arange(16384, dtype=np.float64)
    ties = np.concatenate([np.arange(1024, 2048) + 0.5, np.arange(2049, 4096, 2.0),
                           np.arange(4098, 8192, 4.0), np.arange(8196, 16384, 8.0)])  # fmt: skip
    x = np.concatenate([dn, ties]).astype(np.float32) / np.float32(10000)
    x = np.concatenate([x, (np.concatenate([dn, ties]) / 10000.0).astype(np.float32)])
    near = [x]
    for k in (1, 2, 3, 5, 8, 13, 40, 200):
        near.append(
            np.nextafter(x, np.float32(np.inf)) if k == 1 else x * np.float32(1 + k * 2**-24)
        )
        near.append(x * np.float32(1 - k * 2**-24))
    _bits_equal(_patches(np.concatenate(near)))


def test_snapping_edges_zeros_tiny_huge_and_nan_have_the_same_bits():
    """DN just within and just beyond the 0.01 snapping distance, zeros of both signs,
    tiny values (float16 subnormals), values past float16's range, inf and NaN."""
    w = np.arange(1, 9999, 7, dtype=np.float64)
    offsets = [0.01, -0.01, 0.0099, 0.0101, 0.00999, 0.01001, 0.5, -0.5, 0.25, 0.75]
    snapping = np.concatenate([(w + o) / 10000.0 for o in offsets]).astype(np.float32)
    big = np.float32([0.9999, 0.99995, 1.0, 1.00005, 1.2345, 6.5503, 6.5504, 6.552, 6.56,
                      1e3, 3e4, 1e30, 3.4e38])  # fmt: skip
    edge = np.float32([0.0, -0.0, 1e-8, -1e-8, 1e-12, 6e-9, 6.1e-9, 1e-45, np.inf, -np.inf,
                       np.nan, -np.nan])  # fmt: skip
    nan_payload = np.uint32([0x7FC00001, 0xFFC12345, 0x7F800001]).view(np.float32)  # sNaN too
    got = _bits_equal(_patches(np.concatenate([snapping, big, -big, edge, nan_payload])))
    assert np.isinf(got).any() and np.isnan(got).any()


def test_non_float32_input_and_non_contiguous_patches_give_the_same_bits():
    rng = np.random.default_rng(1)
    dn = rng.integers(0, 12000, (3, 32, 32, 10))
    _bits_equal(dn / 10000.0)  # float64, as a stack of DN divided in Python
    x = _patches(rng.uniform(0, 0.6, 4 * 10240))
    _bits_equal(x[:, ::-1])  # a flipped view
    _bits_equal(np.ascontiguousarray(x.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1))


def test_the_authors_float16_computation_on_dn():
    """The hidden reference: the authors' getData on DN (``np.float16(DN) / 10000.0``
    into float16) against the classifier's float32 reflectance of the same DN."""
    dn = np.arange(0, 16000, dtype=np.uint16)
    authors = np.zeros(dn.shape, np.float16)
    authors[...] = np.float16(dn) / 10000.0
    got = scaling(_patches(dn.astype(np.float32) * np.float32(1e-4)))
    np.testing.assert_array_equal(got.reshape(-1)[: dn.size], authors.astype(np.float32))
    k = dn == 2049  # a tie rounded to even, as the authors' float16 does
    assert got.reshape(-1)[: dn.size][k] == np.float32(np.float16(0.2048))


def test_the_manifest_step_is_the_fast_function_and_checks_its_input():
    assert preprocessing.step_function("so2sat_resnet20_s2_scaling") is scaling
    assert scaling(np.zeros((0, 32, 32, 10), np.float32), unknown_param=1).shape == (0, 32, 32, 10)
    with pytest.raises(
        LczError, match=r"needs patches \(N, H, W, 10\); got shape \(1, 32, 32, 8\)"
    ):
        scaling(np.zeros((1, 32, 32, 8), np.float32))
