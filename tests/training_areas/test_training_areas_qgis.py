"""lcz:trainingareapatches inside QGIS: Processing, the suspicious layer loaded styled."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from helpers import SCENE_AREAS, run_and_load, write_areas_file, write_wudapt_kml

pytestmark = pytest.mark.qgis


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    from lcz_qgis.sample_data import write_scene

    d = tmp_path_factory.mktemp("areas_qgis")
    write_scene(d, 42)
    names = write_areas_file(d / "areas.gpkg")
    return d, names


def test_processing_writes_patches_and_loads_the_suspicious_layer_styled(qgis_app, scene, tmp_path):
    from qgis.core import QgsVectorLayer

    d, names = scene
    out, sus = tmp_path / "p.h5", tmp_path / "suspicious.gpkg"
    res, layers = run_and_load(
        "lcz:trainingareapatches",
        {"AREAS": str(d / "areas.gpkg"), "SENTINEL2": str(d / "scene_s2.tif"),
         "SENTINEL1": str(d / "scene_s1.tif"), "SCALE": "auto", "OUTPUT": str(out),
         "SUSPICIOUS": str(sus)},
    )  # fmt: skip
    with h5py.File(out) as f, h5py.File(tmp_path / "p_geo.h5") as g:
        n = f["label"].shape[0]
        codes = f["label"][:].argmax(1) + 1
        ids = f["polygon"][:]
        assert g["tfw"].shape == (n, 6)
    assert res["N_PATCHES"] == n > 200 and res["N_AREAS"] == len(SCENE_AREAS)
    # 11: the few-polygons check counts the polygons that gave patches (LCZ 2 too)
    assert res["N_SUSPICIOUS"] == 11 and res["GEO"] == str(tmp_path / "p_geo.h5")
    want = np.array([SCENE_AREAS[names[i - 1]][0] for i in ids])
    np.testing.assert_array_equal(codes, want)  # each patch has its polygon's class
    loaded = layers["suspicious.gpkg"]
    assert loaded.name() == "Suspicious training areas" and loaded.featureCount() >= 9
    r = loaded.renderer()
    assert r.type() == "singleSymbol"  # one high-contrast symbol, not the LCZ colours
    assert r.symbol().symbolLayer(2).strokeColor().name() == "#ff00ff"
    assert loaded.labelsEnabled() and '"check"' in loaded.labeling().settings().fieldName
    plain = QgsVectorLayer(str(sus), "v", "ogr")  # the .qml sidecar without Processing
    assert plain.isValid() and plain.crs().authid() == "EPSG:32632"
    checks = {f["check"] for f in plain.getFeatures()}
    assert checks == {"huge", "few", "outside", "tiny", "overlap", "edge", "nodata"}


def test_processing_takes_a_kmz_and_refuses_bad_areas(run_alg, scene, tmp_path):
    from qgis.core import QgsProcessingException

    d, _ = scene
    write_wudapt_kml(tmp_path / "t.kmz", kmz=True)
    res = run_alg("lcz:trainingareapatches", {"AREAS": str(tmp_path / "t.kmz"),
                  "SENTINEL2": str(d / "scene_s2.tif"), "OUTPUT": str(tmp_path / "k.h5")})  # fmt: skip
    assert res["N_PATCHES"] > 200 and "SUSPICIOUS" not in res
    with pytest.raises(QgsProcessingException, match='"LCZ field"'):
        run_alg("lcz:trainingareapatches", {"AREAS": str(d / "areas.gpkg"), "FIELD": "nope",
                "SENTINEL2": str(d / "scene_s2.tif"), "OUTPUT": str(tmp_path / "x.h5")})  # fmt: skip
    assert not (tmp_path / "x.h5").exists()
