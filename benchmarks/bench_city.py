"""A city per model type, each against the machine's float32 limit, in the same run.

``classify_raster`` (stride 10: a 100 m map) of the same 10-band raster written as
``prepare-s2`` writes it (``bench_classify``'s raster), each model in a fresh process:

* ``rf``: ``bench_classify``'s forest (200 trees on patch statistics) on its default
  runtime (ONNX Runtime with whole votes), and ``rf sklearn`` the same file on
  scikit-learn (``runtime="tensorflow"``);
* ``mlp``, ``sen2lcznet`` (the published architecture), ``resnet20`` (the So2Sat
  ResNet-20 with its input rounding, ``so2sat_resnet20_s2_scaling``) and ``resnet50``:
  untrained networks (the time does not depend on the weights), float32, on their
  default runtime (ONNX Runtime);
* ``sen2lcznet int8``: the Sen2LCZ-Net file quantised by ``lcz quantize-model``
  (calibrated on the synthetic training file; the untrained network's agreement is
  not the point here, so a low one is allowed).

Columns: ``startup_cpu_s`` (CPU seconds of the process before the first window:
interpreter, imports, ``load_model``); ``wall_s`` / ``cpu_s`` (the classification);
``cpu_per_wall`` (cores kept busy: 2 is all of them on two cores); ``peak_rss_mb``;
``gflop_window`` (the network's analytic FLOPs per window, ``models.flops``);
``of_limit``: the FLOPs done per second over the float32 limit, numpy's SGEMM rate on
all cores measured in the same run (the last row); ``vs_sen2lcznet``: wall time over
the float32 Sen2LCZ-Net's.

The raster is ``LCZ_BENCH_CITY_PX`` pixels square (default 1000: 9,409 windows; 3000 is
issue 25's 900 km² city, 88,209 windows). ``LCZ_BENCH_CITY_MODELS`` picks rows (comma
separated names as above, e.g. ``rf,sen2lcznet``; default all).
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.bench_classify import _write_raster
from benchmarks.common import run_python

TITLE = "A city per model type vs the float32 limit (classify_raster, stride 10)"
# (row name, model file key, runtime)
MODELS = (
    ("rf", "rf", "auto"),
    ("rf sklearn", "rf", "tensorflow"),
    ("mlp", "mlp", "auto"),
    ("sen2lcznet", "sen2lcznet", "auto"),
    ("sen2lcznet int8", "sen2lcznet_int8", "auto"),
    ("resnet20", "resnet20", "auto"),
    ("resnet50", "resnet50", "auto"),
)

_CHILD = r"""
import json, time
from benchmarks.common import peak_rss_mb
from lcz_qgis.models.modelfile import load_model
from lcz_qgis.classify.pipeline import classify_raster
model = load_model({model!r}, runtime={runtime!r})
startup = time.process_time()
c0, t0 = time.process_time(), time.perf_counter()
res = classify_raster(model, {out!r}, sentinel2={raster!r}, stride=10)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps(dict(runtime=str(model.runtime), windows=res.windows_valid,
                      startup_cpu_s=round(startup, 2), wall_s=round(wall, 2),
                      cpu_s=round(cpu, 2), cpu_per_wall=round(cpu / wall, 2),
                      peak_rss_mb=round(peak_rss_mb()))))
"""

# numpy's float32 matrix product on all cores: the best of 5 (the machine's limit)
_SGEMM = r"""
import json, time
import numpy as np
n = 2048
rng = np.random.default_rng(0)
a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
a @ b
times = []
for _ in range(5):
    t = time.perf_counter()
    a @ b
    times.append(time.perf_counter() - t)
