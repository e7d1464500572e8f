"""analysis.canopy: the Stewart & Oke (2012) table checked cell by cell against the
paper, the parameter raster and the zone means recomputed from the map's codes."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from helpers import renderer_band, write_raster
from matplotlib.path import Path as PolyPath
from osgeo import gdal, ogr, osr

from lcz_qgis.analysis.canopy import canopy_parameters
from lcz_qgis.analysis.canopy_table import DATA_FILE, load_table, parameter_lut, parse_range
from lcz_qgis.analysis.class_groups import PERVIOUS_FRACTION
from lcz_qgis.cli import main
from lcz_qgis.common.errors import LczError

GT = (690000.0, 10.0, 0.0, 5340000.0, 0.0, -10.0)
H, W = 24, 30
CODE = {name: i + 1 for i, name in enumerate(["1", "2", "3", "4", "5", "6", "7", "8", "9",
                                              "10", "A", "B", "C", "D", "E", "F", "G"])}  # fmt: skip

# Stewart & Oke (2012), BAMS 93(12), Table 3 and Table 4, as printed: (LCZ, property, value)
PUBLISHED = [
    ("1", "svf", "0.2-0.4"), ("1", "aspect_ratio", ">2"), ("1", "building_fraction", "40-60"),
    ("1", "impervious_fraction", "40-60"), ("1", "pervious_fraction", "<10"),
    ("1", "height", ">25"), ("1", "terrain_roughness", "8"), ("1", "admittance", "1500-1800"),
    ("1", "albedo", "0.10-0.20"), ("1", "anthropogenic_heat", "50-300"),
    ("2", "svf", "0.3-0.6"), ("2", "aspect_ratio", "0.75-2"), ("2", "height", "10-25"),
    ("2", "admittance", "1500-2200"), ("2", "anthropogenic_heat", "<75"),
    ("3", "building_fraction", "40-70"), ("3", "impervious_fraction", "20-50"),
    ("4", "svf", "0.5-0.7"), ("4", "aspect_ratio", "0.75-1.25"), ("4", "building_fraction", "20-40"),
    ("4", "pervious_fraction", "30-40"), ("4", "height", ">25"), ("4", "terrain_roughness", "7-8"),
    ("5", "svf", "0.5-0.8"), ("5", "admittance", "1400-2000"),
    ("6", "svf", "0.6-0.9"), ("6", "pervious_fraction", "30-60"), ("6", "height", "3-10"),
    ("7", "building_fraction", "60-90"), ("7", "height", "2-4"), ("7", "albedo", "0.15-0.35"),
    ("7", "admittance", "800-1500"),
    ("8", "svf", ">0.7"), ("8", "aspect_ratio", "0.1-0.3"), ("8", "terrain_roughness", "5"),
    ("9", "svf", ">0.8"), ("9", "building_fraction", "10-20"), ("9", "pervious_fraction", "60-80"),
    ("9", "anthropogenic_heat", "<10"),
    ("10", "height", "5-15"), ("10", "admittance", "1000-2500"), ("10", "anthropogenic_heat", ">300"),
    ("A", "svf", "<0.4"), ("A", "aspect_ratio", ">1"), ("A", "height", "3-30"),
    ("A", "admittance", ""), ("A", "anthropogenic_heat", "0"),
    ("B", "svf", "0.5-0.8"), ("B", "height", "3-15"), ("C", "height", "<2"),
    ("C", "admittance", "700-1500"), ("D", "svf", ">0.9"), ("D", "height", "<1"),
    ("D", "terrain_roughness", "3-4"), ("E", "impervious_fraction", ">90"),
    ("E", "pervious_fraction", "<10"), ("E", "admittance", "1200-2500"),
    ("F", "albedo", "0.20-0.35"), ("F", "admittance", "600-1400"), ("F", "height", "<0.25"),
    ("G", "albedo", "0.02-0.10"), ("G", "admittance", "1500"), ("G", "height", ""),
    ("G", "terrain_roughness", "1"), ("G", "pervious_fraction", ">90"),
]  # fmt: skip
# the open sides the test closes itself: (floor, ceiling) per property (None: undefined)
LIMITS = {"svf": (0, 1), "aspect_ratio": (0, None), "building_fraction": (0, 100),
          "impervious_fraction": (0, 100), "pervious_fraction": (0, 100), "height": (0, None),
          "terrain_roughness": (1, 8), "admittance": (0, None), "albedo": (0, 1),
          "anthropogenic_heat": (0, None)}  # fmt: skip


def _props():
    return {p.key: p for p in load_table()[1]}


@pytest.mark.parametrize(("lcz", "key", "text"), PUBLISHED)
def test_the_table_holds_the_published_values(lcz, key, text):
    assert _props()[key].published[CODE[lcz] - 1] == text


def test_the_table_names_its_source_units_and_every_class():
    citation, props = load_table()
    assert "Stewart" in citation and "Oke" in citation and "93(12), 1879-1900" in citation
    assert DATA_FILE.name == "stewart_oke_2012.json"
    assert [p.key for p in props] == list(LIMITS)
    units = {p.key: p.unit for p in props}
    assert units["height"] == "m" and units["building_fraction"] == "%"
    assert units["anthropogenic_heat"] == "W m-2" and units["admittance"] == "J m-2 s-1/2 K-1"
    # the pervious fraction agrees with the one the zonal statistics use
    for code, (low, high) in PERVIOUS_FRACTION.items():
        assert _props()["pervious_fraction"].bounds(code) == (low, high), code


def _expected(text: str, key: str, statistic: str) -> float:
    """The test's own reading of a published value."""
    floor, ceiling = LIMITS[key]
    if text == "":
        return math.nan
    if text.startswith("<"):
        low, high = floor, float(text[1:])
    elif text.startswith(">"):
        low, high = float(text[1:]), ceiling
    elif "-" in text:
        low, high = (float(v) for v in text.split("-"))
    else:
        low = high = float(text)
    low = math.nan if low is None else low
    high = math.nan if high is None else high
    return {"min": low, "max": high, "mean": (low + high) / 2}[statistic]


