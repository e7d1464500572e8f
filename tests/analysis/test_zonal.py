"""analysis.zonal: LCZ statistics per zone, every number recomputed from cell counts."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from helpers import epsg_wkt, write_raster
from matplotlib.path import Path as PolyPath
from osgeo import ogr, osr

from lcz_qgis.analysis.zonal import zonal_statistics
from lcz_qgis.common.errors import LczError
from lcz_qgis.common.legend import LCZ_CLASSES

GT = (690000.0, 10.0, 0.0, 5340000.0, 0.0, -10.0)
H, W = 30, 40
IMPERVIOUS = {1, 2, 3, 4, 5, 7, 8, 10, 15}  # pervious fraction <= 50 %, Stewart & Oke Table 3
# zones in the map's CRS (EPSG:32632); vertices 3 m off the cell centres
ZONES_UTM = {
    "north": [(690003, 5340000 - 3), (690253, 5340000 - 3), (690253, 5339853), (690003, 5339853)],
    "tri": [(690103, 5339903), (690393, 5339703), (690053, 5339733)],
    "edge": [(690303, 5339843), (690503, 5339843), (690503, 5339600), (690303, 5339600)],
    "away": [(700000, 5300000), (700100, 5300000), (700100, 5299900), (700000, 5299900)],
}


def _map(tmp_path, seed=0):
    """A float map with codes 1-10, 101-107 and nodata -1; returns (path, codes 0-17)."""
    rng = np.random.default_rng(seed)
    raw = rng.choice([1, 2, 3, 4, 5, 6, 8, 9, 10, 101, 102, 104, 105, 107, -1], (H, W))
    codes = np.where(raw >= 101, raw - 90, np.where(raw < 0, 0, raw))
    return write_raster(tmp_path / "map.tif", raw.astype(np.float32), gt=GT, nodata=-1), codes


def _write_zones(path, zones: dict, epsg=4326):
    """A GeoPackage of the polygons (given in EPSG:32632) in ``epsg``, with a name field."""
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    src.ImportFromEPSG(32632)
    dst.ImportFromEPSG(epsg)
    for s in (src, dst):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(src, dst)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer("districts", dst, ogr.wkbPolygon)
    lyr.CreateField(ogr.FieldDefn("name", ogr.OFTString))
    for name, ring in zones.items():
        wkt = "POLYGON((" + ",".join(f"{x} {y}" for x, y in [*ring, ring[0]]) + "))"
        geom = ogr.CreateGeometryFromWkt(wkt)
        geom.Transform(ct)
        feat = ogr.Feature(lyr.GetLayerDefn())
        feat.SetField("name", name)
        feat.SetGeometry(geom)
        lyr.CreateFeature(feat)
    ds = None
    return path


def _expected_counts(codes, ring):
    """Cells per code 0-17 whose centre lies inside ``ring`` (map CRS), by matplotlib."""
    rows, cols = np.mgrid[0:H, 0:W]
    x = GT[0] + (cols + 0.5) * GT[1]
    y = GT[3] + (rows + 0.5) * GT[5]
    inside = PolyPath(ring).contains_points(np.c_[x.ravel(), y.ravel()]).reshape(H, W)
    return np.bincount(codes[inside], minlength=18)


def _read_layer(path):
    ds = ogr.Open(str(path))
    lyr = ds.GetLayer(0)
    feats = {f.GetField("name"): f.items() for f in lyr}
    return feats, lyr.GetSpatialRef().GetAuthorityCode(None)


def test_every_statistic_matches_the_cell_counts(tmp_path):
    path, codes = _map(tmp_path)
    conf = np.random.default_rng(1).random((H, W)).astype(np.float32)
    conf_path = write_raster(tmp_path / "conf.tif", conf, gt=GT)
    zones = _write_zones(tmp_path / "zones.gpkg", ZONES_UTM)
    out = tmp_path / "zones_lcz.gpkg"
    zonal_statistics(path, zones, out, table=tmp_path / "t.csv", confidence=conf_path)
    feats, epsg = _read_layer(out)
    assert epsg == "4326"  # the zones' own CRS
    rows, cols = np.mgrid[0:H, 0:W]
    for name, ring in ZONES_UTM.items():
        n = _expected_counts(codes, ring)
        got, valid = feats[name], n[1:].sum()
        assert (got["cells"], got["nodata_cells"]) == (valid, n[0]), name
        assert got["lcz_area_m2"] == pytest.approx(valid * 100.0)
        if valid == 0:
            assert got["majority"] is None and got["built_share"] is None
            continue
        for c in LCZ_CLASSES:
            assert got[f"area_{c.letter}"] == pytest.approx(n[c.code] * 100.0)
            assert got[f"share_{c.letter}"] == pytest.approx(n[c.code] / valid)
        major = int(np.argmax(n[1:])) + 1
        assert (got["majority"], got["majority_share"]) == (major, pytest.approx(n[major] / valid))
        assert got["majority_lcz"] == LCZ_CLASSES[major - 1].letter
        assert got["built_share"] == pytest.approx(n[1:11].sum() / valid)
        assert got["impervious_share"] == pytest.approx(n[sorted(IMPERVIOUS)].sum() / valid)
        x, y = GT[0] + (cols + 0.5) * 10, GT[3] - (rows + 0.5) * 10
        inside = PolyPath(ring).contains_points(np.c_[x.ravel(), y.ravel()]).reshape(H, W)
        mean = conf[inside & (codes > 0)].mean()
        assert got["mean_confidence"] == pytest.approx(mean, rel=1e-6)
    assert feats["edge"]["cells"] + feats["edge"]["nodata_cells"] < 20 * 24  # clipped
    with open(tmp_path / "t.csv", newline="") as f:
        table = {r["name"]: r for r in csv.DictReader(f)}
    assert table["north"]["majority"] == str(feats["north"]["majority"])
    assert float(table["tri"]["share_A"]) == pytest.approx(feats["tri"]["share_A"])
    assert table["away"]["majority"] == ""
    assert 'attr="majority"' in (tmp_path / "zones_lcz.qml").read_text()


def test_strips_of_any_height_give_the_same_counts(tmp_path):
    from lcz_qgis.analysis.read_map import open_lcz_map
    from lcz_qgis.analysis.zonal_stats import count_zone
    from lcz_qgis.analysis.zones import read_zones

    path, _ = _map(tmp_path)
    zones = _write_zones(tmp_path / "z.gpkg", ZONES_UTM, epsg=32632)
    with open_lcz_map(path) as m:
        layer = read_zones(zones, m.info.crs_wkt)
        for zone in layer.zones:
            whole = count_zone(zone, m, rows=1000).cells
            assert count_zone(zone, m, rows=3).cells.tolist() == whole.tolist()


def test_a_map_in_degrees_gets_ground_areas(tmp_path):
    geod = pytest.importorskip("pyproj").Geod(ellps="WGS84")
    gt = (-0.9, 0.001, 0.0, 41.7, 0.0, -0.001)
    raw = np.full((50, 60), 14, np.int32)
    path = write_raster(tmp_path / "g.tif", raw, gt=gt, epsg=4326, gtype="int32")
    zones = tmp_path / "z.gpkg"
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(zones))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    lyr = ds.CreateLayer("z", srs, ogr.wkbPolygon)
    feat = ogr.Feature(lyr.GetLayerDefn())
    feat.SetGeometry(ogr.CreateGeometryFromWkt("POLYGON((-1 42,0 42,0 41,-1 41,-1 42))"))
    lyr.CreateFeature(feat)
    ds = None
    zonal_statistics(path, zones, tmp_path / "o.gpkg")
    out = ogr.Open(str(tmp_path / "o.gpkg"))  # kept open while its layer is read
    got = next(iter(out.GetLayer(0))).items()
    lons, lats = [-0.9, -0.84, -0.84, -0.9], [41.7, 41.7, 41.65, 41.65]
    area = abs(geod.polygon_area_perimeter(lons, lats)[0])  # the whole map, on the ellipsoid
    assert got["cells"] == 3000 and got["share_D"] == 1.0
    assert got["lcz_area_m2"] == pytest.approx(area, rel=3e-3)


def test_bad_zones_leave_an_earlier_output_as_it_was(tmp_path):
    path, _ = _map(tmp_path)
    out = tmp_path / "o.gpkg"
    out.write_bytes(b"earlier")
    points = tmp_path / "p.gpkg"
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(points))
    lyr = ds.CreateLayer("p", osr.SpatialReference(epsg_wkt(32632)), ogr.wkbPoint)
    feat = ogr.Feature(lyr.GetLayerDefn())
    feat.SetGeometry(ogr.CreateGeometryFromWkt("POINT(690100 5339900)"))
    lyr.CreateFeature(feat)
    ds = None
    with pytest.raises(LczError, match="zone 1 is a point: the zones must be polygons"):
        zonal_statistics(path, points, out)
    with pytest.raises(LczError, match="GeoPackage; give a .gpkg"):
        zonal_statistics(path, points, tmp_path / "o.shp")
    with pytest.raises(LczError, match="not on the LCZ map's grid"):
        other = write_raster(tmp_path / "c.tif", np.ones((5, 5)), gt=GT)
        zonal_statistics(path, _write_zones(tmp_path / "z.gpkg", ZONES_UTM), out, confidence=other)
    assert out.read_bytes() == b"earlier"
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


def test_zones_tiling_the_real_paris_map_share_its_cells_without_overlap(tmp_path):
    from test_read_map import _real

    path = _real("paris_wudapt/lcz_zonePreanalyse.tif")
    zones = tmp_path / "grid.gpkg"
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(zones))
    lyr = ds.CreateLayer("grid", osr.SpatialReference(epsg_wkt(4326)), ogr.wkbPolygon)
    lyr.CreateField(ogr.FieldDefn("name", ogr.OFTString))
    xs, ys = (2.0, 2.33, 2.7), (48.6, 48.86, 49.1)  # lon/lat, split inside the map
    for i in range(2):
        for j in range(2):
            a, b, c, d = xs[i], ys[j], xs[i + 1], ys[j + 1]
            feat = ogr.Feature(lyr.GetLayerDefn())
            feat.SetField("name", f"{i}{j}")
            feat.SetGeometry(
                ogr.CreateGeometryFromWkt(f"POLYGON(({a} {b},{c} {b},{c} {d},{a} {d},{a} {b}))")
            )
            lyr.CreateFeature(feat)
    ds = None
    rows = zonal_statistics(path, zones, tmp_path / "o.gpkg")["rows"]
    assert all(r["cells"] > 0 for r in rows)
    assert sum(r["cells"] + r["nodata_cells"] for r in rows) == 121 * 166
    assert sum(r["lcz_area_m2"] for r in rows) == pytest.approx(121 * 166 * 100 * 100)
