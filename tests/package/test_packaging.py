"""Packaging and installing the plugin: metadata.txt, ``make package``, ``make deploy``."""

from __future__ import annotations

import configparser
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis


REPO = Path(__file__).resolve().parents[2]


def test_metadata_has_the_required_fields():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "metadata.txt")
    g = cfg["general"]
    for key in (
        "name",
        "qgisMinimumVersion",
        "description",
        "about",
        "version",
        "author",
        "email",
        "repository",
        "tracker",
        "homepage",
        "tags",
        "category",
        "icon",
        "experimental",
    ):
        assert g.get(key), key
    assert g["qgisMinimumVersion"] == "3.22" and g["hasProcessingProvider"] == "yes"
    assert (REPO / g["icon"]).exists()


def test_make_package_builds_an_installable_zip():
    r = subprocess.run(
        ["make", "-s", "package"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    with zipfile.ZipFile(REPO / "dist" / "lcz_mapping.zip") as z:
        names = z.namelist()
    assert "lcz_mapping/__init__.py" in names and "lcz_mapping/metadata.txt" in names
    assert "lcz_mapping/lcz_qgis/classify/sliding_window.py" in names
    assert "lcz_mapping/processing_algorithms/provider.py" in names
    assert not [n for n in names if "/tests/" in n or ".venv" in n or "__pycache__" in n]
    assert all(n.startswith("lcz_mapping/") for n in names)


def test_make_deploy_installs_and_enables_the_plugin(tmp_path):
    profile = tmp_path / "profile"
    r = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "deploy.py"),
            "--profile-dir",
            str(profile),
            "--name",
            "lcz_mapping",
            "--venv",
            ".venv",  # relative, as the Makefile passes it
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stderr
    link = profile / "python" / "plugins" / "lcz_mapping"
    assert link.is_symlink() and (link / "metadata.txt").exists()
    ini = (profile / "QGIS" / "QGIS3.ini").read_text()
    assert "[PythonPlugins]" in ini and "lcz_mapping=true" in ini
    # QGIS desktop starts from anywhere: the site-packages path it adds must be absolute
    # (no empty PYTHONPATH element either: tests/plugin/test_qgis_desktop.py)
    assert f"PYTHONPATH={REPO}/.venv/lib/python3" in ini.replace("PYTHONPATH=:", "PYTHONPATH=")
