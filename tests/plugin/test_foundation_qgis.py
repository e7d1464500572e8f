"""Foundation inside QGIS: provider registration, processing.run, qgis_process, styles,
lazy imports, packaging and the plugin metadata."""

from __future__ import annotations

import configparser
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.qgis

REPO = Path(__file__).resolve().parents[2]


def test_provider_and_algorithms_are_registered(qgis_app):
    from qgis.core import QgsApplication

    provider = QgsApplication.processingRegistry().providerById("lcz")
    assert provider is not None and provider.name() == "LCZ mapping"
    ids = {a.id() for a in provider.algorithms()}
    assert {"lcz:sampledata", "lcz:trainmodel", "lcz:classifyraster"} <= ids
    # every *_algorithm.py module loaded (the provider logs and skips a broken one)
    modules = list((REPO / "processing_algorithms").glob("*_algorithm.py"))
    modules = [m for m in modules if m.name != "spec_algorithm.py"]  # the shared base class
    models = list((REPO / "resources" / "models").glob("*.model3"))
    assert len(provider.algorithms()) == len(modules) + len(models)
    for alg in provider.algorithms():
        assert alg.shortHelpString(), f"{alg.id()} has no help text"
        for p in alg.parameterDefinitions():
            if ":" in p.name():  # a graphical model's outputs are named child:output by QGIS
                continue
            assert p.name().isupper() and not p.name().split("_")[-1].isdigit(), p.name()


def test_processing_run_classify_gives_a_styled_georeferenced_map(
    run_alg, sample_dir, rf_model, tmp_path
):
    from qgis.core import QgsRasterLayer

    out = tmp_path / "map.tif"
    res = run_alg(
        "lcz:classifyraster",
        {
            "MODEL": str(rf_model),
            "SENTINEL2": str(sample_dir / "scene_s2.tif"),
            "STRIDE": 10,
            "OUTPUT": str(out),
        },
    )
    assert res["OUTPUT"] == str(out)
    layer = QgsRasterLayer(str(out), "map")
    assert layer.isValid()
    assert layer.crs().authid() == "EPSG:32632"
    assert layer.rasterUnitsPerPixelX() == pytest.approx(100.0)
    # the .qml sidecar is loaded as the default style: the LCZ paletted renderer
    assert layer.renderer().type() == "paletted"
    classes = layer.renderer().classes()
    assert [c.value for c in classes] == list(range(1, 18))
    assert classes[0].color.name() == "#8c0000" and classes[16].label == "LCZ G: Water"


def test_processing_errors_are_processing_exceptions(run_alg, tmp_path, rf_model):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="does not exist"):
        run_alg(
            "lcz:trainmodel",
            {
                "TRAIN": str(tmp_path / "none.h5"),
                "MODEL_TYPE": "rf",
                "SENSOR": "sen2",
                "OUTPUT": str(tmp_path / "m.lczmodel"),
            },
        )


def test_processing_train_outputs_oa(run_alg, sample_dir, tmp_path):
    out = tmp_path / "m.lczmodel"
    res = run_alg(
        "lcz:trainmodel",
        {
            "TRAIN": str(sample_dir / "train.h5"),
            "MODEL_TYPE": "rf",
            "SENSOR": "sen1",
            "BANDS": "5,6",
            "MAX_SAMPLES": 600,
            "SEED": 1,
            "OUTPUT": str(out),
        },
    )
    assert out.exists() and 0.2 < res["OA"] <= 1.0
    from lcz_qgis import load_model

    m = load_model(out)
    assert m.manifest["band_names"] == ["VH_intensity", "VV_intensity"]


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


def test_loading_the_plugin_imports_neither_tensorflow_nor_sklearn(qgis_profile):
    plugins = qgis_profile / "profiles" / "default" / "python" / "plugins"
    code = (
        "import sys, os; os.environ['QT_QPA_PLATFORM']='offscreen';"
        "from qgis.core import QgsApplication; app=QgsApplication([], False); app.initQgis();"
        f"sys.path.insert(0, {str(plugins)!r});"
        "import lcz_mapping; p = lcz_mapping.classFactory(None); p.initProcessing();"
        "assert QgsApplication.processingRegistry().providerById('lcz');"
        "print(sorted(m for m in ('tensorflow','sklearn','keras','matplotlib') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_missing_dependency_names_the_package(monkeypatch):
    from lcz_qgis.common.errors import MissingDependency, require

    monkeypatch.setitem(sys.modules, "skops", None)
    monkeypatch.setitem(sys.modules, "skops.io", None)
    with pytest.raises(MissingDependency, match="'skops'.*pip install skops"):
        require("skops.io", "skops", "Loading a scikit-learn model")


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


def test_map_values_from_qgis_match_core(run_alg, sample_dir, rf_model, tmp_path):
    """The same algorithm through Processing and the core gives the same pixels."""
    from osgeo import gdal

    from lcz_qgis import load_model
    from lcz_qgis.classify.pipeline import classify_raster

    a_path, b_path = tmp_path / "a.tif", tmp_path / "b.tif"
    run_alg(
        "lcz:classifyraster",
        {
            "MODEL": str(rf_model),
            "SENTINEL2": str(sample_dir / "scene_s2.tif"),
            "STRIDE": 20,
            "OUTPUT": str(a_path),
        },
    )
    classify_raster(load_model(rf_model), b_path, sentinel2=sample_dir / "scene_s2.tif", stride=20)
    np.testing.assert_array_equal(
        gdal.Open(str(a_path)).ReadAsArray(), gdal.Open(str(b_path)).ReadAsArray()
    )


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


def test_qgis_process_reads_hdf5_with_gdal_loaded(qgis_process, sample_dir, tmp_path):
    """h5py and GDAL share one HDF5 library inside qgis_process (cf. qgis/QGIS#29878):
    training reads the So2Sat file with h5py in the process where GDAL is loaded."""
    out = tmp_path / "qp_rf.lczmodel"
    r = qgis_process(
        "run",
        "lcz:trainmodel",
        "--",
        f"TRAIN={sample_dir / 'train.h5'}",
        "MODEL_TYPE=rf",
        "SENSOR=sen2",
        "MAX_SAMPLES=400",
        f"OUTPUT={out}",
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert out.exists()


def test_one_hdf5_library_in_the_environment():
    import h5py
    from osgeo import gdal

    # Debian's h5py, linked to the libhdf5 that GDAL uses; not a wheel with its own copy
    assert h5py.__file__.startswith("/usr/lib/python3/"), h5py.__file__
    assert gdal.GetDriverByName("HDF5") is not None


def test_sampledata_loads_the_city_in_true_colour_and_the_truth(qgis_app, tmp_path):
    from helpers import run_and_load

    folder = tmp_path / "sample"
    folder.mkdir()
    _, layers = run_and_load(
        "lcz:sampledata", {"OUTPUT_FOLDER": str(folder), "TRAIN_SIZE": 340, "TEST_SIZE": 340}
    )
    s2 = layers["scene_s2.tif"]
    assert s2.name() == "Sample city, Sentinel-2 true colour (synthetic)"
    r = s2.renderer()
    assert r.type() == "multibandcolor" and (r.redBand(), r.greenBand(), r.blueBand()) == (3, 2, 1)
    lo = r.redContrastEnhancement().minimumValue()
    hi = r.redContrastEnhancement().maximumValue()
    assert 0 <= lo < hi < 1  # a reflectance stretch, not the raw min/max
    assert layers["scene_truth.tif"].renderer().type() == "paletted"
    assert not list(folder.glob(".lcz-sample-*"))
