"""Classification throughput and memory: streaming classify vs the model alone.

For rf, mlp, resnet50 and sen2lcznet (Keras models untrained: throughput does not depend
on the weights), each in its own process, on a 10-band raster written as ``prepare-s2``
writes its output (reflectance quantised to 1e-4, ZSTD), plus the MLP on the same
raster compressed with DEFLATE and the floating-point predictor:

* ``e2e_win_s``: ``classify_raster`` end to end (open, scale detection, read, decode,
  window, predict, write), windows per second;
* ``inmem_win_s``: the same model's batched ``predict_proba`` on the same windows already
  held in memory as one aligned contiguous array (after ``prepare_many``, as classify);
* ``e2e_vs_inmem``: the ratio of the best of each over alternating passes (in memory,
  then end to end, ``ROUNDS`` times), and ``median_ratio`` the median of the paired
  passes' ratios (target >= 0.85);
* ``loop_win_s``: one ``predict_proba`` call per window on the same prepared model (a
  traced graph call for Keras), on a sample of the windows; ``speedup_vs_loop`` = e2e /
  loop (target >= 20); ``eager_loop_win_s``: the same loop on a freshly loaded model
  (what a naive script gets: eager Keras calls);
* ``pipeline_win_s``: ``classify_raster`` end to end with a model that costs nothing
  (returns zeros): what reading, decoding, windowing and writing alone deliver, the
  ceiling of ``e2e_win_s`` for any model; ``pipeline_vs_inmem`` its ratio to the
  model's in-memory rate (a model cannot reach 0.85 end to end if this is far below);
* ``km2_per_min_100m``: map area per minute at 100 m output (stride 10), from e2e.

Memory rows: peak RSS of ``classify_raster`` (rf, stride 32) on a 2000 x 2000 and a
10980 x 10980 (a full Sentinel-2 tile) 10-band float32 raster, each in a fresh process;
the big raster is written quickly as a tiled, compressed GeoTIFF of constant blocks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from benchmarks.common import run_python

TITLE = "Classification throughput and memory (classify_raster)"
# throughput raster per model, pixels (a 20 km city at 10 m; ResNet50 on a quarter of it)
SIZES = {"rf": 2048, "mlp": 2048, "resnet50": 1024, "sen2lcznet": 2048}
MODELS = ("rf", "mlp", "resnet50", "sen2lcznet")
BATCH = {"rf": 512, "mlp": 512, "resnet50": 256, "sen2lcznet": 256}
LOOP_N = {"rf": 40, "mlp": 200, "resnet50": 100, "sen2lcznet": 100}
ROUNDS = {"rf": 3, "mlp": 5, "resnet50": 3, "sen2lcznet": 3}  # alternating passes


def _write_raster(
    path: Path, size: int, constant: bool = False, block: int = 512, options=None
) -> None:
    """A 10-band float32 raster in EPSG:32632: reflectance quantised to 1e-4 as
    ``prepare-s2`` writes it (DN / 10000), with field-like texture; by default with the
    creation options of ``prepare-s2``'s output (what ``classify`` normally reads)."""
    from lcz_qgis.raster.io import classifier_input_options, create_geotiff, gdal, osr

    g = gdal()
    srs = osr().SpatialReference()
    srs.ImportFromEPSG(32632)
    if options is None:
        options = classifier_input_options(predictor=False)
    ds = create_geotiff(
        path, size, size, 10, g.GDT_Float32, (690000.0, 10.0, 0, 5340000.0, 0, -10.0),
        srs.ExportToWkt(), -9999.0, options,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    base = np.array([0.06, 0.08, 0.09, 0.12, 0.18, 0.21, 0.24, 0.25, 0.2, 0.14], np.float32)
    cols = np.arange(size)
    for r0 in range(0, size, block):
        n = min(block, size - r0)
        if constant:
            x = np.broadcast_to(base[:, None, None], (10, n, size))
        else:
            rows = np.arange(r0, r0 + n)[:, None]
            field = 1 + 0.3 * np.sin(cols / 37.0) * np.cos(rows / 53.0)
            noise = rng.uniform(0.8, 1.2, (10, n, size))
            x = np.round(base[:, None, None] * field * noise * 1e4) / 1e4
        ds.write(np.ascontiguousarray(x, dtype=np.float32), window=((r0, r0 + n), (0, size)))
    ds.close()


def _models(workdir: Path) -> dict:
    from lcz_qgis.models.modelfile import new_manifest, save_keras_model
    from lcz_qgis.sample_data import write_so2sat_file
    from lcz_qgis.training.train import train_model

    paths = {}
    rf = workdir / "bench_rf.lczmodel"
    if not rf.exists():
        h5 = workdir / "bench_train.h5"
        if not h5.exists():
            write_so2sat_file(h5, 600, seed=1)
        train_model(h5, rf, model_type="rf", sensor="sen2", seed=0)
    paths["rf"] = rf
    for name in ("mlp", "resnet50", "sen2lcznet"):
        p = workdir / f"bench_{name}.lczmodel"
        if not p.exists():
            from lcz_qgis.models import model_module

            km = model_module(name).build((32, 32, 10))
            save_keras_model(p, km, new_manifest(name, "keras", "sen2", list(range(10))))
        paths[name] = p
    return paths


_THROUGHPUT_CHILD = r"""
import json, time, numpy as np
from benchmarks.common import peak_rss_mb
from lcz_qgis.models.modelfile import load_model
from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.classify.sliding_window import windows
from lcz_qgis.common.aligned_arrays import aligned_empty
from osgeo import gdal
model = load_model({model!r})
B = {batch}
ds = gdal.Open({raster!r})
x = ds.ReadAsArray().transpose(1, 2, 0).astype(np.float32)
view = windows(x, 10)
# aligned, as classify's batches are: Keras then reads both without a copy
allw = aligned_empty((view.shape[0] * view.shape[1], 32, 32, 10))
allw.reshape(view.shape)[...] = view
n = len(allw)
del x, ds, view
model.prepare_many(n)  # as classify_raster does: Keras models run a graph function
model.predict_proba(allw[:B], batch_size=B)  # warm-up (Keras traces on the first call)
inmem, e2e = [], []
for r in range({rounds}):  # alternate, so both see the same background load
    t = time.perf_counter()
    for s in range(0, n, B):
        model.predict_proba(allw[s:s + B], batch_size=B)
    inmem.append(n / (time.perf_counter() - t))
    res = classify_raster(model, {out!r}, sentinel2={raster!r}, stride=10, batch_size=B)
    e2e.append(res.windows_valid / res.seconds)
ratio = float(np.median(np.array(e2e) / np.array(inmem)))
from lcz_qgis.models.modelfile import LczModel
class FreeModel(LczModel):  # costs nothing: what the pipeline alone delivers
    def predict_proba(self, patches, batch_size=256):
        return np.zeros((len(patches), 17), np.float32)
free = FreeModel(model.manifest)
pipeline = max(
    (lambda r: r.windows_valid / r.seconds)(
        classify_raster(free, {out!r}, sentinel2={raster!r}, stride=10, batch_size=B)
    )
    for _ in range({rounds})
)
inmem, e2e = max(inmem), max(e2e)
k = min({loop_n}, n)
t = time.perf_counter()
for i in range(k):
    model.predict_proba(allw[i:i + 1], batch_size=1)
loop = k / (time.perf_counter() - t)
fresh = load_model({model!r})  # a freshly loaded model: Keras runs one window eagerly
fresh.predict_proba(allw[:1], batch_size=1)
t = time.perf_counter()
for i in range(k):
    fresh.predict_proba(allw[i:i + 1], batch_size=1)
eager_loop = k / (time.perf_counter() - t)
print(json.dumps(dict(windows=n, e2e_win_s=e2e, inmem_win_s=inmem, median_ratio=ratio,
                      pipeline_win_s=pipeline,
                      loop_win_s=loop, eager_loop_win_s=eager_loop, peak_rss_mb=peak_rss_mb())))
"""

_MEMORY_CHILD = r"""
import json, time
from benchmarks.common import peak_rss_mb
from lcz_qgis.models.modelfile import load_model
from lcz_qgis.classify.pipeline import classify_raster
model = load_model({model!r})
res = classify_raster(model, {out!r}, sentinel2={raster!r}, stride=32, batch_size=512)
print(json.dumps(dict(windows=res.windows_valid, seconds=res.seconds, peak_rss_mb=peak_rss_mb())))
"""


def run(workdir) -> list[dict]:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    models = _models(workdir)
    only = os.environ.get("LCZ_BENCH_MODELS")
    inputs = [(name, "prepared (ZSTD)", None) for name in MODELS]
    # the same MLP on DEFLATE with the floating-point predictor (slower to decode)
    inputs.append(("mlp", "DEFLATE + predictor", ["TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=3"]))
    rows = []
    for name, label, options in inputs:
        if only and name not in only.split(","):
            continue
        size = SIZES[name]
        raster = workdir / f"bench_s2_{size}{'_deflate' if options else ''}.tif"
        if not raster.exists():
            _write_raster(raster, size, options=options)
        r = run_python(
            _THROUGHPUT_CHILD.format(
                model=str(models[name]),
                batch=BATCH[name],
                raster=str(raster),
                out=str(workdir / f"bench_map_{name}.tif"),
                loop_n=LOOP_N[name],
                rounds=ROUNDS[name],
            )  # fmt: skip
        )
        rows.append(
            {
                "model": name,
                "input": label,
                "raster": f"{size}x{size}",
                "windows": r["windows"],
                "e2e_win_s": round(r["e2e_win_s"], 1),
                "inmem_win_s": round(r["inmem_win_s"], 1),
                "e2e_vs_inmem": round(r["e2e_win_s"] / r["inmem_win_s"], 3),
                "median_ratio": round(r["median_ratio"], 3),
                "pipeline_win_s": round(r["pipeline_win_s"], 1),
                "pipeline_vs_inmem": round(r["pipeline_win_s"] / r["inmem_win_s"], 3),
                "loop_win_s": round(r["loop_win_s"], 1),
                "speedup_vs_loop": round(r["e2e_win_s"] / r["loop_win_s"], 1),
                "eager_loop_win_s": round(r["eager_loop_win_s"], 1),
                "km2_per_min_100m": round(r["e2e_win_s"] * 60 * 0.01, 1),
                "peak_rss_mb": round(r["peak_rss_mb"]),
            }
        )
    if os.environ.get("LCZ_BENCH_SKIP_MEMORY"):
        return rows
    mem = {}
    for size in (2000, 10980):
        big = workdir / f"bench_const_{size}.tif"
        if not big.exists():
            _write_raster(big, size, constant=True)
        r = run_python(
            _MEMORY_CHILD.format(
                model=str(models["rf"]), raster=str(big), out=str(workdir / f"bench_mem_{size}.tif")
            )
        )
        mem[size] = r
        rows.append(
            {
                "model": "rf (memory, stride 32)",
                "raster": f"{size}x{size}",
                "windows": r["windows"],
                "e2e_win_s": round(r["windows"] / r["seconds"], 1),
                "peak_rss_mb": round(r["peak_rss_mb"]),
            }
        )
    rows[-1]["rss_ratio_vs_2000"] = round(mem[10980]["peak_rss_mb"] / mem[2000]["peak_rss_mb"], 3)
    (workdir / "bench_classify.json").write_text(json.dumps(rows, indent=1))
    return rows
