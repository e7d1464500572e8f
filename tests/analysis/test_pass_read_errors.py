"""analysis: a map that cannot be read part-way through the one pass of zonal statistics
and compare-maps (read in a thread of its own, ``common.background``): one clear error
naming the file, and the outputs that were there before are kept."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from osgeo import gdal, ogr, osr
from rasterio.transform import Affine

from lcz_qgis.analysis import read_map
from lcz_qgis.analysis.compare import compare_maps
from lcz_qgis.analysis.zonal import zonal_statistics
from lcz_qgis.common.errors import LczError

N = 64  # cells a side; 16 x 16 tiles, strips of 4 rows (STRIP_CELLS below)
X0, Y0 = 690000.0, 5340000.0


def _map(path, seed, damaged_tile_row=None):
    """A tiled DEFLATE uint8 LCZ map; ``damaged_tile_row``: that row of tiles overwritten
    with bytes that do not inflate (a cut or corrupted download)."""
    codes = np.random.default_rng(seed).integers(1, 18, (N, N)).astype(np.uint8)
    prof = dict(driver="GTiff", width=N, height=N, count=1, dtype="uint8", nodata=0,
                crs="EPSG:32632", transform=Affine(10, 0, X0, 0, -10, Y0), tiled=True,
                blockxsize=16, blockysize=16, compress="deflate")  # fmt: skip
    with rasterio.open(path, "w", **prof) as ds:
        ds.write(codes, 1)
    if damaged_tile_row is not None:
        ds = gdal.Open(str(path))  # kept while its band is used
        band = ds.GetRasterBand(1)
        spots = [(int(band.GetMetadataItem(f"BLOCK_OFFSET_{x}_{damaged_tile_row}", "TIFF")),
                  int(band.GetMetadataItem(f"BLOCK_SIZE_{x}_{damaged_tile_row}", "TIFF")))
                 for x in range(N // 16)]  # fmt: skip
        band = ds = None
        with open(path, "r+b") as f:
            for offset, size in spots:
                f.seek(offset)
                f.write(b"\xff" * size)
    return path


def _zones(path):
    """Four districts covering the map (EPSG:32632)."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer("districts", srs, ogr.wkbPolygon)
    half = 10.0 * N / 2
    for i in range(2):
        for j in range(2):
            x0, y1 = X0 + i * half, Y0 - j * half
            ring = f"{x0} {y1},{x0 + half} {y1},{x0 + half} {y1 - half},{x0} {y1 - half},{x0} {y1}"
            feat = ogr.Feature(lyr.GetLayerDefn())
            feat.SetGeometry(ogr.CreateGeometryFromWkt(f"POLYGON(({ring}))"))
            lyr.CreateFeature(feat)
    ds = None
    return path


@pytest.fixture(autouse=True)
def _small_strips(monkeypatch):
    # strips of 4 rows (zonal statistics': 16 rows): the damaged rows 32-47 come mid-pass
    monkeypatch.setattr(read_map, "STRIP_CELLS", 4 * N)


def test_the_damaged_map_reads_fine_up_to_its_damaged_tiles(tmp_path):
    path = _map(tmp_path / "m.tif", 0, damaged_tile_row=2)
    with read_map.open_lcz_map(path) as m:
        assert read_map.read_codes(m, 0, 0, N, 32).shape == (32, N)  # tile rows 0 and 1
        with pytest.raises(LczError, match="m.tif"):
            read_map.read_codes(m, 0, 32, N, 4)


def test_zonal_statistics_stops_with_the_read_error_and_keeps_the_old_output(tmp_path):
    path = _map(tmp_path / "m.tif", 0, damaged_tile_row=2)
    out, table = tmp_path / "z_lcz.gpkg", tmp_path / "z.csv"
    out.write_bytes(b"old layer")
    table.write_text("old table")
    with pytest.raises(LczError, match=r"cannot read 'm\.tif'") as err:
        zonal_statistics(path, _zones(tmp_path / "z.gpkg"), out, table=table)
    assert "\n" not in str(err.value)
    assert out.read_bytes() == b"old layer" and table.read_text() == "old table"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif", "z.csv", "z.gpkg", "z_lcz.gpkg"]


@pytest.mark.parametrize("damaged", ["reference", "map"])
def test_compare_maps_stops_with_the_read_error_and_keeps_the_old_outputs(tmp_path, damaged):
    a = _map(tmp_path / "a.tif", 1, damaged_tile_row=2 if damaged == "reference" else None)
    b = _map(tmp_path / "b.tif", 2, damaged_tile_row=3 if damaged == "map" else None)
    out, table = tmp_path / "agree.tif", tmp_path / "cross.csv"
    out.write_bytes(b"old raster")
    table.write_text("old table")
    name = "a.tif" if damaged == "reference" else "b.tif"
    with pytest.raises(LczError, match=rf"cannot read '{name}'") as err:
        compare_maps(a, b, out, table=table)
    assert "\n" not in str(err.value)
    assert out.read_bytes() == b"old raster" and table.read_text() == "old table"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["a.tif", "agree.tif", "b.tif", "cross.csv"]
