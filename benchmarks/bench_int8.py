"""int8 against float32: a full-size Sen2LCZ-Net (depth 17, 16 filters) trained briefly on
the sample data, quantised with ``lcz quantize-model`` (int8 and uint8 activations),
each file timed on the same windows through ``load_model`` (ONNX Runtime, the cores the
process may use; wall and process CPU seconds, the CPU a better guide on a shared
machine), with its class agreement and accuracy on the sample test set. int8 pays off
only where the CPU has int8 dot products (VNNI): docs/onnx.md, "int8 models"."""

from __future__ import annotations

from benchmarks.common import run_python

TITLE = "int8 vs float32 Sen2LCZ-Net on ONNX Runtime (sample data, 4096 windows, best of 3)"

CHILD = """
import json, os, time, numpy as np
from lcz_qgis.sample_data import write_sample_data
from lcz_qgis.training.train import train_model
from lcz_qgis.models.quantize import quantize_model_file
from lcz_qgis.models.modelfile import load_model
from lcz_qgis.so2sat.file import So2SatFile
from benchmarks.common import peak_rss_mb

def timed(m, x):
    t, c = time.monotonic(), time.process_time()
    m.predict_proba(x)
    return time.monotonic() - t, time.process_time() - c

d = {folder!r}
if not os.path.exists(os.path.join(d, "test.h5")):
    os.makedirs(d, exist_ok=True)
    write_sample_data(d, seed=42)
fp = os.path.join(d, "s2n_full.lczmodel")
if not os.path.exists(fp):
    train_model(os.path.join(d, "train.h5"), fp, model_type="sen2lcznet", seed=0, epochs=2,
                batch_size=32, early_stopping=0)
files = {{"float32": fp}}
for act in ("int8", "uint8"):
    files[act] = os.path.join(d, f"s2n_full_{{act}}.lczmodel")
    quantize_model_file(fp, files[act], os.path.join(d, "train.h5"), activations=act,
                        allow_low_agreement=True)
with So2SatFile(os.path.join(d, "test.h5")) as f:
    x = f.read("sen2", np.arange(f.n)); y = f.labels()
big = np.concatenate([x] * (4096 // len(x) + 1))[:4096]
rows, ref = [], None
for name, path in files.items():
    m = load_model(path)
    m.predict_proba(big[:256])
    best, cpu = min(timed(m, big) for _ in range(3))
    p = m.predict(x)
    ref = p if ref is None else ref
    rows.append({{"model": name, "runtime": m.runtime, "windows_per_s": round(len(big) / best),
                  "wall_s": round(best, 3), "cpu_s": round(cpu, 3), "test_oa": round(float(np.mean(p == y)), 4),
                  "test_agreement_with_float32": round(float(np.mean(p == ref)), 4)}})
for r in rows:
    r["wall_vs_float32"] = round(r["wall_s"] / rows[0]["wall_s"], 2)
    r["cpu_vs_float32"] = round(r["cpu_s"] / rows[0]["cpu_s"], 2)
print(json.dumps({{"rows": rows, "peak_rss_mb": round(peak_rss_mb())}}))
"""


def run(workdir):
    out = run_python(CHILD.format(folder=str(workdir / "sample_data")))
    return [{**r, "peak_rss_mb": out["peak_rss_mb"]} for r in out["rows"]]
