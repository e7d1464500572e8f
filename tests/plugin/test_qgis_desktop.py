"""What an analyst meets in QGIS desktop, headless: batch rows with skipped outputs, cancel,
the graphical model's dialog defaults, input order, tooltip and layer name, toolbox
tooltips, help pages, icons, layer type hints, the patch outline style and make deploy."""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
import subprocess
import sys
from inspect import signature
from pathlib import Path

import pytest
from helpers import make_safe

from lcz_qgis.classify.area_table import read_area_csv
from lcz_qgis.common.legend import LCZ_CLASSES

pytestmark = pytest.mark.qgis

REPO = Path(__file__).resolve().parents[2]
MODEL_ID = "lcz:sentinel2_to_lcz_map"
NOT_GENERATED = "not correctly generated"


@pytest.fixture(scope="module")
def safe(tmp_path_factory):
    return make_safe(tmp_path_factory.mktemp("dsafe"), size10=96)


class RecordingFeedback:
    """A QgsProcessingFeedback that keeps the errors reported (built on first use, after
    the QGIS fixture has imported qgis) and can cancel itself once progress passes ``at``."""

    def __new__(cls, cancel_at: float | None = None):
        from qgis.core import QgsProcessingFeedback

        class _Feedback(QgsProcessingFeedback):
            def __init__(self):
                super().__init__()
                self.errors: list[str] = []
                if cancel_at is not None:  # the signal: a model's steps report from C++
                    self.progressChanged.connect(lambda p: p > cancel_at and self.cancel())

            def reportError(self, error, fatalError=False):  # noqa: N802,N803 - QGIS API
                self.errors.append(error)
                super().reportError(error, fatalError)

        return _Feedback()


def batch_row(alg, values: dict, project) -> dict:
    """The parameters the batch dialog builds for one row (BatchPanel.parametersForRow) with
    "Load layers on completion" ticked: every output is in, a skipped one as ''."""
    from qgis.core import (
        QgsProcessingOutputLayerDefinition,
        QgsProcessingParameterFeatureSink,
        QgsProcessingParameterRasterDestination,
        QgsProcessingParameterVectorDestination,
    )

    params = {k: v for k, v in values.items()}
    layer_types = (
        QgsProcessingParameterRasterDestination,
        QgsProcessingParameterVectorDestination,
        QgsProcessingParameterFeatureSink,
    )
    for out in alg.destinationParameterDefinitions():
        text = str(values.get(out.name(), ""))
        if isinstance(out, layer_types):
            params[out.name()] = QgsProcessingOutputLayerDefinition(text, project)
        else:
            params[out.name()] = text
    return alg.preprocessParameters(params)


def run_batch_row(alg_id: str, values: dict):
    """Run one batch row as BatchAlgorithmDialog does and load its results; returns
    (results, layers to load as registered, errors reported, the loaded layers by file)."""
    from processing.gui.Postprocessing import handleAlgorithmResults
    from processing.tools import dataobjects
    from qgis.core import QgsApplication, QgsProject

    project = QgsProject.instance()
    project.clear()
    alg = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
    params = batch_row(alg, values, project)
    feedback = RecordingFeedback()
    context = dataobjects.createContext(feedback)
    results, ok = alg.run(params, context, feedback)
    assert ok, feedback.errors
    registered = dict(context.layersToLoadOnCompletion())
    # QGIS 3.22: (alg, context, feedback, showResults, parameters); 3.40 dropped showResults
    extra = (
        {"showResults": False}
        if "showResults" in signature(handleAlgorithmResults).parameters
        else {}
    )
    loaded_ok = handleAlgorithmResults(alg, context, feedback=feedback, parameters=params, **extra)
    layers = {Path(lyr.source().split("|")[0]).name: lyr for lyr in project.mapLayers().values()}
    assert loaded_ok == (not feedback.errors)
    return results, registered, feedback.errors, layers


# -- 1 and 8: skipped outputs are neither returned nor loaded; layer type hints ----------


