"""classify-many's input kinds and CRSs: a FOLDER of rasters, a tile index (GPKG), and
rasters in two UTM zones (one mosaic per CRS, one area table)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers import write_crop

from lcz_qgis.classify.area_table import read_area_csv
from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.cluster.run import ManyOptions, classify_many, plan_run
from lcz_qgis.cluster.tasks import tile_path
from lcz_qgis.common.errors import LczError
from lcz_qgis.models.modelfile import load_model
from lcz_qgis.raster.io import gdal


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(1), ds.transform, ds.crs


def _counts(maps) -> list[int]:
    """Cells of classes 1..17 over LCZ maps (arrays)."""
    return np.sum([np.bincount(m.ravel(), minlength=18) for m in maps], axis=0)[1:].tolist()


def _map_of(tile_bytes: bytes, tmp: Path) -> np.ndarray:
    tmp.write_bytes(tile_bytes)
    return _read(tmp)[0]


# -- a FOLDER --------------------------------------------------------------------------------


def test_a_folder_s_rasters_are_its_tasks_named_after_the_files(
    cluster, four, four_ref, rf_model, tmp_path
):
    folder = tmp_path / "cities"
    folder.mkdir()
    (folder / "alpha.tif").write_bytes(four["nw"].read_bytes())
    (folder / "Beta.TIFF").write_bytes(four["ne"].read_bytes())
    gdal().BuildVRT(str(folder / "gamma.vrt"), [str(four["se"])]).FlushCache()
    # not rasters: ignored
    (folder / "notes.txt").write_text("cities of the run\n")
    (folder / "style.qml").write_text("<qgis/>")
    (folder / "alpha.tif.aux.xml").write_text("<PAMDataset/>")
    (folder / "old.tif").mkdir()  # a folder named like a raster, not looked into
    (folder / "old.tif" / "inner.tif").write_bytes(four["sw"].read_bytes())
    out = tmp_path / "out"
    rep = classify_many(folder, rf_model, out, ManyOptions(scheduler=cluster))
    assert [t["name"] for t in rep.tasks] == ["Beta", "alpha", "gamma"]  # sorted file names
    assert (rep.count("done"), rep.count("failed")) == (3, 0)
    for name, ref in (("alpha", "nw"), ("Beta", "ne"), ("gamma", "se")):
        assert tile_path(out, name).read_bytes() == four_ref[ref], name
    assert sorted(p.name for p in (out / "tiles").glob("*.tif")) == ["Beta.tif", "alpha.tif",
                                                                       "gamma.tif"]  # fmt: skip
    maps = [_map_of(four_ref[n], tmp_path / f"{n}.tif") for n in ("nw", "ne", "se")]
    assert [r["cells"] for r in read_area_csv(out / "area_table.csv")] == _counts(maps)


def test_a_folder_with_an_unreadable_raster_or_no_raster_is_refused(four, rf_model, tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "good.tif").write_bytes(four["nw"].read_bytes())
    (folder / "broken.tif").write_text("not a GeoTIFF")
    with pytest.raises(LczError, match=r"cannot read raster '.*broken\.tif'"):
        plan_run(folder, rf_model, tmp_path / "o", ManyOptions())
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("nothing here")
    with pytest.raises(LczError, match="holds no raster"):
        plan_run(empty, rf_model, tmp_path / "o", ManyOptions())
    # two files of one name: the second task gets a suffix, no tile is overwritten
    twins = tmp_path / "twins"
    twins.mkdir()
    (twins / "city.tif").write_bytes(four["nw"].read_bytes())
    gdal().BuildVRT(str(twins / "city.vrt"), [str(four["ne"])]).FlushCache()
    tasks, _ = plan_run(twins, rf_model, tmp_path / "o", ManyOptions())
    assert [(t.name, Path(t.sentinel2).name) for t in tasks] == [("city", "city.tif"),
                                                                 ("city_2", "city.vrt")]  # fmt: skip


# -- a tile index ------------------------------------------------------------------------------

# boxes (xmin, ymin, xmax, ymax) in EPSG:32632 over the sample scene (690000..695120 E,
# 5334880..5340000 N): a and b side by side, c below overlapping both
BOXES = {"a": (690200.0, 5337000.0, 692600.0, 5339950.0),
         "b": (692600.0, 5337000.0, 694900.0, 5339950.0),
         "c": (691000.0, 5335300.0, 693500.0, 5337520.0)}  # fmt: skip


def _ring(x0, y0, x1, y1, epsg: int) -> list[tuple[float, float]]:
    """The rectangle's corners (EPSG:32632) in ``epsg``: a quad there, not a rectangle."""
    from rasterio.warp import transform

    xs, ys = [x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0]
    if epsg != 32632:
        xs, ys = transform("EPSG:32632", f"EPSG:{epsg}", xs, ys)
    return list(zip(xs, ys))


