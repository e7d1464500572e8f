"""ONNX Runtime against the framework, on the same windows (issue 23, item 5).

For each model type (Sen2LCZ-Net and ResNet-20 S2 imported from ``../shared/pretrained``
when the published weights are there, an MLP and a random forest trained on the synthetic
sample), one model file, and for each engine a fresh process that loads it with
``load_model(runtime=...)`` and predicts the same ``N`` random windows through
``LczModel.predict_proba`` (preprocessing and all), after a warm-up batch:

* ``engine``: ``onnx`` (spinning off, as the plugin runs it), ``onnx+spin`` (ONNX
  Runtime's default intra-op spinning on), ``tensorflow`` / ``scikit-learn`` (the
  framework's own engine);
* ``win_s``: windows per second (wall); ``cpu_ms_win``: process CPU (user + system) per
  window; ``cpu_wall``: CPU / wall (how many cores were kept busy);
* ``vs_framework``: wall time of the framework over this engine's (above 1: faster);
* ``max_diff``: the largest probability difference to the framework on these windows.
Every engine of one model runs in the same ``make bench`` run, one after another.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.common import REPO, run_python

TITLE = "Inference engines: ONNX Runtime vs TensorFlow / scikit-learn (same windows)"
N = {"sen2lcznet": 4096, "so2sat_resnet20_s2": 2048, "mlp": 8192, "rf": 4096}
PRETRAINED = {
    "sen2lcznet": "sen2lcznet_32_weights.best.hdf5",
    "so2sat_resnet20_s2": "so2sat_s2_resnet20.h5",
}

_CHILD = r"""
import json, os, time
import numpy as np
from lcz_qgis.models.modelfile import load_model
runtime, spin = {runtime!r}, {spin!r}
m = load_model({path!r}, runtime=runtime)
m.configure(len(os.sched_getaffinity(0)), deterministic=False)
if spin:
    import onnxruntime as ort
    from lcz_qgis.models.engines import onnx as eng
    o = ort.SessionOptions()
    o.intra_op_num_threads = len(os.sched_getaffinity(0))
    o.inter_op_num_threads = 1
    o.log_severity_level = 3
    m.engine.network = ort.InferenceSession(m.engine._graph, sess_options=o,
                                            providers=["CPUExecutionProvider"])
rng = np.random.default_rng(0)
x = (rng.random(({n}, 32, 32, m.input_channels)) * 0.3).astype(np.float32)
m.prepare_many(len(x))
m.predict_proba(x[:256], 256)
c0, t0 = os.times(), time.perf_counter()
p = m.predict_proba(x, 256)
wall = time.perf_counter() - t0
c1 = os.times()
np.save({out!r}, p, allow_pickle=False)
cpu = (c1.user - c0.user) + (c1.system - c0.system)
print(json.dumps({{"wall": wall, "cpu": cpu, "engine": m.engine.label}}))
"""


def _lcz(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "lcz_qgis", *args], cwd=REPO, check=True,
                   capture_output=True)  # fmt: skip


def _model_files(work: Path) -> dict[str, Path]:
    """name -> model file (made once per workdir)."""
    files = {}
    shared = REPO.parent / "shared" / "pretrained"
    for name, weights in PRETRAINED.items():
        out = work / f"engines_{name}.lczmodel"
        if not out.exists() and (shared / weights).is_file():
            _lcz("import-pretrained", "--weights", str(shared / weights), "--architecture",
                 name, "--output", str(out))  # fmt: skip
        if out.exists():
            files[name] = out
    sample = work / "engines_sample"
    if not (sample / "train.h5").exists():
        _lcz("sample-data", "--output-folder", str(sample), "--train-size", "800",
             "--test-size", "340")  # fmt: skip
    for name, extra in (("mlp", ["--epochs", "2"]), ("rf", [])):
        out = work / f"engines_{name}.lczmodel"
        if not out.exists():
            _lcz("train", "--train", str(sample / "train.h5"), "--model-type", name,
                 "--output", str(out), *extra)  # fmt: skip
        files[name] = out
    return files


def run(work: Path) -> list[dict]:
    import numpy as np

    rows = []
    for name, path in _model_files(work).items():
        runs = {}
        for label, runtime, spin in (
            ("framework", "tensorflow", False),  # the model's own framework
            ("onnx", "onnx", False),
            ("onnx+spin", "onnx", True),
        ):
            out = work / f"engines_{name}_{label}.npy"
            code = _CHILD.format(runtime=runtime, spin=spin, path=str(path), n=N[name],
                                 out=str(out))  # fmt: skip
            runs[label] = {**run_python(code), "p": np.load(out)}
        base = runs["framework"]
        for label, r in runs.items():
            rows.append({
                "model": name,
                "engine": r["engine"] + (" (spinning)" if label == "onnx+spin" else ""),
                "windows": N[name],
                "win_s": N[name] / r["wall"],
                "cpu_ms_win": 1000 * r["cpu"] / N[name],
                "cpu_wall": r["cpu"] / r["wall"],
                "vs_framework": base["wall"] / r["wall"],
                "max_diff": float(np.abs(r["p"] - base["p"]).max()),
            })  # fmt: skip
    return rows


if __name__ == "__main__":
    from benchmarks.common import print_table

    work = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "bench_output")
    work.mkdir(parents=True, exist_ok=True)
    print_table(TITLE, run(work))
    print(json.dumps({"done": True}))
