"""analysis.read_map: LCZ maps as they come (code sets, nodata, types, CRSs, bands)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import SHARED, write_raster

from lcz_qgis.analysis.read_map import (
    code_counts,
    iter_strips,
    open_lcz_map,
    raw_values,
    read_codes,
)
from lcz_qgis.common.errors import LczError

REAL = SHARED / "real" / "lcz_maps"
GEO_GT = (-0.9, 0.001, 0.0, 41.7, 0.0, -0.001)  # EPSG:4326 degrees, around Zaragoza


def _real(name):
    path = REAL / name
    if not path.exists():
        pytest.skip(f"{path} is not present")
    return path


def test_legacy_codes_float_and_nodata_become_codes_0_17(tmp_path):
    raw = np.array([[1, 10, 101, 107], [-1, 0, 255, np.nan], [17, 11, -999, 5]], np.float32)
    path = write_raster(tmp_path / "m.tif", raw, nodata=-1)
    with open_lcz_map(path) as m:
        codes = read_codes(m, 0, 0, 4, 3)
    assert codes.dtype == np.uint8
    assert codes.tolist() == [[1, 10, 11, 17], [0, 0, 0, 0], [17, 11, 0, 5]]


def test_integer_map_in_epsg_4326_with_a_declared_nodata(tmp_path):
    raw = np.array([[2, 14, -999], [17, 3, 3]], np.int32)
    path = write_raster(tmp_path / "g.tif", raw, gt=GEO_GT, epsg=4326, nodata=-999,
                        gtype="int32")  # fmt: skip
    with open_lcz_map(path) as m:
        assert m.is_geographic
        assert m.nodata == -999
        assert read_codes(m, 1, 0, 2, 2).tolist() == [[14, 0], [3, 3]]


def test_lcz_generator_bands_band_1_is_the_map_and_bands_are_named(tmp_path):
    rng = np.random.default_rng(0)
    lcz = rng.integers(1, 18, (20, 30))
    filtered = np.full((20, 30), 6)
    probs = rng.integers(0, 100, (20, 30))
    stack = np.stack([lcz, filtered, probs], -1).astype(np.uint8)
    path = write_raster(tmp_path / "gen.tif", stack, gtype="uint8",
                        names=["lcz", "lczFilter", "classProbability"])  # fmt: skip
    with open_lcz_map(path) as m:
        assert m.band_names == ["lcz", "lczFilter", "classProbability"]
        counts = code_counts(m, rows=7)
    assert counts.tolist() == np.bincount(lcz.ravel(), minlength=18).tolist()


def test_strips_cover_the_map_once_in_order(tmp_path):
    raw = np.arange(45).reshape(9, 5) % 17 + 1
    path = write_raster(tmp_path / "s.tif", raw, gtype="uint8")
    with open_lcz_map(path) as m:
        strips = list(iter_strips(m, rows=4))
    assert [r for r, _ in strips] == [0, 4, 8]
    assert np.vstack([c for _, c in strips]).tolist() == raw.tolist()


def test_a_smoothly_resampled_map_is_refused(tmp_path):
    path = write_raster(tmp_path / "b.tif", np.array([[1.0, 2.5]], np.float32))
    with open_lcz_map(path) as m, pytest.raises(LczError, match=r"non-whole values \(e.g. 2.5\)"):
        read_codes(m, 0, 0, 2, 1)


def test_a_map_without_crs_or_a_text_file_is_refused(tmp_path):
    path = write_raster(tmp_path / "n.tif", np.ones((2, 2)), epsg=0)
    with pytest.raises(LczError, match="no coordinate reference system"):
        open_lcz_map(path)
    text = tmp_path / "x.tif"
    text.write_text("not a raster")
    with pytest.raises(LczError, match="x.tif"):
        open_lcz_map(text)
    with pytest.raises(LczError, match="folder|directory"):
        open_lcz_map(tmp_path)


# -- the real maps of ../shared/real/lcz_maps ------------------------------------------


def test_real_shanghai_float_101_107_with_nodata_minus_1():
    with open_lcz_map(_real("w2w/Shanghai.tif")) as m:
        assert (m.info.dtype, m.nodata, m.info.crs_description()) == ("Float32", -1, "EPSG:32651")
        stored = raw_values(m)
        counts = code_counts(m)
    assert stored == [1, 2, 3, 4, 5, 6, 8, 10, 101, 102, 104, 105, 107]
    # 101 -> A (11), 102 -> B, 104 -> D, 105 -> E, 107 -> G; nothing else appears
    assert set(np.flatnonzero(counts)) == {1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 14, 15, 17}
    assert counts.sum() == 967 * 919


def test_real_zaragoza_epsg_4326_int32_nodata_minus_999():
    with open_lcz_map(_real("w2w/lcz_zaragoza.tif")) as m:
        assert (m.info.dtype, m.nodata, m.is_geographic) == ("Int32", -999, True)
        assert m.info.crs_description() == "EPSG:4326"
        counts = code_counts(m)
    assert set(np.flatnonzero(counts)) == {2, 3, 5, 6, 8, 9, 11, 12, 13, 14, 15, 16, 17}


def test_real_paris_wudapt_float_101_107():
    with open_lcz_map(_real("paris_wudapt/lcz_zonePreanalyse.tif")) as m:
        assert (m.info.dtype, m.nodata, m.info.crs_description()) == ("Float32", -1, "EPSG:32631")
        assert max(raw_values(m)) == 107
        counts = code_counts(m)
    assert set(np.flatnonzero(counts)) == {1, 2, 3, 4, 5, 6, 8, 11, 12, 14, 15, 17}
    assert counts.sum() == 121 * 166
