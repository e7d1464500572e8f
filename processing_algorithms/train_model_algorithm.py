"""lcz:trainmodel: train a model on a So2Sat LCZ42 HDF5 file."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ..lcz_qgis.models import MODEL_TYPES, framework
from ..lcz_qgis.training import train_model
from .base import MODELS, LczAlgorithm

SENSORS = ["sen2", "sen1", "fusion"]
SCHEDULES = ["constant", "exponential", "cosine"]
# defaults (the same as lcz_qgis.keras_training's; kept here so the dialog opens without it)
EPOCHS, BATCH_SIZE, LEARNING_RATE, EARLY_STOPPING = 10, 64, 0.001, 3


class TrainModelAlgorithm(LczAlgorithm):
    NAME = "trainmodel"
    DISPLAY_NAME = "Train LCZ model"
    GROUP = MODELS
    HELP = (
        "Trains a model on a So2Sat LCZ42 HDF5 file (sen1, sen2, label), reading it in "
        "batches so even the 52 GB training file is never loaded whole.<br>"
        "<b>Model type</b>: rf = random forest on per-patch band, index and texture statistics "
        "(scikit-learn; no TensorFlow needed). Keras models (need TensorFlow): mlp and mlp_diy "
        "(the seed notebook's MLPs), resnet50 (the notebook's ResNet50, 23.6 M parameters, "
        "slow on a CPU), fusion (ResNet50 on S1+S2) and fusion_late (two-branch S1+S2 CNN), "
        "sen2lcznet (compact multi-level-fusion CNN, 8% of ResNet50's computation).<br>"
        "<b>Sensor</b>: sen2 (10 bands), sen1 (8 channels) or fusion (S1 then S2; needed by "
        "the fusion model types).<br>"
        "<b>Bands</b>: optional subset, 1-based numbers or names, e.g. '5,6' (Sentinel-1 VH/VV "
        "intensities) or 'B2,B3,B4,B8'.<br>"
        "<b>Validation</b>: a second HDF5 file; without one a seeded, stratified 10% split is "
        "held out. The validation scores are stored in the model file and OA is an output.<br>"
        "<b>Keras options</b> (ignored by rf): epochs; batch size; Adam learning rate; "
        "schedule (constant, exponential = x0.9 every 1000 batches as in the seed notebook, "
        "cosine = decays to 0 at the end); early stopping = stop after this many epochs without "
        "a better validation loss (0 = off); class weights = balanced inverse-frequency weights; "
        "augment = random flips and 90-degree rotations. Inputs are standardised per channel "
        "with statistics streamed from the training file (stored in the model file and applied "
        "again when classifying). Batches are read in shuffled blocks of 256 consecutive patches. "
        "The weights kept are those of the epoch with the best validation OA. Patches holding "
        "NaN or inf are skipped (a warning gives the count). Cancel stops at the next batch and "
        "writes nothing.<br>"
        "<b>Report</b>: optional HTML page with the learning curves, the validation scores and "
        "the confusion matrix (opens in the results viewer).<br>"
        "The model file (.lczmodel) records sensor, bands, preprocessing, classes, training "
        "data, history and scores."
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
                "SEED", "Random seed", QgsProcessingParameterNumber.Integer, 0, minValue=0
            )
        )
        keras_params = [
            QgsProcessingParameterNumber(
                "EPOCHS", "Epochs (Keras)", QgsProcessingParameterNumber.Integer, EPOCHS, minValue=1
            ),
            QgsProcessingParameterNumber(
                "BATCH_SIZE",
                "Batch size (Keras)",
                QgsProcessingParameterNumber.Integer,
                BATCH_SIZE,
                minValue=1,
            ),
            QgsProcessingParameterNumber(
                "LEARNING_RATE",
                "Learning rate (Keras, Adam)",
                QgsProcessingParameterNumber.Double,
                LEARNING_RATE,
                minValue=1e-9,
            ),
            QgsProcessingParameterEnum(
                "SCHEDULE",
                "Learning-rate schedule (Keras)",
                options=SCHEDULES,
                defaultValue="constant",
                usesStaticStrings=True,
            ),
            QgsProcessingParameterNumber(
                "EARLY_STOPPING",
                "Early stopping patience in epochs (Keras; 0 = off)",
                QgsProcessingParameterNumber.Integer,
                EARLY_STOPPING,
                minValue=0,
            ),
            QgsProcessingParameterBoolean(
                "CLASS_WEIGHTS", "Balance classes with class weights (Keras)", False
            ),
            QgsProcessingParameterBoolean(
                "AUGMENT", "Augment with random flips and rotations (Keras)", False
            ),
        ]
        self.add_advanced(*keras_params)
        self.addParameter(
            QgsProcessingParameterFileDestination(
                "OUTPUT", "Model file", fileFilter="LCZ model (*.lczmodel)"
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                "REPORT",
                "Training report",
                fileFilter="HTML files (*.html)",
                optional=True,
                createByDefault=False,
            )
        )
        self.addOutput(QgsProcessingOutputNumber("OA", "Validation overall accuracy"))
        self.addOutput(QgsProcessingOutputNumber("KAPPA", "Validation kappa"))

    @staticmethod
    def model_types() -> list[str]:
        # the same choices everywhere, so saved batch and model settings stay valid; a Keras
        # type without TensorFlow installed stops with a message saying how to install it
        return list(MODEL_TYPES)

    def execute(self, parameters, context, feedback):
        model_type = self.parameterAsEnumString(parameters, "MODEL_TYPE", context)
        report = self.parameterAsFileOutput(parameters, "REPORT", context) or None
        is_keras = framework(model_type) == "keras"
        keras_opts = {}
        if is_keras:
            keras_opts = dict(
                epochs=self.parameterAsInt(parameters, "EPOCHS", context),
                batch_size=self.parameterAsInt(parameters, "BATCH_SIZE", context),
                learning_rate=self.parameterAsDouble(parameters, "LEARNING_RATE", context),
                schedule=self.parameterAsEnumString(parameters, "SCHEDULE", context),
                early_stopping=self.parameterAsInt(parameters, "EARLY_STOPPING", context),
                class_weights=self.parameterAsBool(parameters, "CLASS_WEIGHTS", context),
                augment=self.parameterAsBool(parameters, "AUGMENT", context),
            )
        result = train_model(
            train=self.parameterAsFile(parameters, "TRAIN", context),
            validation=self.parameterAsFile(parameters, "VALIDATION", context) or None,
            output=self.parameterAsFileOutput(parameters, "OUTPUT", context),
            model_type=model_type,
            sensor=self.parameterAsEnumString(parameters, "SENSOR", context),
            bands=self.parameterAsString(parameters, "BANDS", context),
            max_samples=self.parameterAsInt(parameters, "MAX_SAMPLES", context) or None,
            seed=self.parameterAsInt(parameters, "SEED", context),
            feedback=feedback,
            report=report,
            **keras_opts,
        )
        out = {
            "OUTPUT": str(result.path),
            "OA": result.scores.get("oa", float("nan")),
            "KAPPA": result.scores.get("kappa", float("nan")),
        }
        if report:
            out["REPORT"] = report
        return out
