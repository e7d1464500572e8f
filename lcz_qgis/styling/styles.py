"""QGIS styles (QML) for the visual products, the patch mosaics, the patch outlines and
the suspicious training areas (``qml_suspicious_polygons``: high contrast, no LCZ colour).

The LCZ map style lives in ``legend.qml_paletted``; this module reuses the legend's
colours and names for the patch polygons. Raster styles share ``qml.raster_style``,
vector styles ``qml.vector_style``. Every QML here is plain QGIS 3.22 XML, read by
``QgsMapLayer.loadNamedStyle`` (Processing post-processors) and picked up as a ``.qml``
sidecar by QGIS when a file is opened.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..common.legend import LCZ_CLASSES
from .qml import option_map, raster_style, vector_style, xml_attr


@dataclass(frozen=True)
class RampStop:
    """One stop of a colour ramp.

    Attributes:
        value: the index value at the stop.
        color: "#rrggbb".
        label: its legend text.
    """

    value: float
    color: str  # "#rrggbb"
    label: str


# Colour ramps of the index products: (stops, display min, display max).
# NDVI: diverging brown -> pale -> greens; water indices: dry (tan) -> white -> blues;
# NDBI: vegetation green -> white -> built-up red; RVI: sequential yellow -> green.
INDEX_RAMPS: dict[str, tuple[RampStop, ...]] = {
    "ndvi": (
        RampStop(-1.0, "#543005", "-1 water, snow, clouds"),
        RampStop(0.0, "#dfc27d", "0 bare soil, built-up"),
        RampStop(0.2, "#f6f6c9", "0.2 sparse vegetation"),
        RampStop(0.5, "#7fbc41", "0.5 moderate vegetation"),
        RampStop(1.0, "#00441b", "1 dense green vegetation"),
    ),
    "ndwi": (
        RampStop(-1.0, "#8c510a", "-1 dense vegetation, dry"),
        RampStop(0.0, "#f7f7f7", "0 boundary"),
        RampStop(0.3, "#6baed6", "0.3 wet surfaces"),
        RampStop(1.0, "#08306b", "1 open water"),
    ),
    "mndwi": (
        RampStop(-1.0, "#8c510a", "-1 built-up, bare, vegetation"),
        RampStop(0.0, "#f7f7f7", "0 boundary"),
        RampStop(0.3, "#6baed6", "0.3 wet surfaces"),
        RampStop(1.0, "#08306b", "1 open water"),
    ),
    "ndbi": (
        RampStop(-0.6, "#1a9850", "-0.6 vegetation, water"),
        RampStop(0.0, "#f7f7f7", "0 mixed"),
        RampStop(0.3, "#f46d43", "0.3 built-up, bare"),
        RampStop(0.6, "#a50026", "0.6 dense built-up, bare"),
    ),
    "rvi": (
        RampStop(0.0, "#ffffcc", "0 smooth surfaces, water"),
        RampStop(0.4, "#c2e699", "0.4 bare, built-up"),
        RampStop(0.8, "#78c679", "0.8 low vegetation"),
        RampStop(1.2, "#238443", "1.2 dense vegetation"),
        RampStop(1.6, "#004529", "1.6+ forest (volume scattering)"),
    ),
}


_MIN_MAX_ORIGIN = """      <minMaxOrigin>
        <limits>None</limits>
        <extent>WholeRaster</extent>
        <statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower>
        <cumulativeCutUpper>0.98</cumulativeCutUpper>
        <stdDevFactor>2</stdDevFactor>
      </minMaxOrigin>"""


def _rgb_str(color: str, alpha: int = 255) -> str:
    c = color.lstrip("#")
    return f"{int(c[0:2], 16)},{int(c[2:4], 16)},{int(c[4:6], 16)},{alpha}"


def qml_pseudocolor(stops, band: int = 1, title: str = "") -> str:
    """Single-band pseudocolour (interpolated ramp) with one legend entry per stop."""
    lo, hi = stops[0].value, stops[-1].value
    items = "\n".join(
        f'          <item alpha="255" value="{s.value:g}" label="{xml_attr(s.label)}" '
        f'color="{s.color}"/>'
        for s in stops
    )
    span = hi - lo
    grad_stops = ":".join(f"{(s.value - lo) / span:.6g};{_rgb_str(s.color)}" for s in stops[1:-1])
    return raster_style(f"""    <rasterrenderer type="singlebandpseudocolor" band="{band}" opacity="1" alphaBand="-1" classificationMin="{lo:g}" classificationMax="{hi:g}" nodataColor="">
      <rasterTransparency/>
{_MIN_MAX_ORIGIN}
      <rastershader>
        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" minimumValue="{lo:g}" maximumValue="{hi:g}" labelPrecision="2">
          <colorramp type="gradient" name="[source]">
            <Option type="Map">
              <Option type="QString" name="color1" value="{_rgb_str(stops[0].color)}"/>
              <Option type="QString" name="color2" value="{_rgb_str(stops[-1].color)}"/>
              <Option type="QString" name="discrete" value="0"/>
              <Option type="QString" name="rampType" value="gradient"/>
              <Option type="QString" name="stops" value="{grad_stops}"/>
            </Option>
          </colorramp>
{items}
        </colorrampshader>
      </rastershader>
    </rasterrenderer>""")


def qml_date_count(n_dates: int) -> str:
    """The style of a multi-date run's date count: 0 (no date seen the cell) to ``n_dates``.

    Args:
        n_dates: the run's dates (at least 1).

    Returns:
        A pseudocolour QML, grey at 0 through yellow to blue at ``n_dates``.
    """
    n = max(1, int(n_dates))
    stops = [RampStop(0, "#bdbdbd", "0 dates (no clear view)")]
    if n > 1:
        stops.append(RampStop(1, "#ffffb2", "1 date"))
    stops.append(RampStop(n, "#2c7fb8", f"{n} date" + ("s" if n > 1 else "")))
    return qml_pseudocolor(stops)


def qml_index(product_name: str) -> str:
    """The pseudocolour QML of index product ``product_name`` (its ``INDEX_RAMPS`` ramp)."""
    return qml_pseudocolor(INDEX_RAMPS[product_name])


def _contrast(tag: str, lo: float, hi: float) -> str:
    return (
        f"      <{tag}>\n"
        f"        <minValue>{lo:.6g}</minValue>\n"
        f"        <maxValue>{hi:.6g}</maxValue>\n"
        f"        <algorithm>StretchToMinimumMaximum</algorithm>\n"
        f"      </{tag}>"
    )


def qml_multiband(red: int, green: int, blue: int, limits, alpha_band: int = -1) -> str:
    """Multiband colour with a fixed min/max stretch per channel (``limits``: 3 x (lo, hi))."""
    (rl, rh), (gl, gh), (bl, bh) = [tuple(map(float, x)) for x in limits]
    return raster_style(f"""    <rasterrenderer type="multibandcolor" redBand="{red}" greenBand="{green}" blueBand="{blue}" alphaBand="{alpha_band}" opacity="1" nodataColor="">
      <rasterTransparency/>
{_MIN_MAX_ORIGIN}
{_contrast("redContrastEnhancement", rl, rh)}
{_contrast("greenContrastEnhancement", gl, gh)}
{_contrast("blueContrastEnhancement", bl, bh)}
    </rasterrenderer>""")


def qml_rgba_byte() -> str:
    """A stretched byte RGB + alpha product (true colour, S1 false colour): shown as is."""
    return qml_multiband(1, 2, 3, [(0, 255)] * 3, alpha_band=4)


def qml_for_product(product_name: str) -> str:
    """The QML of product ``product_name``: its ramp for an index, else the RGBA byte style."""
    if product_name in INDEX_RAMPS:
        return qml_index(product_name)
    return qml_rgba_byte()


# -- patch outlines ----------------------------------------------------------------------
PATCH_LABEL_EXPRESSION = "concat('#', \"patch_index\", ' LCZ ', \"lcz_letter\")"


def _fill_symbol(name: str, color: str) -> str:
    """A fill symbol with no brush: a border in ``color``, the inside left clear."""
    scale = "3x:0,0,0,0,0,0"
    options = {
        "border_width_map_unit_scale": scale, "color": _rgb_str(color, 0),
        "joinstyle": "miter", "offset": "0,0", "offset_map_unit_scale": scale,
        "offset_unit": "MM", "outline_color": _rgb_str(color), "outline_style": "solid",
        "outline_width": "0.6", "outline_width_unit": "MM", "style": "no",
    }  # fmt: skip
    return f"""        <symbol type="fill" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">
          <data_defined_properties><Option type="Map"><Option type="QString" name="name" value=""/><Option name="properties"/><Option type="QString" name="type" value="collection"/></Option></data_defined_properties>
          <layer class="SimpleFill" enabled="1" locked="0" pass="0">
{option_map(options, "            ")}
          </layer>
        </symbol>"""


def _labeling(expression: str, family: str = "", size: int = 8, placement: int = 1,
              buffer_opacity: float = 0.8, dist: float = 0.0) -> str:  # fmt: skip
    """A ``<labeling>`` element: bold black text of ``expression`` with a white buffer
    (halo), polygon ``placement`` (0 around the centroid, 1 over it) ``dist`` mm away,
    overlapping labels left out, up to 1:200,000."""
    expr = xml_attr(expression)
    return f"""  <labeling type="simple">
    <settings calloutType="simple">
      <text-style fieldName="{expr}" isExpression="1" fontSize="{size}" fontSizeUnit="Point" fontWeight="75" fontFamily="{xml_attr(family)}" namedStyle="" textColor="0,0,0,255" textOpacity="1" multilineHeight="1" allowHtml="0" capitalization="0" blendMode="0" previewBkgrdColor="255,255,255,255" fontKerning="1" fontItalic="0" fontUnderline="0" fontStrikeout="0" fontWordSpacing="0" fontLetterSpacing="0" textOrientation="horizontal" useSubstitutions="0">
        <text-buffer bufferDraw="1" bufferSize="1" bufferSizeUnits="MM" bufferColor="255,255,255,255" bufferOpacity="{buffer_opacity:g}" bufferJoinStyle="128" bufferNoFill="1" bufferBlendMode="0"/>
      </text-style>
      <text-format wrapChar="" multilineAlign="3" plussign="0" reverseDirectionSymbol="0" addDirectionSymbol="0" formatNumbers="0" decimals="3" leftDirectionSymbol="&lt;" rightDirectionSymbol="&gt;" placeDirectionSymbol="0" autoWrapLength="0" useMaxLineLengthForAutoWrap="1"/>
      <placement placement="{placement}" offsetType="0" quadOffset="4" xOffset="0" yOffset="0" offsetUnits="MM" dist="{dist:g}" distUnits="MM" priority="5" fitInPolygonOnly="0" centroidWhole="1" centroidInside="1" overrunDistance="0" overrunDistanceUnit="MM" repeatDistance="0" repeatDistanceUnit="MM" rotationAngle="0" maxCurvedCharAngleIn="25" maxCurvedCharAngleOut="-25" placementFlags="10" layerType="PolygonGeometry" geometryGenerator="" geometryGeneratorEnabled="0" geometryGeneratorType="PointGeometry" lineAnchorPercent="0.5" lineAnchorType="0" lineAnchorClipping="0" polygonPlacementFlags="2" overlapHandling="PreventOverlap" allowDegraded="0"/>
      <rendering scaleVisibility="1" scaleMin="0" scaleMax="200000" obstacle="1" obstacleFactor="1" obstacleType="1" zIndex="0" upsidedownLabels="0" limitNumLabels="0" maxNumLabels="2000" minFeatureSize="0" fontLimitPixelSize="0" fontMinPixelSize="3" fontMaxPixelSize="10000" labelPerPart="0" mergeLines="0" displayAll="0" drawLabels="1" unplacedVisibility="0"/>
      <dd_properties><Option type="Map"><Option type="QString" name="name" value=""/><Option name="properties"/><Option type="QString" name="type" value="collection"/></Option></dd_properties>
    </settings>
  </labeling>"""


def qml_patch_polygons(field: str = "lcz") -> str:
    """The patch outlines' style: LCZ-coloured outlines labelled with index and letter.

    A categorized renderer on ``field`` in the legend's colours, with outlines only (no
    fill), so the patch image below is not tinted.

    Args:
        field: the attribute holding each polygon's LCZ code (1-17).

    Returns:
        The QML document.
    """
    cats = "\n".join(
        f'        <category render="true" value="{c.code}" symbol="{i}" '
        f'label="{xml_attr(c.label)}" type="integer"/>'
        for i, c in enumerate(LCZ_CLASSES)
    )
    symbols = "\n".join(_fill_symbol(str(i), c.color) for i, c in enumerate(LCZ_CLASSES))
    renderer = f"""  <renderer-v2 type="categorizedSymbol" attr="{field}" symbollevels="0" enableorderby="0" forceraster="0" referencescale="-1">
    <categories>
{cats}
    </categories>
    <symbols>
{symbols}
    </symbols>
    <rotation/>
    <sizescale/>
  </renderer-v2>"""
    labeling = _labeling(PATCH_LABEL_EXPRESSION)
    return vector_style(renderer, labeling)


# -- suspicious training areas -----------------------------------------------------------
# high contrast over any LCZ map: colours that are no LCZ legend colour (E is black)
SUSPICIOUS_COLOR = "#ff00ff"  # magenta dashes and hatching
SUSPICIOUS_CASING = "#ffffff"  # a white casing under the dashes
LABEL_FONT = "Arial"  # a named sans family (fontconfig maps it to Liberation/DejaVu Sans)


def _outline_layer(color: str, width: float, style: str) -> str:
    """A SimpleFill symbol layer without brush: an outline of ``color``, ``width`` mm,
    ``style`` (solid, dash)."""
    options = {
        "color": _rgb_str(color, 0), "joinstyle": "round", "offset": "0,0",
        "offset_unit": "MM", "outline_color": _rgb_str(color), "outline_style": style,
        "outline_width": f"{width:g}", "outline_width_unit": "MM", "style": "no",
    }  # fmt: skip
    return f"""          <layer class="SimpleFill" enabled="1" locked="0" pass="0">
{option_map(options, "            ")}
          </layer>"""


def _hatch_layer(color: str) -> str:
    """A LinePatternFill symbol layer: thin diagonal lines of ``color``, 60 % opaque,
    every 2.5 mm, so the map below stays readable."""
    pattern = {
        "angle": "45", "color": _rgb_str(color), "distance": "2.5", "distance_unit": "MM",
        "line_width": "0.3", "line_width_unit": "MM", "offset": "0", "offset_unit": "MM",
    }  # fmt: skip
    line = {"line_color": _rgb_str(color), "line_style": "solid", "line_width": "0.3",
            "line_width_unit": "MM"}  # fmt: skip
    return f"""          <layer class="LinePatternFill" enabled="1" locked="0" pass="0">
{option_map(pattern, "            ")}
            <symbol type="line" name="@0@0" alpha="0.6" clip_to_extent="1" force_rhr="0">
              <layer class="SimpleLine" enabled="1" locked="0" pass="0">
{option_map(line, "                ")}
              </layer>
            </symbol>
          </layer>"""


def qml_suspicious_polygons(label_expression: str) -> str:
    """The suspicious training areas' style, visible over any LCZ map: one symbol for
    every polygon (not its LCZ colour): a magenta hatching, a thick white casing under a
    thick magenta dashed outline; short labels (``label_expression``) in bold
    ``LABEL_FONT`` with a white halo, around the centroid, overlapping ones left out.

    Args:
        label_expression: the QGIS expression of each label (a few words).

    Returns:
        The QML document.
    """
    layers = "\n".join((_hatch_layer(SUSPICIOUS_COLOR), _outline_layer(SUSPICIOUS_CASING, 1.4, "solid"),
                        _outline_layer(SUSPICIOUS_COLOR, 0.8, "dash")))  # fmt: skip
    renderer = f"""  <renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0" referencescale="-1">
    <symbols>
        <symbol type="fill" name="0" alpha="1" clip_to_extent="1" force_rhr="0">
{layers}
        </symbol>
    </symbols>
    <rotation/>
    <sizescale/>
  </renderer-v2>"""
    labeling = _labeling(label_expression, LABEL_FONT, size=9, placement=0, buffer_opacity=1,
                         dist=1.0)  # fmt: skip
    return vector_style(renderer, labeling)
