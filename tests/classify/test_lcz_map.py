"""The LCZ map of classify_raster: geometry (the window-centre rule), values, nodata,
colour table, and agreement with the model on centred windows."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal

from lcz_qgis import load_model
from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.common.legend import LCZ_CLASSES

gdal.UseExceptions()


@pytest.fixture(scope="module")
def lcz_map(tmp_path_factory, sample_dir, rf_model):
    out = tmp_path_factory.mktemp("map") / "map.tif"
    res = classify_raster(
        load_model(rf_model), out, sentinel2=sample_dir / "scene_s2.tif", stride=10
    )
    return out, res


def test_map_geometry_follows_the_window_centre_rule(lcz_map, sample_dir):
    out, _ = lcz_map
    src = gdal.Open(str(sample_dir / "scene_s2.tif"))
    x0, px, _, y0, _, py = src.GetGeoTransform()
    ds = gdal.Open(str(out))
    gt = ds.GetGeoTransform()
    assert gt[1] == 10 * px and gt[5] == 10 * py  # 100 m cells
    # centre of cell (i, j) == centre of the window whose upper-left pixel is (10i, 10j)
    for i, j in [(0, 0), (3, 7), (48, 48)]:
        cx = gt[0] + (j + 0.5) * gt[1]
        cy = gt[3] + (i + 0.5) * gt[5]
        assert cx == pytest.approx(x0 + (10 * j + 16) * px)
        assert cy == pytest.approx(y0 + (10 * i + 16) * py)
    assert ds.GetSpatialRef().IsSame(src.GetSpatialRef())
    assert (ds.RasterXSize, ds.RasterYSize) == (50, 50)


def test_map_values_nodata_and_colour_table(lcz_map):
    out, res = lcz_map
    ds = gdal.Open(str(out))
    band = ds.GetRasterBand(1)
    a = band.ReadAsArray()
    assert a.dtype == np.uint8 and a.min() >= 0 and a.max() <= 17
    assert band.GetNoDataValue() == 0
    # cells whose window leaves the raster are 0: window of cell 49 starts at 490 > 512-32
    assert (a[49, :] == 0).all() and (a[:, 49] == 0).all()
    # the sample city has nodata in rows 0-47, cols 0-95: windows touching it are 0
    assert (a[0:4, 0:9] == 0).all()
    assert a[10:40, 10:40].min() >= 1
    ct = band.GetColorTable()
    for c in LCZ_CLASSES:
        assert ct.GetColorEntry(c.code)[:3] == c.rgb
    names = band.GetCategoryNames()
    assert names[1] == "LCZ 1: Compact high-rise" and names[17] == "LCZ G: Water"
    assert out.with_suffix(".qml").exists()
    assert res.windows_valid == int((a > 0).sum())


def test_map_matches_the_model_on_centred_windows(lcz_map, sample_dir, rf_model):
    out, _ = lcz_map
    a = gdal.Open(str(out)).ReadAsArray()
    s2 = gdal.Open(str(sample_dir / "scene_s2.tif")).ReadAsArray().transpose(1, 2, 0)
    model = load_model(rf_model)
    cells = [(10, 10), (20, 33), (40, 5), (30, 44)]
    windows = np.stack([s2[10 * i : 10 * i + 32, 10 * j : 10 * j + 32] for i, j in cells])
    assert model.predict(windows).tolist() == [int(a[i, j]) for i, j in cells]
