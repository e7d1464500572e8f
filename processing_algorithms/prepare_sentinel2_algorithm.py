"""lcz:preparesentinel2: Sentinel-2 product -> So2Sat 10-band reflectance stack at 10 m."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
)

from ..lcz_qgis.errors import LczError
from ..lcz_qgis.prepare_s2 import RESAMPLING, prepare_sentinel2
from .base import MAPPING, LczAlgorithm


class PrepareSentinel2Algorithm(LczAlgorithm):
    NAME = "preparesentinel2"
    DISPLAY_NAME = "Prepare Sentinel-2 product"
    GROUP = MAPPING
    HELP = (
        "Makes the 10-band Sentinel-2 raster the LCZ models need from an L2A or L1C product: "
        "B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12 (So2Sat order) at 10 m, as reflectance.<br>"
        "<b>Product</b>: a .SAFE folder (type its path, or pick its MTD_MSIL2A.xml / "
        "MTD_MSIL1C.xml) or the product's .zip. Or give the <b>band files</b> (JP2 or "
        "GeoTIFF, named like the product's: ..._B02_10m.jp2, ..._B11_20m.jp2).<br>"
        "The 20 m bands are resampled onto the 10 m grid (bilinear or cubic). Reflectance = "
        "(DN + offset) / 10000, with the per-band offset of processing baseline 04.00+ "
        "products (BOA_ADD_OFFSET / RADIO_ADD_OFFSET, -1000) read from the MTD file; "
        "<b>Offset</b> overrides it; a baseline 04.00+ MTD file without offsets gets -1000 "
        "(with a warning). DN 0 is nodata.<br>"
        "The band files must be in the product's UTM grid (not degrees) and cover the same "
        "area (one tile): a band that does not overlap the 10 m grid is an error.<br>"
        "<b>Cloud mask</b> (L2A): scene classification (SCL) classes 3 (cloud shadow), 8 and "
        "9 (cloud, medium/high probability) and 10 (thin cirrus) become nodata.<br>"
        "<b>Extent</b> / <b>Clip polygons</b>: clip the output; pixels outside the polygons "
        "are nodata.<br>"
        "Output: tiled, compressed float32 GeoTIFF, nodata -9999, band descriptions set. "
        "Streams by blocks of rows: a whole 10980 x 10980 tile takes little memory."
    )

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(
            QgsProcessingParameterFile(
                "INPUT",
                "Sentinel-2 product (.SAFE folder, MTD_MSIL*.xml or .zip)",
                fileFilter="Sentinel-2 products (*.zip MTD_MSIL2A.xml MTD_MSIL1C.xml);;All files (*)",
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterMultipleLayers(
                "BAND_FILES", "Or: band files", QgsProcessing.TypeRaster, optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterBoolean("CLOUD_MASK", "Mask clouds and shadows (SCL)", True)
        )
        self.addParameter(QgsProcessingParameterExtent("EXTENT", "Clip to extent", optional=True))
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                "MASK", "Clip to polygons", [QgsProcessing.TypeVectorPolygon], optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "RESAMPLING",
                "Resampling of the 20 m bands",
                options=list(RESAMPLING),
                defaultValue="bilinear",
                usesStaticStrings=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "OFFSET",
                "Radiometric offset in DN (empty = from the product metadata)",
                QgsProcessingParameterNumber.Double,
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterDestination("OUTPUT", "Sentinel-2 (So2Sat bands, 10 m)")
        )

    def execute(self, parameters, context, feedback):
        source = self.parameterAsFile(parameters, "INPUT", context)
        if not source:
            layers = self.parameterAsLayerList(parameters, "BAND_FILES", context)
            source = [lyr.source() for lyr in layers]
        if not source:
            raise LczError("give a Sentinel-2 product (INPUT) or its band files (BAND_FILES)")
        crs = None
        extent = None
        if parameters.get("EXTENT"):
            # the product's CRS is known only once opened: read it from the first band file
            from qgis.core import QgsCoordinateReferenceSystem

            from ..lcz_qgis.prepare_s2 import find_product
            from ..lcz_qgis.raster_io import gdal

            product = find_product(source)
            wkt = gdal().Open(product.files["B02"]).GetProjection()
            crs = QgsCoordinateReferenceSystem.fromWkt(wkt)
            rect = self.parameterAsExtent(parameters, "EXTENT", context, crs)
            if not rect.isNull():
                extent = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        mask = None
        if parameters.get("MASK"):
            mask = self.parameterAsCompatibleSourceLayerPath(
                parameters, "MASK", context, ["gpkg", "shp", "geojson"], "gpkg", feedback.qgis
            )
        offset = None
        if parameters.get("OFFSET") not in (None, ""):
            offset = self.parameterAsDouble(parameters, "OFFSET", context)
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        res = prepare_sentinel2(
            source,
            output,
            cloud_mask=self.parameterAsBoolean(parameters, "CLOUD_MASK", context),
            extent=extent,
            mask=mask,
            resampling=self.parameterAsEnumString(parameters, "RESAMPLING", context),
            offset=offset,
            feedback=feedback,
        )
        feedback.info(
            f"{res.width} x {res.height} pixels at 10 m, {res.product.level}, "
            f"{100 * res.nodata_fraction:.1f}% nodata"
        )
        return {"OUTPUT": output}
