"""analysis.export and lcz export-map: each export read back as its consumer reads it
(UMEP: GDAL, codes 1-10 and 101-107 in the map's CRS; W2W: rasterio, codes 1-17 in
EPSG:4326, each cell the map's code under its centre, transformed independently with OSR)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from helpers import SHARED, write_raster
from osgeo import gdal, osr

from lcz_qgis.analysis.export import check_domain, export_map, umep_qml, wrf_grid, wrf_strips
from lcz_qgis.analysis.read_map import open_lcz_map
from lcz_qgis.cli import main
from lcz_qgis.common.errors import LczError

gdal.UseExceptions()
GT = (690000.0, 100.0, 0.0, 5340000.0, 0.0, -100.0)  # EPSG:32632, 100 m, near 48.2 N 11.6 E
H, W = 40, 50
SHANGHAI = SHARED / "real" / "lcz_maps" / "w2w" / "Shanghai.tif"
# LCZ 1-17 -> UMEP's code
TO_UMEP = {c: (c if c <= 10 else c + 90) for c in range(1, 18)}


def _codes(seed=0):
    """(H, W) codes 0-17, every class present, some nodata."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(1, 18, (H, W))
    codes[0, :17] = np.arange(1, 18)
    codes[5:8, 10:14] = 0
    return codes


def _map(tmp_path, encoding="1-17", seed=0):
    """A UTM map of ``_codes`` stored as codes 1-17 (uint8, nodata 0) or as WUDAPT's
    101-107 (float32, nodata -1); returns (path, codes 0-17)."""
    codes = _codes(seed)
    if encoding == "1-17":
        return write_raster(tmp_path / "map.tif", codes.astype(np.uint8), gtype="uint8",
                            gt=GT, nodata=0), codes  # fmt: skip
    raw = np.where(codes >= 11, codes + 90, np.where(codes == 0, -1, codes)).astype(np.float32)
    return write_raster(tmp_path / "map101.tif", raw, gt=GT, nodata=-1), codes


def _read_gdal(path):
    """What UMEP's converter gets through GDAL: (array, data type name, nodata, WKT)."""
    ds = gdal.Open(str(path))
    band = ds.GetRasterBand(1)
    out = band.ReadAsArray(), gdal.GetDataTypeName(band.DataType), band.GetNoDataValue()
    return (*out, ds.GetProjection(), ds.GetGeoTransform())


def _palette_values(qml_path):
    root = ET.parse(qml_path).getroot()
    return sorted(int(e.get("value")) for e in root.iter("paletteEntry"))


def _same_crs(wkt_a, wkt_b) -> bool:
    a, b = osr.SpatialReference(), osr.SpatialReference()
    a.ImportFromWkt(wkt_a)
    b.ImportFromWkt(wkt_b)
    return bool(a.IsSame(b))


def _expected_wrf(map_codes, map_gt, map_wkt, out_gt, shape):
    """Each output cell's expected code: the map's code at the cell centre's location,
    the centre transformed to the map's CRS with OSR (0 off the map)."""
    rows, cols = np.indices(shape)
    lon = out_gt[0] + (cols.ravel() + 0.5) * out_gt[1]
    lat = out_gt[3] + (rows.ravel() + 0.5) * out_gt[5]
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    src.ImportFromEPSG(4326)
    dst.ImportFromWkt(map_wkt)
    for s in (src, dst):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    pts = np.array(osr.CoordinateTransformation(src, dst).TransformPoints(np.c_[lon, lat]))
    c = np.floor((pts[:, 0] - map_gt[0]) / map_gt[1]).astype(int)
    r = np.floor((pts[:, 1] - map_gt[3]) / map_gt[5]).astype(int)
    on = (c >= 0) & (c < map_codes.shape[1]) & (r >= 0) & (r < map_codes.shape[0])
    out = np.zeros(lon.size, np.int64)
    out[on] = map_codes[r[on], c[on]]
    return out.reshape(shape)


def _read_w2w(path):
    """What W2W gets (rasterio): (codes, dtype, nodata, CRS, GDAL geotransform)."""
    import rasterio

    with rasterio.open(path) as ds:
        return ds.read(1), ds.dtypes[0], ds.nodata, ds.crs, ds.transform.to_gdal()


# -- UMEP ------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["1-17", "101-107"])
def test_umep_codes_101_107_integer_in_the_maps_crs_and_grid(tmp_path, encoding):
    path, codes = _map(tmp_path, encoding)
    out = tmp_path / "umep.tif"
    res = export_map(path, out, "umep")
    arr, dtype, nodata, wkt, gt = _read_gdal(out)
    assert dtype == "Byte" and nodata == 0
    assert _same_crs(wkt, _read_gdal(path)[3]) and gt == GT and arr.shape == (H, W)
    expected = np.vectorize(lambda c: TO_UMEP.get(c, 0))(codes)
    np.testing.assert_array_equal(arr, expected)  # cell for cell, water 17 -> 107
    present = set(np.unique(arr)) - {0}
    assert present <= set(range(1, 11)) | set(range(101, 108))
    assert present == {TO_UMEP[c] for c in np.unique(codes) if c}
    assert res["classes"] == list(range(1, 18)) and res["crs"] == "EPSG:32632"
    # the legend uses UMEP's codes, water (107) in the LCZ G colour
    assert _palette_values(out.with_suffix(".qml")) == [*range(1, 11), *range(101, 108)]
    assert 'value="107" color="#6a6aff"' in umep_qml()