@pytest.mark.parametrize("statistic", ["min", "max", "mean"])
def test_lookup_follows_the_published_ranges(statistic):
    lut = parameter_lut(statistic)
    assert lut.shape == (18, 10) and np.isnan(lut[0]).all()
    for j, (key, prop) in enumerate(_props().items()):
        for code in range(1, 18):
            want = _expected(prop.published[code - 1], key, statistic)
            np.testing.assert_allclose(lut[code, j], want, rtol=1e-6, err_msg=f"{key} {code}")
    svf, height = 0, 5
    assert lut[1, svf] == pytest.approx({"min": 0.2, "max": 0.4, "mean": 0.3}[statistic])
    assert (lut[1, height] == 25) if statistic == "min" else np.isnan(lut[1, height])


def test_parse_range_refuses_what_the_paper_does_not_print():
    assert parse_range("0.75-2") == (0.75, 2.0) and parse_range("<10", 0, 100) == (0, 10)
    assert parse_range(">90", 0, 100) == (90, 100) and math.isnan(parse_range(">25")[1])
    with pytest.raises(LczError, match="not a published range"):
        parse_range("about 3")


def _map(tmp_path, seed=0):
    """Every class (as 1-10 and 101-107) and nodata -1; returns (path, codes 0-17)."""
    rng = np.random.default_rng(seed)
    raw = rng.choice([*range(1, 11), *range(101, 108), -1], (H, W)).astype(np.float32)
    codes = np.where(raw >= 101, raw - 90, np.where(raw < 0, 0, raw)).astype(int)
    return write_raster(tmp_path / "map.tif", raw, gt=GT, nodata=-1), codes


def _read(path):
    ds = gdal.Open(str(path))
    bands = [ds.GetRasterBand(i + 1) for i in range(ds.RasterCount)]
    arr = np.stack([b.ReadAsArray() for b in bands])
    meta = [(b.GetDescription(), b.GetUnitType(), b.GetNoDataValue()) for b in bands]
    return arr, meta, ds.GetGeoTransform(), gdal.GetDataTypeName(bands[0].DataType)


@pytest.mark.parametrize("statistic", ["mean", "max"])
def test_raster_each_cell_its_class_values_nodata_elsewhere(tmp_path, statistic):
    path, codes = _map(tmp_path)
    out = tmp_path / "params.tif"
    result = canopy_parameters(path, out, statistic)
    arr, meta, gt, dtype = _read(out)
    props = list(_props().values())
    assert dtype == "Float32" and arr.shape == (10, H, W) and gt == GT
    assert [m[0] for m in meta] == [f"{p.name} ({p.unit})" for p in props]
    assert [m[1] for m in meta] == [p.unit for p in props] and math.isnan(meta[0][2])
    assert result["classes"] == list(range(1, 18))
    for j, p in enumerate(props):
        want = np.array([[_expected(p.published[c - 1], p.key, statistic) if c else math.nan
                          for c in row] for row in codes], np.float32)  # fmt: skip
        np.testing.assert_array_equal(arr[j], want, err_msg=p.key)
    assert (tmp_path / "params.qml").read_text().count("singlebandpseudocolor") == 1


