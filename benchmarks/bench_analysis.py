"""After the map: zonal statistics and map comparison of large LCZ maps (issue 26).

* zonal statistics (``lcz zonal-stats``) of an LCZ map over 1,000 districts (a 40 x 25
  grid of polygons covering it), at two map sizes: the child process's peak RSS (flat in
  map size: the map is read by windows per zone) and the throughput as a ratio to reading
  the map once (strips of full rows, as ``analysis.read_map.iter_strips``);
* compare-maps (``lcz compare-maps``: agreement raster and cross-table) of two such maps,
  as a ratio to reading both once.
Maps: uint8 tiled GeoTIFFs (256 x 256 blocks, DEFLATE, as classify writes), classes in
patches of 40 x 40 cells, nodata 0, 10 m cells (EPSG:32632). Every run is timed with the
files in the page cache (each file is read once first), so the ratios compare work, not
the disk; GDAL's block cache is capped at ``GDAL_CACHEMAX_MB`` in every child, so the
peak RSS does not grow with the cached map. Sizes: ``LCZ_BENCH_ANALYSIS_SIZES`` (default
"4000,8000", about 30 s on 2 cores; issue 26 names 10980).
"""

from __future__ import annotations

import os
from pathlib import Path

from .common import run_python

TITLE = "After the map: zonal statistics and compare-maps"
ZONES_X, ZONES_Y = 40, 25  # 1,000 districts
GDAL_CACHEMAX_MB = 8

_SETUP = """
import sys, numpy as np, rasterio
from rasterio.transform import Affine
from osgeo import ogr, osr
def write_map(path, n, seed):
    rng = np.random.default_rng(seed)
    prof = dict(driver="GTiff", width=n, height=n, count=1, dtype="uint8", nodata=0,
                crs="EPSG:32632", transform=Affine(10, 0, 690000, 0, -10, 5340000 + 10 * n),
                tiled=True, blockxsize=256, blockysize=256, compress="deflate")
    with rasterio.open(path, "w", **prof) as ds:
        for r0 in range(0, n, 1000):
            h = min(1000, n - r0)
            coarse = rng.integers(0, 18, (h // 40 + 2, n // 40 + 2)).astype("uint8")
            ds.write(np.kron(coarse, np.ones((40, 40), "uint8"))[:h, :n], 1,
                     window=((r0, r0 + h), (0, n)))
def write_zones(path, n, nx, ny):
    srs = osr.SpatialReference(); srs.ImportFromEPSG(32632)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    lyr = ds.CreateLayer("districts", srs, ogr.wkbPolygon)
    lyr.StartTransaction()
    w, h = 10.0 * n / nx, 10.0 * n / ny
    for i in range(nx):
        for j in range(ny):
            x0, y0 = 690000 + i * w, 5340000 + j * h
            f = ogr.Feature(lyr.GetLayerDefn())
            f.SetGeometry(ogr.CreateGeometryFromWkt(
                f"POLYGON(({x0} {y0},{x0 + w} {y0},{x0 + w} {y0 + h},{x0} {y0 + h},{x0} {y0}))"))
            lyr.CreateFeature(f)
    lyr.CommitTransaction()
    ds = None
"""

_READ = """
import numpy as np, rasterio
def read_once(path):
    with rasterio.open(path) as ds:
        total = 0
        for r0 in range(0, ds.height, 256):
            h = min(256, ds.height - r0)
            total += int(ds.read(1, window=((r0, r0 + h), (0, ds.width))).sum(dtype=np.int64))
    return total
"""

_CHILD = """
import json, sys, time
sys.path.insert(0, {repo!r})
from benchmarks.common import peak_rss_mb
{read}
paths = {paths!r}
for p in paths:
    read_once(p)  # into the page cache
{setup}
t0 = time.perf_counter()
{work}
seconds = time.perf_counter() - t0
print(json.dumps({{"s": seconds, "peak_rss_mb": peak_rss_mb()}}))
"""


def _child(work: str, paths: list[str], setup: str = "") -> dict:
    """Time ``work`` in a child process, after ``setup`` (imports: start-up, not the
    pass whose throughput is compared with a read, whose own imports are untimed too)."""
    repo = str(Path(__file__).resolve().parents[1])
    return run_python(_CHILD.format(repo=repo, read=_READ, paths=paths, setup=setup, work=work))


