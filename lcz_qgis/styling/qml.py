"""The skeleton of a QGIS 3.22 raster style (QML): the document around a renderer.

``legend.qml_paletted`` (the LCZ map) and ``styles`` (visual products, patch mosaics)
fill in the ``<rasterrenderer>`` element; everything around it is written here once.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

QML_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"


def xml_attr(value) -> str:
    """``value`` escaped for a double-quoted XML attribute."""
    return escape(str(value), {'"': "&quot;"})


def raster_style(renderer: str) -> str:
    """A raster layer's QML: ``renderer`` (the ``<rasterrenderer>`` element, indented by
    four spaces) in the pipe, with neutral brightness, saturation and resampling."""
    return f"""{QML_DOCTYPE}
<qgis version="3.22" styleCategories="AllStyleCategories">
  <pipe>
{renderer}
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""
