"""The shipped graphical models (resources/models/*.model3) are valid in the Model
Designer (issue 24: 3): every step has a value for each parameter it requires, each value
is one its algorithm accepts (enum indexes, not codes: QGIS 3.22 refuses codes), no two
boxes overlap; and the training-areas model takes a layer's selected features with a
chosen LCZ field."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers import REPO, area_geometry, make_safe

pytestmark = pytest.mark.qgis

MODELS = sorted((REPO / "resources" / "models").glob("*.model3"))
MODEL_IDS = [m.stem for m in MODELS]


def _model(path: Path):
    from qgis.core import QgsProcessingModelAlgorithm

    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(path)), path
    return model


def test_both_models_are_shipped():
    assert MODEL_IDS == ["sentinel2_to_lcz_map", "training_areas_to_lcz_map"]


@pytest.mark.parametrize("path", MODELS, ids=MODEL_IDS)
def test_the_model_file_validates_as_the_model_designer_checks_it(qgis_app, path):
    from qgis.core import QgsApplication

    model = _model(path)
    assert model.validate() == (True, []), model.validate()
    for cid in model.childAlgorithms():
        assert model.validateChildAlgorithm(cid) == (True, []), cid
    # as the provider loads it (the toolbox's model, with the plugin's defaults)
    shipped = QgsApplication.processingRegistry().algorithmById(f"lcz:{path.stem}")
    assert shipped is not None and shipped.validate() == (True, [])


@pytest.mark.parametrize("path", MODELS, ids=MODEL_IDS)
def test_every_stored_value_is_one_its_algorithm_accepts(qgis_app, path):
    from qgis.core import Qgis, QgsProcessingContext, QgsProcessingParameterEnum
    from qgis.core import QgsProcessingModelChildParameterSource as Source

    # the scoped enum from QGIS 3.36 (the only one on 3.40 and 4), the old name before
    static = getattr(Qgis, "ProcessingModelChildParameterSource", Source).StaticValue
    context = QgsProcessingContext()
    for cid, child in _model(path).childAlgorithms().items():
        alg = child.algorithm()
        assert alg is not None, child.algorithmId()
        names = {d.name() for d in alg.parameterDefinitions()}
        for d in alg.parameterDefinitions():
            sources = child.parameterSources().get(d.name(), [])
            if not d.isDestination() and not d.flags() & d.FlagOptional:
                assert sources, (
                    f"{cid}: {d.name()} has no value (the designer marks it red; run scripts/complete_models.py)"
                )
            for s in sources:
                if s.source() != static:
                    continue
                value = s.staticValue()
                assert d.checkValueIsAcceptable(value, context), (cid, d.name(), value)
                if isinstance(d, QgsProcessingParameterEnum) and not d.usesStaticStrings():
                    assert isinstance(value, int), (cid, d.name(), value)  # an index
                p = alg.COMMAND.param(d.name())
                assert p.range_problem(value) is None, (cid, d.name(), value)
        # no value left for a parameter the algorithm no longer has (renamed, removed)
        assert set(child.parameterSources()) <= names, set(child.parameterSources()) - names


def _boxes(model) -> list[tuple[str, float, float, float, float]]:
    """(what, x0, y0, x1, y1) of every box the designer draws: inputs, steps, outputs."""
    items = [(f"input {c.parameterName()}", c) for c in model.parameterComponents().values()]
    for cid, child in model.childAlgorithms().items():
        items.append((f"step {cid}", child))
        items += [(f"output {name}", o) for name, o in child.modelOutputs().items()]
    boxes = []
    for what, c in items:
        pos, size = c.position(), c.size()
        w, h = size.width(), size.height()
        boxes.append((what, pos.x() - w / 2, pos.y() - h / 2, pos.x() + w / 2, pos.y() + h / 2))
    return boxes


@pytest.mark.parametrize("path", MODELS, ids=MODEL_IDS)
def test_no_two_boxes_overlap_or_touch(qgis_app, path):
    boxes = _boxes(_model(path))
    gap = 20  # pixels between any two boxes
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = (a[3] + gap <= b[1] or b[3] + gap <= a[1] or a[4] + gap <= b[2]
                     or b[4] + gap <= a[2])  # fmt: skip
            assert apart, (a, b)


def test_the_training_areas_model_takes_a_layer_and_its_field_chooser(qgis_app):
    from qgis.core import (
        QgsApplication,
        QgsProcessingParameterFeatureSource,
        QgsProcessingParameterField,
    )

    model = QgsApplication.processingRegistry().algorithmById("lcz:training_areas_to_lcz_map")
    areas, field = model.parameterDefinition("AREAS"), model.parameterDefinition("FIELD")
    assert isinstance(areas, QgsProcessingParameterFeatureSource)
    assert isinstance(field, QgsProcessingParameterField)
    assert field.parentLayerParameterName() == "AREAS" and field.flags() & field.FlagOptional
    child = model.childAlgorithm("map")
    (source,) = child.parameterSources()["FIELD"]
    assert source.parameterName() == "FIELD"  # the step's field is the model's


def test_the_training_areas_model_maps_the_selected_polygons(run_alg, project_layer, tmp_path):
    """Selected features only of a project layer, a text LCZ field the core would not find
    by name: the map and its factsheet come from the selected polygons alone."""
    from qgis.core import QgsProcessingFeatureSourceDefinition

    layer, selected = project_layer
    safe = make_safe(tmp_path / "safe", size10=256)
    out, sheet = tmp_path / "lcz.tif", tmp_path / "factsheet.html"
    res = run_alg("lcz:training_areas_to_lcz_map", {
        "AREAS": QgsProcessingFeatureSourceDefinition(layer.id(), True), "FIELD": "klasse",
        "PRODUCT": str(safe), "RESOLUTION": 100, "FILTER": 0, "map:LCZ map": str(out),
        "map:Factsheet": str(sheet)})  # fmt: skip
    assert res["map:LCZ map"] == str(out)
    with rasterio.open(out) as m:
        codes = set(np.unique(m.read(1)).tolist())
    assert m.res == (100.0, 100.0) and codes - {0} and codes <= {0, 2, 11}  # no LCZ D (14)
    text = re.sub(r"\s+", " ", sheet.read_text())
    assert re.search(rf"Polygons with patches</t[dh]> ?<td[^>]*>{selected}<", text), text[:3000]
    # the training areas named after the layer, not a temporary "AREAS.gpkg"
    assert re.search(r"Training areas</t[dh]> ?<td[^>]*>areas \(selected features\)\.gpkg<", text)


@pytest.fixture()
def project_layer(qgis_app):
    """A scratch layer in the project: 6 polygons of LCZ 2 and A selected, 2 of LCZ D not."""
    from qgis.core import QgsFeature, QgsGeometry, QgsProject, QgsVectorLayer

    x0, y0 = 690000, 5340000  # make_safe's upper-left corner (EPSG:32632)
    layer = QgsVectorLayer("Polygon?crs=EPSG:32632&field=klasse:string", "areas", "memory")
    feats = []
    for i in range(8):
        label = "LCZ D" if i >= 6 else ("LCZ 2" if i % 2 else "LCZ A")
        row = 1050 if i < 6 else 1850
        part = (x0 + 150 + 400 * (i % 6), y0 - row, x0 + 450 + 400 * (i % 6), y0 - row + 300)
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromWkt(area_geometry([part], epsg=32632).ExportToWkt()))
        f.setAttributes([label])
        feats.append(f)
    assert layer.dataProvider().addFeatures(feats)[0]
    project = QgsProject.instance()
    project.clear()
    project.addMapLayer(layer)
    layer.selectByIds([f.id() for f in layer.getFeatures() if f["klasse"] != "LCZ D"])
    assert layer.selectedFeatureCount() == 6
    yield layer, 6
    project.clear()


def test_layers_a_model_loads_are_named_after_its_training_areas_layer(project_layer):
    """A model's loaded outputs are named after its first input: a layer (or its selected
    features) by the layer's name, a file by its name, as before."""
    from lcz_mapping.processing_algorithms.provider import input_label  # as QGIS loads it
    from qgis.core import QgsProcessingFeatureSourceDefinition, QgsProject

    layer, _ = project_layer
    project = QgsProject.instance()
    selected = QgsProcessingFeatureSourceDefinition(layer.id(), True)
    assert input_label(selected, project) == input_label(layer.id(), project) == "areas"
    assert input_label(layer, project) == "areas"
    assert input_label("/data/S2A_MSIL2A_X.SAFE", project) == "S2A_MSIL2A_X"


