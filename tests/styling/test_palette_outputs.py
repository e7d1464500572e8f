"""The palette and language options of the commands that style an LCZ map: classify's
map (.qml, GeoTIFF colour table, category names, map image legend), export-map (UMEP
style, KMZ overlay and legend) and zonal-stats (majority style), each read back."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

import matplotlib.image as mpimg
import numpy as np
from helpers import write_raster
from osgeo import gdal, ogr, osr
from test_style_map import palette_of

from lcz_qgis.cli import main
from lcz_qgis.common.legend import COLOURBLIND, PALETTES, STANDARD

CB = PALETTES[COLOURBLIND]


def _rgb(color):
    return tuple(int(color[k : k + 2], 16) for k in (1, 3, 5))


def _colours_in(png) -> set:
    img = (mpimg.imread(png)[..., :3] * 255).round().astype(int)
    return set(map(tuple, img.reshape(-1, 3).tolist()))


def test_classify_colourblind_french(rf_model, sample_dir, tmp_path):
    out, png = tmp_path / "map.tif", tmp_path / "map.png"
    assert main(["classify", "--model", str(rf_model), "--sentinel2",
                 str(sample_dir / "scene_s2.tif"), "--resolution", "160", "--palette",
                 "colourblind", "--language", "fr", "--output", str(out),
                 "--map-image", str(png)]) == 0  # fmt: skip
    entries = palette_of(tmp_path / "map.qml")
    assert [entries[c][0] for c in range(1, 18)] == list(CB)
    assert entries[2][1] == "LCZ 2: Ensemble compact d'immeubles"
    ds = gdal.Open(str(out))
    band = ds.GetRasterBand(1)
    table = band.GetColorTable()
    assert [table.GetColorEntry(c)[:3] for c in range(1, 18)] == [_rgb(c) for c in CB]
    assert band.GetCategoryNames()[17] == "LCZ G: Surface en eau"
    present = sorted(set(np.unique(band.ReadAsArray()).tolist()) - {0})
    assert present
    colours = _colours_in(png)
    for code in present:  # the map and its legend swatch in the palette's colour
        assert _rgb(CB[code - 1]) in colours, code
        standard = _rgb(PALETTES[STANDARD][code - 1])
        if len(set(standard)) > 1:  # a grey may come from text edges; a hue may not
            assert standard not in colours, code


def test_map_from_areas_colourblind_french(tmp_path):
    """map-from-areas (issue 26): the map's .qml, colour table and category names, and the
    map image, in the palette and language asked for."""
    from helpers import write_areas_file

    from lcz_qgis.sample_data import write_scene

    write_scene(tmp_path, 7)
    areas = tmp_path / "areas.gpkg"
    write_areas_file(areas)
    out, png = tmp_path / "lcz.tif", tmp_path / "lcz.png"
    assert main(["map-from-areas", "--areas", str(areas), "--sentinel2",
                 str(tmp_path / "scene_s2.tif"), "--splits", "2", "--trees", "10",
                 "--palette", "colourblind", "--language", "fr", "--output", str(out),
                 "--map-image", str(png)]) == 0  # fmt: skip
    entries = palette_of(out.with_suffix(".qml"))
    assert [entries[c][0] for c in range(1, 18)] == list(CB)
    assert entries[17][1] == "LCZ G: Surface en eau"
    ds = gdal.Open(str(out))  # kept: a band outlives its dataset only in Python
    band = ds.GetRasterBand(1)
    table = band.GetColorTable()
    assert [table.GetColorEntry(c)[:3] for c in range(1, 18)] == [_rgb(c) for c in CB]
    present = sorted(set(np.unique(band.ReadAsArray()).tolist()) - {0})
    colours = _colours_in(png)
    assert present and all(_rgb(CB[code - 1]) in colours for code in present)


def _map(path, codes):
    gt = (690000.0, 100.0, 0.0, 5340000.0, 0.0, -100.0)
    return write_raster(path, codes.astype("float32"), gt=gt, nodata=0, gtype="uint8")


def test_export_umep_and_kmz_in_the_colourblind_palette(tmp_path):
    codes = np.arange(1, 18).repeat(4).reshape(4, 17)
    m = _map(tmp_path / "m.tif", codes)
    umep = tmp_path / "umep.tif"
    assert main(["export-map", "--map", str(m), "--format", "umep", "--palette",
                 "colourblind", "--output", str(umep)]) == 0  # fmt: skip
    entries = palette_of(tmp_path / "umep.qml")
    assert entries[107][0] == CB[16] and entries[10][0] == CB[9]
    kmz = tmp_path / "m.kmz"
    assert main(["export-map", "--map", str(m), "--format", "kmz", "--palette", "colourblind",
                 "--language", "fr", "--output", str(kmz)]) == 0  # fmt: skip
    with zipfile.ZipFile(kmz) as zf:
        overlay = zf.read("files/lcz_map.png")
        legend_png = zf.read("files/legend.png")
    start = overlay.index(b"PLTE") + 4  # the overlay's palette: index = code
    plte = overlay[start : start + 3 * 18]
    assert [tuple(plte[3 * c : 3 * c + 3]) for c in range(1, 18)] == [_rgb(c) for c in CB]
    legend_colours = _colours_in(io.BytesIO(legend_png))
    assert all(_rgb(c) in legend_colours for c in CB)


def test_zonal_stats_majority_style_in_the_colourblind_palette(tmp_path):
    codes = np.full((10, 20), 2)
    codes[:, 10:] = 14
    m = _map(tmp_path / "m.tif", codes)
    zones = tmp_path / "zones.gpkg"
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(zones))
    layer = ds.CreateLayer("zones", srs, ogr.wkbPolygon)
    for x0 in (690000, 691000):
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromWkt(
            f"POLYGON(({x0} 5339000,{x0 + 1000} 5339000,{x0 + 1000} 5340000,{x0} 5340000,"
            f"{x0} 5339000))"))  # fmt: skip
        layer.CreateFeature(f)
    ds = None
    out = tmp_path / "z.gpkg"
    assert main(["zonal-stats", "--map", str(m), "--zones", str(zones), "--palette",
                 "colourblind", "--output", str(out)]) == 0  # fmt: skip
    root = ET.parse(tmp_path / "z.qml").getroot()
    symbols = {s.get("name"): s for s in root.iter("symbol")}
    colours = {}
    for cat in root.iter("category"):
        fill = symbols[cat.get("symbol")].find("layer/Option/Option[@name='color']")
        colours[int(cat.get("value"))] = tuple(int(v) for v in fill.get("value").split(",")[:3])
    assert [colours[c] for c in range(1, 18)] == [_rgb(c) for c in CB]