def _write_tile_index(path: Path, raster: Path, epsg: int | None = 32632) -> Path:
    """BOXES as a tile index (GPKG, or .shp), its polygons in ``epsg`` (None: no CRS;
    EPSG:32632 coordinates)."""
    from osgeo import ogr, osr

    srs = None
    if epsg:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
    driver = "ESRI Shapefile" if path.suffix == ".shp" else "GPKG"
    ds = ogr.GetDriverByName(driver).CreateDataSource(str(path))
    layer = ds.CreateLayer("tiles", srs, ogr.wkbPolygon)
    for field in ("location", "name"):
        layer.CreateField(ogr.FieldDefn(field, ogr.OFTString))
    for i, (name, box) in enumerate(BOXES.items()):
        feat = ogr.Feature(layer.GetLayerDefn())
        # gdaltindex writes the path as given: absolute, or relative to the index
        feat.SetField("location", os.path.relpath(raster, path.parent) if i else str(raster))
        feat.SetField("name", f"tile {name}")
        ring = ", ".join(f"{x!r} {y!r}" for x, y in _ring(*box, epsg or 32632))
        feat.SetGeometry(ogr.CreateGeometryFromWkt(f"POLYGON (({ring}))"))
        layer.CreateFeature(feat)
    ds = None
    return path


def _inside(whole_transform, shape, box) -> np.ndarray:
    """(rows, cols) bool: the whole map's cells whose centres lie in ``box``."""
    t = whole_transform
    xs = t.c + t.a * (np.arange(shape[1]) + 0.5)
    ys = t.f + t.e * (np.arange(shape[0]) + 0.5)
    x0, y0, x1, y1 = box
    return ((ys >= y0) & (ys <= y1))[:, None] & ((xs >= x0) & (xs <= x1))[None, :]


def _assert_tile_is_window(out: Path, name: str, whole, box) -> np.ndarray:
    """Tile ``name`` is the whole map's cells whose centres lie in ``box``; returns them."""
    w, tw, crs = whole
    tile, tt, tcrs = _read(tile_path(out, name))
    inside = _inside(tw, w.shape, box)
    rows, cols = np.nonzero(inside.any(axis=1))[0], np.nonzero(inside.any(axis=0))[0]
    assert tcrs == crs and (tt.a, tt.e) == (tw.a, tw.e)
    assert (tt.c, tt.f) == (tw.c + cols[0] * tw.a, tw.f + rows[0] * tw.e), name
    assert tile.shape == (len(rows), len(cols)), name
    assert np.array_equal(tile, w[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]), name
    return inside


def _run_index(cluster, sample_dir, rf_model, tmp_path, epsg: int):
    """The sample scene's map (Gaussian filter) and a classify-many run of BOXES as a tile
    index in ``epsg``: (scene, map, its transform, its CRS, output folder, report)."""
    scene = sample_dir / "scene_s2.tif"
    whole = classify_raster(load_model(rf_model), tmp_path / "whole.tif", scene,
                            filter="gaussian")  # fmt: skip
    w, tw, crs = _read(whole.output)
    (tmp_path / "index").mkdir()
    index = _write_tile_index(tmp_path / "index" / "tiles.gpkg", scene, epsg=epsg)
    out = tmp_path / "out"
    rep = classify_many(index, rf_model, out, ManyOptions(scheduler=cluster, filter="gaussian"))
    assert [t["name"] for t in rep.tasks] == ["tile_a", "tile_b", "tile_c"]
    assert rep.count("done") == 3
    return scene, w, tw, crs, out, rep