def _sizes() -> list[int]:
    return [int(s) for s in os.environ.get("LCZ_BENCH_ANALYSIS_SIZES", "4000,8000").split(",")]


_PASS_SETUP = """
from lcz_qgis.analysis.read_map import open_lcz_map
from lcz_qgis.analysis.zonal_stats import count_zones
from lcz_qgis.analysis.zones import read_zones
lcz_map = open_lcz_map({m!r})
layer = read_zones({zones!r}, lcz_map.info.crs_wkt)
"""


def _zonal_rows(work: Path, n: int, m: str) -> list[dict]:
    zones = str(work / f"zones_{n}.gpkg")
    run_python(_SETUP + f"write_zones({zones!r}, {n}, {ZONES_X}, {ZONES_Y})\nprint('{{}}')")
    out = str(work / f"zones_{n}_lcz.gpkg")
    for p in (out, out[:-5] + ".qml"):
        Path(p).unlink(missing_ok=True)
    zonal = _child(f"zonal_statistics({m!r}, {zones!r}, {out!r})", [m],
                   "from lcz_qgis.analysis.zonal import zonal_statistics")  # fmt: skip
    read = _child(f"read_once({m!r})", [m])
    # the pass alone: the zones read and the map opened before the clock starts, nothing
    # written after it (what grows with the map; the rest grows with the zones)
    count = _child("count_zones(layer.zones, lcz_map)", [m], _PASS_SETUP.format(m=m, zones=zones))
    rows = []
    for what, run in (("zonal-stats", zonal), ("zonal-stats pass (count_zones)", count)):
        rows.append({"case": f"{what}, {n} x {n} map, {ZONES_X * ZONES_Y} districts",
                     "s": round(run["s"], 2), "read once s": round(read["s"], 3),
                     "throughput vs read": round(read["s"] / run["s"], 3),
                     "peak RSS MB": round(run["peak_rss_mb"]),
                     "read peak RSS MB": round(read["peak_rss_mb"])})  # fmt: skip
    return rows


def _compare_row(work: Path, n: int, a: str, b: str) -> dict:
    out, table = str(work / f"agreement_{n}.tif"), str(work / f"cross_{n}.csv")
    for p in (out, table, out[:-4] + ".qml"):
        Path(p).unlink(missing_ok=True)
    cmp_ = _child(f"compare_maps({a!r}, {b!r}, {out!r}, table={table!r})", [a, b],
                  "from lcz_qgis.analysis.compare import compare_maps")  # fmt: skip
    read = _child(f"read_once({a!r}); read_once({b!r})", [a, b])
    return {"case": f"compare-maps, two {n} x {n} maps", "s": round(cmp_["s"], 2),
            "read once s": round(read["s"], 3),
            "throughput vs read": round(read["s"] / cmp_["s"], 3),
            "peak RSS MB": round(cmp_["peak_rss_mb"]),
            "read peak RSS MB": round(read["peak_rss_mb"])}  # fmt: skip


def run(workdir) -> list[dict]:
    """One row per case (zonal statistics at each size, compare-maps at the largest)."""
    saved = os.environ.get("GDAL_CACHEMAX")
    os.environ["GDAL_CACHEMAX"] = str(GDAL_CACHEMAX_MB)  # the children's GDAL block cache
    try:
        return _run(Path(workdir) / "analysis")
    finally:
        if saved is None:
            os.environ.pop("GDAL_CACHEMAX", None)
        else:
            os.environ["GDAL_CACHEMAX"] = saved


def _run(work: Path) -> list[dict]:
    """The cases of ``run`` in the folder ``work`` (emptied afterwards)."""
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    sizes = _sizes()
    for n in sizes:
        m = str(work / f"lcz_{n}.tif")
        run_python(_SETUP + f"write_map({m!r}, {n}, 0)\nprint('{{}}')")
        rows.extend(_zonal_rows(work, n, m))
    n = sizes[-1]
    a, b = str(work / f"lcz_{n}.tif"), str(work / f"lcz_{n}_b.tif")
    run_python(_SETUP + f"write_map({b!r}, {n}, 1)\nprint('{{}}')")
    rows.append(_compare_row(work, n, a, b))
    for p in work.iterdir():
        p.unlink()
    return rows