# -- WRF / W2W -------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["1-17", "101-107"])
def test_wrf_codes_1_17_in_epsg4326_each_cell_the_code_under_its_centre(tmp_path, encoding):
    path, codes = _map(tmp_path, encoding)
    out = tmp_path / "wrf.tif"
    res = export_map(path, out, "wrf")
    arr, dtype, nodata, crs, gt = _read_w2w(out)
    assert crs.to_epsg() == 4326 and dtype == "uint8" and nodata == 0
    assert set(np.unique(arr)) - {0} <= set(range(1, 18))
    expected = _expected_wrf(codes, GT, _read_gdal(path)[3], gt, arr.shape)
    np.testing.assert_array_equal(arr, expected)
    assert set(np.unique(arr)) - {0} == set(range(1, 18)) == set(res["classes"])
    # about the map's 100 m: 100 / 111 320 degrees, both ways (the extent split evenly)
    assert gt[1] == pytest.approx(100 / 111_320, rel=0.05)
    assert -gt[5] == pytest.approx(100 / 111_320, rel=0.05)
    assert _palette_values(out.with_suffix(".qml")) == list(range(1, 18))


def _degrees_of(x, y):
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    src.ImportFromEPSG(32632)
    dst.ImportFromEPSG(4326)
    for s in (src, dst):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return osr.CoordinateTransformation(src, dst).TransformPoint(x, y)[:2]


def test_wrf_domain_inside_the_map_is_the_grids_extent(tmp_path):
    path, codes = _map(tmp_path)
    w, s = _degrees_of(GT[0] + 1000, GT[3] - 3000)
    e, n = _degrees_of(GT[0] + 3000, GT[3] - 1000)
    out = tmp_path / "wrf.tif"
    export_map(path, out, "wrf", domain=(w, s, e, n))
    arr, _, _, crs, gt = _read_w2w(out)
    assert crs.to_epsg() == 4326
    assert gt[0] == pytest.approx(w) and gt[3] == pytest.approx(n)
    assert gt[0] + gt[1] * arr.shape[1] == pytest.approx(e)
    assert gt[3] + gt[5] * arr.shape[0] == pytest.approx(s)
    np.testing.assert_array_equal(arr, _expected_wrf(codes, GT, _read_gdal(path)[3], gt, arr.shape))
    assert (arr > 0).mean() > 0.95  # inside the map: data, but for its nodata block


