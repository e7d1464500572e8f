"""The suspicious training areas' style stands out on an LCZ map (issue 24, finding 7):
one high-contrast symbol that is no LCZ colour (not each polygon in its own class
colour), labels in a named sans font with a halo, a few words each, placed so they do
not overlap; the full reason stays in the attribute table."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from helpers import epsg_wkt

from lcz_qgis.common.legend import LCZ_CLASSES
from lcz_qgis.training_areas.quality import (
    SHORT_REASONS,
    Suspect,
    suspicious_qml,
    write_suspicious_layer,
)

LCZ_COLORS = {c.color.lower() for c in LCZ_CLASSES}
MAX_LABEL = 32  # characters: "#123 LCZ 10: too few polygons" is 29


def _hex(rgba: str) -> str:
    r, g, b = (int(v) for v in rgba.split(",")[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def test_qml_draws_every_polygon_in_one_colour_that_no_lcz_class_has():
    root = ET.fromstring(suspicious_qml().split("\n", 1)[1])  # (the doctype line off)
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "singleSymbol"  # not categorised by LCZ
    layers = renderer.findall("./symbols/symbol/layer")
    options = [{o.get("name"): o.get("value") for o in lyr.findall("./Option/Option")}
               for lyr in layers]  # fmt: skip
    outlines = [o for o in options if "outline_color" in o]
    top = outlines[-1]  # drawn last, on top: thick, dashed, not an LCZ colour
    assert _hex(top["outline_color"]) not in LCZ_COLORS
    assert top["outline_style"] == "dash" and float(top["outline_width"]) >= 0.6
    assert all(_hex(o["outline_color"]) not in LCZ_COLORS for o in outlines)
    assert all(o["style"] == "no" for o in outlines)  # no opaque fill hides the map


def test_qml_labels_have_a_named_font_a_halo_and_no_overlap():
    root = ET.fromstring(suspicious_qml().split("\n", 1)[1])
    assert root.get("labelsEnabled") == "1"
    text = root.find("./labeling/settings/text-style")
    assert text.get("fontFamily")  # a named family, not "" (a serif fallback)
    assert text.find("text-buffer").get("bufferDraw") == "1"
    assert float(text.find("text-buffer").get("bufferSize")) > 0
    assert root.find("./labeling/settings/rendering").get("displayAll") == "0"
    assert '"reason"' not in text.get("fieldName")  # the long sentence stays in the table


@pytest.fixture()
def suspicious_layer(tmp_path):
    """A suspicious-areas GeoPackage with one row per check, and the .qml beside it."""
    from osgeo import ogr

    def square(x):
        return ogr.CreateGeometryFromWkt(
            f"POLYGON(({x} 0,{x + 500} 0,{x + 500} 500,{x} 500,{x} 0))"
        )

    long = "LCZ 10 has only 2 polygon(s) that gave patches; digitise at least 3 of each class"
    suspects = [Suspect(100 + i, 10 if i == 1 else 17, check, long, square(600 * i), i, "areas")
                for i, check in enumerate(SHORT_REASONS)]  # fmt: skip
    path = write_suspicious_layer(tmp_path / "suspicious.gpkg", suspects, epsg_wkt(32632))
    (tmp_path / "suspicious.qml").write_text(suspicious_qml())
    return path


def test_qgis_loads_the_style_high_contrast_with_short_labels(qgis_app, suspicious_layer):
    from qgis.core import (
        QgsExpression,
        QgsExpressionContext,
        QgsExpressionContextUtils,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import Qt

    layer = QgsVectorLayer(str(suspicious_layer), "suspicious", "ogr")
    assert layer.isValid() and layer.featureCount() == len(SHORT_REASONS)
    message, ok = layer.loadDefaultStyle()  # the .qml sidecar, as QGIS does on opening
    assert ok, message
    renderer = layer.renderer()
    assert renderer.type() == "singleSymbol"
    symbol = renderer.symbol()
    kinds = [symbol.symbolLayer(i).layerType() for i in range(symbol.symbolLayerCount())]
    assert kinds == ["LinePatternFill", "SimpleFill", "SimpleFill"]  # hatch, casing, dashes
    dashes = symbol.symbolLayer(2)
    assert dashes.strokeColor().name() not in LCZ_COLORS
    assert dashes.strokeStyle() == Qt.DashLine and dashes.strokeWidth() >= 0.6
    assert dashes.brushStyle() == Qt.NoBrush
    assert symbol.symbolLayer(1).strokeColor().name() not in LCZ_COLORS

    assert layer.labelsEnabled()
    settings = layer.labeling().settings()
    fmt = settings.format()
    assert fmt.font().family() and fmt.font().family() == fmt.font().family().strip()
    assert fmt.buffer().enabled() and fmt.buffer().size() > 0
    assert not settings.displayAll  # overlapping labels are left out, not drawn over

    expr = QgsExpression(settings.fieldName)
    context = QgsExpressionContext(QgsExpressionContextUtils.globalProjectLayerScopes(layer))
    labels = {}
    for feature in layer.getFeatures():
        context.setFeature(feature)
        labels[feature["check"]] = expr.evaluate(context)
        assert not expr.hasEvalError(), expr.evalErrorString()
        assert feature["reason"].startswith("LCZ 10 has only 2")  # the full reason is kept
    assert labels["few"] == "#101 LCZ 10: too few polygons"
    assert labels["edge"] == "#105 LCZ G: at raster edge"
    assert all(len(text) <= MAX_LABEL for text in labels.values()), labels
