"""Patches, dataset summary and rendering on large inputs.

* A So2Sat-format file of 28,000 patches, uncompressed float64 (sen1 + sen2 + label,
  ~4.1 GB, contiguous like the published files), written in 1,000-patch blocks.
  - ``loadpatches`` of 1,000 random patches: grid layout, and with a geolocation file
    (the real testing_geo_2025.h5 rows, when ../shared is present);
  - the dataset summary (labels + 500 sampled patches).
  Each run starts with the file evicted from the page cache (posix_fadvise DONTNEED), and
  reports bytes read against the file size.
* ``render`` NDVI and true colour of a 5000 x 5000 x 10 float32 GeoTIFF (1 GB), with the
  child process's peak RSS.
The big files are deleted afterwards.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from .common import REPO, run_python

TITLE = "So2Sat patches, summary and rendering"
N_PATCHES = 28_000
BLOCK = 1_000
N_LOAD = 1_000
RASTER = 5_000

_EVICT = """
import os
def evict(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
"""


def write_big_so2sat(path: Path, n: int = N_PATCHES) -> None:
    import h5py

    rng = np.random.default_rng(0)
    s2 = rng.random((BLOCK, 32, 32, 10)) * 0.3
    s1 = rng.random((BLOCK, 32, 32, 8)) * 0.1
    codes = rng.integers(0, 17, n)
    with h5py.File(path, "w") as f:
        d2 = f.create_dataset("sen2", (n, 32, 32, 10), dtype="f8")  # contiguous, uncompressed
        d1 = f.create_dataset("sen1", (n, 32, 32, 8), dtype="f8")
        f["label"] = np.eye(17)[codes]
        for start in range(0, n, BLOCK):
            k = min(BLOCK, n - start)
            d2[start : start + k] = s2[:k] + start  # distinct values per block
            d1[start : start + k] = s1[:k]


def write_geo(path: Path, shared_geo: Path, n: int = N_PATCHES) -> None:
    import h5py

    with h5py.File(shared_geo, "r") as g:
        tfw, epsg, coord = g["tfw"][:], g["epsg"][:], g["coord"][:]
    rows = np.arange(n) % tfw.shape[0]
    with h5py.File(path, "w") as f:
        f["tfw"], f["epsg"], f["coord"] = tfw[rows], epsg[rows], coord[rows]


def write_big_raster(path: Path, size: int = RASTER) -> None:
    from osgeo import gdal, osr

    gdal.UseExceptions()
    ds = gdal.GetDriverByName("GTiff").Create(
        str(path), size, size, 10, gdal.GDT_Float32, ["TILED=YES", "BIGTIFF=YES"]
    )
    ds.SetGeoTransform((600000.0, 10.0, 0.0, 5400000.0, 0.0, -10.0))
    s = osr.SpatialReference()
    s.ImportFromEPSG(32632)
    ds.SetProjection(s.ExportToWkt())
    rng = np.random.default_rng(1)
    block = (rng.random((10, 512, size)) * 0.4).astype(np.float32)
    for row in range(0, size, 512):
        n = min(512, size - row)
        ds.WriteArray(block[:, :n], 0, row)
    ds = None


def _loadpatches(h5: Path, out: Path, geo: Path | None, sel: str) -> dict:
    code = (
        _EVICT
        + f"""
import json, time
from benchmarks.common import peak_rss_mb
from lcz_qgis.patches.load import load_patches
evict({str(h5)!r})
t = time.monotonic()
r = load_patches({str(h5)!r}, {str(out)!r}, geo={str(geo) if geo else None!r},
                 indices={sel!r}, output_patches={str(out / "patches.gpkg")!r})
print(json.dumps({{"seconds": round(time.monotonic() - t, 2), "patches": r.n_placed,
                  "rasters": len(r.rasters), "read_mb": round(r.bytes_read / 1e6, 1),
                  "file_mb": round(r.file_size / 1e6), "peak_rss_mb": round(peak_rss_mb())}}))
"""
    )
    return run_python(code)


def _child(call: str) -> float:
    code = (
        "import json, time\nfrom pathlib import Path\nfrom benchmarks.bench_patches import *\n"
        f"t = time.monotonic()\n{call}\n"
        "print(json.dumps({'seconds': round(time.monotonic() - t, 2)}))"
    )
    return run_python(code)["seconds"]


def run(workdir) -> list[dict]:
    work = Path(workdir) / "bench_patches"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows = []
    try:
        # data are generated in children: Linux carries ru_maxrss over fork + exec, so a
        # parent that grew would inflate every child's peak RSS
        h5 = work / "big_so2sat.h5"
        secs = _child(f"write_big_so2sat(Path({str(h5)!r}))")
        size = h5.stat().st_size
        rows.append(
            {
                "case": f"write {N_PATCHES} patches (float64, uncompressed)",
                "seconds": round(secs, 1),
                "file_mb": round(size / 1e6),
            }
        )
        rng = np.random.default_rng(7)
        geo_src = REPO.parent / "shared" / "so2sat" / "testing_geo_2025.h5"
        n_geo_rows = 24_188
        sel = ",".join(map(str, np.sort(rng.choice(n_geo_rows, N_LOAD, replace=False))))
        r = _loadpatches(h5, work / "grid", None, sel)
        rows.append({"case": f"loadpatches {N_LOAD} random patches, grid layout", **r})
        if geo_src.exists():
            geo = work / "big_so2sat_geo.h5"
            _child(f"write_geo(Path({str(geo)!r}), Path({str(geo_src)!r}))")
            r = _loadpatches(h5, work / "geo", geo, sel)
            rows.append({"case": f"loadpatches {N_LOAD} random patches, GEO (10 UTM zones)", **r})
        code = (
            _EVICT
            + f"""
import json, time
from benchmarks.common import peak_rss_mb
from lcz_qgis.so2sat.summary import dataset_summary
evict({str(h5)!r})
t = time.monotonic()
s = dataset_summary({str(h5)!r}, output_html={str(work / "summary.html")!r}, sample_size=500)
print(json.dumps({{"seconds": round(time.monotonic() - t, 2), "patches": s.n,
                  "read_mb": round(s.bytes_read / 1e6, 1), "file_mb": round(s.file_size / 1e6),
                  "peak_rss_mb": round(peak_rss_mb())}}))
"""
        )
        rows.append({"case": "dataset summary (labels + 500 sampled patches)", **run_python(code)})
        os.unlink(h5)

        tif = work / "big_s2.tif"
        _child(f"write_big_raster(Path({str(tif)!r}))")
        base = run_python(
            "import json\nfrom benchmarks.common import peak_rss_mb\nimport lcz_qgis.products.render\n"
            "from osgeo import gdal\nprint(json.dumps({'peak_rss_mb': round(peak_rss_mb())}))"
        )
        rows.append({"case": "baseline: Python + GDAL + lcz_qgis.products.render imported", **base})
        for product in ("ndvi", "truecolor"):
            code = (
                _EVICT
                + f"""
import json, time
from benchmarks.common import peak_rss_mb
from lcz_qgis.products.render import render
evict({str(tif)!r})
t = time.monotonic()
r = render({str(tif)!r}, {product!r}, {str(work / (product + ".tif"))!r})
print(json.dumps({{"seconds": round(time.monotonic() - t, 2), "blocks": r.blocks,
                  "file_mb": round(os.path.getsize({str(tif)!r}) / 1e6),
                  "peak_rss_mb": round(peak_rss_mb())}}))
"""
            )
            rows.append(
                {"case": f"render {product} {RASTER} x {RASTER} x 10 float32", **run_python(code)}
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows
