"""Keras training: streaming vs in-memory throughput, memory vs file size, speed and FLOPs
per model type, and the efficient CNN against the notebook ResNet50.

Every measurement runs in its own child process (``common.run_python``):

(a) ``throughput``: training patches/s of the streamed pipeline ``train_keras`` uses
    (``so2sat.batches.ShuffledBatches`` + its training loop ``run_epochs``) against two
    in-memory baselines on the same rows held as one standardised float32 array:
    ``model.fit`` (what the notebook does), and the same ``run_epochs`` loop fed
    shuffled batches from that array. Same model, batch size and seed, for mlp and
    resnet50. The three alternate epoch by epoch in one process (so they share the
    machine's background load); reported: the best epoch of each after the first
    (which traces the graphs) and the median ratios of the paired epochs.
(b) ``memory``: peak RSS of training an mlp for one epoch on a ~1 GB and a ~4 GB random
    So2Sat-format file (float64 sen1 + sen2, as published).
(c) ``model``: for each model type, training and inference patches/s on this machine and
    analytic FLOPs per patch (``lcz_qgis.models.flops.count_flops``).
(d) ``accuracy``: sen2lcznet vs ResNet50 trained on the synthetic sample data (default
    sizes: 2,400 training / 600 test patches), both for 8 epochs, and sen2lcznet also for
    24 (about half of ResNet50's 8-epoch training time), with the default 10 % split for
    checkpoint selection, scored on test.h5.

Run: ``.venv/bin/python scripts/bench.py --only training`` (parts a-c, about 20 minutes
on 2 cores). Part (d) runs only when asked (``LCZ_BENCH_PARTS=abcd``, or ``d``): with
TensorFlow 2.17 on this 2-core CPU, ResNet50 trains at about 9 patches/s on 32 x 32
patches (62 in an earlier run, for reasons not known; TensorFlow 2.15 is as slow now:
docs/BENCHMARKS.md): the input gradients of its last stage's convolutions, on 1 x 1 and
2 x 2 cells with 512-2048 channels, take most of a step's 3.5 s (2.4 s in the five
slowest), with or without oneDNN and XLA, and on TensorFlow 2.21 too, while the forward
pass takes 0.3 s. Its 8 epochs alone take about 30 minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from .common import run_python

TITLE = "Keras training: streaming vs in-memory, memory, speed per model, efficient CNN"

ROW_BYTES = (32 * 32 * 8 + 32 * 32 * 10 + 17) * 8  # float64 sen1 + sen2 + label
MB = 2**20
# (a)
THROUGHPUT = {"mlp": dict(max_samples=6000, batch_size=64, rounds=7),
              "resnet50": dict(max_samples=480, batch_size=32, rounds=3)}  # fmt: skip
# (c) model type -> (sensor, max_samples, batch size, epochs)
MODELS = {
    "mlp": ("sen2", 4000, 64, 3),
    "mlp_diy": ("sen2", 4000, 64, 3),
    "sen2lcznet": ("sen2", 768, 64, 2),
    "fusion_late": ("fusion", 768, 64, 2),
    "resnet50": ("sen2", 384, 32, 2),
    "fusion": ("fusion", 384, 32, 2),
}
# (d) the same epochs for both, then sen2lcznet for 3x the epochs (still about half of
# ResNet50's training time)
ACCURACY_RUNS = (("resnet50", 8), ("sen2lcznet", 8), ("sen2lcznet", 24))
ACCURACY_BATCH = 32
DEFAULT_PARTS = "abc"  # (d): about 40 minutes (the module's docstring says why)


def write_random_so2sat(path: Path, n: int, seed: int = 0, chunk: int = 1024) -> Path:
    """A So2Sat-format file of random float64 patches with one-hot labels (fast)."""
    import h5py

    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        s1 = f.create_dataset("sen1", (n, 32, 32, 8), "f8")
        s2 = f.create_dataset("sen2", (n, 32, 32, 10), "f8")
        codes = rng.integers(0, 17, n)
        f["label"] = np.eye(17)[codes]
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            s2[a:b] = rng.random((b - a, 32, 32, 10)) * 0.3
            s1[a:b] = rng.standard_normal((b - a, 32, 32, 8)) * 0.1
    return path


_STREAM = """
import json, time, numpy as np
from benchmarks.common import peak_rss_mb
from lcz_qgis.training.keras_training import train_keras
from lcz_qgis.common.bands import sensor_channels
sensor = {sensor!r}
res = train_keras({path!r}, {out!r}, {model_type!r}, sensor,
                  list(range(len(sensor_channels(sensor)))), validation={val!r},
                  max_samples={max_samples}, epochs={epochs}, batch_size={batch_size},
                  early_stopping=0, seed=0)