def test_the_sentinel2_models_filter_reads_as_words_and_takes_codes(qgis_app, tmp_path):
    """Issue 24: 6: the model's filter choices are the words of classify's FILTER; a run
    given the code (qgis_process ... FILTER=gaussian, as the model stored it before), an
    index or a former label still gets its choice."""
    from lcz_mapping.processing_algorithms.provider import enum_words  # as QGIS loads it
    from qgis.core import QgsApplication, QgsProcessingContext

    model = QgsApplication.processingRegistry().createAlgorithmById("lcz:sentinel2_to_lcz_map")
    [choice] = [d for d in model.parameterDefinitions() if d.name() == "FILTER"]
    words = ["No filter", "Majority of the 3 x 3 neighbouring cells",
             "Gaussian smoothing of probabilities (as the LCZ Generator)"]  # fmt: skip
    assert choice.options() == words and choice.defaultValue() == words[2]
    assert [enum_words(words, v) for v in ("gaussian", 1, "none", words[1])] == [
        words[2], words[1], words[0], words[1]]  # fmt: skip
    assert enum_words(words, "Gaussian (as the LCZ Generator)") == words[2]  # former label
    assert enum_words(words, "median") is None and enum_words(["a", "b"], "a") is None
    params = {"PRODUCT": str(make_safe(tmp_path / "safe", size10=64)),
              "MODEL": str(tmp_path / "m.lczmodel"), "RESOLUTION": 100}  # fmt: skip
    assert model.with_words(params | {"FILTER": "majority"})["FILTER"] == words[1]
    params |= {"classify:LCZ map": str(tmp_path / "lcz.tif")}
    context = QgsProcessingContext()
    ok, message = model.checkParameterValues(params | {"FILTER": "gaussian"}, context)
    assert ok, message
    ok, message = model.checkParameterValues(params | {"FILTER": "median"}, context)
    assert not ok and "filter" in message.lower(), message
