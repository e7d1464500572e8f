"""lcz:classifyraster: LCZ map from Sentinel-2 and/or Sentinel-1 rasters."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from ..lcz_qgis.classify import DEFAULT_STRIDE, classify_raster
from ..lcz_qgis.modelfile import load_model
from ..lcz_qgis.raster_io import qml_path
from .base import LczAlgorithm, style_output_on_load


class ClassifyRasterAlgorithm(LczAlgorithm):
    NAME = "classifyraster"
    DISPLAY_NAME = "Classify raster into LCZ map"
    HELP = (
        "Runs a 32 x 32 sliding window over Sentinel-2 and/or Sentinel-1 rasters (10 m, "
        "projected CRS, So2Sat band order and scale: Sentinel-2 reflectance = DN / 10000) "
        "and writes an LCZ map.<br>"
        "<b>Stride</b> is the window step in input pixels; it sets the output pixel size "
        "(default 10 = 100 m). Each output cell's centre is the centre of the window it was "
        "predicted from. Cells whose window leaves the raster or holds nodata are 0.<br>"
        "The map is a byte GeoTIFF with values 1-17 (LCZ 1-10, A-G), nodata 0, an embedded "
        "colour table and a .qml style. The optional confidence raster holds the winning "
        "class's probability.<br>"
        "<b>Model</b>: a .lczmodel file, or a plain Keras .keras/.h5 model (sensor inferred "
        "from its channel count)."
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
                "SENTINEL1", "Sentinel-1 raster (same grid)", optional=True
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
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "LCZ map"))
        p = QgsProcessingParameterRasterDestination(
            "CONFIDENCE", "Confidence (max probability)", optional=True, createByDefault=False
        )
        self.addParameter(p)

    def execute(self, parameters, context, feedback):
        s2 = self.parameterAsRasterLayer(parameters, "SENTINEL2", context)
        s1 = self.parameterAsRasterLayer(parameters, "SENTINEL1", context)
        if s2 is None and s1 is None:
            from ..lcz_qgis.errors import LczError

            raise LczError("give a Sentinel-2 and/or a Sentinel-1 raster")
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        confidence = self.parameterAsOutputLayer(parameters, "CONFIDENCE", context) or None
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
            confidence=confidence,
            feedback=feedback,
        )
        feedback.info(
            f"{result.windows_valid} of {result.windows_total} windows classified "
            f"in {result.seconds:.1f} s"
        )
        style_output_on_load(context, output, str(qml_path(output)))
        out = {"OUTPUT": output}
        if confidence:
            out["CONFIDENCE"] = confidence
        return out