def test_batch_row_with_skipped_outputs_loads_only_the_map(
    qgis_app, sample_dir, rf_model, tmp_path
):
    from qgis.core import QgsProcessingUtils

    out = tmp_path / "row1.tif"
    values = {"MODEL": str(rf_model), "SENTINEL2": str(sample_dir / "scene_s2.tif"),
              "STRIDE": 16, "OUTPUT": str(out)}  # fmt: skip
    results, registered, errors, layers = run_batch_row("lcz:classifyraster", values)
    assert not [e for e in errors if NOT_GENERATED in e]
    assert results == {"OUTPUT": str(out)}  # no '' for the skipped confidence etc.
    assert list(registered) == [str(out)]
    assert registered[str(out)].layerTypeHint == QgsProcessingUtils.LayerHint.Raster
    # the map is loaded, named and styled (its post-processor survived the tidying)
    assert layers[out.name].name() == "LCZ map \u2013 rf \u2013 scene_s2"
    assert layers[out.name].renderer().type() == "paletted"
    written = {p.name for p in tmp_path.iterdir()} - {"row1.tif.aux.xml"}  # QGIS's stats
    assert written == {"row1.qml", "row1.tif"}


def test_batch_row_of_loadpatches_without_outlines(qgis_app, sample_dir, tmp_path):
    from qgis.core import QgsProcessingUtils

    folder = tmp_path / "patches"
    values = {"INPUT": str(sample_dir / "test.h5"), "SENSOR": "sen2", "INDICES": "0-5",
              "OUTPUT_FOLDER": str(folder)}  # fmt: skip
    results, registered, errors, layers = run_batch_row("lcz:loadpatches", values)
    assert not [e for e in errors if NOT_GENERATED in e]
    assert "OUTPUT_PATCHES" not in results and results["N_PATCHES"] == 6
    assert "" not in registered and set(registered) == set(results["RASTERS"])
    # the patch rasters are registered by hand (not through an output parameter): each
    # now says it is a raster, so QGIS does not try OGR first ("Cannot open" warnings)
    hints = {details.layerTypeHint for details in registered.values()}
    assert hints == {QgsProcessingUtils.LayerHint.Raster}
    assert {Path(p).name for p in results["RASTERS"]} <= set(layers)


def test_written_outlines_are_loaded_as_vector_without_fill(qgis_app, sample_dir, tmp_path):
    from qgis.core import QgsProcessingUtils, QgsVectorLayer
    from qgis.PyQt.QtCore import Qt

    gpkg = tmp_path / "outlines.gpkg"
    values = {"INPUT": str(sample_dir / "test.h5"), "SENSOR": "sen2", "INDICES": "0-3",
              "OUTPUT_FOLDER": str(tmp_path / "p"), "OUTPUT_PATCHES": str(gpkg)}  # fmt: skip
    results, registered, errors, layers = run_batch_row("lcz:loadpatches", values)
    assert not errors and results["OUTPUT_PATCHES"] == str(gpkg)
    assert registered[str(gpkg)].layerTypeHint == QgsProcessingUtils.LayerHint.Vector
    for layer in (layers[gpkg.name], QgsVectorLayer(str(gpkg), "plain", "ogr")):
        renderer = layer.renderer()
        assert renderer.type() == "categorizedSymbol" and layer.labelsEnabled()
        colours = {}
        for cat in renderer.categories():
            symbol_layer = cat.symbol().symbolLayer(0)
            assert symbol_layer.brushStyle() == Qt.NoBrush  # outlines, the imagery untinted
            assert symbol_layer.strokeColor().alpha() == 255
            colours[int(cat.value())] = symbol_layer.strokeColor().name().lower()
        assert colours == {c.code: c.color.lower() for c in LCZ_CLASSES}


def test_outline_style_has_no_fill():
    from lcz_qgis.styling.styles import qml_patch_polygons

    qml = qml_patch_polygons()
    styles = re.findall(r'name="style" value="([^"]+)"', qml)
    fills = re.findall(r'name="color" value="\d+,\d+,\d+,(\d+)"', qml)
    assert styles == ["no"] * len(LCZ_CLASSES) and fills == ["0"] * len(LCZ_CLASSES)


# -- 2: a cancel is a failure -------------------------------------------------------------


