"""Training areas -> quality checks -> So2Sat patches, on the sample city.

The areas (tests/helpers.py SCENE_AREAS) are rectangles in UTM written in EPSG:4326, one
multi-part and one 3-D, plus deliberately bad ones. Every expectation is computed here
independently: the 100 m grid points by a brute-force point-in-rectangle over the whole
raster, the huge area's 300 m buffer as a distance test, nodata from the rasters' pixels.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import rasterio
from helpers import SCENE_AREAS, expected_area_points, write_areas_file, write_wudapt_kml
from osgeo import ogr

from lcz_qgis.cli import main
from lcz_qgis.common.errors import Cancelled, LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.sample_data import S2_NODATA, write_scene
from lcz_qgis.training_areas import (
    read_training_areas,
    training_area_patches,
)

X0, Y0, SIZE = 690000.0, 5340000.0, 512  # the sample city's grid: 10 m, EPSG:32632
BAD = {  # the deliberately bad areas and the checks that must name them
    "nodata": {"nodata"},
    "open_outside": {"outside"},
    "open_a": {"overlap"},
    "midrise_overlap": {"overlap"},
    "compact_tiny": {"tiny", "few"},  # LCZ 2: 2 of its 3 polygons give patches
    "compact_b": {"few"},
    "compact_c": {"few"},
    "rock_edge": {"edge"},
    "industry_a": {"few"},
    "industry_b": {"few"},
    "water_huge": {"huge"},
}


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    d = tmp_path_factory.mktemp("areas")
    write_scene(d, 42)
    names = write_areas_file(d / "areas.gpkg")
    with rasterio.open(d / "scene_s2.tif") as s2, rasterio.open(d / "scene_s1.tif") as s1:
        pixels = {"s2": np.moveaxis(s2.read(), 0, -1), "s1": np.moveaxis(s1.read(), 0, -1)}
    return {"dir": d, "names": names, **pixels}


@pytest.fixture(scope="module")
def run(scene):
    d = scene["dir"]
    fb = RecordingFeedback()
    r = training_area_patches(d / "areas.gpkg", d / "scene_s2.tif", d / "patches.h5",
                              sentinel1=d / "scene_s1.tif", suspicious=d / "suspicious.gpkg",
                              feedback=fb)  # fmt: skip
    return r, fb


def expected_points(scene) -> dict:
    """(x, y) -> (code, area name) of every window the run must write, from scratch."""
    return expected_area_points([scene["s2"], scene["s1"]], S2_NODATA, SCENE_AREAS, X0, Y0, SIZE)


def test_patch_centres_labels_and_polygons_are_the_areas_grid_points(scene, run):
    r, _ = run
    d = scene["dir"]
    want = expected_points(scene)
    with h5py.File(d / "patches.h5") as f, h5py.File(d / "patches_geo.h5") as g:
        assert f["sen2"].shape == (len(want), 32, 32, 10) and f["sen2"].dtype == np.float64
        assert f["sen1"].shape == (len(want), 32, 32, 8) and f["label"].dtype == np.float64
        label, polygon = f["label"][:], f["polygon"][:]
        coord, tfw, epsg = g["coord"][:], g["tfw"][:], g["epsg"][:]
    assert r.n_patches == len(want) > 200
    assert (label.sum(1) == 1).all()
    got = {}
    for k in range(len(label)):
        name = scene["names"][polygon[k] - 1]  # ids are the features' reading order, from 1
        got[(coord[k, 0], coord[k, 1])] = (int(label[k].argmax()) + 1, name)
    assert got == want
    assert (epsg == 32632).all()
    np.testing.assert_array_equal(tfw[:, 0], coord[:, 0] - 160)  # 2025 layout
    np.testing.assert_array_equal(tfw[:, 3], coord[:, 1] + 160)
    assert (tfw[:, 1] == 10).all() and (tfw[:, 5] == 10).all()
    # the huge water area gave the 300 m buffer's 29 points (pi * 9 = 28.3), the multi-part one both parts
    names = [n for _, n in got.values()]
    assert names.count("water_huge") == 29
    multi = [xy for xy, (_, n) in got.items() if n == "plants_multi"]
    assert min(x for x, _ in multi) < 691700 < max(x for x, _ in multi)
    assert names.count("forest_3d") == 12


def test_patch_pixels_are_the_rasters_windows(scene, run):
    d = scene["dir"]
    with h5py.File(d / "patches.h5") as f, h5py.File(d / "patches_geo.h5") as g:
        tfw = g["tfw"][:]
        for k in range(0, f["sen2"].shape[0], 7):
            c0, r0 = int((tfw[k, 0] - X0) / 10), int((Y0 - tfw[k, 3]) / 10)
            np.testing.assert_array_equal(f["sen2"][k], scene["s2"][r0 : r0 + 32, c0 : c0 + 32])
            np.testing.assert_array_equal(f["sen1"][k], scene["s1"][r0 : r0 + 32, c0 : c0 + 32])


def test_load_patches_with_the_geo_file_puts_each_patch_at_its_grid_point(scene, run, tmp_path):
    """lcz patches on the generated file: each patch's GeoTIFF is centred on the grid
    point it was cut at, in the raster's CRS, and holds that place's pixels."""
    from lcz_qgis.patches.load import load_patches

    d = scene["dir"]
    want = expected_points(scene)
    with h5py.File(d / "patches.h5") as f:
        n = f["label"].shape[0]
        codes, polygon = f["label"][:].argmax(1) + 1, f["polygon"][:]
    picked = list(range(0, n, 23)) + [n - 1]
    res = load_patches(d / "patches.h5", tmp_path / "p", geo=d / "patches_geo.h5",
                       indices=picked, per_patch_files=True)  # fmt: skip
    assert res.layout == "geo" and res.crs == [32632] and res.n_placed == len(picked)
    assert sorted(res.indices.tolist()) == picked
    centres = set()
    for k in picked:
        with rasterio.open(tmp_path / "p" / f"patches_sen2_{k:06d}.tif") as t:
            assert t.crs.to_epsg() == 32632 and t.res == (10.0, 10.0) and t.shape == (32, 32)
            x, y = t.xy(16, 16, offset="ul")  # the window centre: cell 16, 16 from its corner
            pixels = np.moveaxis(t.read(), 0, -1)
        assert want[(x, y)] == (codes[k], scene["names"][polygon[k] - 1])
        c0, r0 = int((x - X0) / 10) - 16, int((Y0 - y) / 10) - 16
        np.testing.assert_array_equal(pixels, scene["s2"][r0 : r0 + 32, c0 : c0 + 32])
        centres.add((x, y))
    assert len(centres) == len(picked)


def test_each_quality_check_warns_and_lists_the_bad_areas(scene, run):
    r, fb = run
    ids = {name: i + 1 for i, name in enumerate(scene["names"])}
    ds = ogr.Open(str(scene["dir"] / "suspicious.gpkg"))
    layer = ds.GetLayer(0)
    assert layer.GetSpatialRef().GetAuthorityCode(None) == "32632"
    rows = {}
    for f in layer:
        rows.setdefault(f["polygon_id"], set()).add(f["check"])
        assert f["lcz"] == SCENE_AREAS[scene["names"][f["polygon_id"] - 1]][0]
        assert f["reason"]
    assert rows == {ids[n]: checks for n, checks in BAD.items()}
    text = {
        "huge": "300 m buffer around their centroid",
        "few": "fewer than 3 training areas",
        "outside": "lie outside the raster",
        "tiny": "too small",
        "overlap": "overlap areas of another class",
        "edge": "windows leaving the raster",
        "nodata": "windows holding nodata",
    }
    for name, checks in BAD.items():
        for check in checks:
            (w,) = [w for w in fb.warnings if text[check] in w]
            if check == "few":  # polygons that gave patches, of those drawn
                assert "LCZ 8 (2 of 2 polygons)" in w and "LCZ 2 (2 of 3 polygons)" in w
            else:
                assert f"polygon {ids[name]} " in w, (name, w)
    # the huge area's row holds the polygon as drawn (about 420,000 m²), not the buffer
    layer.SetAttributeFilter(f"polygon_id = {ids['water_huge']}")
    feat = layer.GetNextFeature()
    assert feat.GetGeometryRef().GetArea() == pytest.approx(420_000, rel=1e-3)
    assert (scene["dir"] / "suspicious.qml").is_file()
    assert r.n_nodata == 6 and r.n_outside == 3 + 16 and r.points.conflicts == 6


def test_wudapt_kml_and_kmz_read_as_the_geopackage(scene, run, tmp_path):
    gpkg = {a.id: a for a in read_training_areas(scene["dir"] / "areas.gpkg", _wkt(scene))}
    for kmz in (False, True):
        path = tmp_path / ("t.kmz" if kmz else "t.kml")
        order = write_wudapt_kml(path, kmz=kmz)
        areas = read_training_areas(path, _wkt(scene))
        assert [a.id for a in areas] == list(range(1, len(order) + 1))
        assert [a.code for a in areas] == [SCENE_AREAS[n][0] for n in order]
        assert {a.layer for a in areas} == {"2", "5", "6", "8", "A", "D", "E", "G"}
        for a, name in zip(areas, order):
            same = gpkg[scene["names"].index(name) + 1].geometry
            assert a.geometry.SymmetricDifference(same).GetArea() < 1.0
    # folder names 11-17 and 101-107 mean A-G too
    for offset in (0, 90):
        names = {c: str(c + (offset if c > 10 else 0)) for c in range(1, 18)}
        write_wudapt_kml(tmp_path / "n.kml", folder_names=names)
        codes = sorted({a.code for a in read_training_areas(tmp_path / "n.kml", _wkt(scene))})
        assert codes == [2, 5, 6, 8, 11, 14, 15, 17]
    # patches from the KMZ: the same windows and labels as from the GeoPackage
    fb = RecordingFeedback()
    r = training_area_patches(tmp_path / "t.kmz", scene["dir"] / "scene_s2.tif",
                              tmp_path / "k.h5", sentinel1=scene["dir"] / "scene_s1.tif",
                              feedback=fb)  # fmt: skip
    assert r.n_patches == run[0].n_patches
    with h5py.File(tmp_path / "k_geo.h5") as g, h5py.File(tmp_path / "k.h5") as f:
        k = {(x, y, int(lab.argmax())) for (x, y), lab in zip(g["coord"][:], f["label"][:])}
    with (
        h5py.File(scene["dir"] / "patches_geo.h5") as g,
        h5py.File(scene["dir"] / "patches.h5") as f,
    ):
        p = {(x, y, int(lab.argmax())) for (x, y), lab in zip(g["coord"][:], f["label"][:])}
    assert k == p


def _wkt(scene):
    with rasterio.open(scene["dir"] / "scene_s2.tif") as ds:
        return ds.crs.to_wkt()


def test_codes_as_letters_old_codes_and_text(scene, tmp_path):
    values = {n: v for n, v in zip(SCENE_AREAS, ["A", "101", "LCZ 11", "lcz_a"] * 10)}
    areas = {n: SCENE_AREAS[n] for n in list(SCENE_AREAS)[:4]}
    write_areas_file(tmp_path / "a.geojson", areas, field="Class", driver="GeoJSON",
                     values=values)  # fmt: skip
    got = read_training_areas(tmp_path / "a.geojson", _wkt(scene))
    assert [a.code for a in got] == [11, 11, 11, 11]


def test_dn_rasters_are_written_as_reflectance(scene, tmp_path):
    from helpers import write_raster

    dn = tmp_path / "dn.tif"
    s2 = scene["s2"]
    write_raster(dn, np.where(s2 == S2_NODATA, S2_NODATA, np.round(s2 * 10000)).astype(np.float32),
                 nodata=S2_NODATA)  # fmt: skip
    fb = RecordingFeedback()
    r = training_area_patches(scene["dir"] / "areas.gpkg", dn, tmp_path / "dn.h5", feedback=fb)
    assert r.scale == 1e-4 and any("DN-scaled" in w for w in fb.warnings)
    with h5py.File(tmp_path / "dn.h5") as f, h5py.File(tmp_path / "dn_geo.h5") as g:
        assert "sen1" not in f
        tfw = g["tfw"][0]
        c0, r0 = int((tfw[0] - X0) / 10), int((Y0 - tfw[3]) / 10)
        want = (
            np.round(s2[r0 : r0 + 32, c0 : c0 + 32] * 10000).astype(np.float32).astype(float) * 1e-4
        )
        np.testing.assert_allclose(f["sen2"][0], want, rtol=1e-12)
        assert 0 < f["sen2"][:].mean() < 1


def test_cancel_and_failures_leave_nothing(scene, tmp_path):
    fb = RecordingFeedback(cancel_at=1)
    with pytest.raises(Cancelled):
        training_area_patches(scene["dir"] / "areas.gpkg", scene["dir"] / "scene_s2.tif",
                              tmp_path / "c.h5", suspicious=tmp_path / "c.gpkg", feedback=fb)  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # an earlier output stays as it was
    (tmp_path / "c.h5").write_bytes(b"old")
    with pytest.raises(Cancelled):
        training_area_patches(scene["dir"] / "areas.gpkg", scene["dir"] / "scene_s2.tif",
                              tmp_path / "c.h5", feedback=RecordingFeedback(cancel_at=1))  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5"]
    assert (tmp_path / "c.h5").read_bytes() == b"old"


def _layer(path, geoms, fields=(("lcz", ogr.OFTInteger),), values=(), gtype=ogr.wkbPolygon):
    from helpers import osr

    srs = osr().SpatialReference()
    srs.ImportFromEPSG(32632)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer("x", srs, gtype)
    for name, kind in fields:
        lyr.CreateField(ogr.FieldDefn(name, kind))
    for g, v in zip(geoms, values or [None] * len(geoms)):
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromWkt(g))
        if v is not None:
            f.SetField(fields[0][0], v)
        lyr.CreateFeature(f)
    ds = None
    return path


SQUARE = (
    "POLYGON ((691000 5338000, 691300 5338000, 691300 5338300, 691000 5338300, 691000 5338000))"
)


@pytest.mark.parametrize(
    "case, match",
    [
        ("no_field", "no LCZ field"),
        ("out_of_range", "no valid LCZ code.*18.*'H'"),
        ("empty", "holds no feature"),
        ("points", "point geometries, not polygons"),
        ("missing_field", "has no field 'klasse'"),
    ],
)
def test_bad_training_areas_are_refused(scene, tmp_path, case, match):
    p = tmp_path / "bad.gpkg"
    field = None
    if case == "no_field":
        _layer(p, [SQUARE], fields=(("name", ogr.OFTString),), values=["x"])
    elif case == "out_of_range":
        _layer(p, [SQUARE] * 3, fields=(("lcz", ogr.OFTString),), values=["3", "18", "H"])
    elif case == "empty":
        _layer(p, [])
    elif case == "points":
        _layer(p, ["POINT (691000 5338000)"], values=[3], gtype=ogr.wkbPoint)
    else:
        _layer(p, [SQUARE], values=[3])
        field = "klasse"
    with pytest.raises(LczError, match=match):
        training_area_patches(p, scene["dir"] / "scene_s2.tif", tmp_path / "o.h5", field=field)
    assert not (tmp_path / "o.h5").exists()


def test_kml_without_class_folders_is_refused(scene, tmp_path):
    names = {c: f"zone {c}" for c in range(1, 18)}
    write_wudapt_kml(tmp_path / "x.kml", folder_names=names)
    with pytest.raises(LczError, match="no class folders"):
        read_training_areas(tmp_path / "x.kml", _wkt(scene))


def test_cli_then_summary_train_and_evaluate_take_the_file(scene, tmp_path, capsys):
    d = scene["dir"]
    out = tmp_path / "cli.h5"
    rc = main(["training-patches", "--areas", str(d / "areas.gpkg"), "--sentinel2",
               str(d / "scene_s2.tif"), "--sentinel1", str(d / "scene_s1.tif"), "--output",
               str(out), "--suspicious", str(tmp_path / "s.gpkg")])  # fmt: skip
    text = capsys.readouterr()
    assert rc == 0, text.err
    # 11: LCZ 2's 3 polygons are "few" (2 of them gave patches)
    assert "patches from 25 training areas" in text.out and "11 suspicious" in text.out
    assert main(["summary", "--input", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "Low plants" in summary and "Water" in summary
    model = tmp_path / "rf.lczmodel"
    assert main(["train", "--train", str(out), "--model-type", "rf", "--output", str(model)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model", str(model), "--dataset", str(out),
                 "--output-json", str(tmp_path / "e.json")]) == 0  # fmt: skip
    import json

    scores = json.loads((tmp_path / "e.json").read_text())
    with h5py.File(out) as f:
        assert scores["n"] == f["label"].shape[0] and scores["n_skipped"] == 0
    assert scores["oa"] > 0.5  # scored on its own training patches: the classes are learnt
    # bad input: a message and a non-zero exit, nothing written
    rc = main(["training-patches", "--areas", str(d / "areas.gpkg"), "--sentinel2",
               str(d / "scene_s2.tif"), "--output", str(tmp_path / "x.h5"), "--field", "nope"])  # fmt: skip
    assert rc != 0 and "--field" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()


def test_a_shapefile_in_utm_reads_as_the_geopackage_in_wgs84(scene, tmp_path):
    names = write_areas_file(tmp_path / "a.shp", field="LCZ", epsg=32632, driver="ESRI Shapefile")
    shp = read_training_areas(tmp_path / "a.shp", _wkt(scene))
    gpkg = read_training_areas(scene["dir"] / "areas.gpkg", _wkt(scene))
    assert [a.code for a in shp] == [SCENE_AREAS[n][0] for n in names]
    for a, b in zip(shp, gpkg):
        assert a.geometry.SymmetricDifference(b.geometry).GetArea() < 1.0
        assert a.geometry.CoordinateDimension() == 2  # the 3-D area flattened
