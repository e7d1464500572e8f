"""lcz:classifyraster: LCZ map from Sentinel-2 and/or Sentinel-1 rasters.

Keeps no state on the instance between runs, so it works in the batch dialog.
"""

from __future__ import annotations

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessing,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..lcz_qgis.classify import DEFAULT_BATCH, DEFAULT_STRIDE, classify_raster
from ..lcz_qgis.classify_inputs import SCALES
from ..lcz_qgis.classify_outputs import FORMATS
from ..lcz_qgis.errors import LczError
from ..lcz_qgis.modelfile import load_model
from ..lcz_qgis.postfilter import FILTERS
from ..lcz_qgis.raster_io import qml_path
from .base import MAPPING, LczAlgorithm, name_output_on_load, style_output_on_load


class ClassifyRasterAlgorithm(LczAlgorithm):
    NAME = "classifyraster"
    DISPLAY_NAME = "Classify raster into LCZ map"
    GROUP = MAPPING
    HELP = (
        "Runs a 32 x 32 sliding window over Sentinel-2 and/or Sentinel-1 rasters (10 m, "
        "projected CRS, So2Sat band order and scale: Sentinel-2 reflectance = DN / 10000) "
        "and writes an LCZ map. Use <i>Prepare Sentinel-2</i> / <i>Prepare Sentinel-1</i> to "
        "make such rasters from products.<br>"
        "<b>Sentinel-1</b>: fusion models need both rasters; a Sentinel-1 raster on another "
        "grid is resampled onto the Sentinel-2 grid on the fly (bilinear, no copy).<br>"
        "<b>Band mapping</b>: raster band numbers feeding the So2Sat channels B2, B3, B4, "
        "B5, B6, B7, B8, B8A, B11, B12 (e.g. '2,3,4,5,6,7,8,9,12,13' for a 13-band stack); "
        "empty = the raster is in So2Sat order.<br>"
        "<b>Scale</b>: auto detects DN (values in the thousands) from a sample of pixels, "
        "warns with the range found and divides by 10000; dn always divides by 10000.<br>"
        "<b>Stride</b> is the window step in input pixels and sets the output pixel size "
        "(default 10 = 100 m); <b>Resolution</b> (metres, a multiple of the pixel size) "
        "overrides it. Each output cell's centre is the centre of the window it was "
        "predicted from. Cells whose window leaves the raster, holds nodata/NaN, or lies "
        "outside the mask polygons / extent are 0.<br>"
        "<b>Filter</b>: majority = 3 x 3 majority; gaussian = the LCZ Generator's filter "
        "(Demuzere et al. 2020): each class's probability layer smoothed with a class-specific "
        "Gaussian kernel (sigma 25-250 m), then the most likely class.<br>"
        "<b>Outputs</b>: the map (byte 1-17, nodata 0, colour table, .qml); optional "
        "confidence (max probability, float 0-1 or byte percent), 17-band probabilities, an "
        "area table (CSV: code, name, cells, km², % of the classified area) and a map image "
        "(PNG with legend, scale bar and north arrow).<br>"
        "<b>Reproject / Resample</b>: warp a geographic raster to its UTM zone at 10 m, or a "
        "raster of another pixel size to 10 m, on the fly.<br>"
        "<b>Model</b>: a .lczmodel file, or a plain Keras .keras/.h5 model."
    )

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(
            QgsProcessingParameterFile(
                "MODEL", "Model file", fileFilter="LCZ models (*.lczmodel *.keras *.h5)"
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterLayer(
                "SENTINEL2", "Sentinel-2 raster (So2Sat band order)", optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterLayer(
                "SENTINEL1", "Sentinel-1 raster (resampled onto the Sentinel-2 grid)", optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                "BANDS", "Sentinel-2 band mapping (raster band numbers)", optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                "BANDS_S1", "Sentinel-1 band mapping (raster band numbers)", optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "SCALE",
                "Sentinel-2 scale",
                options=list(SCALES),
                defaultValue="auto",
                usesStaticStrings=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "STRIDE",
                "Stride (input pixels; output pixel size)",
                QgsProcessingParameterNumber.Integer,
                DEFAULT_STRIDE,
                minValue=1,
                maxValue=32,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "RESOLUTION",
                "Output resolution in metres (0 = use the stride)",
                QgsProcessingParameterNumber.Double,
                0.0,
                minValue=0.0,
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "BATCH_SIZE",
                "Batch size (windows per prediction)",
                QgsProcessingParameterNumber.Integer,
                DEFAULT_BATCH,
                minValue=1,
            )
        )
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                "MASK",
                "Mask polygons (cells outside are 0)",
                [QgsProcessing.TypeVectorPolygon],
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterExtent("EXTENT", "Extent (cells outside are 0)", optional=True)
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "FILTER",
                "Post-classification filter",
                options=list(FILTERS),
                defaultValue="none",
                usesStaticStrings=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterBoolean(
                "REPROJECT", "Reproject geographic input to UTM (10 m) on the fly", False
            )
        )
        self.addParameter(
            QgsProcessingParameterBoolean("RESAMPLE", "Resample input to 10 m on the fly", False)
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "CONFIDENCE_FORMAT",
                "Confidence format",
                options=list(FORMATS),
                defaultValue="float",
                usesStaticStrings=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "PROBABILITIES_FORMAT",
                "Probabilities format",
                options=list(FORMATS),
                defaultValue="float",
                usesStaticStrings=True,
            )
        )
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "LCZ map"))
        self.addParameter(
            QgsProcessingParameterRasterDestination(
                "CONFIDENCE", "Confidence (max probability)", optional=True, createByDefault=False
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterDestination(
                "PROBABILITIES",
                "Class probabilities (17 bands)",
                optional=True,
                createByDefault=False,
            )  # fmt: skip
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                "AREA_TABLE",
                "Area per LCZ class",
                "CSV files (*.csv)",
                optional=True,
                createByDefault=False,
            )  # fmt: skip
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                "MAP_IMAGE",
                "Map image",
                "PNG images (*.png)",
                optional=True,
                createByDefault=False,
            )  # fmt: skip
        )

    def execute(self, parameters, context, feedback):
        s2 = self.parameterAsRasterLayer(parameters, "SENTINEL2", context)
        s1 = self.parameterAsRasterLayer(parameters, "SENTINEL1", context)
        if s2 is None and s1 is None:
            raise LczError("give a Sentinel-2 and/or a Sentinel-1 raster")
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        optional = {
            key: self.parameterAsOutputLayer(parameters, key, context) or None
            for key in ("CONFIDENCE", "PROBABILITIES")
        }
        for key in ("AREA_TABLE", "MAP_IMAGE"):
            optional[key] = self.parameterAsFileOutput(parameters, key, context) or None
        mask = None
        if parameters.get("MASK"):
            mask = self.parameterAsCompatibleSourceLayerPath(
                parameters, "MASK", context, ["gpkg", "shp", "geojson"], "gpkg", feedback.qgis
            )
        extent = extent_crs = None
        ref = s2 or s1
        if parameters.get("EXTENT"):
            # in its own CRS: the core maps it onto the grid the model reads, which differs
            # from the layer's CRS when REPROJECT warps it
            rect = self.parameterAsExtent(parameters, "EXTENT", context)
            crs = self.parameterAsExtentCrs(parameters, "EXTENT", context)
            if not rect.isNull():
                extent = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
                crs = crs if crs.isValid() else ref.crs()
                extent_crs = crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL)
        model = load_model(self.parameterAsFile(parameters, "MODEL", context))
        feedback.info(
            f"model: {model.model_type}, sensor {model.sensor}, {model.input_channels} channels"
        )
        result = classify_raster(
            model,
            output,
            sentinel2=s2.source() if s2 else None,
            sentinel1=s1.source() if s1 else None,
            stride=self.parameterAsInt(parameters, "STRIDE", context),
            batch_size=self.parameterAsInt(parameters, "BATCH_SIZE", context),
            confidence=optional["CONFIDENCE"],
            feedback=feedback,
            bands=self.parameterAsString(parameters, "BANDS", context) or None,
            bands_s1=self.parameterAsString(parameters, "BANDS_S1", context) or None,
            scale=self.parameterAsEnumString(parameters, "SCALE", context),
            resolution=self.parameterAsDouble(parameters, "RESOLUTION", context) or None,
            mask=mask,
            extent=extent,
            extent_crs=extent_crs,
            filter=self.parameterAsEnumString(parameters, "FILTER", context),
            confidence_format=self.parameterAsEnumString(parameters, "CONFIDENCE_FORMAT", context),
            probabilities=optional["PROBABILITIES"],
            probabilities_format=self.parameterAsEnumString(
                parameters, "PROBABILITIES_FORMAT", context
            ),
            area_table=optional["AREA_TABLE"],
            map_image=optional["MAP_IMAGE"],
            reproject=self.parameterAsBoolean(parameters, "REPROJECT", context),
            resample=self.parameterAsBoolean(parameters, "RESAMPLE", context),
        )
        feedback.info(
            f"{result.windows_valid} of {result.windows_total} windows classified "
            f"in {result.seconds:.1f} s; {result.valid_cells} cells of "
            f"{abs(result.grid.geotransform[1]):g} m"
        )
        of = f" \u2013 {ref.name()}"
        names = {
            "OUTPUT": "LCZ map",
            "CONFIDENCE": "LCZ confidence",
            "PROBABILITIES": "LCZ probabilities",
        }
        out = {"OUTPUT": output}
        out.update({key: path for key, path in optional.items() if path})
        for key, name in names.items():
            if out.get(key):
                style_output_on_load(context, out[key], str(qml_path(out[key])))
                name_output_on_load(context, out[key], name + of)
        return out
