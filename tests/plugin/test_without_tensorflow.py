"""The main algorithms in QGIS where TensorFlow, Keras and scikit-learn cannot be imported
(issue 23, "Done means"): a fresh Python process with QgsApplication offscreen and the
plugin's provider, ``sys.modules[name] = None`` for the three set before anything else
(and in its Dask workers, through a ``sitecustomize`` on their PYTHONPATH), runs
classify (a Keras MLP and a random forest), classify-dates, evaluate and classify-many
through processing.run on ONNX Runtime, and gets the outputs the same algorithms give
in this process with TensorFlow and scikit-learn running the models: the same map
pixels, probabilities within 1e-5, the same scores. No algorithm even tries to import
one of the blocked packages on that path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers import PLUGIN_NAME, qgis_process_env, write_crop

pytestmark = pytest.mark.qgis

BLOCKED = ("tensorflow", "keras", "sklearn")
BLOCK = f"import sys\nfor _name in {BLOCKED!r}:\n    sys.modules[_name] = None\n"

# the child: frameworks blocked first, then QGIS, Processing, the plugin's provider; every
# import of a blocked package that anything tries is recorded with the line that tried
CHILD = (
    (
        BLOCK
        + """
import builtins, importlib, json, os, traceback

tried = []
def _note(name):
    if name.split(".")[0] in BLOCKED:
        mine = [f for f in traceback.extract_stack()[:-2]
                if "/lcz_qgis/" in f.filename or "/processing_algorithms/" in f.filename]
        tried.append(f"{name} from {mine[-1].filename}:{mine[-1].lineno}" if mine else name)
BLOCKED = __BLOCKED__
_import, _import_module = builtins.__import__, importlib.import_module
def _hooked_import(name, *args, **kwargs):
    _note(name)
    return _import(name, *args, **kwargs)
def _hooked_import_module(name, package=None):
    _note(name)
    return _import_module(name, package)
builtins.__import__, importlib.import_module = _hooked_import, _hooked_import_module

from qgis.core import (QgsApplication, QgsProcessingContext, QgsProcessingFeedback,
                       QgsProject)
app = QgsApplication([], False)
app.initQgis()
sys.path.insert(0, "/usr/share/qgis/python/plugins")
from processing.core.Processing import Processing
Processing.initialize()
sys.path.insert(0, sys.argv[1])
plugin = importlib.import_module("__PLUGIN__").classFactory(None)
plugin.initProcessing()
import processing
results = {}
for key, (alg, params) in json.loads(open(sys.argv[2]).read()).items():
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    res = processing.run(alg, params, context=context, feedback=QgsProcessingFeedback())
    results[key] = {k: v for k, v in res.items() if isinstance(v, (int, float, str))}
results["_tried"] = tried
results["_loaded"] = [m for m in BLOCKED if sys.modules.get(m) is not None]
with open(sys.argv[3], "w") as f:
    json.dump(results, f)
sys.stdout.flush()
os._exit(0)  # no QGIS teardown: the results are written
"""
    )
    .replace("__BLOCKED__", repr(BLOCKED))
    .replace("__PLUGIN__", PLUGIN_NAME)
)


@pytest.fixture(scope="module")
def inputs(sample_dir, tmp_path_factory) -> dict:
    """A small Keras MLP, the forest, a second date and a list of two crops."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("onnxruntime")
    from lcz_qgis.training import train_keras

    d = tmp_path_factory.mktemp("no_tf_inputs")
    train_keras(sample_dir / "train.h5", d / "mlp.lczmodel", "mlp", "sen2", list(range(10)),
                epochs=1, batch_size=32, max_samples=160, seed=1)  # fmt: skip
    s2 = sample_dir / "scene_s2.tif"
    with rasterio.open(s2) as src:  # another date: the same place a little brighter
        data, profile = src.read(), src.profile
    with rasterio.open(d / "date2.tif", "w", **profile) as dst:
        dst.write((data * 1.04).astype(data.dtype))
    for name, (c, r) in {"west": (0, 0), "east": (260, 0)}.items():
        write_crop(s2, d / f"{name}.tif", c, r, 200, 200)
    (d / "list.txt").write_text("west.tif\neast.tif\n")
    return {"mlp": d / "mlp.lczmodel", "s2": s2, "date2": d / "date2.tif",
            "list": d / "list.txt", "test": sample_dir / "test.h5"}  # fmt: skip


def _jobs(inp: dict, rf_model, out: Path, runtime: str | None) -> dict:
    """key -> (algorithm, parameters); ``runtime`` None leaves the default (auto)."""
    engine = {} if runtime is None else {"RUNTIME": runtime}
    models = {"mlp": str(inp["mlp"]), "rf": str(rf_model)}
    jobs = {}
    for kind, model in models.items():
        jobs[f"classify_{kind}"] = ("lcz:classifyraster", {
            "MODEL": model, "SENTINEL2": str(inp["s2"]), "OUTPUT": str(out / f"{kind}.tif"),
            "PROBABILITIES": str(out / f"{kind}_p.tif"), **engine})  # fmt: skip
        jobs[f"evaluate_{kind}"] = ("lcz:evaluatemodel", {
            "MODEL": model, "DATASET": str(inp["test"]),
            "OUTPUT_JSON": str(out / f"{kind}_scores.json"), **engine})  # fmt: skip
    jobs["dates_mlp"] = ("lcz:classifydates", {
        "MODEL": models["mlp"], "SENTINEL2": str(inp["s2"]), "DATES": [str(inp["date2"])],
        "OUTPUT": str(out / "dates.tif"), "CONFIDENCE": str(out / "dates_c.tif"), **engine})  # fmt: skip
    jobs["many_mlp"] = ("lcz:classifymany", {
        "INPUTS": str(inp["list"]), "MODEL": models["mlp"], "WORKERS": 1,
        "OUTPUT_FOLDER": str(out / "many"), **engine})  # fmt: skip
    return jobs