def test_cancel_before_running_raises_and_writes_nothing(run_alg, sample_dir, tmp_path):
    from qgis.core import QgsProcessingException

    feedback = RecordingFeedback()
    feedback.cancel()
    out = tmp_path / "summary.html"
    with pytest.raises(QgsProcessingException, match="Cancelled: no output was written"):
        run_alg("lcz:datasetsummary", {"INPUT": str(sample_dir / "test.h5"),
                                       "OUTPUT_HTML": str(out)}, feedback=feedback)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_cancel_while_classifying_raises(run_alg, sample_dir, rf_model, tmp_path):
    from qgis.core import QgsProcessingException

    params = {"MODEL": str(rf_model), "SENTINEL2": str(sample_dir / "scene_s2.tif"),
              "STRIDE": 8, "OUTPUT": str(tmp_path / "m.tif")}  # fmt: skip
    with pytest.raises(QgsProcessingException, match="Cancelled: no output was written"):
        run_alg("lcz:classifyraster", params, feedback=RecordingFeedback(cancel_at=10))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cancel_at", [None, 30])
def test_cancelled_model_fails(run_alg, safe, rf_model, tmp_path, cancel_at):
    """Cancelled before it starts or while it runs, the model fails (QGIS 3.22 would report
    "Model processed OK" with no outputs) and the map is not written."""
    from qgis.core import QgsProcessingException

    feedback = RecordingFeedback(cancel_at=cancel_at)
    if cancel_at is None:
        feedback.cancel()
    out = tmp_path / "lcz.tif"
    params = {"PRODUCT": str(safe), "MODEL": str(rf_model), "RESOLUTION": 80,
              "classify:LCZ map": str(out)}  # fmt: skip
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        run_alg(MODEL_ID, params, feedback=feedback)
    assert not out.exists()


# -- 3: the graphical model ---------------------------------------------------------------


def test_model_dialog_defaults_order_and_tooltip(qgis_app):
    from qgis.core import QgsApplication, QgsProcessingContext
    from qgis.gui import QgsGui, QgsProcessingGui

    model = QgsApplication.processingRegistry().algorithmById(MODEL_ID).create()
    inputs = [p.name() for p in model.parameterDefinitions() if not p.isDestination()]
    assert inputs == ["PRODUCT", "MODEL", "RESOLUTION", "FILTER"]
    tip = model.shortDescription()
    assert tip.endswith(".") and "Sentinel-2 product" in tip and "LCZ map" in tip
    # what the dialog's output widgets start with: the area table and the map image are
    # written (to temporary files), the confidence raster is skipped
    context = QgsProcessingContext()
    start = {}
    for p in model.destinationParameterDefinitions():
        wrapper = QgsGui.processingGuiRegistry().createParameterWidgetWrapper(
            p, QgsProcessingGui.Standard
        )
        widget = wrapper.createWrappedWidget(context)  # keep it: the wrapper reads it
        value = wrapper.parameterValue()
        del widget
        start[p.name()] = value.sink.staticValue() if hasattr(value, "sink") else value
    assert start == {"classify:LCZ map": "TEMPORARY_OUTPUT",
                     "classify:Area table": "TEMPORARY_OUTPUT",
                     "classify:Map image": "TEMPORARY_OUTPUT",
                     "classify:Confidence": None}  # fmt: skip
    created = {p.name() for p in model.destinationParameterDefinitions() if p.createByDefault()}
    assert created == {"classify:LCZ map", "classify:Area table", "classify:Map image"}
    helptext = model.shortHelpString()
    assert "by default (to temporary files" in helptext and "named after the product" in helptext


