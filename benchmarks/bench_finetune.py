"""Fine-tuning the published Sen2LCZ-Net (``lcz train --init-model``), and temperature
scaling of the result.

The published weights (../shared/pretrained/sen2lcznet_32_weights.best.hdf5) are imported
with ``import_pretrained``; without them a Sen2LCZ-Net at the published width trained for
one epoch stands in (the speed is the same, the accuracy gain is then not the published
model's). It is fine-tuned on ``N`` synthetic sample patches (``sample_data``, the
generator of the sample city; default 5,000, ``LCZ_BENCH_FINETUNE_N``) for ``EPOCHS``
epochs (``LCZ_BENCH_FINETUNE_EPOCHS``, default 2), once training every layer and once
the classification head only. Reported per run: training patches/s (median over the
epochs), wall time, and OA / kappa / ECE on a held-out file of the same generator
(another seed, 1,000 patches) before and after; then the fitted temperature and the ECE
after ``lcz calibrate`` (fitted on the validation file, scored on the held-out one).
Each run is its own child process (``common.run_python``).

Run: ``LCZ_BENCH_FINETUNE_N=1000 .venv/bin/python scripts/bench.py --only finetune``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .common import REPO, run_python

TITLE = "Fine-tuning Sen2LCZ-Net (published weights) and temperature scaling"

N = int(os.environ.get("LCZ_BENCH_FINETUNE_N", "5000"))
EPOCHS = int(os.environ.get("LCZ_BENCH_FINETUNE_EPOCHS", "2"))
N_HELD_OUT = 1000
N_VALIDATION = 500
BATCH = 32
WEIGHTS = REPO.parent / "shared" / "pretrained" / "sen2lcznet_32_weights.best.hdf5"

_PREPARE = """
import json
from pathlib import Path
from lcz_qgis.sample_data import write_so2sat_file
w = Path({work!r})
write_so2sat_file(w / "train.h5", {n}, seed=101)
write_so2sat_file(w / "val.h5", {n_val}, seed=102)
write_so2sat_file(w / "held_out.h5", {n_held}, seed=103)
weights = Path({weights!r})
if weights.is_file():
    from lcz_qgis.models.pretrained_import import import_pretrained
    import_pretrained(w / "init.lczmodel", weights=weights)
    source = "published weights"
else:
    from lcz_qgis.training.keras_training import train_keras
    train_keras(w / "val.h5", w / "init.lczmodel", "sen2lcznet", "sen2", list(range(10)),
                epochs=1, model_options={{"base_filters": 16}})
    source = "stand-in (published weights not found)"
print(json.dumps({{"source": source}}))
"""

_FINETUNE = """
import json, time
import numpy as np
from pathlib import Path
from lcz_qgis.evaluation.evaluate import evaluate_model, calibrate_to_file
from lcz_qgis.training.keras_training import finetune_keras
w = Path({work!r})
before = evaluate_model(w / "init.lczmodel", w / "held_out.h5")
t0 = time.monotonic()
res = finetune_keras(w / "train.h5", w / "ft.lczmodel", w / "init.lczmodel",
                     validation=w / "val.h5", epochs={epochs}, batch_size={batch},
                     learning_rate=1e-4, freeze={freeze!r}, early_stopping=0)
wall = time.monotonic() - t0
after = evaluate_model(w / "ft.lczmodel", w / "held_out.h5")
cal = calibrate_to_file(w / "ft.lczmodel", w / "val.h5", w / "cal.lczmodel")
scored = evaluate_model(w / "cal.lczmodel", w / "held_out.h5")
sps = [v for v in res.history["samples_per_second"][1:] if v] or \\
      [v for v in res.history["samples_per_second"] if v]
print(json.dumps({{
    "patches_per_s": float(np.median(sps)), "wall_s": wall,
    "oa_before": before["oa"], "oa_after": after["oa"],
    "kappa_before": before["kappa"], "kappa_after": after["kappa"],
    "ece_before": before["ece"], "ece_after": after["ece"],
    "temperature": cal["temperature"], "ece_calibrated": scored["ece"],
}}))
"""


def run(workdir) -> list[dict]:
    """Prepare the data and the init model, then fine-tune it twice (all layers, head)."""
    work = Path(workdir) / "finetune"
    work.mkdir(parents=True, exist_ok=True)
    prep = run_python(
        _PREPARE.format(work=str(work), n=N, n_val=N_VALIDATION, n_held=N_HELD_OUT,
                        weights=str(WEIGHTS))
    )  # fmt: skip
    rows = []
    for freeze in ("none", "all-but-head"):
        r = run_python(_FINETUNE.format(work=str(work), epochs=EPOCHS, batch=BATCH, freeze=freeze))
        rows.append(
            {
                "init model": prep["source"],
                "freeze": freeze,
                "patches": N,
                "epochs": EPOCHS,
                "patches/s": round(r["patches_per_s"], 1),
                "wall s": round(r["wall_s"], 1),
                "OA before -> after": f"{r['oa_before']:.3f} -> {r['oa_after']:.3f}",
                "kappa before -> after": f"{r['kappa_before']:.3f} -> {r['kappa_after']:.3f}",
                "ECE before -> after": f"{r['ece_before']:.3f} -> {r['ece_after']:.3f}",
                "T": round(r["temperature"], 3),
                "ECE calibrated": round(r["ece_calibrated"], 3),
            }
        )
    (work / "results.json").write_text(json.dumps(rows, indent=1))
    return rows
