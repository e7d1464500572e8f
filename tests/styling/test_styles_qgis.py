"""QGIS loads the styles and shows the legend's classes (a headless QGIS)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import write_raster

from lcz_qgis.common.legend import LCZ_CLASSES, qml_paletted
from lcz_qgis.styling.styles import INDEX_RAMPS, qml_for_product, qml_patch_polygons

pytestmark = pytest.mark.qgis


def _load(layer, qml: str, path) -> None:
    path.write_text(qml)
    message, ok = layer.loadNamedStyle(str(path))
    assert ok, message


def test_qgis_shows_the_lcz_map_with_the_legend(qgis_app, tmp_path):
    from qgis.core import QgsRasterLayer

    tif = write_raster(tmp_path / "map.tif", np.arange(1, 18, dtype=np.uint8).reshape(1, 17),
                       gtype=1)  # fmt: skip
    layer = QgsRasterLayer(str(tif), "map")
    assert layer.isValid()
    _load(layer, qml_paletted(), tmp_path / "lcz.qml")
    renderer = layer.renderer()
    assert renderer.type() == "paletted"
    got = [(c.value, c.color.name(), c.label) for c in renderer.classes()]
    assert got == [(c.code, c.color.lower(), c.label) for c in LCZ_CLASSES]


def test_qgis_draws_patch_outlines_in_the_legend_colours_without_fill(qgis_app, tmp_path):
    from qgis.core import QgsVectorLayer
    from qgis.PyQt.QtCore import Qt

    layer = QgsVectorLayer("Polygon?crs=EPSG:32632&field=lcz:integer", "patches", "memory")
    assert layer.isValid()
    _load(layer, qml_patch_polygons(), tmp_path / "patches.qml")
    renderer = layer.renderer()
    assert renderer.type() == "categorizedSymbol" and renderer.classAttribute() == "lcz"
    got = []
    for cat in renderer.categories():
        fill = cat.symbol().symbolLayer(0)
        assert fill.brushStyle() == Qt.NoBrush
        got.append((int(cat.value()), fill.strokeColor().name(), cat.label()))
    assert got == [(c.code, c.color.lower(), c.label) for c in LCZ_CLASSES]
    assert layer.labelsEnabled()


def test_qgis_shows_an_index_with_its_ramp(qgis_app, tmp_path):
    from qgis.core import QgsRasterLayer

    tif = write_raster(tmp_path / "ndvi.tif", np.linspace(-1, 1, 20, dtype=np.float32)[None])
    layer = QgsRasterLayer(str(tif), "ndvi")
    _load(layer, qml_for_product("ndvi"), tmp_path / "ndvi.qml")
    assert layer.renderer().type() == "singlebandpseudocolor"
    items = layer.renderer().shader().rasterShaderFunction().colorRampItemList()
    assert [(i.value, i.color.name()) for i in items] == [
        (s.value, s.color) for s in INDEX_RAMPS["ndvi"]
    ]
