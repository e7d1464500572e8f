"""QGIS styles (QML) for maps, visual products and patch layers.

Public names (imported on first use, so importing the package stays cheap):
- ``qml``: raster_style, vector_style, xml_attr
- ``styles``: RampStop, qml_for_product, qml_multiband, qml_patch_polygons, qml_pseudocolor,
  qml_suspicious_polygons
"""

from ..common.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "raster_style": "qml",
        "vector_style": "qml",
        "xml_attr": "qml",
        "RampStop": "styles",
        "qml_for_product": "styles",
        "qml_multiband": "styles",
        "qml_patch_polygons": "styles",
        "qml_pseudocolor": "styles",
        "qml_suspicious_polygons": "styles",
    },
)