@pytest.fixture(scope="module")
def runs(inputs, rf_model, qgis_profile, qgis_app, tmp_path_factory) -> dict:
    """The jobs run in a blocked child process (default engine) and here, with the
    models' own frameworks (RUNTIME tensorflow; the forest also with RUNTIME onnx, in
    here/onnx): {"blocked": (folder, results), "here": (folder, results)}."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    here, child = tmp_path_factory.mktemp("with_tf"), tmp_path_factory.mktemp("blocked")
    site = tmp_path_factory.mktemp("block_site")  # blocks them in the Dask workers too
    (site / "sitecustomize.py").write_text(BLOCK)
    (child / "jobs.json").write_text(json.dumps(_jobs(inputs, rf_model, child, None)))
    env = qgis_process_env(qgis_profile)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    plugins = qgis_profile / "profiles" / "default" / "python" / "plugins"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(plugins), str(child / "jobs.json"),
         str(child / "results.json")],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:])
    blocked = json.loads((child / "results.json").read_text())
    (here / "onnx").mkdir()
    jobs = _jobs(inputs, rf_model, here, "tensorflow")
    forest_on_onnx = _jobs(inputs, rf_model, here / "onnx", "onnx")
    jobs |= {f"onnx_{k}": forest_on_onnx[k] for k in ("classify_rf", "evaluate_rf")}
    results = {}
    for key, (alg, params) in jobs.items():
        context = QgsProcessingContext()
        context.setProject(QgsProject.instance())
        results[key] = processing.run(alg, params, context=context,
                                      feedback=QgsProcessingFeedback())  # fmt: skip
    return {"blocked": (child, blocked), "here": (here, results)}


def _read(path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


def test_nothing_tried_to_import_tensorflow_keras_or_sklearn(runs):
    _, res = runs["blocked"]
    assert res["_loaded"] == [] and res["_tried"] == [], res["_tried"]


def test_classify_gives_the_same_map_and_probabilities(runs):
    (a, _), (b, _) = runs["blocked"], runs["here"]
    got, want = _read(a / "mlp.tif"), _read(b / "mlp.tif")
    assert (want > 0).sum() > 100
    np.testing.assert_array_equal(got, want)
    assert np.max(np.abs(_read(a / "mlp_p.tif") - _read(b / "mlp_p.tif"))) <= 1e-5


def test_classify_gives_the_forests_map_and_probabilities(runs, rf_model):
    """The forest runs on ONNX Runtime there, as it does here by default: the plugin's
    forests are fully grown, so their graph gives whole votes (the manifest's ``votes``),
    rounded to scikit-learn's numbers: the same map and probabilities as scikit-learn's,
    ties included (docs/onnx.md)."""
    with zipfile.ZipFile(rf_model) as z:
        assert json.loads(z.read("manifest.json"))["onnx"]["votes"] == 200
    (a, _), (b, _) = runs["blocked"], runs["here"]
    got, p_got = _read(a / "rf.tif"), _read(a / "rf_p.tif")
    np.testing.assert_array_equal(got, _read(b / "onnx" / "rf.tif"))
    np.testing.assert_array_equal(p_got, _read(b / "onnx" / "rf_p.tif"))
    assert (got > 0).sum() > 100
    np.testing.assert_array_equal(got, _read(b / "rf.tif"))  # scikit-learn's
    np.testing.assert_array_equal(p_got, _read(b / "rf_p.tif"))


def test_classify_dates_gives_the_same_fused_map(runs):
    (a, _), (b, _) = runs["blocked"], runs["here"]
    np.testing.assert_array_equal(_read(a / "dates.tif"), _read(b / "dates.tif"))
    assert np.max(np.abs(_read(a / "dates_c.tif") - _read(b / "dates_c.tif"))) <= 1e-5


@pytest.mark.parametrize("kind, here", [("mlp", "."), ("rf", "onnx"), ("rf", ".")])
def test_evaluate_gives_the_same_scores(runs, kind, here):
    """The same scores as here: the MLP's on TensorFlow, the forest's on ONNX Runtime and
    on scikit-learn (whole votes: see the map's test)."""
    (a, got), (b, want) = runs["blocked"], runs["here"]
    got = got[f"evaluate_{kind}"]
    want = want[f"evaluate_{kind}" if here == "." else f"onnx_evaluate_{kind}"]
    for key in ("OA", "KAPPA", "MACRO_F1", "WEIGHTED_F1", "OA_U", "OA_BU", "OA_W"):
        assert got[key] == want[key], key
    assert got["ECE"] == pytest.approx(want["ECE"], abs=1e-5)
    sa = json.loads((a / f"{kind}_scores.json").read_text())
    sb = json.loads((b / here / f"{kind}_scores.json").read_text())
    assert sa["confusion"] == sb["confusion"] and sa["n"] == sb["n"] > 100


def test_classify_many_gives_the_same_mosaic_on_onnx_workers(runs):
    (a, _), (b, _) = runs["blocked"], runs["here"]
    np.testing.assert_array_equal(
        _read(a / "many" / "mosaic.vrt"), _read(b / "many" / "mosaic.vrt")
    )
    for folder, engine in ((a, "onnx"), (b, "keras")):
        report = json.loads((folder / "many" / "run_report.json").read_text())
        assert report["done"] == 2 and {t["engine"] for t in report["tasks"]} == {engine}
