"""The skeleton of a QGIS 3.22 style (QML): the document around a renderer.

Every style the project writes is built here: ``raster_style`` wraps a
``<rasterrenderer>`` (``legend.qml_paletted`` for the LCZ map, ``styles`` for the visual
products and patch mosaics) and ``vector_style`` wraps a ``<renderer-v2>`` and its
labels (``styles.qml_patch_polygons``). Everything around the renderer is written once.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

QML_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"


def xml_attr(value) -> str:
    """``value`` escaped for a double-quoted XML attribute.

    Args:
        value: any value; it is converted with ``str``.

    Returns:
        The text with ``&``, ``<``, ``>`` and ``"`` escaped.
    """
    return escape(str(value), {'"': "&quot;"})


def option_map(options: dict, indent: str) -> str:
    """A symbol layer's ``<Option type="Map">`` of QString ``options`` (name -> value, in
    order), its lines indented by ``indent``."""
    lines = [f'{indent}<Option type="Map">']
    lines += [
        f'{indent}  <Option type="QString" name="{k}" value="{v}"/>' for k, v in options.items()
    ]
    lines.append(f"{indent}</Option>")
    return "\n".join(lines)


def _document(body: str, tail: str, attrs: str = "") -> str:
    """The QML document: doctype, the ``<qgis>`` element (``attrs`` added to its
    attributes) holding ``body``, the layer blend mode and ``tail``."""
    return f"""{QML_DOCTYPE}
<qgis version="3.22" styleCategories="AllStyleCategories"{attrs}>
{body}
  <blendMode>0</blendMode>
{tail}</qgis>
"""


def raster_style(renderer: str) -> str:
    """A raster layer's QML with neutral brightness, saturation and resampling.

    Args:
        renderer: the ``<rasterrenderer>`` element, indented by four spaces.

    Returns:
        The QML document, ``renderer`` in its pipe.
    """
    return _document(
        f"""  <pipe>
{renderer}
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>""",
        "",
    )


def paletted_style(entries, band: int = 1, opacity: float = 1.0) -> str:
    """A raster layer's QML with the paletted renderer.

    Args:
        entries: (value, colour "#rrggbb", label) of each class, in legend order.
        band: the band it colours.
        opacity: the layer's opacity, 0 to 1.
    """
    palette = "\n".join(
        f'        <paletteEntry value="{value}" color="{color}" alpha="255" '
        f'label="{xml_attr(label)}"/>'
        for value, color, label in entries
    )
    return raster_style(f"""    <rasterrenderer type="paletted" band="{band}" opacity="{opacity}" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <colorPalette>
{palette}
      </colorPalette>
    </rasterrenderer>""")


def vector_style(renderer: str, labeling: str = "") -> str:
    """A vector layer's QML, drawn with normal blending and full opacity.

    Args:
        renderer: the ``<renderer-v2>`` element, indented by two spaces.
        labeling: the ``<labeling>`` element, indented by two spaces; "" for no labels.
            Labels are enabled exactly when it is given.

    Returns:
        The QML document.
    """
    body = f"{renderer}\n{labeling}" if labeling else renderer
    return _document(
        body,
        "  <featureBlendMode>0</featureBlendMode>\n  <layerOpacity>1</layerOpacity>\n",
        ' labelsEnabled="1"' if labeling else "",
    )
