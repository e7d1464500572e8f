"""rf feature sets: accuracy and training time of patch statistics vs raw pixels."""

from __future__ import annotations

from benchmarks.common import run_python

TITLE = "rf feature sets (sample data: 2400 train / 600 test patches, 200 trees)"

CHILD = """
import json, time, numpy as np, os
from lcz_qgis.sample_data import write_sample_data
from lcz_qgis.training.train import train_model
from lcz_qgis import load_model
from lcz_qgis.so2sat.file import So2SatFile
from lcz_qgis.evaluation.metrics import lcz_scores
from benchmarks.common import peak_rss_mb
d = {folder!r}
if not os.path.exists(os.path.join(d, "test.h5")):
    os.makedirs(d, exist_ok=True)
    write_sample_data(d, seed=42)
t = time.monotonic()
train_model(os.path.join(d, "train.h5"), os.path.join(d, "rf_{features}.lczmodel"),
            features={features!r}, seed=0)
train_s = time.monotonic() - t
m = load_model(os.path.join(d, "rf_{features}.lczmodel"))
with So2SatFile(os.path.join(d, "test.h5")) as f:
    x = f.read("sen2", np.arange(f.n)); y = f.labels()
t = time.monotonic(); p = m.predict(x); pred_s = time.monotonic() - t
s = lcz_scores(y, p)
print(json.dumps({{"features": {features!r}, "train_s": round(train_s, 1),
    "predict_patches_per_s": round(len(x) / pred_s), "test_oa": round(s["oa"], 3),
    "test_kappa": round(s["kappa"], 3), "test_oa_w": round(s["oa_w"], 3),
    "peak_rss_mb": round(peak_rss_mb())}}))
"""


def run(workdir):
    folder = str(workdir / "sample_data")
    return [run_python(CHILD.format(folder=folder, features=f)) for f in ("stats", "raw")]
