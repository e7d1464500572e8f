"""classify-many: 4 rasters on a 2-worker LocalCluster against one process doing them in turn.

The rasters are 4 copies of the sample city's scene (512 x 512 px, 10 m); the model is
the sample random forest. Both sides are timed from a warm process: scikit-learn and
skops are imported before the clock starts (in the baseline process, and in each
worker by the run's warm-up), then the clock covers loading the model and classifying
the 4 rasters. So ``seconds`` of the cluster is the workers' model load (side by side)
plus first submission to last result; ``incl. cluster start`` adds starting the
cluster and the workers' imports.

Baselines: ``1 thread`` predicts with the forest's ``n_jobs=1`` and OpenMP/BLAS at 1
thread, as each worker does (the speed-up is what the two worker processes add);
``2 threads`` lets the one process use both cores (``n_jobs=2``, OpenMP/BLAS 2);
``side by side`` runs two such 1-thread processes at once, two rasters each, with no
Dask at all: the speed-up two processes can give on this machine, the cluster's
ceiling. The
scheduling overhead is the wall time beyond the busiest worker's task time. ``CPU s
per raster`` (the process's CPU seconds while it classifies one raster) tells what a
task costs when other work shares the cores and the wall times say little.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .common import run_python

TITLE = "classify-many on a 2-worker LocalCluster (4 rasters)"
N = 4

_BASELINE = """
import json, os, sys, time
threads = int(os.environ["B_THREADS"])
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(threads)
import sklearn.ensemble, skops.io, rasterio, osgeo.gdal  # warm, as the workers are
from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.models.modelfile import load_model
rasters, model_path, out = json.loads(os.environ["B"])
t0 = time.monotonic()
model = load_model(model_path)
model.configure(threads, deterministic=True)
t1 = time.monotonic()
per, cpu = [], []
for i, r in enumerate(rasters):
    t, c = time.monotonic(), time.process_time()
    classify_raster(model, os.path.join(out, f"seq_{i}.tif"), r)
    per.append(time.monotonic() - t)
    cpu.append(time.process_time() - c)
print(json.dumps({"seconds": time.monotonic() - t0, "load": t1 - t0, "per": per, "cpu": cpu}))
"""


def _inputs(work: Path) -> tuple[list[str], str]:
    from lcz_qgis.sample_data import write_sample_data
    from lcz_qgis.training.train import train_model

    d = work / "many_sample"
    if not (d / "rf.lczmodel").exists():
        write_sample_data(d, seed=42, n_train=1200, n_test=400)
        train_model(d / "train.h5", d / "rf.lczmodel", model_type="rf", sensor="sen2", seed=0)
    rasters = []
    for i in range(N):
        p = d / f"city_{i}.tif"
        shutil.copyfile(d / "scene_s2.tif", p)
        rasters.append(str(p))
    return rasters, str(d / "rf.lczmodel")


def _baseline(rasters, model, out: Path, threads: int) -> dict:
    import json
    import os

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    os.environ["B"] = json.dumps([rasters, model, str(out)])
    os.environ["B_THREADS"] = str(threads)
    try:
        return run_python(_BASELINE)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _side_by_side(rasters, model, out: Path) -> list[dict]:
    """Two plain processes at once (no Dask), each doing half the rasters at 1 thread:
    the speed-up two processes can give on this machine, whatever runs them."""
    import json
    import os
    from concurrent.futures import ThreadPoolExecutor

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    half = len(rasters) // 2
    codes = []
    for k, part in enumerate((rasters[:half], rasters[half:])):
        sub = out / f"p{k}"
        sub.mkdir()
        codes.append(
            f"import os\nos.environ['B'] = {json.dumps([part, model, str(sub)])!r}\n"
            f"os.environ['B_THREADS'] = '1'\n" + _BASELINE
        )
    try:
        os.environ["B_THREADS"] = "1"
        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(run_python, codes))
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _cluster(rasters, model, out: Path) -> dict:
    code = (
        "import json, time\n"
        "from lcz_qgis.cluster.run import ManyOptions, classify_many\n"
        "if __name__ == '__main__':\n"
        "    t0 = time.monotonic()\n"
        f"    rep = classify_many({rasters!r}, {model!r}, {str(out)!r},\n"
        "                        ManyOptions(workers=2, threads=1))\n"
        "    total = time.monotonic() - t0\n"
        "    done = [t for t in rep.tasks if t['status'] == 'done']\n"
        "    print(json.dumps({'wall': rep.wall_s, 'total': total, 'overhead': rep.overhead,\n"
        "                      'load': rep.load_s, 'imports': rep.import_s,\n"
        "                      'task_s': rep.task_seconds, 'n': len(done),\n"
        "                      'cpu_s': sum(t['cpu_seconds'] for t in done)}))\n"
    )
    shutil.rmtree(out, ignore_errors=True)
    try:
        return run_python(code)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run(workdir) -> list[dict]:
    """Measure the baselines and the cluster; one row each."""
    work = Path(workdir)
    rasters, model = _inputs(work)
    one = _baseline(rasters, model, work / "many_seq", 1)
    res = _cluster(rasters, model, work / "many_out")
    two = _baseline(rasters, model, work / "many_seq", 2)
    pair = _side_by_side(rasters, model, work / "many_pair")
    seconds = res["load"] + res["wall"]
    rows = []
    for name, b in (("1 process, 1 thread, 4 rasters in turn", one),
                    ("1 process, 2 threads, 4 rasters in turn", two)):  # fmt: skip
        rows.append({"run": name, "seconds": round(b["seconds"], 2),
                     "model load": round(b["load"], 2),
                     "s per raster": round(sum(b["per"]) / len(b["per"]), 2),
                     "CPU s per raster": round(sum(b["cpu"]) / len(b["cpu"]), 2)})  # fmt: skip
    per = [s for b in pair for s in b["per"]]
    pair_s = max(b["seconds"] for b in pair)
    rows.append({"run": "2 plain processes side by side (no Dask), 2 rasters each",
                 "seconds": round(pair_s, 2),
                 "model load": round(max(b["load"] for b in pair), 2),
                 "s per raster": round(sum(per) / len(per), 2),
                 "CPU s per raster": round(sum(c for b in pair for c in b["cpu"]) / len(per), 2),
                 "speed-up vs 1 thread": round(one["seconds"] / pair_s, 2)})  # fmt: skip
    rows.append({
        "run": "LocalCluster 2 workers x 1 thread",
        "seconds": round(seconds, 2), "model load": round(res["load"], 2),
        "s per raster": round(res["task_s"] / max(1, res["n"]), 2),
        "CPU s per raster": round(res["cpu_s"] / max(1, res["n"]), 2),
        "incl. cluster start": round(res["total"], 2),
        "speed-up vs 1 thread": round(one["seconds"] / seconds, 2),
        "vs 2 threads": round(two["seconds"] / seconds, 2),
        "scheduling overhead %": round(100 * (res["overhead"] or 0), 1),
    })  # fmt: skip
    return rows
