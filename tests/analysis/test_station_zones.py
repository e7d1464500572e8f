"""analysis.station_zones: the LCZ under each station and its window's majority,
recomputed from the map's codes; stations in any CRS, off the map kept."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from helpers import write_raster
from osgeo import ogr, osr

from lcz_qgis.analysis.station_zones import station_zones
from lcz_qgis.cli import main
from lcz_qgis.common.errors import LczError
from lcz_qgis.common.legend import lcz_class

GT = (690000.0, 10.0, 0.0, 5340000.0, 0.0, -10.0)
H, W = 30, 40


def _codes():
    """A map built so the windows' answers are known: blocks, a 20/25 window, a 19/25 one."""
    codes = np.full((H, W), 14, np.int64)  # D everywhere
    codes[0:10, 0:10] = 2
    codes[10:15, 20:25] = 6  # a 5 x 5 block of 6 ...
    codes[10, 20:25] = 9  # ... whose top row is 9: 20 of 25 cells are 6
    codes[20:25, 20:25] = 5
    codes[20, 20:25] = 9
    codes[21, 20] = 9  # 19 of 25 are 5
    codes[28:30, 0:3] = 0  # nodata corner
    return codes


def _map(tmp_path):
    codes = _codes()
    raw = np.where(codes >= 11, codes + 90, np.where(codes == 0, 255, codes)).astype(np.uint8)
    return write_raster(tmp_path / "map.tif", raw, gt=GT, nodata=255, gtype="uint8"), codes


# (name, row, col) of the cell each station stands in; None: off the map
STATIONS = [("block2", 4, 4), ("edge", 0, 0), ("eighty", 12, 22), ("seventysix", 22, 22),
            ("nodata", 29, 0), ("plants", 15, 35), ("away", None, None)]  # fmt: skip


def _xy(row, col):
    """The UTM position of a station 3 m off its cell's centre (far away when None)."""
    if row is None:
        return 600000.0, 5000000.0
    return GT[0] + (col + 0.5) * GT[1] + 3, GT[3] + (row + 0.5) * GT[5] - 2


def _transform(epsg):
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    src.ImportFromEPSG(32632)
    dst.ImportFromEPSG(epsg)
    for s in (src, dst):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return osr.CoordinateTransformation(src, dst)


def _csv(path, epsg=4326, names=("lon", "lat")):
    ct = _transform(epsg)
    lines = [f"station,{names[0]},{names[1]},height"]
    for name, r, c in STATIONS:
        x, y = ct.TransformPoint(*_xy(r, c))[:2]
        lines.append(f"{name},{x!r},{y!r},2")
    path.write_text("\n".join(lines) + "\n")
    return path


def _expected(codes, row, col, window=5):
    """(cell code, majority, share, LCZ cells) by the test's own counting."""
    h = window // 2
    win = codes[max(row - h, 0) : row + h + 1, max(col - h, 0) : col + h + 1].ravel()
    valid = win[win > 0]
    counts = {c: int((valid == c).sum()) for c in set(valid.tolist())}
    best = max(counts.values())
    majority = min(c for c, n in counts.items() if n == best)
    return int(codes[row, col]), majority, best / len(valid), len(valid)


def _features(path):
    """(the layer's CRS authority code, {station: its fields and geometry as a dict})."""
    ds = ogr.Open(str(path))
    lyr = ds.GetLayer(0)
    epsg = lyr.GetSpatialRef().GetAuthorityCode(None)
    rows = {}
    for f in lyr:
        row = {lyr.GetLayerDefn().GetFieldDefn(i).GetName(): f.GetField(i)
               for i in range(f.GetFieldCount())}  # fmt: skip
        geom = f.GetGeometryRef()
        row["_xy"] = (geom.GetX(), geom.GetY()) if geom is not None else None
        rows[row["station"]] = row
    ds = None
    return epsg, rows


