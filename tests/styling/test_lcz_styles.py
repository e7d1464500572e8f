"""Every LCZ style shows the legend's colours and labels; every style is well-formed QML.

The colours and names live in ``common/legend.py`` only; the map style
(``legend.qml_paletted``) and the patch outlines (``styling.styles.qml_patch_polygons``)
are read back as XML and compared with the legend, class by class.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from lcz_qgis.common.legend import LCZ_CLASSES, N_CLASSES, qml_paletted
from lcz_qgis.products.indices import PRODUCTS
from lcz_qgis.styling.qml import QML_DOCTYPE, xml_attr
from lcz_qgis.styling.styles import (
    INDEX_RAMPS,
    PATCH_LABEL_EXPRESSION,
    RampStop,
    qml_date_count,
    qml_for_product,
    qml_patch_polygons,
    qml_pseudocolor,
)

LEGEND = [(c.code, c.color.lower(), c.label) for c in LCZ_CLASSES]


def parse(qml: str) -> ET.Element:
    """The ``<qgis>`` element of a QML document (after its doctype line)."""
    doctype, body = qml.split("\n", 1)
    assert doctype == QML_DOCTYPE
    return ET.fromstring(body)


def _rgb(text: str) -> tuple[str, int]:
    """'140,0,0,255' -> ('#8c0000', 255)."""
    r, g, b, a = (int(v) for v in text.split(","))
    return f"#{r:02x}{g:02x}{b:02x}", a


@pytest.mark.parametrize("band, opacity", [(1, 1.0), (3, 0.5)])
def test_the_lcz_map_style_is_the_legend(band, opacity):
    root = parse(qml_paletted(band, opacity))
    renderer = root.find("pipe/rasterrenderer")
    assert renderer.get("type") == "paletted"
    assert (renderer.get("band"), float(renderer.get("opacity"))) == (str(band), opacity)
    entries = renderer.findall("colorPalette/paletteEntry")
    got = [(int(e.get("value")), e.get("color").lower(), e.get("label")) for e in entries]
    assert got == LEGEND and len(got) == N_CLASSES
    assert got[0] == (1, "#8c0000", "LCZ 1: Compact high-rise")
    assert got[-1] == (17, "#6a6aff", "LCZ G: Water")
    assert all(e.get("alpha") == "255" for e in entries)


def test_the_patch_outline_style_is_the_legend_with_outlines_only():
    root = parse(qml_patch_polygons("code"))
    renderer = root.find("renderer-v2")
    assert (renderer.get("type"), renderer.get("attr")) == ("categorizedSymbol", "code")
    symbols = {s.get("name"): s for s in renderer.findall("symbols/symbol")}
    got = []
    for cat in renderer.findall("categories/category"):
        opts = {o.get("name"): o.get("value") for o in symbols[cat.get("symbol")].iter("Option")}
        outline, outline_alpha = _rgb(opts["outline_color"])
        fill_alpha = _rgb(opts["color"])[1]
        assert outline_alpha == 255 and fill_alpha == 0 and opts["style"] == "no"
        got.append((int(cat.get("value")), outline, cat.get("label")))
    assert got == LEGEND
    text = root.find("labeling/settings/text-style")
    assert text.get("fieldName") == PATCH_LABEL_EXPRESSION and text.get("isExpression") == "1"


def test_labels_with_xml_characters_are_escaped():
    assert xml_attr('A & "B" <c>') == "A &amp; &quot;B&quot; &lt;c&gt;"
    stops = (RampStop(0, "#000000", 'dry & "bare" <0'), RampStop(1, "#ffffff", "wet"))
    items = parse(qml_pseudocolor(stops)).findall(".//colorrampshader/item")
    assert [i.get("label") for i in items] == ['dry & "bare" <0', "wet"]


@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_every_product_style_parses_and_fits_its_product(name):
    root = parse(qml_for_product(name))
    renderer = root.find("pipe/rasterrenderer")
    if PRODUCTS[name].kind == "index":
        assert renderer.get("type") == "singlebandpseudocolor"
        items = renderer.findall("rastershader/colorrampshader/item")
        ramp = INDEX_RAMPS[name]
        assert [(float(i.get("value")), i.get("color")) for i in items] == [
            (s.value, s.color) for s in ramp
        ]
        shader = renderer.find("rastershader/colorrampshader")
        assert float(shader.get("minimumValue")) == ramp[0].value
        assert float(shader.get("maximumValue")) == ramp[-1].value
    else:  # byte RGB + alpha, shown as is
        assert renderer.get("type") == "multibandcolor"
        assert [renderer.get(k) for k in ("redBand", "greenBand", "blueBand", "alphaBand")] == [
            "1", "2", "3", "4"
        ]  # fmt: skip
        assert renderer.find("redContrastEnhancement/maxValue").text == "255"


@pytest.mark.parametrize("n, values", [(1, [0, 1]), (4, [0, 1, 4])])
def test_the_date_count_ramp_runs_from_zero_to_the_dates(n, values):
    items = parse(qml_date_count(n)).findall(".//colorrampshader/item")
    assert [float(i.get("value")) for i in items] == values
    assert items[-1].get("label") == (f"{n} dates" if n > 1 else "1 date")
