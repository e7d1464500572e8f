"""Cloud-free composite: the median of 6 dates of a 10-band tile, against reading them once.

Six synthetic prepared stacks (float32 reflectance, 10 bands, prepare-s2's tiling and
compression, cloud squares of nodata at different places per date) of SIZE x SIZE
pixels: 2048 by default, the full 10980 x 10980 tile with ``LCZ_BENCH_COMPOSITE_SIZE=10980``
(about 6 x 4.8 GB decoded; needs the disk for the six files). Each run starts with the
files evicted from the page cache, in its own child process (peak RSS of that child):

* ``read``: every input read once, by the composite's windows, nothing else, one date
  after the other (and again with two dates read side by side, as the composite does);
* ``composite``: ``composite_sentinel2`` median (read, mask, sort, write both outputs).

``throughput_vs_read`` = read seconds / composite seconds (the target: >= 0.7). The
composite reads two dates at a time, so ``vs_2_thread_read`` compares it with a read
that does the same; ``cpu_s`` (all threads' CPU seconds) tells what a run costs when
the machine is shared. The target peak RSS at full size is under 1.5 GB. The files are
deleted afterwards.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from .common import run_python

TITLE = "Cloud-free Sentinel-2 composite (median of 6 dates)"
SIZE = int(os.environ.get("LCZ_BENCH_COMPOSITE_SIZE", "2048"))
N_DATES = 6

_EVICT = """
import os
def evict(paths):
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        except OSError:
            pass
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
"""


def write_stack(path: Path, size: int, seed: int) -> None:
    """A prepared-like stack: reflectance in 4 x 4 blocks, two nodata cloud squares."""
    import rasterio

    from lcz_qgis.common.bands import SEN2_BANDS
    from lcz_qgis.raster.io import classifier_input_options
    from lcz_qgis.sentinel.prepare_s2 import NODATA

    opts = dict(o.split("=", 1) for o in classifier_input_options(predictor=False))
    opts = {k.lower(): v for k, v in opts.items()}
    opts.update(zstd_level="1", num_threads="ALL_CPUS")  # quick to write; decoding is the same
    t = rasterio.Affine(10.0, 0, 600000.0, 0, -10.0, 5400000.0)
    profile = dict(driver="GTiff", width=size, height=size, count=10, dtype="float32",
                   crs="EPSG:32632", transform=t, nodata=NODATA, **opts)  # fmt: skip
    rng = np.random.default_rng(seed)
    cloud = [tuple(int(v) for v in rng.integers(0, size, 2)) for _ in range(2)]
    side = max(size // 8, 1)
    with rasterio.open(path, "w", **profile) as ds:
        ds.descriptions = tuple(SEN2_BANDS)
        for r0 in range(0, size, 256):
            n = min(256, size - r0)
            blocks = rng.integers(100, 4000, (10, n // 4 + 1, size // 4 + 1)) / 1e4
            arr = np.kron(blocks, np.ones((1, 4, 4)))[:, :n, :size].astype(np.float32)
            for cr, cc in cloud:
                rows = slice(max(cr - r0, 0), max(min(cr + side - r0, n), 0))
                arr[:, rows, cc : cc + side] = NODATA
            ds.write(arr, window=rasterio.windows.Window(0, r0, size, n))


def _child(code: str) -> dict:
    return run_python(
        _EVICT + "import json, time\nfrom benchmarks.common import peak_rss_mb\n" + code
    )


def _read_once(paths: list[str], threads: int = 1) -> dict:
    code = f"""
import numpy as np, rasterio
from concurrent.futures import ThreadPoolExecutor
from lcz_qgis.sentinel import composite as c
paths = {paths!r}
evict(paths)
t, cpu = time.monotonic(), time.process_time()
with rasterio.Env(GDAL_CACHEMAX=c.CACHE_BYTES), ThreadPoolExecutor({threads}) as pool:
    files = [rasterio.open(p) for p in paths]
    n = 0
    for w in c.windows_of(files[0].width, files[0].height, len(files), files[0].block_shapes[0]):
        n += sum(pool.map(lambda f: f.read(window=w).nbytes, files))
print(json.dumps({{"seconds": round(time.monotonic() - t, 2),
                  "cpu_s": round(time.process_time() - cpu, 2), "decoded_mb": round(n / 1e6),
                  "peak_rss_mb": round(peak_rss_mb())}}))
"""
    return _child(code)


def _composite(paths: list[str], out: str) -> dict:
    code = f"""
import rasterio  # imported before the clock starts, as in the read
from lcz_qgis.sentinel.composite import composite_sentinel2
paths = {paths!r}
evict(paths)
t, cpu = time.monotonic(), time.process_time()
r = composite_sentinel2(paths, {out!r}, method="median")
print(json.dumps({{"seconds": round(time.monotonic() - t, 2),
                  "cpu_s": round(time.process_time() - cpu, 2),
                  "no_valid_date_pct": round(100 * r.nodata_fraction, 2),
                  "peak_rss_mb": round(peak_rss_mb())}}))
"""
    return _child(code)


def run(workdir) -> list[dict]:
    work = Path(workdir) / "bench_composite"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows = []
    try:
        paths = [str(work / f"date_{i}.tif") for i in range(N_DATES)]
        gen = _child(
            "from pathlib import Path\nfrom benchmarks.bench_composite import write_stack\n"
            "t = time.monotonic()\n"
            + "".join(f"write_stack(Path({p!r}), {SIZE}, {i})\n" for i, p in enumerate(paths))
            + "print(json.dumps({'seconds': round(time.monotonic() - t, 2)}))"
        )
        mb = round(sum(os.path.getsize(p) for p in paths) / 1e6)
        rows.append({"case": f"write {N_DATES} stacks {SIZE} x {SIZE} x 10", **gen, "file_mb": mb})
        read = _read_once(paths)
        rows.append({"case": f"read the {N_DATES} inputs once", **read})
        both = _read_once(paths, threads=2)
        rows.append({"case": f"read the {N_DATES} inputs once, 2 dates at a time", **both})
        comp = _composite(paths, str(work / "composite.tif"))
        comp["throughput_vs_read"] = round(read["seconds"] / max(comp["seconds"], 1e-9), 2)
        comp["vs_2_thread_read"] = round(both["seconds"] / max(comp["seconds"], 1e-9), 2)
        rows.append({"case": f"composite median of {N_DATES} dates", **comp})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows
