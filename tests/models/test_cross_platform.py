"""Model files from the other platform of the CI (issue 22, item 6).

``scripts/cross_platform.py DIR`` trains an MLP and a forest and imports Sen2LCZ-Net on one
platform (Debian 12: Python 3.11, numpy 1, TensorFlow 2.17; or Debian 13: Python 3.13,
numpy 2, TensorFlow 2.21) and classifies the sample scene with them there. Here, on the
other platform, the same files classify the same scene: the same map, probabilities
within 1e-5, on every engine this platform has. ``.ci/run`` sets ``LCZ_CROSS_DIR``; the
tests skip without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lcz_qgis.raster.io import read_lcz_map

CROSS = os.environ.get("LCZ_CROSS_DIR")
pytestmark = pytest.mark.skipif(not CROSS, reason="LCZ_CROSS_DIR not set (.ci/run sets it)")
ROOT = Path(__file__).resolve().parents[2]


def _meta() -> dict:
    return json.loads((Path(CROSS) / "platform.json").read_text())


def _models() -> list[str]:
    return list(_meta()["models"]) if CROSS else []


def _engines(name: str) -> list[str]:
    """The engines to try on this platform: ONNX Runtime, and the framework."""
    return ["onnx", "auto"] if name == "rf" else ["onnx", "tensorflow"]


def _read_probabilities(path: Path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as src:
        return src.read().astype(np.float64)


@pytest.mark.parametrize("name", _models())
def test_the_other_platforms_model_gives_the_same_map(name, tmp_path):
    folder = Path(CROSS)
    meta = _meta()
    written_map, written_profile = read_lcz_map(folder / f"{name}_map.tif")
    written_p = _read_probabilities(folder / f"{name}_probabilities.tif")
    for engine in _engines(name):
        out, proba = tmp_path / f"{engine}_map.tif", tmp_path / f"{engine}_p.tif"
        cmd = [
            sys.executable, "-m", "lcz_qgis", "classify",
            "--model", str(folder / f"{name}.lczmodel"),
            "--sentinel2", str(folder / "sample" / "scene_s2.tif"),
            "--stride", str(meta["stride"]), "--runtime", engine,
            "--output", str(out), "--probabilities", str(proba),
        ]  # fmt: skip
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        written_by = meta["versions"]
        assert run.returncode == 0, f"{name} ({engine}), written by {written_by}: {run.stderr}"
        mapped, profile = read_lcz_map(out)
        assert profile.geotransform == written_profile.geotransform
        assert np.array_equal(mapped, written_map), f"{name} ({engine}): maps differ"
        p = _read_probabilities(proba)
        valid = written_map > 0
        diff = np.abs(p[:, valid] - written_p[:, valid]).max()
        assert diff <= 1e-5, f"{name} ({engine}): probabilities differ by {diff:.2e}"
