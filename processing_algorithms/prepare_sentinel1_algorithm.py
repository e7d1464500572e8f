"""lcz:preparesentinel1: Sentinel-1 GRD VV/VH -> Lee-filtered intensities on a Sentinel-2 grid."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from ..lcz_qgis.prepare_s1 import INPUT_SCALES, prepare_sentinel1
from ..lcz_qgis.speckle import DEFAULT_ENL, DEFAULT_WINDOW
from .base import MAPPING, LczAlgorithm


class PrepareSentinel1Algorithm(LczAlgorithm):
    NAME = "preparesentinel1"
    DISPLAY_NAME = "Prepare Sentinel-1 backscatter"
    GROUP = MAPPING
    HELP = (
        "Makes the Sentinel-1 raster a band-subset LCZ model uses from GRD backscatter: "
        "So2Sat channel 5 (VH intensity) and 6 (VV intensity), Lee speckle-filtered, linear, "
        "on the grid of a prepared Sentinel-2 raster (same CRS, transform and size).<br>"
        "<b>VV / VH</b>: calibrated, terrain-corrected GRD backscatter (sigma0), linear or "
        "dB (band 1 of each raster); <b>Input scale</b> auto detects dB from negative "
        "values; a declared scale the values contradict is kept, with a warning.<br>"
        "<b>Prepared Sentinel-2 raster</b>: a projected (UTM) 10 m grid, e.g. the output of "
        "Prepare Sentinel-2 product.<br>"
        "<b>Lee window</b>: 5 or 7 pixels (local mean/variance Lee filter, ENL 4.4 for IW "
        "GRDH). The input is warped bilinearly onto the Sentinel-2 grid, then filtered.<br>"
        "Output: band 1 VH_intensity, band 2 VV_intensity, float32, nodata -9999.<br>"
        "So2Sat channels 1-4 (complex VH/VV) and 7-8 (VH-VV covariance) need single-look "
        "complex (SLC) data: train models for this raster on channels 5,6 (BANDS '5,6')."
    )

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterRasterLayer("VV", "VV backscatter"))
        self.addParameter(QgsProcessingParameterRasterLayer("VH", "VH backscatter"))
        self.addParameter(
            QgsProcessingParameterRasterLayer("REFERENCE", "Prepared Sentinel-2 raster (grid)")
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "INPUT_SCALE",
                "Input scale",
                options=list(INPUT_SCALES),
                defaultValue="auto",
                usesStaticStrings=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "WINDOW",
                "Lee filter window (odd, pixels)",
                QgsProcessingParameterNumber.Integer,
                DEFAULT_WINDOW,
                minValue=3,
                maxValue=15,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "ENL",
                "Equivalent number of looks",
                QgsProcessingParameterNumber.Double,
                DEFAULT_ENL,
                minValue=0.1,
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterDestination("OUTPUT", "Sentinel-1 VH/VV intensity")
        )

    def execute(self, parameters, context, feedback):
        output = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        layer = {
            k: self.parameterAsRasterLayer(parameters, k, context)
            for k in ("VV", "VH", "REFERENCE")
        }
        res = prepare_sentinel1(
            layer["VV"].source(),
            layer["VH"].source(),
            layer["REFERENCE"].source(),
            output,
            input_scale=self.parameterAsEnumString(parameters, "INPUT_SCALE", context),
            window=self.parameterAsInt(parameters, "WINDOW", context),
            enl=self.parameterAsDouble(parameters, "ENL", context),
            feedback=feedback,
        )
        feedback.info(f"{res.width} x {res.height} pixels; input VV {res.scales['VV']}")
        return {"OUTPUT": output}
