"""lcz:sampledata: write the synthetic sample data."""

from __future__ import annotations

import os

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingOutputFile,
    QgsProcessingOutputRasterLayer,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
)

from ..lcz_qgis.sample_data import (
    DEFAULT_TEST,
    DEFAULT_TRAIN,
    MAX_PATCHES,
    MIN_PATCHES,
    write_sample_data,
)
from .base import DATA, LczAlgorithm, style_output_on_load


class SampleDataAlgorithm(LczAlgorithm):
    NAME = "sampledata"
    DISPLAY_NAME = "Write sample data (synthetic)"
    GROUP = DATA
    HELP = (
        "Writes SYNTHETIC sample data, deterministically from a seed, into an existing folder: "
        "train.h5 and test.h5 in So2Sat LCZ42 format (float64 sen1, sen2, one-hot label; all "
        "17 classes, imbalanced like So2Sat), and a synthetic 5 x 5 km sample city "
        "(scene_s2.tif with the 10 So2Sat Sentinel-2 bands, scene_s1.tif with the 8 Sentinel-1 "
        "channels, scene_truth.tif with the LCZ zones it was built from; 10 m, EPSG:32632). "
        "None of it is real imagery."
    )

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", "Output folder"))
        self.addParameter(
            QgsProcessingParameterNumber(
                "SEED", "Random seed", QgsProcessingParameterNumber.Integer, 42, minValue=0
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "TRAIN_SIZE",
                "Training patches",
                QgsProcessingParameterNumber.Integer,
                DEFAULT_TRAIN,
                minValue=MIN_PATCHES,
                maxValue=MAX_PATCHES,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "TEST_SIZE",
                "Test patches",
                QgsProcessingParameterNumber.Integer,
                DEFAULT_TEST,
                minValue=MIN_PATCHES,
                maxValue=MAX_PATCHES,
            )
        )
        for key, label in (("TRAIN", "Training HDF5"), ("TEST", "Test HDF5")):
            self.addOutput(QgsProcessingOutputFile(key, label))
        for key, label in (
            ("SCENE_S2", "Sample city Sentinel-2 (synthetic)"),
            ("SCENE_S1", "Sample city Sentinel-1 (synthetic)"),
            ("SCENE_TRUTH", "Sample city LCZ truth (synthetic)"),
        ):
            self.addOutput(QgsProcessingOutputRasterLayer(key, label))

    def execute(self, parameters, context, feedback):
        folder = self.parameterAsString(parameters, "OUTPUT_FOLDER", context)
        if not os.path.lexists(folder):  # a file of that name: write_sample_data says so
            os.makedirs(folder)
        paths = write_sample_data(
            folder,
            seed=self.parameterAsInt(parameters, "SEED", context),
            n_train=self.parameterAsInt(parameters, "TRAIN_SIZE", context),
            n_test=self.parameterAsInt(parameters, "TEST_SIZE", context),
            feedback=feedback,
        )
        truth = str(paths["scene_truth.tif"])
        layers = (
            ("scene_s2.tif", "Sample city, Sentinel-2 true colour (synthetic)", "SCENE_S2"),
            ("scene_truth.tif", "LCZ truth (synthetic)", "SCENE_TRUTH"),
        )
        for name, title, key in layers:
            path = str(paths[name])
            context.addLayerToLoadOnCompletion(
                path, QgsProcessingContext.LayerDetails(title, context.project(), key)
            )
            style_output_on_load(context, path, path[:-4] + ".qml")
        return {
            "OUTPUT_FOLDER": folder,
            "TRAIN": str(paths["train.h5"]),
            "TEST": str(paths["test.h5"]),
            "SCENE_S2": str(paths["scene_s2.tif"]),
            "SCENE_S1": str(paths["scene_s1.tif"]),
            "SCENE_TRUTH": truth,
        }
