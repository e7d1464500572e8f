"""The algorithms through processing.run: a styled, georeferenced map, training, errors as
QgsProcessingException, the same pixels as the core, the sample data loaded."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.qgis


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
