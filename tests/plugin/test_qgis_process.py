"""The plugin through qgis_process: listing and running classify, bad input, and the plugin
found through QGIS_PLUGINPATH under another folder name."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis


REPO = Path(__file__).resolve().parents[2]


def test_qgis_process_lists_and_runs_classify(qgis_process, sample_dir, rf_model, tmp_path):
    listing = qgis_process("list")
    assert listing.returncode == 0, listing.stderr
    assert "lcz:classifyraster" in listing.stdout and "LCZ mapping" in listing.stdout
    out = tmp_path / "qp_map.tif"
    r = qgis_process(
        "run",
        "lcz:classifyraster",
        "--",
        f"MODEL={rf_model}",
        f"SENTINEL2={sample_dir / 'scene_s2.tif'}",
        "STRIDE=16",
        f"OUTPUT={out}",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    from osgeo import gdal

    ds = gdal.Open(str(out))
    assert ds.GetGeoTransform()[1] == 160.0
    assert ds.GetGeoTransform()[0] == pytest.approx(690000 + (16 - 8) * 10)
    a = ds.ReadAsArray()
    assert a.max() <= 17 and (a > 0).mean() > 0.8
    assert out.with_suffix(".qml").exists()


def test_qgis_process_reports_bad_input(qgis_process, tmp_path, rf_model):
    r = qgis_process(
        "run",
        "lcz:classifyraster",
        "--",
        f"MODEL={rf_model}",
        f"SENTINEL2={tmp_path / 'missing.tif'}",
        f"OUTPUT={tmp_path / 'o.tif'}",
    )
    assert r.returncode != 0
    assert not (tmp_path / "o.tif").exists()


def test_plugin_works_linked_under_another_name_through_qgis_pluginpath(tmp_path):
    """qgis_process finds the plugin through QGIS_PLUGINPATH under any folder name."""
    from helpers import QGIS_PROCESS, qgis_process_env

    pluginpath = tmp_path / "elsewhere"
    pluginpath.mkdir()
    (pluginpath / "my_lcz_copy").symlink_to(REPO, target_is_directory=True)
    config = tmp_path / "config"
    (config / "profiles" / "default" / "QGIS").mkdir(parents=True)
    (config / "profiles" / "default" / "QGIS" / "QGIS3.ini").write_text(
        "[PythonPlugins]\nmy_lcz_copy=true\n"
    )
    env = qgis_process_env(config)
    env["QGIS_PLUGINPATH"] = str(pluginpath)
    r = subprocess.run([QGIS_PROCESS, "list"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "lcz:classifyraster" in r.stdout
