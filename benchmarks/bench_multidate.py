"""Multi-date fusion cost: ``classify_dates`` on D dates vs D single-date ``classify_raster``
runs (target: fused time <= D x one date's time x 1.05).

Per model (rf, and the untrained MLP: a Keras model, whose predictions dominate), in a
fresh process: the dates are copies of one 10-band raster written as ``prepare-s2``
writes it (``bench_classify._write_raster``), each a separate file; one date is
classified alone and the D dates fused, alternately, ``ROUNDS`` times; the best of each
is kept. Columns: ``one_date_s``, ``fused_s`` (all outputs a user would ask: map,
confidence, agreement, date count), ``ratio_vs_d_dates`` = fused / (D x one date),
``median_paired_ratio`` the median over the rounds of each round's own ratio, and
the same for the process's CPU seconds (all threads; less sensitive to other work on a
shared machine than wall time), and the peak RSS of the child (fused runs hold one
block per date). The machine may be shared with other work: compare the ratios.
Environment: ``LCZ_BENCH_MODELS`` (e.g. ``rf``), ``LCZ_BENCH_MULTIDATE_DATES``
(default ``2,3``), ``LCZ_BENCH_MULTIDATE_ROUNDS`` (default 3).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from benchmarks.bench_classify import _models, _write_raster
from benchmarks.common import run_python

TITLE = "Multi-date fusion (classify_dates vs D single-date runs)"
SIZE = 1024  # pixels: a 10 km city at 10 m
DATES = tuple(int(d) for d in os.environ.get("LCZ_BENCH_MULTIDATE_DATES", "2,3").split(","))
ROUNDS = int(os.environ.get("LCZ_BENCH_MULTIDATE_ROUNDS", "3"))
BATCH = {"rf": 512, "mlp": 512}

_CHILD = r"""
import json, time
from time import process_time
from benchmarks.common import peak_rss_mb
from lcz_qgis.models.modelfile import load_model
from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.classify.multidate import classify_dates
model = load_model({model!r})
dates = {dates!r}
out = {out!r}
B = {batch}
classify_raster(model, out + "/warm.tif", sentinel2=dates[0], stride=10, batch_size=B)
one, fused, one_cpu, fused_cpu = [], [], [], []
for r in range({rounds}):
    t, c = time.perf_counter(), process_time()
    classify_raster(model, out + "/one.tif", sentinel2=dates[0], stride=10, batch_size=B,
                    confidence=out + "/one_c.tif")
    one.append(time.perf_counter() - t)
    one_cpu.append(process_time() - c)
    t, c = time.perf_counter(), process_time()
    res = classify_dates(model, out + "/fused.tif", dates[0], dates[1:], stride=10,
                         batch_size=B, confidence=out + "/c.tif", agreement=out + "/a.tif",
                         date_count=out + "/n.tif")
    fused.append(time.perf_counter() - t)
    fused_cpu.append(process_time() - c)
paired = sorted(f / o for f, o in zip(fused, one))
print(json.dumps(dict(one=min(one), fused=min(fused), one_cpu=min(one_cpu),
                      paired=paired[len(paired) // 2],
                      fused_cpu=min(fused_cpu), windows=res.windows_total,
                      peak_rss_mb=peak_rss_mb())))
"""


def run(workdir) -> list[dict]:
    """Measure each model and date count; rows for ``scripts/bench.py``'s table."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    models = _models(workdir)
    base = workdir / f"bench_s2_{SIZE}.tif"
    if not base.exists():
        _write_raster(base, SIZE)
    copies = []
    for k in range(max(DATES)):
        p = workdir / f"bench_date{k + 1}_{SIZE}.tif"
        if not p.exists():
            shutil.copyfile(base, p)
        copies.append(str(p))
    out = workdir / "bench_multidate"
    out.mkdir(exist_ok=True)
    rows = []
    only = os.environ.get("LCZ_BENCH_MODELS")
    for name in BATCH:
        if only and name not in only.split(","):
            continue
        for n in DATES:
            r = run_python(
                _CHILD.format(
                    model=str(models[name]),
                    dates=copies[:n],
                    out=str(out),
                    batch=BATCH[name],
                    rounds=ROUNDS,
                )  # fmt: skip
            )
            rows.append(
                {
                    "model": name,
                    "raster": f"{SIZE}x{SIZE}",
                    "dates": n,
                    "windows_per_date": r["windows"],
                    "one_date_s": round(r["one"], 2),
                    "fused_s": round(r["fused"], 2),
                    "ratio_vs_d_dates": round(r["fused"] / (n * r["one"]), 3),
                    "median_paired_ratio": round(r["paired"] / n, 3),
                    "one_date_cpu_s": round(r["one_cpu"], 2),
                    "fused_cpu_s": round(r["fused_cpu"], 2),
                    "cpu_ratio_vs_d_dates": round(r["fused_cpu"] / (n * r["one_cpu"]), 3),
                    "peak_rss_mb": round(r["peak_rss_mb"]),
                }
            )
    return rows