sps = res.history["samples_per_second"]
row = dict(train_sps=max(sps[1:]) if len(sps) > 1 else sps[0], epochs_sps=sps,
           n_train=res.manifest["training"]["n_train"],
           params=res.manifest["architecture"]["params"])
if {inference}:
    from lcz_qgis.models.modelfile import load_model
    from lcz_qgis.so2sat.file import So2SatFile
    from lcz_qgis.models.flops import count_flops
    m = load_model({out!r})
    with So2SatFile({path!r}) as f:
        x = f.read(sensor, np.arange({n_inf}))
    m.predict_proba(x[:256])
    t = time.monotonic(); m.predict_proba(x); dt = time.monotonic() - t
    row.update(infer_sps=len(x) / dt, mflops=count_flops(m.network) / 1e6)
row["peak_rss_mb"] = peak_rss_mb()
print(json.dumps(row))
"""

_PAIRED = """
import json, time, numpy as np
import tensorflow as tf
from tensorflow import keras
from benchmarks.common import peak_rss_mb
from lcz_qgis.common.feedback import Feedback
from lcz_qgis.so2sat.batches import ShuffledBatches
from lcz_qgis.training.data_statistics import channel_statistics
from lcz_qgis.training.epoch_loop import make_multi_step, make_train_step, run_epochs
from lcz_qgis.training.input_transform import make_transform
from lcz_qgis.training.keras_model import BUILD_OPTIONS, build_model, make_optimizer
from lcz_qgis.so2sat.file import So2SatFile
from lcz_qgis.training.splits import subsample
path, mt, bs = {path!r}, {model_type!r}, {batch_size}
bands = list(range(10))
with So2SatFile(path) as f:
    idx = subsample(np.arange(f.n), {max_samples}, 0)
    y = (f.labels(idx) - 1).astype(np.int32)
    x = f.read("sen2", idx)
mean, std, _ = channel_statistics(path, "sen2", bands, idx, Feedback())
x -= np.float32(mean)
x /= np.float32(std)
keras.utils.set_random_seed(0)
model = build_model(mt, 10, dict(BUILD_OPTIONS[mt]))
opt = make_optimizer(1e-3, "constant", 1)
model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
stream = ShuffledBatches(path, "sen2", idx, y, bs, seed=0)
stream.transform = make_transform(stream.specs, bands, mean, std, False)
step = make_train_step(tf, model, opt, 10)
multi = make_multi_step(tf, model, opt, 10)
class InMemory:
    # shuffled chunks of whole batches from the array, as ShuffledBatches yields them
    def __init__(self): self.rng = np.random.default_rng(0)
    def chunks(self):
        p, per = self.rng.permutation(len(x)), stream.chunk_batches * bs
        for a in range(0, len(p) - len(p) % bs, per):
            sel = p[a : a + per]
            sel = sel[: len(sel) - len(sel) % bs]
            yield (x[sel].reshape(-1, bs, 32, 32, 10),), y[sel].reshape(-1, bs), None
class Loop:
    def epoch_begin(self, e): self.t = time.monotonic()
    def train_batch_end(self, b): return False
    def epoch_end(self, model, e, logs): self.dt = time.monotonic() - self.t; return False