def test_model_writes_its_defaults_and_names_the_map_after_the_product(
    qgis_app, safe, rf_model, tmp_path
):
    """processing.run / qgis_process without the area table and map image: written as in the
    dialog; the map layer is "LCZ map – <product>", not "LCZ map – OUTPUT"."""
    import processing
    from qgis.core import (
        QgsProcessingContext,
        QgsProcessingOutputLayerDefinition,
        QgsProcessingUtils,
        QgsProject,
    )

    project = QgsProject.instance()
    context = QgsProcessingContext()
    context.setProject(project)
    out = tmp_path / "lcz.tif"
    params = {"PRODUCT": str(safe / "MTD_MSIL2A.xml"), "MODEL": str(rf_model),
              "RESOLUTION": 80,
              "classify:LCZ map": QgsProcessingOutputLayerDefinition(str(out), project)}  # fmt: skip
    res = processing.run(MODEL_ID, params, context=context, feedback=RecordingFeedback())
    assert res["classify:LCZ map"] == str(out) and "classify:Confidence" not in res
    rows = read_area_csv(res["classify:Area table"])
    assert sum(r["cells"] for r in rows) > 0
    assert Path(res["classify:Map image"]).stat().st_size > 5000
    details = context.layersToLoadOnCompletion()
    assert list(details) == [str(out)]
    # the product by its sensing date and tile, not its 60-character name (issue 24: 6)
    assert details[str(out)].name == "LCZ map \u2013 2023-07-15 T32TPT"
    assert details[str(out)].layerTypeHint == QgsProcessingUtils.LayerHint.Raster


def test_source_label_names_products_and_files(qgis_app):
    from lcz_mapping.processing_algorithms.provider import source_label  # as QGIS loads it

    name = "S2B_MSIL1C_20240101T000000_N0510_R001_T31UDQ_20240101T000001"
    for value in (f"/d/{name}.SAFE", f"/d/{name}.SAFE/", f"/d/{name}.SAFE/MTD_MSIL1C.xml",
                  f"/d/{name}.zip", f"/d/{name}.SAFE.zip"):  # fmt: skip
        assert source_label(value) == name, value
    assert source_label("/d/scene_s2.tif") == "scene_s2" and source_label("") == ""


# -- 4, 6, 7: tooltips, help pages, icons -------------------------------------------------


def test_short_description_is_the_first_whole_sentence(qgis_app):
    from lcz_mapping.processing_algorithms.base import short_description  # as QGIS loads it

    cases = {
        "Runs over rasters (10 m, band order and scale: DN / 10000) and writes a map. More.":
            "Runs over rasters (10 m, band order and scale: DN / 10000) and writes a map.",
        "Scores a model on an HDF5 file (e.g. testing.h5), in batches. Then more.":
            "Scores a model on an HDF5 file (e.g. testing.h5), in batches.",
        "Makes the raster the models need from a product:<br><b>L2A</b>: ...":
            "Makes the raster the models need from a product.",
        "Smooths, e.g. with a Gaussian, the probabilities. Then.":
            "Smooths, e.g. with a Gaussian, the probabilities.",
        "Writes <i>sample</i> data &amp; a model<br>Second paragraph.":
            "Writes sample data & a model.",
        "Reads training.h5 and testing.h5 files.": "Reads training.h5 and testing.h5 files.",
    }  # fmt: skip
    for help_html, expected in cases.items():
        assert short_description(help_html) == expected


def _algorithms():
    from qgis.core import QgsApplication

    return QgsApplication.processingRegistry().providerById("lcz").algorithms()


def _plain(help_html: str) -> str:
    import html

    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", help_html)).split())


def test_every_tooltip_is_a_whole_sentence(qgis_app):
    from qgis.core import QgsProcessingModelAlgorithm

    algs = _algorithms()
    assert len(algs) >= 10
    for alg in algs:
        tip = alg.shortDescription()
        assert tip.endswith(".") and not tip.endswith((":.", "..")), (alg.id(), tip)
        assert tip.count("(") == tip.count(")") and tip.count("[") == tip.count("]"), tip
        assert 20 < len(tip) < 300, (alg.id(), tip)
        if not isinstance(alg, QgsProcessingModelAlgorithm):  # a model's is its summary;
            # the algorithms' tooltip opens their help
            assert _plain(alg.shortHelpString()).startswith(tip[:-1]), (alg.id(), tip)


