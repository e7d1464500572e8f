"""`make demo`: sample data -> random forest -> LCZ map of the sample city -> PNG + report.

Run as ``python -m lcz_qgis.demo --output-folder demo_output``. Everything it uses is
SYNTHETIC sample data generated on the spot.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from .classify.map_image import render_map_png
from .classify.pipeline import classify_raster
from .common.enums import Sensor
from .common.feedback import ConsoleFeedback
from .evaluation.metrics import lcz_scores
from .models.modelfile import load_model
from .raster.io import read_lcz_map
from .sample_data import write_sample_data
from .training.train import train_model


def truth_at_cells(truth: np.ndarray, grid) -> np.ndarray:
    """Reference LCZ at each output cell: the truth pixel under the cell's centre
    (= the centre of its 32x32 window)."""
    rows = np.arange(grid.rows) * grid.stride + 16
    cols = np.arange(grid.cols) * grid.stride + 16
    rows = np.clip(rows, 0, truth.shape[0] - 1)
    cols = np.clip(cols, 0, truth.shape[1] - 1)
    return truth[np.ix_(rows, cols)]


def map_accuracy(map_tif, truth_tif, grid) -> dict:
    """Scores (``metrics.lcz_scores``) of an LCZ map against a 10 m truth raster.

    Each classified cell of ``map_tif`` (code > 0) is compared with the truth pixel under
    its centre (``truth_at_cells``); ``grid`` is the map's ``OutputGrid``.
    """
    mapped, _ = read_lcz_map(map_tif)
    truth, _ = read_lcz_map(truth_tif)
    ref = truth_at_cells(truth, grid)
    ok = mapped > 0
    return lcz_scores(ref[ok], mapped[ok])


def _report_lines(model_path: Path, n_test: int, test: dict, acc: dict, res) -> list[str]:
    """The lines of report.md: the model, its test.h5 and map scores, the map size."""
    return [
        "# LCZ demo report (SYNTHETIC sample data)",
        "",
        f"Model: random forest on Sentinel-2 patch statistics ({model_path.name}).",
        f"- test.h5 ({n_test} patches): OA {test['oa']:.3f}, kappa {test['kappa']:.3f}, "
        f"OA_w {test['oa_w']:.3f}",
        f"- map vs scene_truth.tif ({acc['n']} cells, truth under each cell centre): "
        f"OA {acc['oa']:.3f}, kappa {acc['kappa']:.3f}, OA_u {acc['oa_u']:.3f}, "
        f"OA_bu {acc['oa_bu']:.3f}, OA_w {acc['oa_w']:.3f}",
        f"- map: {res.grid.cols} x {res.grid.rows} cells of 100 m, {res.windows_valid} windows "
        f"classified in {res.seconds:.1f} s",
        "",
        "Files: lcz_map.tif (+ .qml style), lcz_confidence.tif, lcz_map.png, scene_truth.png, "
        "report.json, sample_data/.",
    ]


def run(folder: Path, seed: int = 42) -> dict:
    """Run the whole demo in ``folder``: sample data, a random forest, a map and a report.

    Writes the synthetic sample data (``sample_data/``), ``rf_sen2.lczmodel``, the map
    (``lcz_map.tif`` with its ``.qml``, ``lcz_confidence.tif``, ``lcz_map.png``),
    ``scene_truth.png``, ``report.json`` and ``report.md``, and prints a summary.

    Returns:
        The ``report.json`` content: validation, test.h5 and map-vs-truth scores, map
        size and timings.
    """
    fb = ConsoleFeedback()
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    print("1/4 writing the SYNTHETIC sample data ...", flush=True)
    data = folder / "sample_data"
    data.mkdir(exist_ok=True)
    write_sample_data(data, seed=seed, feedback=fb)
    print("2/4 training a random forest (rf, Sentinel-2, patch statistics) ...", flush=True)
    model_path = folder / "rf_sen2.lczmodel"
    trained = train_model(
        data / "train.h5", model_path, model_type="rf", sensor=Sensor.SEN2, seed=seed, feedback=fb
    )
    print("3/4 classifying the sample city with 32x32 windows, stride 10 (100 m) ...", flush=True)
    model = load_model(model_path)
    map_tif = folder / "lcz_map.tif"
    res = classify_raster(
        model,
        map_tif,
        sentinel2=data / "scene_s2.tif",
        stride=10,
        confidence=folder / "lcz_confidence.tif",
        feedback=fb,
    )
    print("4/4 map image and accuracy report ...", flush=True)
    png = render_map_png(
        map_tif,
        folder / "lcz_map.png",
        subtitle="Sample city (SYNTHETIC data) - random forest on Sentinel-2",
    )
    render_map_png(
        data / "scene_truth.tif",
        folder / "scene_truth.png",
        title="Sample city: the LCZ zones it was generated from",
        subtitle="SYNTHETIC reference at 10 m",
    )
    acc = map_accuracy(map_tif, data / "scene_truth.tif", res.grid)
    from .so2sat.file import So2SatFile

    with So2SatFile(data / "test.h5") as f:
        ref = f.labels()
        pred = model.predict(f.read(Sensor.SEN2, np.arange(f.n)))
    test = lcz_scores(ref, pred)
    report = {
        "note": "All data here is SYNTHETIC (lcz_qgis sample data).",
        "model": str(model_path),
        "validation": {k: trained.scores.get(k) for k in ("oa", "kappa", "oa_w")},
        "test_h5": {k: test[k] for k in ("oa", "kappa", "macro_f1", "oa_u", "oa_bu", "oa_w")},
        "map_vs_scene_truth": {k: acc[k] for k in ("oa", "kappa", "oa_u", "oa_bu", "oa_w", "n")},
        "map": {
            "cells": [res.grid.cols, res.grid.rows],
            "windows_classified": res.windows_valid,
            "seconds": round(res.seconds, 2),
        },
        "total_seconds": round(time.monotonic() - t0, 1),
    }
    (folder / "report.json").write_text(json.dumps(report, indent=2))
    lines = _report_lines(model_path, len(ref), test, acc, res)
    (folder / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[2:6]))
    print(f"\nDemo outputs in {folder.resolve()}/:")
    for name in ("lcz_map.tif", "lcz_map.qml", "lcz_map.png", "lcz_confidence.tif", "report.md"):
        print(f"  {folder / name}")
    print(f"Open {png} to look at the map, or load lcz_map.tif in QGIS (styled by lcz_map.qml).")
    print(f"Total {report['total_seconds']} s.")
    return report


def main(argv=None) -> int:
    """Command-line entry point (``--output-folder``, ``--seed``); returns the exit status 0."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--output-folder", default="demo_output")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    run(Path(args.output_folder), args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
