"""``lcz upgrade-model``: an old model file (tests/data/old_files, written by the previous
release's stack) written again with the installed libraries: the new file loads directly,
gives the probabilities the old one gave, records what it was upgraded from, and the
input is never touched; bad output names are refused before anything is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lcz_qgis
from lcz_qgis.common.errors import LczError
from lcz_qgis.models.modelfile import library_versions, read_manifest
from lcz_qgis.models.upgrade import upgrade_model_file

OLD = Path(__file__).resolve().parents[1] / "data" / "old_files"
EXPECTED = np.load(OLD / "expected.npz")
PROBES = EXPECTED["probes"]
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name, key, sliced", [
    ("rf_sklearn12.lczmodel", "rf", True),
    ("mlp_keras2.lczmodel", "mlp", True),
    ("notebook_keras2.keras", "notebook", False),
])  # fmt: skip
def test_an_old_file_upgraded_gives_the_same_probabilities(tmp_path, name, key, sliced):
    if key != "rf":
        pytest.importorskip("tensorflow")
    src = OLD / name
    before = src.read_bytes()
    out = tmp_path / f"{key}.lczmodel"
    result = upgrade_model_file(src, out)
    assert src.read_bytes() == before  # the input is never modified
    assert result["output"] == str(out) and result["max_difference"] <= 1e-5
    manifest = read_manifest(out)
    assert manifest["library_versions"] == library_versions()
    assert manifest["upgraded_from"]["file"] == name
    model = lcz_qgis.load_model(out)
    x = PROBES[..., model.bands] if sliced else PROBES
    np.testing.assert_allclose(model.predict_proba(x), EXPECTED[key], atol=1e-5)


def test_bad_output_names_are_refused_before_anything_is_written(tmp_path):
    src = OLD / "rf_sklearn12.lczmodel"
    with pytest.raises(LczError, match=r"written as an \.lczmodel file.*not 'x\.h5'"):
        upgrade_model_file(src, tmp_path / "x.h5")
    copy = tmp_path / "same.lczmodel"
    copy.write_bytes(src.read_bytes())
    with pytest.raises(LczError):
        upgrade_model_file(copy, copy)
    assert copy.read_bytes() == src.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.lczmodel"]


def test_the_cli_upgrades_and_reports(tmp_path):
    out = tmp_path / "rf.lczmodel"
    done = subprocess.run(
        [sys.executable, "-m", "lcz_qgis", "upgrade-model", "--input",
         str(OLD / "rf_sklearn12.lczmodel"), "--output", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"max_difference"' in done.stdout and out.is_file()
    bad = subprocess.run(
        [sys.executable, "-m", "lcz_qgis", "upgrade-model", "--input",
         str(OLD / "rf_sklearn12.lczmodel"), "--output", str(tmp_path / "rf.keras")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--output" in bad.stderr