def test_each_tile_of_a_tile_index_is_its_window_of_the_whole_raster_map(
    cluster, sample_dir, rf_model, tmp_path
):
    scene, w, tw, crs, out, rep = _run_index(cluster, sample_dir, rf_model, tmp_path, 32632)
    union = np.zeros(w.shape, bool)
    for name, box in BOXES.items():
        union |= _assert_tile_is_window(out, f"tile_{name}", (w, tw, crs), box)
    # a tile cut out of its halo map is styled as classify's map: colours, names, .qml
    with rasterio.open(tile_path(out, "tile_c")) as t, rasterio.open(tmp_path / "whole.tif") as r:
        assert t.colormap(1) == r.colormap(1) and t.descriptions == r.descriptions == ("LCZ",)

    def names(path):  # the category names GDAL keeps in the .aux.xml
        text = Path(f"{path}.aux.xml").read_text()
        return text[text.index("<CategoryNames>") : text.index("</CategoryNames>")]

    assert names(tile_path(out, "tile_c")) == names(tmp_path / "whole.tif")
    assert (
        "LCZ G: Water" in names(tmp_path / "whole.tif") and (out / "tiles" / "tile_c.qml").exists()
    )
    # the mosaic covers the three tiles, cell for cell, and nothing else
    m, tm, _ = _read(out / "mosaic.vrt")
    r0, c0 = int(round((tm.f - tw.f) / tw.e)), int(round((tm.c - tw.c) / tw.a))
    rows, cols = np.nonzero(union.any(axis=1))[0], np.nonzero(union.any(axis=0))[0]
    assert (r0, c0, *m.shape) == (rows[0], cols[0], len(rows), len(cols))
    part = union[r0 : r0 + m.shape[0], c0 : c0 + m.shape[1]]
    assert np.array_equal(m[part], w[r0 : r0 + m.shape[0], c0 : c0 + m.shape[1]][part])
    assert not m[~part].any()
    # tiles a and c overlap: the area table counts the mosaic's cells, each once
    assert rep.area_from == "mosaic"
    assert [r["cells"] for r in read_area_csv(out / "area_table.csv")] == _counts([w[union]])


def _reprojected_box(ring, epsg: int, points: int = 500) -> tuple:
    """The EPSG:32632 bounding box of a polygon of ``epsg`` (each edge: ``points`` points)."""
    from rasterio.warp import transform

    t = np.linspace(0.0, 1.0, points)
    xs = np.concatenate([a[0] + t * (b[0] - a[0]) for a, b in zip(ring, ring[1:])])
    ys = np.concatenate([a[1] + t * (b[1] - a[1]) for a, b in zip(ring, ring[1:])])
    ux, uy = transform(f"EPSG:{epsg}", "EPSG:32632", xs.tolist(), ys.tolist())
    return min(ux), min(uy), max(ux), max(uy)


def test_tiles_of_an_index_in_another_crs_are_their_polygons_boxes_in_the_raster_s_crs(
    cluster, sample_dir, rf_model, tmp_path
):
    scene, w, tw, crs, out, rep = _run_index(cluster, sample_dir, rf_model, tmp_path, 4326)
    wider = []
    for name, box in BOXES.items():
        ring = _ring(*box, 4326)  # a rotated quad in EPSG:4326 (about 1.9 degrees here)
        expected = _reprojected_box(ring, 4326)
        assert np.allclose(expected, box, atol=1.0), name  # round trip: the UTM rectangle
        _assert_tile_is_window(out, f"tile_{name}", (w, tw, crs), expected)
        # the EPSG:4326 box of the quad, reprojected, is ~80-100 m wider each side
        lon, lat = zip(*ring)
        naive = _reprojected_box([(min(lon), min(lat)), (max(lon), min(lat)),
                                  (max(lon), max(lat)), (min(lon), max(lat)),
                                  (min(lon), min(lat))], 4326)  # fmt: skip
        wider.append(_inside(tw, w.shape, naive).sum() > _inside(tw, w.shape, expected).sum())
    assert all(wider)  # so this test tells the two apart
    # EPSG:3857: the same cells, planned
    (tmp_path / "i3857").mkdir()
    index = _write_tile_index(tmp_path / "i3857" / "tiles.gpkg", scene, epsg=3857)
    tasks, _ = plan_run(index, rf_model, tmp_path / "o", ManyOptions(filter="gaussian"))
    for task, (name, box) in zip(tasks, BOXES.items()):
        inside = _inside(tw, w.shape, _reprojected_box(_ring(*box, 3857), 3857))
        rows, cols = np.nonzero(inside.any(axis=1))[0], np.nonzero(inside.any(axis=0))[0]
        assert (task.name, task.cells) == (f"tile_{name}", (cols[0], rows[0], len(cols),
                                                             len(rows))), name  # fmt: skip


@pytest.mark.parametrize("file", ["tiles.gpkg", "tiles.shp"])  # GPKG: "Undefined ... SRS"
def test_a_tile_index_without_a_crs_is_refused(sample_dir, rf_model, tmp_path, file):
    index = _write_tile_index(tmp_path / file, sample_dir / "scene_s2.tif", epsg=None)
    assert not index.with_suffix(".prj").exists()
    with pytest.raises(LczError, match=rf"inputs: tile index '{file}' has no coordinate ref"):
        plan_run(index, rf_model, tmp_path / "o", ManyOptions())