def test_wrf_domain_beyond_the_map_is_refused_and_the_output_untouched(tmp_path):
    path, _ = _map(tmp_path)
    out = tmp_path / "wrf.tif"
    export_map(path, out, "wrf")
    before = out.read_bytes(), out.with_suffix(".qml").read_bytes()
    w, s = _degrees_of(GT[0] + 1000, GT[3] - 3000)
    e, n = _degrees_of(GT[0] + 1000 + 100 * W, GT[3] - 1000)  # 1 km beyond the east edge
    with pytest.raises(LczError) as err:
        export_map(path, out, "wrf", domain=(w, s, e, n))
    text = str(err.value)
    assert "does not cover" in text and "map.tif" in text and "\n" not in text
    assert (out.read_bytes(), out.with_suffix(".qml").read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif", "wrf.qml", "wrf.tif"]


def test_bad_requests_are_refused(tmp_path):
    path, _ = _map(tmp_path)
    with pytest.raises(LczError, match="give one of umep, wrf, kmz"):
        export_map(path, tmp_path / "o.tif", "netcdf")
    with pytest.raises(LczError, match="give a .kmz name"):
        export_map(path, tmp_path / "o.tif", "kmz")
    with pytest.raises(LczError, match="GeoTIFF"):
        export_map(path, tmp_path / "o.png", "wrf")
    with pytest.raises(LczError, match="WRF export only"):
        export_map(path, tmp_path / "o.tif", "umep", domain=(11, 48, 12, 49))
    with pytest.raises(LczError, match="WRF export only"):
        export_map(path, tmp_path / "o.kmz", "kmz", domain=(11, 48, 12, 49))
    with pytest.raises(LczError, match="W < E"):
        check_domain((12, 48, 11, 49))
    with pytest.raises(LczError, match="W < E"):
        check_domain((11, 48, 12, float("nan")))
    assert not list(tmp_path.glob("o.*"))


def test_wrf_strips_read_only_the_window_under_each_strip(tmp_path):
    """The grid's strips join up to the whole export (strip size does not matter)."""
    path, codes = _map(tmp_path)
    with open_lcz_map(path) as m:
        transform, width, height, res = wrf_grid(m)
        whole = np.vstack([c for _, c in wrf_strips(m, transform, width, height, rows=height)])
        strips = np.vstack([c for _, c in wrf_strips(m, transform, width, height, rows=7)])
    np.testing.assert_array_equal(whole, strips)
    assert res == pytest.approx(100 / 111_320, rel=0.01)


# -- a real map ------------------------------------------------------------------------


@pytest.fixture()
def shanghai():
    if not SHANGHAI.exists():
        pytest.skip(f"{SHANGHAI} is not present")
    return SHANGHAI


def test_real_map_both_exports(tmp_path, shanghai):
    """W2W's Shanghai map (float32, nodata -1, codes 1-10 and 101-107, UTM 51N)."""
    raw, _, _, wkt, gt_map = _read_gdal(shanghai)
    codes = np.where(raw >= 101, raw - 90, np.where(raw < 1, 0, raw)).astype(np.int64)
    umep = tmp_path / "shanghai_umep.tif"
    export_map(shanghai, umep, "umep")
    arr, dtype, nodata, out_wkt, gt = _read_gdal(umep)
    assert dtype == "Byte" and nodata == 0 and _same_crs(out_wkt, wkt) and gt == gt_map
    assert set(np.unique(arr)) - {0} == {TO_UMEP[c] for c in np.unique(codes) if c}
    wrf = tmp_path / "shanghai_wrf.tif"
    export_map(shanghai, wrf, "wrf")
    arr, _, nodata, crs, gt = _read_w2w(wrf)
    assert crs.to_epsg() == 4326 and nodata == 0
    assert set(np.unique(arr)) - {0} == set(np.unique(codes)) - {0}
    np.testing.assert_array_equal(arr, _expected_wrf(codes, gt_map, wkt, gt, arr.shape))


# -- the CLI and Processing ------------------------------------------------------------


def test_cli(tmp_path, capsys):
    path, codes = _map(tmp_path, "101-107")
    out = tmp_path / "wrf.tif"
    assert main(["export-map", "--map", str(path), "--format", "wrf", "--output", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"wrf: {out} (EPSG:4326, ")
    assert _read_w2w(out)[3].to_epsg() == 4326
    with pytest.raises(SystemExit) as done:  # argparse: its usage, then one error line
        main(["export-map", "--map", str(path), "--format", "png", "--output", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and err[0].startswith("usage: lcz export-map")
    # Python 3.12.8+ and 3.13 print the choices without quotes
    assert err[-1] in (
        "lcz export-map: error: argument --format: invalid choice: 'png' (choose from 'umep', "
        "'wrf', 'kmz')",
        "lcz export-map: error: argument --format: invalid choice: 'png' (choose from umep, wrf, "
        "kmz)",
    )
    assert main(["export-map", "--map", str(path), "--format", "kmz", "--output", str(out)]) == 2
    assert capsys.readouterr().err.strip().endswith("the Google Earth export is a KMZ; give a "
                                                    ".kmz name")  # fmt: skip
    assert len(err) >= 3 and "Traceback" not in "\n".join(err)  # usage wraps, one error
    rc = main(["export-map", "--map", str(path), "--format", "umep", "--domain", "11,48,12,49",
               "--output", str(tmp_path / "u.tif")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--domain is for the WRF export only" in err[0]


def test_processing_run(tmp_path, run_alg):
    path, codes = _map(tmp_path)
    res = run_alg("lcz:exportmap", {"MAP": str(path), "FORMAT": "umep",
                                    "OUTPUT": str(tmp_path / "u.tif")})  # fmt: skip
    arr = _read_gdal(res["OUTPUT"])[0]
    assert set(np.unique(arr)) - {0} == {TO_UMEP[c] for c in np.unique(codes) if c}
    # a domain drawn in the map's CRS reaches the core in degrees
    x0, x1, y0, y1 = GT[0] + 1500, GT[0] + 3000, GT[3] - 3000, GT[3] - 1500
    res = run_alg("lcz:exportmap", {"MAP": str(path), "FORMAT": 1,
                                    "DOMAIN": f"{x0},{x1},{y0},{y1} [EPSG:32632]",
                                    "OUTPUT": str(tmp_path / "w.tif")})  # fmt: skip
    arr, _, _, crs, gt = _read_w2w(res["OUTPUT"])
    corners = [_degrees_of(x, y) for x in (x0, x1) for y in (y0, y1)]
    assert crs.to_epsg() == 4326 and gt[0] == pytest.approx(min(c[0] for c in corners), abs=1e-4)
    np.testing.assert_array_equal(arr, _expected_wrf(codes, GT, _read_gdal(path)[3], gt, arr.shape))


def test_processing_refuses_a_domain_beyond_the_map(tmp_path, run_alg):
    from qgis.core import QgsProcessingException

    path, _ = _map(tmp_path)
    with pytest.raises(QgsProcessingException, match="does not cover"):
        run_alg("lcz:exportmap", {"MAP": str(path), "FORMAT": "wrf",
                                  "DOMAIN": "10,12,47,49 [EPSG:4326]",
                                  "OUTPUT": str(tmp_path / "w.tif")})  # fmt: skip
    assert not (tmp_path / "w.tif").exists()
