"""Shared fixtures: generated sample data, a trained rf, a headless QGIS and qgis_process.

The plugin is loaded the way QGIS loads it: from a link named ``lcz_mapping`` (not the
checkout's own folder name) in a throw-away profile, where it is enabled.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import PLUGIN_NAME, QGIS_PROCESS, REPO, SHARED, mounted_tmpfs, qgis_process_env

TEST_TRAIN_SIZE = 1200
TEST_TEST_SIZE = 400


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    from lcz_qgis.sample_data import write_sample_data

    d = tmp_path_factory.mktemp("sample")
    write_sample_data(d, seed=42, n_train=TEST_TRAIN_SIZE, n_test=TEST_TEST_SIZE)
    return d


@pytest.fixture(scope="session")
def rf_model(sample_dir) -> Path:
    from lcz_qgis.training.train import train_model

    out = sample_dir / "rf.lczmodel"
    train_model(sample_dir / "train.h5", out, model_type="rf", sensor="sen2", seed=0)
    return out


@pytest.fixture(scope="session")
def qgis_profile(tmp_path_factory) -> Path:
    """A QGIS config folder whose default profile has the plugin installed and enabled."""
    root = tmp_path_factory.mktemp("qgis_config")
    profile = root / "profiles" / "default"
    (profile / "python" / "plugins").mkdir(parents=True)
    (profile / "QGIS").mkdir(parents=True)
    (profile / "python" / "plugins" / PLUGIN_NAME).symlink_to(REPO, target_is_directory=True)
    (profile / "QGIS" / "QGIS3.ini").write_text(f"[PythonPlugins]\n{PLUGIN_NAME}=true\n")
    return root


@pytest.fixture(scope="session")
def qgis_process(qgis_profile):
    """Run ``qgis_process.bin run ALG -- KEY=VALUE ...``; returns CompletedProcess."""
    if not os.path.exists(QGIS_PROCESS):
        pytest.skip("qgis_process.bin is not installed")

    def run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [QGIS_PROCESS, *args],
            env=qgis_process_env(qgis_profile),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture(scope="session")
def qgis_app(qgis_profile):
    """A headless QgsApplication with Processing initialised and the plugin's provider."""
    qgis_core = pytest.importorskip("qgis.core")
    app = qgis_core.QgsApplication([], False)
    app.initQgis()
    sys.path.insert(0, "/usr/share/qgis/python/plugins")
    from processing.core.Processing import Processing

    Processing.initialize()
    plugins = qgis_profile / "profiles" / "default" / "python" / "plugins"
    sys.path.insert(0, str(plugins))
    plugin = importlib.import_module(PLUGIN_NAME).classFactory(None)
    plugin.initProcessing()
    yield app
    plugin.unload()


@pytest.fixture()
def run_alg(qgis_app):
    """processing.run with a fresh context and feedback; returns the results dict."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    def run(alg_id: str, params: dict, feedback=None):
        context = QgsProcessingContext()
        context.setProject(QgsProject.instance())
        return processing.run(
            alg_id, params, context=context, feedback=feedback or QgsProcessingFeedback()
        )

    return run


def _files_under(root: Path) -> set[str]:
    return {os.path.join(d, f) for d, _, files in os.walk(root) for f in files}


@pytest.fixture(scope="session", autouse=True)
def shared_stays_untouched():
    """No test writes into ../shared (third-party inputs, read-only for the project):
    e.g. QGIS writes a raster's statistics (.aux.xml) beside a file it loads, so tests
    load copies of the real maps."""
    before = _files_under(SHARED) if SHARED.exists() else set()
    yield
    added = sorted(_files_under(SHARED) - before) if SHARED.exists() else []
    assert not added, f"tests wrote into ../shared: {added[:5]}"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip("../shared is not present")
    return SHARED


@pytest.fixture(scope="module")
def fusion_model(sample_dir):
    from lcz_qgis.models.modelfile import load_model
    from lcz_qgis.training.train import train_model

    out = sample_dir / "fusion_rf.lczmodel"
    if not out.exists():
        train_model(
            sample_dir / "train.h5",
            out,
            model_type="rf",
            sensor="fusion",
            bands="5,6,9-18",
            seed=0,
            max_samples=500,
        )
    return load_model(out)


@pytest.fixture()
def small_disk(tmp_path):
    """A 1 MiB tmpfs at ``tmp_path/disk`` (root only)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    with mounted_tmpfs(disk, "1m"):
        yield disk
