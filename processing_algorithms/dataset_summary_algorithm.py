"""lcz:datasetsummary: patches per class, shapes and band statistics of a So2Sat file."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
)

from ..lcz_qgis.summary import DEFAULT_SAMPLE, dataset_summary
from .base import DATA, LczAlgorithm


class DatasetSummaryAlgorithm(LczAlgorithm):
    NAME = "datasetsummary"
    DISPLAY_NAME = "So2Sat dataset summary"
    GROUP = DATA
    HELP = (
        "Summarises a So2Sat LCZ42 HDF5 file (training.h5, validation.h5, testing.h5 or one "
        "written by this plugin): the number of patches per LCZ class (code, name, count, %), "
        "the shapes of the sen1 / sen2 / label datasets, and the value range, mean, standard "
        "deviation and 2nd-98th percentiles of every band over a seeded random sample of "
        "patches.<br>"
        "Only the labels and the sample are read, never the images in full, so even the 52 GB "
        "training.h5 takes seconds.<br>"
        "<b>Report</b>: an HTML page (shown in the Processing results viewer) with the tables "
        "and a histogram of the classes in LCZ colours; <b>Histogram</b>: the same chart as a "
        "PNG (optional). The histogram needs matplotlib."
    )

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(
            QgsProcessingParameterFile(
                "INPUT", "So2Sat HDF5 file", fileFilter="HDF5 files (*.h5 *.hdf5 *.he5)"
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "SAMPLE_SIZE",
                "Patches sampled for the band statistics",
                QgsProcessingParameterNumber.Integer,
                DEFAULT_SAMPLE,
                minValue=0,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "SEED", "Random seed", QgsProcessingParameterNumber.Integer, 0, minValue=0
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                "OUTPUT_HTML", "Report", fileFilter="HTML files (*.html)"
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                "OUTPUT_PNG",
                "Class histogram",
                fileFilter="PNG files (*.png)",
                optional=True,
                createByDefault=False,
            )
        )
        self.addOutput(QgsProcessingOutputNumber("N_PATCHES", "Number of patches"))

    def execute(self, parameters, context, feedback):
        html = self.parameterAsFileOutput(parameters, "OUTPUT_HTML", context)
        png = self.parameterAsFileOutput(parameters, "OUTPUT_PNG", context) or None
        s = dataset_summary(
            self.parameterAsFile(parameters, "INPUT", context),
            output_html=html,
            output_png=png,
            sample_size=self.parameterAsInt(parameters, "SAMPLE_SIZE", context),
            seed=self.parameterAsInt(parameters, "SEED", context),
            feedback=feedback,
        )
        for line in s.text().splitlines():
            feedback.info(line)
        out = {"OUTPUT_HTML": html, "N_PATCHES": s.n}
        if png:
            out["OUTPUT_PNG"] = png
        return out