class Timer(keras.callbacks.Callback):
    def on_epoch_begin(self, e, logs=None): self.t = time.monotonic()
    def on_epoch_end(self, e, logs=None): self.dt = time.monotonic() - self.t
loop, timer, fit, same, st = Loop(), Timer(), [], [], []
in_memory = InMemory()
for r in range({rounds}):
    model.fit(x, y, batch_size=bs, epochs=1, shuffle=True, verbose=0, callbacks=[timer])
    fit.append(len(x) / timer.dt)
    run_epochs(step, in_memory, loop, 1, model, multi)
    same.append(len(x) // bs * bs / loop.dt)
    run_epochs(step, stream, loop, 1, model, multi)
    st.append(len(x) / loop.dt)
stream.close()
fit, same, st = (np.array(v[1:]) for v in (fit, same, st))  # round 1 traces the graphs
print(json.dumps(dict(fit_sps=fit.max(), same_loop_sps=same.max(), streaming_sps=st.max(),
                      n_train=len(x), median_ratio_fit=float(np.median(st / fit)),
                      median_ratio_same_loop=float(np.median(st / same)),
                      peak_rss_mb=peak_rss_mb())))
"""

_ACCURACY = """
import json
from benchmarks.common import peak_rss_mb
from lcz_qgis.training.keras_training import train_keras
from lcz_qgis.evaluation.evaluate import evaluate_model
res = train_keras({train!r}, {out!r}, {model_type!r}, "sen2", list(range(10)),
                  epochs={epochs}, batch_size={batch_size}, early_stopping=0, seed=0)
s = evaluate_model({out!r}, {test!r}, batch_size=128)
print(json.dumps(dict(test_oa=s["oa"], test_kappa=s["kappa"], test_oa_w=s["oa_w"],
                      test_macro_f1=s["macro_f1"], val_oa=res.scores["oa"],
                      best_epoch=res.manifest["training"]["best_epoch"],
                      train_s=res.manifest["training"]["seconds"],
                      params=res.manifest["architecture"]["params"],
                      peak_rss_mb=peak_rss_mb())))
"""

_FLOPS = """
import json
from lcz_qgis.models.flops import count_flops
from lcz_qgis.training.keras_model import BUILD_OPTIONS, build_model
print(json.dumps({t: count_flops(build_model(t, 10, dict(BUILD_OPTIONS[t]))) / 1e6
                  for t in ("resnet50", "sen2lcznet")}))
"""


def _stream(path, val, out, model_type, sensor, max_samples, batch_size, epochs, inference=False):
    return run_python(
        _STREAM.format(
            path=str(path),
            val=str(val),
            out=str(out),
            model_type=model_type,
            sensor=sensor,
            max_samples=max_samples,
            batch_size=batch_size,
            epochs=epochs,
            inference=inference,
            n_inf=1024 if model_type not in ("resnet50", "fusion") else 256,
        )
    )


def _throughput(small: Path, save) -> None:
    """(a) alternating epochs in one process, same model: all see the same background
    load. Best epoch of each (after the first, which traces), and the median ratios."""
    for mt, o in THROUGHPUT.items():
        r = run_python(_PAIRED.format(path=str(small), model_type=mt, **o))
        save(
            dict(
                part="a throughput",
                model=mt,
                batch=o["batch_size"],
                patches=r["n_train"],
                streaming_sps=round(r["streaming_sps"], 1),
                fit_sps=round(r["fit_sps"], 1),
                same_loop_sps=round(r["same_loop_sps"], 1),
                ratio_fit=round(r["streaming_sps"] / r["fit_sps"], 3),
                ratio_same_loop=round(r["streaming_sps"] / r["same_loop_sps"], 3),
                median_ratio_fit=round(r["median_ratio_fit"], 3),
                median_ratio_same_loop=round(r["median_ratio_same_loop"], 3),
            )
        )


def _memory(work: Path, small: Path, val: Path, save) -> None:
    """(b) peak RSS of one mlp epoch over a ~1 GB and a ~4 GB file."""
    big = write_random_so2sat(work / "random_4gb.h5", int(4096 * MB // ROW_BYTES), seed=3)
    try:
        peaks = {}
        for name, path in (("1 GB", small), ("4 GB", big)):
            r = _stream(path, val, work / "b.lczmodel", "mlp", "sen2", 0, 64, 1)
            peaks[name] = r["peak_rss_mb"]
            row = dict(
                part="b memory",
                model="mlp",
                file=f"{name} ({path.stat().st_size / MB:.0f} MiB)",
                patches=r["n_train"],
                peak_rss_mb=round(r["peak_rss_mb"]),
                streaming_sps=round(r["train_sps"], 1),
            )
            if name == "4 GB":
                row["rss_rise"] = round(peaks["4 GB"] / peaks["1 GB"] - 1, 3)
            save(row)
    finally:
        big.unlink()


def _models(work: Path, small: Path, val: Path, save) -> None:
    """(c) training and inference patches/s and FLOPs per patch, each model type."""
    for mt, (sensor, n, bs, ep) in MODELS.items():
        r = _stream(small, val, work / f"c_{mt}.lczmodel", mt, sensor, n, bs, ep, True)
        save(
            dict(
                part="c model",
                model=mt,
                sensor=sensor,
                params=r["params"],
                mflops_per_patch=round(r["mflops"], 1),
                batch=bs,
                train_sps=round(r["train_sps"], 1),
                infer_sps=round(r["infer_sps"], 1),
            )
        )


def _accuracy(work: Path, save) -> None:
    """(d) the efficient CNN vs the notebook ResNet50 on the synthetic sample data."""
    from lcz_qgis.sample_data import write_sample_data

    sample = work / "sample"
    sample.mkdir(exist_ok=True)
    write_sample_data(sample, seed=42)
    flops = run_python(_FLOPS)
    for mt, epochs in ACCURACY_RUNS:
        r = run_python(
            _ACCURACY.format(
                train=str(sample / "train.h5"),
                test=str(sample / "test.h5"),
                out=str(work / f"d_{mt}.lczmodel"),
                model_type=mt,
                epochs=epochs,
                batch_size=ACCURACY_BATCH,
            )
        )
        save(
            dict(
                part="d accuracy",
                model=mt,
                params=r["params"],
                mflops_per_patch=round(flops[mt], 1),
                flops_vs_resnet50=round(flops[mt] / flops["resnet50"], 3),
                epochs=epochs,
                best_epoch=r["best_epoch"],
                train_s=r["train_s"],
                test_oa=round(r["test_oa"], 3),
                test_kappa=round(r["test_kappa"], 3),
                test_oa_w=round(r["test_oa_w"], 3),
                test_macro_f1=round(r["test_macro_f1"], 3),
            )
        )


def run(workdir) -> list[dict]:
    """Parts a-c, or those ``LCZ_BENCH_PARTS`` names (e.g. "ad"; d only when named).
    Rows are also written to ``bench_training/results.json`` as they come."""
    work = Path(workdir) / "bench_training"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    parts = os.environ.get("LCZ_BENCH_PARTS", DEFAULT_PARTS)
    rows: list[dict] = []

    def save(row: dict) -> None:
        rows.append(row)
        (work / "results.json").write_text(json.dumps(rows, indent=1))
        print(json.dumps(row), file=sys.stderr, flush=True)

    small = write_random_so2sat(work / "random_1gb.h5", int(1024 * MB // ROW_BYTES), seed=1)
    val = write_random_so2sat(work / "random_val.h5", 200, seed=2)
    try:
        if "a" in parts:
            _throughput(small, save)
        if "b" in parts:
            _memory(work, small, val, save)
        if "c" in parts:
            _models(work, small, val, save)
        if "d" in parts:
            _accuracy(work, save)
    finally:
        for p in work.glob("random_*.h5"):
            p.unlink()
    return rows
