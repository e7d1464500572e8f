"""So2Sat patches from training areas: a 2000 x 2000 raster against a 10980 x 10980 tile.

Each size gets a prepared-like Sentinel-2 stack (``bench_composite.write_stack``: 10
bands float32, prepare-s2's tiling and compression, two nodata squares) and the same
number of training areas: ``N_AREAS`` squares of 500 m (about 25 grid points each),
spread evenly over the raster, in 17 classes, written as a GeoPackage in EPSG:4326 (so
the areas are reprojected). The large size is ``LCZ_BENCH_TRAINING_AREAS_SIZE`` (10980 by
default; about 4.8 GB decoded, 1-2 GB on disk). Each run starts with the raster evicted
from the page cache, in its own child process (peak RSS of that child):

* ``read``: the raster read once, by 512 x 512 windows, nothing else;
* ``patches``: ``training_area_patches`` (read the areas, checks, windows, HDF5 writes).

``rss_vs_small`` = the large raster's peak RSS / the small one's (target <= 1.2: memory
flat in raster size); ``throughput_vs_read`` = read seconds / patches seconds (target
>= 0.5). The files are deleted afterwards.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .bench_composite import _EVICT
from .common import run_python

TITLE = "So2Sat patches from training areas (170 polygons of 500 m)"
SIZES = (2000, int(os.environ.get("LCZ_BENCH_TRAINING_AREAS_SIZE", "10980")))
N_AREAS = 170
SIDE_M = 500.0
ORIGIN = (600000.0, 5400000.0)  # bench_composite.write_stack's upper-left corner


def write_areas(path: Path, size: int) -> None:
    """``N_AREAS`` 500 m squares on a regular layout over a ``size`` px raster, EPSG:4326."""
    from osgeo import ogr, osr

    ogr.UseExceptions()
    utm, wgs = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32632)
    wgs.ImportFromEPSG(4326)
    for s in (utm, wgs):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(utm, wgs)
    per_row = 13  # 13 x 14 >= 170
    step = (size * 10.0 - 2000.0) / per_row
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer("areas", wgs, ogr.wkbPolygon)
    lyr.CreateField(ogr.FieldDefn("lcz", ogr.OFTInteger))
    for k in range(N_AREAS):
        x0 = ORIGIN[0] + 1000.0 + (k % per_row) * step + 37.0
        y1 = ORIGIN[1] - 1000.0 - (k // per_row) * step - 37.0
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for x, y in ((x0, y1), (x0 + SIDE_M, y1), (x0 + SIDE_M, y1 - SIDE_M), (x0, y1 - SIDE_M),
                     (x0, y1)):  # fmt: skip
            ring.AddPoint_2D(x, y)
        poly = ogr.Geometry(ogr.wkbPolygon)
        poly.AddGeometry(ring)
        poly.Transform(ct)
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetGeometry(poly)
        f.SetField("lcz", k % 17 + 1)
        lyr.CreateFeature(f)
    ds = None


def _child(code: str) -> dict:
    return run_python(
        _EVICT + "import json, time\nfrom benchmarks.common import peak_rss_mb\n" + code
    )


def _read_once(path: str) -> dict:
    code = f"""
import rasterio
from rasterio.windows import Window
evict([{path!r}])
t = time.monotonic()
n = 0
with rasterio.open({path!r}) as ds:
    for r in range(0, ds.height, 512):
        for c in range(0, ds.width, 512):
            w = Window(c, r, min(512, ds.width - c), min(512, ds.height - r))
            n += ds.read(window=w).nbytes
print(json.dumps({{"seconds": round(time.monotonic() - t, 2), "decoded_mb": round(n / 1e6),
                  "peak_rss_mb": round(peak_rss_mb())}}))
"""
    return _child(code)


def _patches(areas: str, path: str, out: str) -> dict:
    code = f"""
import os
from lcz_qgis.training_areas import training_area_patches
evict([{path!r}])
t = time.monotonic()
r = training_area_patches({areas!r}, {path!r}, {out!r})
print(json.dumps({{"seconds": round(time.monotonic() - t, 2), "patches": r.n_patches,
                  "nodata_windows": r.n_nodata, "output_mb": round(os.path.getsize({out!r}) / 1e6),
                  "peak_rss_mb": round(peak_rss_mb())}}))
"""
    return _child(code)


def run(workdir) -> list[dict]:
    """Both sizes: write, read once, patches; the ratios on the large size's row."""
    work = Path(workdir) / "bench_training_areas"
    rows, small = [], None
    for size in SIZES:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            tif, gpkg = str(work / "s2.tif"), str(work / "areas.gpkg")
            gen = _child(
                "from pathlib import Path\nfrom benchmarks.bench_composite import write_stack\n"
                "from benchmarks.bench_training_areas import write_areas\n"
                f"t = time.monotonic()\nwrite_stack(Path({tif!r}), {size}, 0)\n"
                f"write_areas(Path({gpkg!r}), {size})\n"
                "print(json.dumps({'seconds': round(time.monotonic() - t, 2)}))"
            )
            rows.append({"case": f"write {size} x {size} x 10 + areas", **gen,
                         "file_mb": round(os.path.getsize(tif) / 1e6)})  # fmt: skip
            read = _read_once(tif)
            rows.append({"case": f"read {size} x {size} once", **read})
            p = _patches(gpkg, tif, str(work / "patches.h5"))
            p["throughput_vs_read"] = round(read["seconds"] / max(p["seconds"], 1e-9), 2)
            if small is None:
                small = p["peak_rss_mb"]
            else:
                p["rss_vs_small"] = round(p["peak_rss_mb"] / small, 2)
            rows.append({"case": f"patches from {N_AREAS} areas, {size} x {size}", **p})
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return rows
