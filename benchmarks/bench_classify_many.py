"""classify-many: 4 rasters on a 2-worker LocalCluster against one process doing them in turn.

The rasters are 4 copies of the sample city's scene (512 x 512 px, 10 m); the model is
the sample random forest. Both sides predict with one thread per task (the workers' and
the baseline's forest with ``n_jobs=1``, TensorFlow/OpenMP threads 1), so the speed-up
is what the two worker processes add. ``wall`` is first submission to last result (the
cluster's start is reported apart); the scheduling overhead is that wall time beyond the
busiest worker's task time.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .common import run_python

TITLE = "classify-many on a 2-worker LocalCluster (4 rasters)"
N = 4

_BASELINE = """
import json, os, sys, time
os.environ["OMP_NUM_THREADS"] = "1"
from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.models.modelfile import load_model
rasters, model_path, out = json.loads(os.environ["B"])
t0 = time.monotonic()
model = load_model(model_path)
model.estimator.n_jobs = 1
for i, r in enumerate(rasters):
    classify_raster(model, os.path.join(out, f"seq_{i}.tif"), r)
print(json.dumps({"seconds": time.monotonic() - t0}))
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


def run(workdir) -> list[dict]:
    """Measure both sides; one row each."""
    import json
    import os

    work = Path(workdir)
    rasters, model = _inputs(work)
    out = work / "many_seq"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    os.environ["B"] = json.dumps([rasters, model, str(out)])
    base = run_python(_BASELINE)["seconds"]
    code = (
        "import json, time\n"
        "from lcz_qgis.cluster.run import ManyOptions, classify_many\n"
        "if __name__ == '__main__':\n"
        "    t0 = time.monotonic()\n"
        f"    rep = classify_many({rasters!r}, {model!r}, {str(work / 'many_out')!r},\n"
        "                        ManyOptions(workers=2, threads=1))\n"
        "    total = time.monotonic() - t0\n"
        "    print(json.dumps({'wall': rep.wall_s, 'total': total, 'overhead': rep.overhead,\n"
        "                      'task_s': rep.task_seconds, 'done': rep.count('done')}))\n"
    )
    shutil.rmtree(work / "many_out", ignore_errors=True)
    res = run_python(code)
    shutil.rmtree(work / "many_out", ignore_errors=True)
    return [
        {"run": "1 process, 4 rasters in turn", "seconds": round(base, 2)},
        {
            "run": "LocalCluster 2 workers",
            "seconds": round(res["wall"], 2),
            "incl. cluster start": round(res["total"], 2),
            "speed-up": round(base / res["wall"], 2),
            "task s (sum)": round(res["task_s"], 2),
            "scheduling overhead %": round(100 * (res["overhead"] or 0), 1),
        },
    ]
