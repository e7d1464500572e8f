"""analysis.zonal_stats.count_zones: every zone counted in one pass over the map (issue 26,
"Performance"), checked against cell centres tested one by one with OGR, on zones that
overlap, touch, have holes, lie partly off the map and have several parts."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import write_raster
from osgeo import ogr, osr

from lcz_qgis.analysis import read_map
from lcz_qgis.analysis.read_map import open_lcz_map, read_codes
from lcz_qgis.analysis.zonal import zonal_statistics
from lcz_qgis.analysis.zonal_stats import count_zone, count_zones, open_confidence
from lcz_qgis.analysis.zones import overlap_layers, read_zones
from lcz_qgis.common.errors import Cancelled
from lcz_qgis.common.feedback import Feedback

X0, Y0 = 690000.0, 5340000.0
GT = (X0, 10.0, 0.0, Y0, 0.0, -10.0)
H, W = 50, 60


def _box(x0, y0, x1, y1):
    """A ring (map metres, offsets from the map's corner; y downwards) as WKT text."""
    pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    return "(" + ",".join(f"{X0 + x} {Y0 - y}" for x, y in pts) + ")"


# vertices 3 or 7 m off the cell edges: no cell centre lies on a border
ZONES = {
    "a": f"POLYGON({_box(13, 13, 203, 153)})",
    "overlaps_a": f"POLYGON({_box(103, 103, 303, 253)})",
    "touches_a": f"POLYGON({_box(203, 13, 353, 153)})",  # shares a's east edge
    "inside_a": f"POLYGON({_box(53, 33, 97, 87)})",
    "holed": f"POLYGON({_box(363, 13, 563, 213)},{_box(413, 63, 497, 147)})",
    "off_map": f"POLYGON({_box(-97, 303, 127, 607)})",  # beyond the west and south edges
    "parts": f"MULTIPOLYGON(({_box(153, 303, 233, 383)}),({_box(403, 263, 587, 477)}))",
    "away": f"POLYGON({_box(5003, 5003, 5103, 5103)})",
    "triangle": f"POLYGON(({X0 + 317} {Y0 - 233},{X0 + 517} {Y0 - 297},{X0 + 357} {Y0 - 453},"
    f"{X0 + 317} {Y0 - 233}))",
}


def _map(tmp_path, seed=0):
    """A uint8 map: codes 1-17, 101-107 and nodata 255; returns (path, codes 0-17)."""
    rng = np.random.default_rng(seed)
    raw = rng.choice([*range(1, 18), 101, 103, 107, 255], (H, W)).astype(np.uint8)
    codes = np.where(raw >= 101, raw - 90, raw).astype(np.int64)
    codes[raw == 255] = 0
    return write_raster(tmp_path / "map.tif", raw, gt=GT, nodata=255, gtype="uint8"), codes


def _write_zones(path, zones: dict):
    """A GeoPackage (EPSG:32632) of the WKT geometries, with a name field."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer("zones", srs, ogr.wkbUnknown)
    lyr.CreateField(ogr.FieldDefn("name", ogr.OFTString))
    for name, wkt in zones.items():
        feat = ogr.Feature(lyr.GetLayerDefn())
        feat.SetField("name", name)
        feat.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        lyr.CreateFeature(feat)
    ds = None
    return path


def _inside(wkt: str) -> np.ndarray:
    """(H, W) bool: the cells whose centre OGR finds inside the geometry, one by one."""
    geom = ogr.CreateGeometryFromWkt(wkt)
    out = np.zeros((H, W), bool)
    for r in range(H):
        for c in range(W):
            pt = ogr.CreateGeometryFromWkt(f"POINT({X0 + 10 * c + 5} {Y0 - 10 * r - 5})")
            out[r, c] = geom.Contains(pt)
    return out


@pytest.mark.parametrize("rows", [None, 1, 7])
def test_one_pass_counts_cell_centres_in_every_zone(tmp_path, rows):
    path, codes = _map(tmp_path)
    conf = np.random.default_rng(1).random((H, W))
    conf[3, :] = -1.0  # the confidence's nodata
    conf[5, 7] = np.nan
    conf_path = write_raster(tmp_path / "conf.tif", conf.astype(np.float32), gt=GT, nodata=-1)
    conf32 = conf.astype(np.float32).astype(np.float64)
    zones_path = _write_zones(tmp_path / "z.gpkg", ZONES)
    with open_lcz_map(path) as m:
        layer = read_zones(zones_path, m.info.crs_wkt)
        ds = open_confidence(conf_path, m)
        with ds:
            got = count_zones(layer.zones, m, ds, rows=rows)
            old = [count_zone(z, m, ds) for z in layer.zones]
    for zone, counts, before in zip(layer.zones, got, old):
        inside = _inside(ZONES[zone.attributes["name"]])
        want = np.bincount(codes[inside], minlength=18)
        assert counts.cells.tolist() == want.tolist(), zone.attributes["name"]
        assert counts.area_m2.tolist() == (want * 100.0).tolist()
        assert counts.cells.tolist() == before.cells.tolist()
        ok = inside & (codes > 0) & np.isfinite(conf32) & (conf32 != -1)
        assert counts.confidence_cells == ok.sum() == before.confidence_cells
        assert counts.confidence_sum == pytest.approx(conf32[ok].sum(), rel=1e-12)
    by_name = {z.attributes["name"]: c for z, c in zip(layer.zones, got)}
    assert by_name["away"].cells.sum() == 0
    assert by_name["a"].cells.sum() == 19 * 14  # the overlapped cells count in both zones
    assert by_name["inside_a"].cells.sum() > 0 and by_name["overlaps_a"].cells.sum() > 0


def test_zones_are_grouped_by_overlap(tmp_path):
    path, _ = _map(tmp_path)
    with open_lcz_map(path) as m:
        layer = read_zones(_write_zones(tmp_path / "z.gpkg", ZONES), m.info.crs_wkt)
    names = [z.attributes["name"] for z in layer.zones]
    groups = [{names[k] for k in g} for g in overlap_layers(layer.zones)]
    assert sorted(set().union(*groups)) == sorted(names)
    for g in groups:
        assert not {"a", "overlaps_a"} <= g and not {"a", "inside_a"} <= g
    assert any({"a", "touches_a"} <= g for g in groups)  # touching zones share a group
    grid = {f"g{i}{j}": f"POLYGON({_box(3 + 50 * i, 3 + 50 * j, 53 + 50 * i, 53 + 50 * j)})"
            for i in range(4) for j in range(3)}  # fmt: skip
    with open_lcz_map(path) as m:
        zones = read_zones(_write_zones(tmp_path / "grid.gpkg", grid), m.info.crs_wkt).zones
    assert [len(g) for g in overlap_layers(zones)] == [12]  # a partition: one group


def test_a_map_in_degrees_counts_the_same_cells_and_areas(tmp_path):
    gt = (8.5, 0.001, 0.0, 47.4, 0.0, -0.001)
    raw = np.random.default_rng(2).integers(0, 18, (H, W)).astype(np.uint8)
    path = write_raster(tmp_path / "deg.tif", raw, gt=gt, epsg=4326, nodata=0, gtype="uint8")
    zones = {"a": "POLYGON((8.5103 47.3997,8.5403 47.3997,8.5403 47.3803,8.5103 47.3803,"
                  "8.5103 47.3997))",
             "b": "POLYGON((8.5303 47.3937,8.5703 47.3937,8.5703 47.3603,8.5303 47.3603,"
                  "8.5303 47.3937))"}  # fmt: skip
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp_path / "z.gpkg"))
    lyr = ds.CreateLayer("z", srs, ogr.wkbPolygon)
    for wkt in zones.values():
        f = ogr.Feature(lyr.GetLayerDefn())
        g = ogr.CreateGeometryFromWkt(wkt)
        f.SetGeometry(g)
        lyr.CreateFeature(f)
    ds = None
    with open_lcz_map(path) as m:
        layer = read_zones(tmp_path / "z.gpkg", m.info.crs_wkt)
        got = count_zones(layer.zones, m, rows=3)
        old = [count_zone(z, m) for z in layer.zones]
    for new, before in zip(got, old):
        assert new.cells.tolist() == before.cells.tolist() and new.cells.sum() > 0
        assert new.area_m2 == pytest.approx(before.area_m2, rel=1e-12)
        assert len(set(np.round(new.area_m2[new.cells > 0] / new.cells[new.cells > 0]))) > 1


def test_more_zones_than_16_bit_keys_hold_count_each_cell(tmp_path):
    # one strip, one group of 3,800 zones: keys up to 3801 x 18 > 65535.
    # 3,000 zones of one cell each, and 800 small squares between cell centres
    path, codes = _map(tmp_path)
    cells = [(r, c) for r in range(H) for c in range(W)]
    grid = {f"c{r}_{c}": f"POLYGON({_box(10 * c + 1, 10 * r + 1, 10 * c + 9, 10 * r + 9)})"
            for r, c in cells}  # fmt: skip
    grid |= {f"x{r}_{c}": f"POLYGON({_box(10 * c + 9.2, 10 * r + 9.2, 10 * c + 9.8, 10 * r + 9.8)})"
             for r, c in cells[:800]}  # fmt: skip
    with open_lcz_map(path) as m:
        zones = read_zones(_write_zones(tmp_path / "cells.gpkg", grid), m.info.crs_wkt).zones
        assert [len(g) for g in overlap_layers(zones)] == [3800]
        got = count_zones(zones, m, rows=64)
    for (r, c), counts in zip(cells, got):
        assert counts.cells.tolist() == np.bincount([codes[r, c]], minlength=18).tolist()
    assert all(counts.cells.sum() == 0 for counts in got[len(cells) :])


class _CancelAfter(Feedback):
    def __init__(self, n):
        self.n = n

    def progress(self, percent):
        self.n -= 1

    def is_cancelled(self):
        return self.n <= 0


def test_a_cancelled_pass_stops_and_keeps_the_old_output(tmp_path, monkeypatch):
    monkeypatch.setattr(read_map, "STRIP_CELLS", W * 2)  # zonal strips (4 x): 8 rows
    assert read_map.pass_rows(W, 4 * read_map.STRIP_CELLS) == 8
    path, _ = _map(tmp_path)
    zones = _write_zones(tmp_path / "z.gpkg", ZONES)
    out = tmp_path / "out.gpkg"
    out.write_bytes(b"before")
    with pytest.raises(Cancelled):
        zonal_statistics(path, zones, out, feedback=_CancelAfter(2))  # after 2 of 7 strips
    assert out.read_bytes() == b"before"
    assert not list(tmp_path.glob("*partial*"))


@pytest.mark.parametrize("dtype, nodata", [("uint8", 255), ("int8", -1), ("uint16", 0),
                                           ("int16", -999), ("int16", None)])  # fmt: skip
def test_integer_maps_read_as_the_float_rule_reads_them(tmp_path, dtype, nodata):
    info = np.iinfo(dtype)
    values = np.arange(info.min, info.max + 1, dtype=np.int64)
    values = np.resize(values, (values.size // 256 + 1) * 256).reshape(-1, 256)
    as_int = write_raster(
        tmp_path / "i.tif", values.astype(dtype), gt=GT, nodata=nodata, gtype=dtype
    )
    as_float = write_raster(
        tmp_path / "f.tif", values.astype(np.float64), gt=GT, nodata=nodata, gtype="float64"
    )
    with open_lcz_map(as_int) as a, open_lcz_map(as_float) as b:
        assert a.ds.dtypes[0] == dtype and b.ds.dtypes[0] == "float64"
        fast = read_codes(a, 0, 0, 256, values.shape[0])
        slow = read_codes(b, 0, 0, 256, values.shape[0])
    assert fast.dtype == slow.dtype == np.uint8
    assert fast.tolist() == slow.tolist()
    assert sorted(np.unique(fast).tolist()) == list(range(18))
