"""Training areas from any vector source (issue 24: 2): lcz:trainingareapatches and
lcz:mapfromtrainingareas take a file, a project layer, a scratch layer or its selected
features, with an LCZ field chosen among the layer's fields; a KML/KMZ file reaches the
core as that file (its folders are the classes)."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
from helpers import (
    SCENE_AREAS,
    area_geometry,
    without_libkml,
    write_areas_file,
    write_wudapt_kml,
)

from lcz_qgis.raster.io import has_libkml

pytestmark = pytest.mark.qgis

ALGORITHMS = ("lcz:trainingareapatches", "lcz:mapfromtrainingareas")
# six clean polygons of three classes (LCZ 2, A = 11, D = 14), each inside its block
CLEAN = ("compact_b", "compact_c", "forest_a", "forest_b", "plants_b", "plants_c")


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    from lcz_qgis.sample_data import write_scene

    d = tmp_path_factory.mktemp("area_sources")
    write_scene(d, 42)
    names = write_areas_file(d / "areas.gpkg")
    return d, names


@pytest.fixture()
def project(qgis_app):
    from qgis.core import QgsProject

    p = QgsProject.instance()
    p.clear()
    yield p
    p.clear()


def _patches(run_alg, scene, tmp_path, areas, **params) -> tuple[dict, np.ndarray, np.ndarray]:
    """Run lcz:trainingareapatches on the sample scene; (results, class per patch, polygon
    id per patch)."""
    d, _ = scene
    out = tmp_path / f"p{len(list(tmp_path.glob('p*.h5')))}.h5"
    res = run_alg("lcz:trainingareapatches", {"AREAS": areas, "SENTINEL2": str(d / "scene_s2.tif"),
                  "OUTPUT": str(out), **params})  # fmt: skip
    with h5py.File(out) as f:
        return res, f["label"][:].argmax(1) + 1, f["polygon"][:]


def _scratch_layer(names, field="klasse"):
    """A scratch (memory) layer in EPSG:32632 of the SCENE_AREAS ``names``, the class as
    text ("LCZ 2", "LCZ A") in ``field``: a name the core would not find by itself."""
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    layer = QgsVectorLayer(f"Polygon?crs=EPSG:32632&field={field}:string", "scratch", "memory")
    feats = []
    for name in names:
        code, parts, _ = SCENE_AREAS[name]
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromWkt(area_geometry(parts, epsg=32632).ExportToWkt()))
        f.setAttributes(["LCZ " + ("ABCDEFG"[code - 11] if code > 10 else str(code))])
        feats.append(f)
    assert layer.dataProvider().addFeatures(feats)[0]
    return layer


def test_the_lcz_field_is_a_chooser_of_the_training_areas_fields(qgis_app):
    from qgis.core import (
        QgsApplication,
        QgsProcessingParameterFeatureSource,
        QgsProcessingParameterField,
    )

    for alg_id in ALGORITHMS:
        alg = QgsApplication.processingRegistry().algorithmById(alg_id)
        areas, field = alg.parameterDefinition("AREAS"), alg.parameterDefinition("FIELD")
        assert isinstance(areas, QgsProcessingParameterFeatureSource), alg_id
        assert isinstance(field, QgsProcessingParameterField), alg_id
        assert field.parentLayerParameterName() == "AREAS"
        assert field.dataType() == QgsProcessingParameterField.Any  # numbers or text
        assert not field.allowMultiple() and field.defaultValue() is None
        assert field.flags() & field.FlagOptional  # empty: found by name, or KML folders
        assert "FIELD" in [p.name() for p in alg.parameterDefinitions()]
        assert "AREAS" in field.dependsOnOtherParameters()


def test_a_scratch_layer_with_a_chosen_text_field(run_alg, scene, tmp_path):
    layer = _scratch_layer(CLEAN)
    res, codes, ids = _patches(run_alg, scene, tmp_path, layer, FIELD="klasse")
    assert res["N_AREAS"] == len(CLEAN) and res["N_PATCHES"] == len(codes) > 30
    want = np.array([SCENE_AREAS[CLEAN[i - 1]][0] for i in ids])
    np.testing.assert_array_equal(codes, want)  # every patch has its polygon's class
    assert set(codes) == {2, 11, 14}


def test_a_scratch_layer_without_the_field_is_refused_naming_it(run_alg, scene, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="no LCZ field.*klasse"):
        _patches(run_alg, scene, tmp_path, _scratch_layer(CLEAN))
    with pytest.raises(QgsProcessingException, match="\"LCZ field\".*no field 'lcz'"):
        _patches(run_alg, scene, tmp_path, _scratch_layer(CLEAN), FIELD="lcz")


def test_selected_features_only_of_a_project_layer(run_alg, project, scene, tmp_path):
    from qgis.core import QgsProcessingFeatureSourceDefinition, QgsVectorLayer

    d, names = scene
    layer = QgsVectorLayer(str(d / "areas.gpkg"), "training areas", "ogr")
    assert layer.isValid() and layer.featureCount() == len(SCENE_AREAS)
    project.addMapLayer(layer)
    chosen = ("compact_b", "water_a")  # LCZ 2 and G (17)
    layer.selectByIds([f.id() for f in layer.getFeatures() if f["name"] in chosen])
    assert layer.selectedFeatureCount() == 2
    selected = QgsProcessingFeatureSourceDefinition(layer.id(), True)
    res, codes, ids = _patches(run_alg, scene, tmp_path, selected, FIELD="lcz")
    assert res["N_AREAS"] == 2 and set(codes) == {2, 17}
    # the same patches as a file of only these two polygons gives
    write_areas_file(tmp_path / "two.gpkg", {n: SCENE_AREAS[n] for n in chosen})
    res2, codes2, _ = _patches(run_alg, scene, tmp_path, str(tmp_path / "two.gpkg"))
    assert res["N_PATCHES"] == res2["N_PATCHES"] == len(codes) > 10
    np.testing.assert_array_equal(np.sort(codes), np.sort(codes2))
    # the whole layer, by its id: every polygon
    res_all, _, _ = _patches(run_alg, scene, tmp_path, layer.id())
    assert res_all["N_AREAS"] == len(SCENE_AREAS)


def test_a_geopackage_path_with_a_chosen_numeric_field(run_alg, scene, tmp_path):
    areas = {n: SCENE_AREAS[n] for n in CLEAN}
    write_areas_file(tmp_path / "mine.gpkg", areas, field="my_class")
    res, codes, ids = _patches(run_alg, scene, tmp_path, str(tmp_path / "mine.gpkg"),
                               FIELD="my_class")  # fmt: skip
    assert res["N_AREAS"] == len(CLEAN) and set(codes) == {2, 11, 14}
    np.testing.assert_array_equal(codes, [SCENE_AREAS[CLEAN[i - 1]][0] for i in ids])


@pytest.fixture()
def captured(qgis_app, monkeypatch):
    """The values lcz:trainingareapatches hands the core (its run replaced)."""
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById("lcz:trainingareapatches")
    seen = []
    monkeypatch.setattr(
        alg.COMMAND, "run", lambda values, fb, given=None: seen.append(values) or {}
    )
    monkeypatch.setattr(alg.COMMAND, "report", None)
    return seen


def test_a_kml_or_kmz_reaches_the_core_as_that_file(run_alg, project, scene, captured, tmp_path):
    from qgis.core import QgsVectorLayer

    d, _ = scene
    base = {"SENTINEL2": str(d / "scene_s2.tif"), "OUTPUT": str(tmp_path / "x.h5")}
    for name, kmz in (("t.kmz", True), ("t.kml", False)):
        write_wudapt_kml(tmp_path / name, kmz=kmz)
        run_alg("lcz:trainingareapatches", {"AREAS": str(tmp_path / name), **base})
        assert captured[-1]["AREAS"] == str(tmp_path / name) and captured[-1]["FIELD"] is None
    # a layer of the project that is one folder of the template stands for the whole file
    # (a KMZ's folder where QGIS's GDAL has LIBKML, else the KML's: no KMZ loads as a layer)
    file = tmp_path / ("t.kmz" if has_libkml() else "t.kml")
    folder = QgsVectorLayer(f"{file}|layername=A", "LCZ A", "ogr")
    assert folder.isValid() and folder.featureCount() > 0
    project.addMapLayer(folder)
    run_alg("lcz:trainingareapatches", {"AREAS": folder.id(), **base})
    assert captured[-1]["AREAS"] == str(file)
    # a GeoPackage path as it is (the CLI's value), the chosen field by name
    run_alg("lcz:trainingareapatches", {"AREAS": str(d / "areas.gpkg"), "FIELD": "lcz", **base})
    assert captured[-1]["AREAS"] == str(d / "areas.gpkg") and captured[-1]["FIELD"] == "lcz"


def test_the_kmz_through_processing_gives_patches_of_every_folder(run_alg, scene, tmp_path):
    write_wudapt_kml(tmp_path / "t.kmz", kmz=True)
    res, codes, _ = _patches(run_alg, scene, tmp_path, str(tmp_path / "t.kmz"))
    # the classes of the polygons that give patches (those outside or too small give none)
    assert set(codes) == {2, 5, 6, 8, 11, 14, 15, 17}
    assert res["N_AREAS"] == len(SCENE_AREAS)


def test_a_kmz_reaches_the_core_where_qgis_cannot_load_it(run_alg, scene, tmp_path):
    """A QGIS whose GDAL has no LIBKML driver (Debian's GDAL 3.13 on) cannot load a KMZ as
    a layer: its own parameter check is given a stand-in, and the core reads the KML
    document inside the KMZ with GDAL's KML driver."""
    from qgis.core import QgsVectorLayer

    write_wudapt_kml(tmp_path / "t.kmz", kmz=True)
    with without_libkml():
        assert not QgsVectorLayer(str(tmp_path / "t.kmz"), "t", "ogr").isValid()
        res, codes, _ = _patches(run_alg, scene, tmp_path, str(tmp_path / "t.kmz"))
    assert set(codes) == {2, 5, 6, 8, 11, 14, 15, 17}
    assert res["N_AREAS"] == len(SCENE_AREAS)


def test_a_named_pipe_is_refused_before_anything_opens_it(run_alg, scene, tmp_path):
    from qgis.core import QgsProcessingException

    fifo = tmp_path / "areas.kml"
    os.mkfifo(fifo)  # OGR would wait for a writer: the core refuses it first
    named = r'"Training areas \(polygons, KML/KMZ\)": .*areas\.kml\' is a named pipe'
    with pytest.raises(QgsProcessingException, match=named):
        _patches(run_alg, scene, tmp_path, str(fifo))


def test_a_layer_reaches_the_core_as_a_geopackage_named_after_it(
    run_alg, project, scene, captured, tmp_path
):
    """The factsheet and the log name the training areas by their file: a layer's copy
    is named after the layer, not "AREAS.gpkg"; it holds the selected features only."""
    from osgeo import ogr
    from qgis.core import QgsProcessingFeatureSourceDefinition, QgsVectorLayer

    d, _ = scene
    base = {"SENTINEL2": str(d / "scene_s2.tif"), "OUTPUT": str(tmp_path / "x.h5")}
    layer = QgsVectorLayer(str(d / "areas.gpkg"), "Paris: areas/2024", "ogr")
    project.addMapLayer(layer)
    layer.selectByIds([1, 2, 3])
    selected = QgsProcessingFeatureSourceDefinition(layer.id(), True)
    run_alg("lcz:trainingareapatches", {"AREAS": selected, **base})
    path = captured[-1]["AREAS"]
    assert os.path.basename(path) == "Paris_ areas_2024 (selected features).gpkg"
    assert ogr.Open(path).GetLayer(0).GetFeatureCount() == 3
    run_alg("lcz:trainingareapatches", {"AREAS": _scratch_layer(CLEAN), **base})
    assert os.path.basename(captured[-1]["AREAS"]) == "scratch.gpkg"
    # the layer's own file when QGIS needs no copy (a GeoPackage of one layer, all of it)
    run_alg("lcz:trainingareapatches", {"AREAS": layer.id(), **base})
    assert captured[-1]["AREAS"] == str(d / "areas.gpkg")
