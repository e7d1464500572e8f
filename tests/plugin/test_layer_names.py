"""Layer names that tell layers apart (issue 24, finding 6): the classify map after the
model file and the input, prepared stacks after their product's date and tile,
composites and fused maps after their dates' range; every name under 60 characters."""

from __future__ import annotations

import shutil

import pytest
from helpers import make_safe_date, run_and_load

pytestmark = pytest.mark.qgis

DASH = " \u2013 "


@pytest.fixture(scope="module")
def two_dates(tmp_path_factory):
    root = tmp_path_factory.mktemp("named_dates")
    return [make_safe_date(root, date, seed=i) for i, date in enumerate(("20230601", "20230815"))]


def _loaded_name(layers, path) -> str:
    return layers[path.name].name()


def test_two_models_on_one_city_give_two_layer_names(qgis_app, sample_dir, rf_model, tmp_path):
    names = {}
    for stem in ("rf_city", "rf_other_seed"):
        model = shutil.copy(rf_model, tmp_path / f"{stem}.lczmodel")
        out, conf = tmp_path / f"{stem}_map.tif", tmp_path / f"{stem}_conf.tif"
        _, layers = run_and_load(
            "lcz:classifyraster",
            {"MODEL": str(model), "SENTINEL2": str(sample_dir / "scene_s2.tif"), "STRIDE": 16,
             "OUTPUT": str(out), "CONFIDENCE": str(conf)},
        )  # fmt: skip
        names[stem] = (_loaded_name(layers, out), _loaded_name(layers, conf))
    assert names["rf_city"] == (f"LCZ map{DASH}rf_city{DASH}scene_s2",
                                f"LCZ confidence{DASH}rf_city{DASH}scene_s2")  # fmt: skip
    assert names["rf_other_seed"][0] == f"LCZ map{DASH}rf_other_seed{DASH}scene_s2"
    assert names["rf_city"][0] != names["rf_other_seed"][0]


def test_prepared_stacks_of_two_dates_are_named_after_date_and_tile(qgis_app, two_dates, tmp_path):
    names = []
    for safe in two_dates:
        out = tmp_path / f"{safe.name[11:19]}.tif"
        _, layers = run_and_load(
            "lcz:preparesentinel2", {"INPUT": str(safe / "MTD_MSIL2A.xml"), "OUTPUT": str(out)}
        )
        names.append(_loaded_name(layers, out))
    assert names == [f"Sentinel-2 (So2Sat bands){DASH}2023-06-01{DASH}T32TPT",
                     f"Sentinel-2 (So2Sat bands){DASH}2023-08-15{DASH}T32TPT"]  # fmt: skip


def test_a_map_of_a_prepared_stack_is_named_after_its_date(qgis_app, two_dates, rf_model, tmp_path):
    import processing
    from qgis.core import (
        QgsProcessingContext,
        QgsProcessingFeedback,
        QgsProcessingOutputLayerDefinition,
        QgsProject,
        QgsRasterLayer,
    )

    stack = tmp_path / "stack.tif"
    run_and_load("lcz:preparesentinel2", {"INPUT": str(two_dates[0]), "OUTPUT": str(stack)})
    project = QgsProject.instance()
    layer = QgsRasterLayer(str(stack), f"Sentinel-2 (So2Sat bands){DASH}2023-06-01{DASH}T32TPT")
    project.addMapLayer(layer)
    out = tmp_path / "map.tif"
    context = QgsProcessingContext()
    context.setProject(project)
    processing.run(
        "lcz:classifyraster",
        {"MODEL": str(rf_model), "SENTINEL2": layer.id(), "STRIDE": 16,
         "OUTPUT": QgsProcessingOutputLayerDefinition(str(out), project)},
        context=context, feedback=QgsProcessingFeedback(),
    )  # fmt: skip
    details = context.layersToLoadOnCompletion()
    assert details[str(out)].name == f"LCZ map{DASH}rf{DASH}2023-06-01 T32TPT"


def test_the_composite_is_named_after_its_dates_range(qgis_app, two_dates, tmp_path):
    out = tmp_path / "comp.tif"
    _, layers = run_and_load(
        "lcz:compositesentinel2", {"INPUT": [str(s) for s in two_dates], "OUTPUT": str(out)}
    )
    assert _loaded_name(layers, out) == (f"Sentinel-2 composite (median){DASH}2023-06-01 to 08-15")


def test_long_names_are_cut_to_under_60_characters_the_same_way_each_time(qgis_app):
    from lcz_mapping.processing_algorithms.base import input_part, layer_name  # as QGIS loads it

    product = "S2A_MSIL2A_20230715T102559_N0509_R022_T32TPT_20230715T150000"
    model = "random_forest_trained_on_the_whole_of_greater_manchester_v2"
    name = layer_name("LCZ map (dates fused)", model, product)
    assert len(name) < 60 and name == layer_name("LCZ map (dates fused)", model, product)
    assert name.startswith(f"LCZ map (dates fused){DASH}random_forest") and "\u2026" in name
    assert layer_name("LCZ map", "rf", input_part(product)) == (
        f"LCZ map{DASH}rf{DASH}2023-07-15 T32TPT"
    )
    assert layer_name("LCZ map", "", "scene") == f"LCZ map{DASH}scene"  # no empty part