def test_each_station_its_cell_and_window_majority(tmp_path):
    path, codes = _map(tmp_path)
    out = tmp_path / "stations_lcz.gpkg"
    result = station_zones(path, _csv(tmp_path / "stations.csv"), out)
    epsg, got = _features(out)
    assert epsg == "4326"
    assert result["stations"] == 7 and result["on_map"] == 6
    for name, r, c in STATIONS:
        f = got[name]
        assert f.get("height") == "2"  # the station's own fields are kept
        if r is None:
            assert f.get("on_map") == 0 and f["lcz"] is None and f["_xy"]
            continue
        code, majority, share, cells = _expected(codes, r, c)
        assert f.get("on_map") == 1
        assert (f.get("lcz") or 0) == code, name
        assert f.get("majority") == majority and f.get("window_lcz_cells") == cells
        assert f.get("majority_share") == pytest.approx(share)
        assert f.get("homogeneous") == int(share >= 0.8)
        assert f.get("majority_name") == lcz_class(majority).name
    # the designed cases
    assert got["eighty"].get("majority_share") == pytest.approx(0.8)
    assert got["eighty"].get("homogeneous") == 1
    assert got["seventysix"].get("majority_share") == pytest.approx(0.76)
    assert got["seventysix"].get("homogeneous") == 0
    assert got["edge"].get("window_lcz_cells") == 9  # clipped at the corner
    assert got["nodata"]["lcz"] is None and got["nodata"].get("majority") == 14


def test_layer_in_another_crs_and_a_wider_window(tmp_path):
    path, codes = _map(tmp_path)
    src = tmp_path / "stations.gpkg"
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(src))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(3857)
    lyr = ds.CreateLayer("st", srs, ogr.wkbPoint)
    lyr.CreateField(ogr.FieldDefn("station", ogr.OFTString))
    ct = _transform(3857)
    for name, r, c in STATIONS:
        feat = ogr.Feature(lyr.GetLayerDefn())
        feat.SetField("station", name)
        x, y = ct.TransformPoint(*_xy(r, c))[:2]
        feat.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({x!r} {y!r})"))
        lyr.CreateFeature(feat)
    ds = None
    out = tmp_path / "out.gpkg"
    station_zones(path, src, out, window=7)
    epsg, got = _features(out)
    assert epsg == "3857"
    for name, r, c in STATIONS[:-1]:
        code, majority, share, cells = _expected(codes, r, c, window=7)
        assert got[name].get("majority") == majority, name
        assert got[name].get("majority_share") == pytest.approx(share)


def test_utm_csv_with_named_columns(tmp_path):
    path, codes = _map(tmp_path)
    src = _csv(tmp_path / "st.csv", epsg=32632, names=("east", "north"))
    out = tmp_path / "out.gpkg"
    station_zones(path, src, out, x_field="EAST", y_field="north", crs="EPSG:32632", window=1)
    _, got = _features(out)
    assert got["eighty"].get("lcz") == 6 and got["eighty"].get("majority_share") == 1


def test_bad_requests_are_refused_and_an_existing_output_kept(tmp_path):
    path, _ = _map(tmp_path)
    out = tmp_path / "out.gpkg"
    out.write_bytes(b"earlier")
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    good = _csv(tmp_path / "st.csv")
    with pytest.raises(LczError, match="odd number"):
        station_zones(path, good, out, window=4)
    with pytest.raises(LczError, match="no coordinate column"):
        station_zones(path, _csv(tmp_path / "b.csv", names=("e", "n")), out)
    bad = tmp_path / "bad.csv"
    bad.write_text("station,lon,lat\nA,eleven,48\n")
    with pytest.raises(LczError, match="line 2: lon 'eleven' is not a number"):
        station_zones(path, bad, out)
    with pytest.raises(LczError, match="not a coordinate reference system"):
        station_zones(path, good, out, crs="EPSG:999999")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == before


def test_cli(tmp_path, capsys):
    path, _ = _map(tmp_path)
    out = tmp_path / "s.gpkg"
    rc = main(["stations", "--map", str(path), "--stations", str(_csv(tmp_path / "st.csv")),
               "--output", str(out)])  # fmt: skip
    captured = capsys.readouterr()
    assert rc == 0 and captured.out.strip().startswith("7 stations (6 on the map, ")
    assert "1 of 7 stations are off the map" in captured.err
    rc = main(["stations", "--map", str(path), "--stations", str(tmp_path / "st.csv"),
               "--window", "4", "--output", str(out)])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "odd number" in err[0]


def test_processing_run(tmp_path, run_alg):
    path, codes = _map(tmp_path)
    res = run_alg("lcz:stationzones", {"MAP": str(path),
                                       "STATIONS": str(_csv(tmp_path / "st.csv")),
                                       "OUTPUT": str(tmp_path / "s.gpkg")})  # fmt: skip
    assert res["STATIONS_COUNT"] == 7 and res["ON_MAP"] == 6
    _, got = _features(res["OUTPUT"])
    assert got["block2"].get("lcz") == 2 and got["block2"].get("homogeneous") == 1
