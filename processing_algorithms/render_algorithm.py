"""lcz:render: true colour, Sentinel-1 false colour and spectral / radar indices."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterEnum,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..lcz_qgis.errors import LczError
from ..lcz_qgis.indices import PRODUCTS
from ..lcz_qgis.render import render
from .base import VISUALISATION, LczAlgorithm, name_output_on_load, style_output_on_load

PRODUCT_NAMES = list(PRODUCTS)


class RenderAlgorithm(LczAlgorithm):
    NAME = "render"
    DISPLAY_NAME = "Render product (true colour, S1 false colour, NDVI, RVI, ...)"
    GROUP = VISUALISATION
    HELP = (
        "Computes a visual product of a Sentinel-2 or Sentinel-1 raster: a patch raster from "
        "'Load So2Sat patches' or a whole scene (read by blocks; a full 10980 x 10980 tile "
        "works).<br>"
        "<b>truecolor</b>: RGB = B4, B3, B2, each stretched between its 2nd and 98th "
        "percentile (from a decimated read of the raster).<br>"
        "<b>s1falsecolor</b>: from the Lee-filtered linear intensities (So2Sat channels 5 = VH, "
        "6 = VV): R = VV dB over [-25, 0], G = VH dB over [-32, -5], B = VV/VH dB over [0, 15] "
        "(fixed ranges, so every scene shares one colour scale). Water is dark, vegetation "
        "green, built-up red to white.<br>"
        "<b>ndvi</b> = (B8 - B4) / (B8 + B4); <b>rvi</b> = 4 VH / (VV + VH) on linear "
        "intensities; <b>ndbi</b> = (B11 - B8) / (B11 + B8); <b>ndwi</b> = (B3 - B8) / "
        "(B3 + B8); <b>mndwi</b> = (B3 - B11) / (B3 + B11).<br>"
        "Composites are byte RGB with an alpha band (transparent where an input is nodata). "
        "Indices are float32 with nodata -9999 where the denominator is 0 or an input is "
        "nodata / NaN. Every output is styled (colour ramp with a legend) and gets a .qml.<br>"
        "<b>Band mapping</b>: leave empty for rasters in So2Sat band order (10 Sentinel-2 "
        "bands B2 B3 B4 B5 B6 B7 B8 B8A B11 B12, 8 Sentinel-1 channels, or 18 = S1 + S2) or "
        "whose band descriptions name the bands. Otherwise give the raster's band numbers, "
        "e.g. 'B4=3,B8=4' or 'VH=1,VV=2', or list its bands in order: 'B2,B3,B4,B8'."
    )

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterRasterLayer("INPUT", "Input raster"))
        p = QgsProcessingParameterEnum(
            "PRODUCT", "Product", options=PRODUCT_NAMES, defaultValue="ndvi"
        )
        p.setUsesStaticStrings(True)
        self.addParameter(p)
        self.addParameter(
            QgsProcessingParameterString(
                "BANDS", "Band mapping (rasters not in So2Sat order)", optional=True
            )
        )
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Product"))

    def execute(self, parameters, context, feedback):
        layer = self.parameterAsRasterLayer(parameters, "INPUT", context)
        if layer is None or layer.providerType() != "gdal":
            raise LczError(
                "the input must be a raster file (GDAL), not a web or database layer; save it "
                "as a GeoTIFF first (Export > Save As)"
            )
        product = self.parameterAsEnumString(parameters, "PRODUCT", context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        bands = self.parameterAsString(parameters, "BANDS", context) or None
        r = render(layer.source(), product, output, bands=bands, feedback=feedback)
        feedback.info(f"{r.valid_pixels} valid pixels in {r.blocks} block(s), {r.seconds:.1f} s")
        style_output_on_load(context, output, str(r.qml))
        name_output_on_load(context, output, f"{product.upper()} \u2013 {layer.name()}")
        return {"OUTPUT": output}