@pytest.mark.parametrize("cells", [3, 4])
def test_aggregated_each_coarse_cell_the_mean_of_its_cells(tmp_path, cells):
    """AGGREGATE N (issue 26, "aggregated onto a coarser grid"): a grid of N x N map
    cells on the map's origin, edge cells over what is left, each the mean of its cells'
    values (nodata and classes without a value left out), NaN where none has one."""
    path, codes = _map(tmp_path, seed=4)
    codes[:cells, :cells] = 0  # a coarse cell with no LCZ at all
    raw = gdal.Open(str(path)).ReadAsArray()
    raw[:cells, :cells] = -1
    path = write_raster(tmp_path / "map2.tif", raw, gt=GT, nodata=-1)
    fine, coarse = tmp_path / "fine.tif", tmp_path / "coarse.tif"
    canopy_parameters(path, fine)
    result = canopy_parameters(path, coarse, cells=cells)
    values, _, _, _ = _read(fine)
    arr, meta, gt, _ = _read(coarse)
    rows, cols = -(-H // cells), -(-W // cells)
    assert arr.shape == (10, rows, cols) and len(meta) == 10
    assert gt == (GT[0], GT[1] * cells, 0.0, GT[3], 0.0, GT[5] * cells)
    assert result["classes"] == sorted(set(codes.ravel().tolist()) - {0})
    for j in range(10):
        for r in range(rows):
            for c in range(cols):
                cell = values[j, r * cells : (r + 1) * cells, c * cells : (c + 1) * cells]
                want = np.nanmean(cell) if np.isfinite(cell).any() else np.nan
                np.testing.assert_allclose(arr[j, r, c], want, rtol=1e-6, equal_nan=True)
    assert np.isnan(arr[:, 0, 0]).all()


def test_aggregate_out_of_range_is_refused(tmp_path):
    path, _ = _map(tmp_path)
    for cells in (0, 1001):
        with pytest.raises(LczError, match=rf"(?i)aggregate {cells}: give a whole number"):
            canopy_parameters(path, tmp_path / "p.tif", cells=cells)
    assert not (tmp_path / "p.tif").exists()


# zones in the map's CRS, vertices 3 m off the cell centres
ZONES = {
    "west": [(690003, 5339997), (690123, 5339997), (690123, 5339803), (690003, 5339803)],
    "tri": [(690103, 5339903), (690283, 5339773), (690053, 5339783)],
}


def _write_zones(path, epsg=4326):
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    src.ImportFromEPSG(32632)
    dst.ImportFromEPSG(epsg)
    for s in (src, dst):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(src, dst)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer("districts", dst, ogr.wkbPolygon)
    lyr.CreateField(ogr.FieldDefn("name", ogr.OFTString))
    for name, ring in ZONES.items():
        geom = ogr.CreateGeometryFromWkt(
            "POLYGON((" + ",".join(f"{x} {y}" for x, y in [*ring, ring[0]]) + "))"
        )
        geom.Transform(ct)
        feat = ogr.Feature(lyr.GetLayerDefn())
        feat.SetField("name", name)
        feat.SetGeometry(geom)
        lyr.CreateFeature(feat)
    ds = None
    return path


def test_zones_get_area_weighted_means_of_their_cells(tmp_path):
    path, codes = _map(tmp_path)
    zones = _write_zones(tmp_path / "districts.gpkg")
    out = tmp_path / "zones_params.gpkg"
    canopy_parameters(path, tmp_path / "p.tif", "mean", zones=zones, zones_output=out)
    ds = ogr.Open(str(out))
    lyr = ds.GetLayer(0)
    assert lyr.GetSpatialRef().GetAuthorityCode(None) == "4326"
    got = {f.GetField("name"): f for f in lyr}
    ys, xs = np.mgrid[0:H, 0:W]
    centres = np.c_[(GT[0] + (xs + 0.5) * GT[1]).ravel(), (GT[3] + (ys + 0.5) * GT[5]).ravel()]
    for name, ring in ZONES.items():
        inside = PolyPath(ring).contains_points(centres).reshape(H, W) & (codes > 0)
        feat = got[name]
        assert feat.GetField("lcz_cells") == inside.sum() > 5
        for p in _props().values():
            # equal cells (a UTM map): the mean over the cells that have a value
            vals = np.array([_expected(p.published[c - 1], p.key, "mean") for c in codes[inside]])
            vals = vals[np.isfinite(vals)]
            if len(vals):
                assert feat.GetField(p.key) == pytest.approx(vals.mean(), rel=1e-5), p.key
            else:
                assert not feat.IsFieldSet(p.key) or feat.IsFieldNull(p.key)


def test_bad_requests_are_refused_and_an_existing_output_kept(tmp_path):
    path, _ = _map(tmp_path)
    out = tmp_path / "params.tif"
    out.write_bytes(b"an earlier output")
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    empty = write_raster(tmp_path / "empty.tif", np.zeros((4, 4), np.float32), gt=GT)
    with pytest.raises(LczError, match="holds no LCZ cell"):
        canopy_parameters(empty, out)
    with pytest.raises(LczError, match="give a .tif name"):
        canopy_parameters(path, tmp_path / "p.gpkg")
    with pytest.raises(LczError, match="go together"):
        canopy_parameters(path, out, zones=_write_zones(tmp_path / "z.gpkg"))
    with pytest.raises(LczError, match="give one of min, max, mean"):
        canopy_parameters(path, out, "median")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == before


def test_cli(tmp_path, capsys):
    path, codes = _map(tmp_path)
    out = tmp_path / "p.tif"
    rc = main(["parameters", "--map", str(path), "--output", str(out), "--statistic", "min"])
    assert rc == 0 and capsys.readouterr().out.strip() == f"10 bands (min): {out}"
    arr = _read(out)[0]
    assert arr[5][codes == 1].min() == 25.0  # height of LCZ 1: '>25' -> 25 at least
    rc = main(["parameters", "--map", str(path), "--output", str(tmp_path / "p.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "give a .tif name" in err[0]


def test_processing_run(tmp_path, run_alg):
    path, codes = _map(tmp_path)
    zones = _write_zones(tmp_path / "districts.gpkg", epsg=3857)
    res = run_alg("lcz:canopyparameters", {
        "MAP": str(path), "STATISTIC": "max", "ZONES": str(zones),
        "OUTPUT": str(tmp_path / "p.tif"), "ZONES_OUTPUT": str(tmp_path / "z.gpkg")})  # fmt: skip
    arr = _read(res["OUTPUT"])[0]
    np.testing.assert_array_equal(arr[0][codes == 4], np.float32(0.7))  # SVF of LCZ 4: 0.5-0.7
    assert np.isnan(arr[0][codes == 0]).all()
    assert ogr.Open(res["ZONES_OUTPUT"]).GetLayer(0).GetFeatureCount() == 2


def test_processing_outputs_load_styled_and_named(tmp_path, qgis_app):
    from helpers import run_and_load

    path, _ = _map(tmp_path)
    zones = _write_zones(tmp_path / "districts.gpkg")
    res, layers = run_and_load("lcz:canopyparameters", {
        "MAP": str(path), "OUTPUT": str(tmp_path / "p.tif"), "ZONES": str(zones),
        "ZONES_OUTPUT": str(tmp_path / "z.gpkg")})  # fmt: skip
    assert layers["p.tif"].name() == "LCZ canopy parameters (mean)"
    assert layers["z.gpkg"].name() == "Zones with LCZ canopy parameters"
    renderer = layers["p.tif"].renderer()
    assert renderer.type() == "singlebandpseudocolor" and renderer_band(renderer) == 1
    assert layers["p.tif"].bandCount() == 10


def test_real_map_every_cell_its_class_values(tmp_path):
    from helpers import SHARED

    paris = SHARED / "real" / "lcz_maps" / "paris_wudapt" / "lcz_zonePreanalyse.tif"
    if not paris.exists():
        pytest.skip(f"{paris} is not present")
    ds = gdal.Open(str(paris))
    raw = ds.GetRasterBand(1).ReadAsArray()
    ds = None
    codes = np.where(raw >= 101, raw - 90, np.where((raw < 1) | (raw > 17), 0, raw)).astype(int)
    out = tmp_path / "paris_ucp.tif"
    result = canopy_parameters(paris, out)
    arr = _read(out)[0]
    assert result["classes"] == sorted(set(np.unique(codes).tolist()) - {0})
    for j, p in enumerate(_props().values()):
        table = {c: _expected(p.published[c - 1], p.key, "mean") for c in range(1, 18)}
        want = np.vectorize(lambda c: table.get(c, math.nan))(codes).astype(np.float32)  # noqa: B023
        np.testing.assert_array_equal(arr[j], want, err_msg=p.key)