print(json.dumps(dict(gflop_s=round(2 * n**3 / min(times) / 1e9, 1))))
"""


def _network(workdir: Path, key: str, build, manifest_args: dict) -> tuple[Path, float]:
    """The model file of an untrained network (made if absent) and its GFLOPs per
    window."""
    from lcz_qgis.models.flops import count_flops
    from lcz_qgis.models.modelfile import new_manifest, save_keras_model

    net = build()
    path = workdir / f"bench_{key}.lczmodel"
    if not path.exists():
        manifest = new_manifest(key, "keras", "sen2", list(range(10)), **manifest_args)
        save_keras_model(path, net, manifest)
    return path, count_flops(net) / 1e9


def _models(workdir: Path, wanted: set[str]) -> tuple[dict, dict]:
    """{key: model file} and {key: GFLOPs per window} of the wanted rows' models."""
    from lcz_qgis.models import model_module, so2sat_resnet20
    from lcz_qgis.sample_data import write_so2sat_file
    from lcz_qgis.training.train import train_model

    h5 = workdir / "bench_train.h5"
    if not h5.exists():
        write_so2sat_file(h5, 600, seed=1)
    files, gflops = {}, {}
    if "rf" in wanted:
        files["rf"] = workdir / "bench_rf.lczmodel"
        if not files["rf"].exists():
            train_model(h5, files["rf"], model_type="rf", sensor="sen2", seed=0)
    shape = (32, 32, 10)
    builds = {
        "mlp": (lambda: model_module("mlp").build(shape), {}),
        "sen2lcznet": (lambda: model_module("sen2lcznet").build(shape), {}),
        "resnet20": (
            lambda: so2sat_resnet20.build(shape),
            {"preprocessing": [{"type": "so2sat_resnet20_s2_scaling"}]},
        ),
        "resnet50": (lambda: model_module("resnet50").build(shape), {}),
    }
    need = wanted | ({"sen2lcznet"} if "sen2lcznet_int8" in wanted else set())
    for key, (build, extra) in builds.items():
        if key in need:
            files[key], gflops[key] = _network(workdir, key, build, extra)
    if "sen2lcznet_int8" in wanted:
        files["sen2lcznet_int8"] = _int8(workdir, files["sen2lcznet"], h5)
        gflops["sen2lcznet_int8"] = gflops["sen2lcznet"]
    return files, gflops


def _int8(workdir: Path, float_file: Path, calibration: Path) -> Path:
    from lcz_qgis.models.quantize import quantize_model_file

    out = workdir / "bench_sen2lcznet_int8.lczmodel"
    if not out.exists():
        quantize_model_file(float_file, out, calibration, allow_low_agreement=True)
    return out


def run(workdir) -> list[dict]:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    size = int(os.environ.get("LCZ_BENCH_CITY_PX", "1000"))
    names = os.environ.get("LCZ_BENCH_CITY_MODELS")
    rows_wanted = [m for m in MODELS if not names or m[0].replace(" ", "_") in names.split(",")]
    raster = workdir / f"bench_s2_{size}.tif"
    if not raster.exists():
        _write_raster(raster, size)
    files, gflops = _models(workdir, {key for _, key, _ in rows_wanted})
    limit = run_python(_SGEMM)["gflop_s"]
    rows = []
    for name, key, runtime in rows_wanted:
        out = workdir / f"bench_city_{name.replace(' ', '_')}.tif"
        child = _CHILD.format(model=str(files[key]), runtime=runtime, out=str(out),
                              raster=str(raster))  # fmt: skip
        r = {"model": name, "raster px": size, **run_python(child)}
        if key in gflops:
            r["gflop_window"] = round(gflops[key], 3)
            r["gflop_s"] = round(gflops[key] * r["windows"] / r["wall_s"], 1)
            r["of_limit"] = round(r["gflop_s"] / limit, 2)
        rows.append(r)
    net = next((r["wall_s"] for r in rows if r["model"] == "sen2lcznet"), None)
    for r in rows:
        r["vs_sen2lcznet"] = round(r["wall_s"] / net, 2) if net else None
    return [*rows, {"model": "numpy SGEMM, all cores (the limit)", "gflop_s": limit}]
