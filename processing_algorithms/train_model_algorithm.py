"""lcz:trainmodel: train a model on a So2Sat LCZ42 HDF5 file."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ..lcz_qgis.models import MODEL_TYPES
from ..lcz_qgis.training import train_model
from .base import LczAlgorithm

SENSORS = ["sen2", "sen1", "fusion"]


class TrainModelAlgorithm(LczAlgorithm):
    NAME = "trainmodel"
    DISPLAY_NAME = "Train LCZ model"
    HELP = (
        "Trains a model on a So2Sat LCZ42 HDF5 file (sen1, sen2, label), reading it in "
        "batches so even the 52 GB training file is never loaded whole.<br>"
        "<b>Model type</b>: rf = random forest on per-patch band, index and texture statistics "
        "(scikit-learn; no TensorFlow needed).<br>"
        "<b>Sensor</b>: sen2 (10 bands), sen1 (8 channels) or fusion (S1 then S2).<br>"
        "<b>Bands</b>: optional subset, 1-based numbers or names, e.g. '5,6' (Sentinel-1 VH/VV "
        "intensities) or 'B2,B3,B4,B8'.<br>"
        "<b>Validation</b>: a second HDF5 file; without one a seeded, stratified 10% split is "
        "held out. The validation scores are stored in the model file and OA is an output.<br>"
        "The model file (.lczmodel) records sensor, bands, preprocessing, classes, training "
        "data and scores."
    )

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(
            QgsProcessingParameterFile("TRAIN", "Training data (So2Sat HDF5)", extension="h5")
        )
        self.addParameter(
            QgsProcessingParameterFile(
                "VALIDATION", "Validation data (So2Sat HDF5)", extension="h5", optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "MODEL_TYPE",
                "Model type",
                options=self.model_types(),
                defaultValue="rf",
                usesStaticStrings=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "SENSOR", "Sensor", options=SENSORS, defaultValue="sen2", usesStaticStrings=True
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                "BANDS", "Bands (subset; empty = all)", defaultValue="", optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "MAX_SAMPLES",
                "Maximum training patches (0 = all)",
                QgsProcessingParameterNumber.Integer,
                0,
                minValue=0,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "SEED", "Random seed", QgsProcessingParameterNumber.Integer, 0
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                "OUTPUT", "Model file", fileFilter="LCZ model (*.lczmodel)"
            )
        )
        self.addOutput(QgsProcessingOutputNumber("OA", "Validation overall accuracy"))

    @staticmethod
    def model_types() -> list[str]:
        return [t for t in MODEL_TYPES if t == "rf" or _keras_training_available()]

    def execute(self, parameters, context, feedback):
        result = train_model(
            train=self.parameterAsFile(parameters, "TRAIN", context),
            validation=self.parameterAsFile(parameters, "VALIDATION", context) or None,
            output=self.parameterAsFileOutput(parameters, "OUTPUT", context),
            model_type=self.parameterAsEnumString(parameters, "MODEL_TYPE", context),
            sensor=self.parameterAsEnumString(parameters, "SENSOR", context),
            bands=self.parameterAsString(parameters, "BANDS", context),
            max_samples=self.parameterAsInt(parameters, "MAX_SAMPLES", context) or None,
            seed=self.parameterAsInt(parameters, "SEED", context),
            feedback=feedback,
        )
        return {"OUTPUT": str(result.path), "OA": result.scores.get("oa", float("nan"))}


def _keras_training_available() -> bool:
    import importlib.util

    return (
        importlib.util.find_spec(f"{__package__.rsplit('.', 1)[0]}.lcz_qgis.keras_training")
        is not None
    )