def test_a_tile_index_without_a_location_field_is_refused(sample_dir, rf_model, tmp_path):
    from osgeo import ogr

    path = tmp_path / "bad.gpkg"
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("tiles", None, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("path", ogr.OFTString))
    feat = ogr.Feature(layer.GetLayerDefn())
    feat.SetField("path", str(sample_dir / "scene_s2.tif"))
    layer.CreateFeature(feat)
    ds = None
    with pytest.raises(LczError, match="no 'location' field"):
        plan_run(path, rf_model, tmp_path / "o", ManyOptions())


# -- several CRSs --------------------------------------------------------------------------------


def test_rasters_in_two_utm_zones_get_one_mosaic_each_and_one_area_table(
    cluster, four, four_ref, rf_model, tmp_path
):
    d = tmp_path / "in"
    d.mkdir()
    east = write_crop(four["ne"], d / "east33.tif", 0, 0, 200, 200, epsg=32633)
    (d / "list.txt").write_text(f"{four['nw']}\n{east}\n{four['sw']}\n")
    out = tmp_path / "out"
    rep = classify_many(d / "list.txt", rf_model, out, ManyOptions(scheduler=cluster, cog=True))
    assert (rep.count("done"), rep.count("failed")) == (3, 0)
    east_map = _read(tile_path(out, "east33"))
    assert east_map[2].to_epsg() == 32633
    assert np.array_equal(east_map[0], _map_of(four_ref["ne"], tmp_path / "ne.tif"))
    report = json.loads((out / "run_report.json").read_text())
    assert {k: v for k, v in report["outputs"].items() if "EPSG" in k} == {
        "MOSAIC_EPSG_32632": "mosaic_EPSG_32632.vrt", "COG_EPSG_32632": "mosaic_EPSG_32632.tif",
        "MOSAIC_EPSG_32633": "mosaic_EPSG_32633.vrt", "COG_EPSG_32633": "mosaic_EPSG_32633.tif",
    }  # fmt: skip
    assert not (out / "mosaic.vrt").exists()
    assert sorted(t["name"] for t in report["tasks"]) == ["east33", "nw", "sw"]
    for epsg, names in ((32632, ["nw", "sw"]), (32633, ["east33"])):
        vrt = out / f"mosaic_EPSG_{epsg}.vrt"
        files = sorted(Path(f).name for f in gdal().Open(str(vrt)).GetFileList()[1:])
        assert files == [f"{n}.tif" for n in names], epsg
        for mosaic in (vrt, vrt.with_suffix(".tif")):
            assert _read(mosaic)[2].to_epsg() == epsg
    # 32632: nw above sw, where they lie; 32633: the east tile alone
    m, _, _ = _read(out / "mosaic_EPSG_32632.vrt")
    nw, sw = (_map_of(four_ref[n], tmp_path / f"{n}.tif") for n in ("nw", "sw"))
    assert np.array_equal(m[: nw.shape[0], : nw.shape[1]], nw)
    assert np.array_equal(m[-sw.shape[0] :, : sw.shape[1]], sw)
    assert np.array_equal(_read(out / "mosaic_EPSG_32633.tif")[0], east_map[0])
    # one area table over both zones, summed from the integer counts
    assert rep.area_from == "records"
    assert [r["cells"] for r in read_area_csv(out / "area_table.csv")] == _counts(
        [nw, sw, east_map[0]]
    )


def test_processing_loads_one_styled_mosaic_per_crs(qgis_app, four, rf_model, tmp_path):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    d = tmp_path / "in"
    d.mkdir()
    east = write_crop(four["ne"], d / "east33.tif", 0, 0, 200, 200, epsg=32633)
    (d / "list.txt").write_text(f"{four['nw']}\n{east}\n")
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    res = processing.run("lcz:classifymany", {"INPUTS": str(d / "list.txt"),
                         "MODEL": str(rf_model), "WORKERS": 1,
                         "OUTPUT_FOLDER": str(tmp_path / "q")},
                         context=context, feedback=QgsProcessingFeedback())  # fmt: skip
    assert res["FAILED"] == 0 and "MOSAIC" not in res and "_mosaics" not in res
    loads = context.layersToLoadOnCompletion()
    names = {Path(p).name: details.name for p, details in loads.items()}
    assert names == {"mosaic_EPSG_32632.vrt": "LCZ mosaic (EPSG:32632)",
                     "mosaic_EPSG_32633.vrt": "LCZ mosaic (EPSG:32633)"}  # fmt: skip
    for p in loads:
        assert Path(p).with_suffix(".qml").is_file()
