"""QGIS styles (QML) for maps, visual products and patch layers.

Public names (imported on first use, so importing the package stays cheap):
- ``colour_vision``: CVD_MATRICES, ciede2000, closest_pair, hex_to_linear, lightness,
  linear_to_lab, pairwise_distances, simulate
- ``qml``: option_map, raster_style, vector_style, xml_attr
- ``restyle``: OLD_CODES, lcz_map_qml, map_uses_old_codes, style_map
- ``styles``: RampStop, qml_for_product, qml_multiband, qml_patch_polygons, qml_pseudocolor,
  qml_suspicious_polygons
"""

from ..common.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "raster_style": "qml",
        "CVD_MATRICES": "colour_vision",
        "ciede2000": "colour_vision",
        "closest_pair": "colour_vision",
        "hex_to_linear": "colour_vision",
        "lightness": "colour_vision",
        "linear_to_lab": "colour_vision",
        "pairwise_distances": "colour_vision",
        "simulate": "colour_vision",
        "OLD_CODES": "restyle",
        "lcz_map_qml": "restyle",
        "map_uses_old_codes": "restyle",
        "style_map": "restyle",
        "vector_style": "qml",
        "xml_attr": "qml",
        "option_map": "qml",
        "RampStop": "styles",
        "qml_for_product": "styles",
        "qml_multiband": "styles",
        "qml_patch_polygons": "styles",
        "qml_pseudocolor": "styles",
        "qml_suspicious_polygons": "styles",
    },
)