def test_every_algorithm_has_a_help_page_that_ships_with_the_plugin(qgis_app):
    from qgis.PyQt.QtCore import QUrl

    makefile = (REPO / "Makefile").read_text()
    shipped = re.search(r"^PLUGIN_FILES :=(.*?)(?<!\\)$", makefile, re.M | re.S).group(1)
    shipped = shipped.replace("\\\n", " ").split()
    for alg in _algorithms():
        url = QUrl(alg.helpUrl())
        assert url.isLocalFile(), (alg.id(), alg.helpUrl())
        page = Path(url.toLocalFile())
        # rendered from docs/<page>.md (shipped in the plugin zip), opened at its section
        assert page.is_file() and page.suffix == ".html" and url.fragment(), (alg.id(), page)
        assert "docs" in shipped and (REPO / "docs" / (page.stem + ".md")).is_file(), page
        text = page.read_text(encoding="utf-8")
        assert alg.id() in text or alg.displayName() in text, (alg.id(), page)
    pages = {a.id(): Path(QUrl(a.helpUrl()).toLocalFile()).name for a in _algorithms()}
    assert pages["lcz:classifyraster"] == "classification.html"
    assert pages["lcz:trainmodel"] == "training_and_evaluation.html"
    assert pages["lcz:importpretrained"] == "pretrained_models.html"
    assert pages[MODEL_ID] == "classification.html"


def test_icons_per_group_and_for_the_provider(qgis_app):
    from qgis.core import QgsApplication
    from qgis.PyQt.QtSvg import QSvgRenderer

    provider = QgsApplication.processingRegistry().providerById("lcz")
    assert Path(provider.svgIconPath()).name == "lcz.svg" and not provider.icon().isNull()
    by_group = {}
    for alg in _algorithms():
        path = alg.svgIconPath()  # what the modeler draws
        assert QSvgRenderer(path).isValid(), (alg.id(), path)
        assert not alg.icon().isNull()
        by_group.setdefault(alg.groupId(), set()).add(path)
    assert all(len(paths) == 1 for paths in by_group.values()), by_group
    paths = [next(iter(p)) for p in by_group.values()]
    assert len(set(paths)) == len(by_group) == 5
    assert provider.svgIconPath() not in paths


# -- 9: make deploy's PYTHONPATH ----------------------------------------------------------


def _qgis_applies(setting: str, system: dict) -> str | None:
    """PYTHONPATH after QGIS applies one customEnvVars entry at start-up (QGIS main.cpp:
    prepend/append glue the value to the system one; undefined sets it only if unset)."""
    mode, assignment = setting.split("|", 1)
    name, value = assignment.split("=", 1)
    assert name == "PYTHONPATH"
    if name in system and mode == "append":
        value = system[name] + value
    elif name in system and mode == "prepend":
        value = value + system[name]
    if mode == "undefined" and name in system:
        return system[name]
    return value


def _deploy(tmp_path: Path, pythonpath: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    profile = tmp_path / f"profile{len(list(tmp_path.iterdir()))}"
    r = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "deploy.py"), "--profile-dir", str(profile),
         "--name", "lcz_mapping", "--venv", ".venv"],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    cfg = configparser.RawConfigParser()
    cfg.optionxform = str
    cfg.read(profile / "QGIS" / "QGIS3.ini")
    return cfg.get("qgis", "customEnvVars")


@pytest.mark.parametrize("at_deploy", [None, "", "/opt/mylibs"])
def test_deploy_pythonpath_has_no_empty_element(tmp_path, at_deploy):
    spec = importlib.util.spec_from_file_location("deploy", REPO / "scripts" / "deploy.py")
    deploy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(deploy)
    site = (REPO / ".venv" / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
            / "site-packages").resolve()  # fmt: skip
    if not site.exists():
        pytest.skip("no .venv site-packages")
    setting = _deploy(tmp_path, at_deploy)
    assert setting == deploy.pythonpath_setting(site, at_deploy)
    # QGIS started as when deploying (an empty PYTHONPATH is an unused one)
    system = {"PYTHONPATH": at_deploy} if at_deploy else {}
    applied = _qgis_applies(setting, system)
    elements = applied.split(os.pathsep)
    assert "" not in elements, applied  # an empty element puts the working directory first
    assert str(site) in elements
    if at_deploy:
        assert elements[0] == at_deploy  # the user's own path is kept, first
