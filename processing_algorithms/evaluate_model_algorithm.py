"""lcz:evaluatemodel: score a model on a labelled So2Sat LCZ42 HDF5 file."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
)

from ..lcz_qgis.evaluation import DEFAULT_BATCH, evaluate_to_files
from .base import MODELS, LczAlgorithm

SENSORS = ["sen2", "sen1", "fusion"]
# output key -> scores key
NUMBERS = {
    "OA": ("oa", "Overall accuracy (OA)"),
    "KAPPA": ("kappa", "Kappa"),
    "OA_W": ("oa_w", "Weighted overall accuracy (OA_w)"),
    "OA_U": ("oa_u", "Urban overall accuracy (OA_u)"),
    "OA_BU": ("oa_bu", "Built vs natural accuracy (OA_bu)"),
    "MACRO_F1": ("macro_f1", "Macro F1"),
    "WEIGHTED_F1": ("weighted_f1", "Weighted F1 (by class support)"),
}


class EvaluateModelAlgorithm(LczAlgorithm):
    NAME = "evaluatemodel"
    DISPLAY_NAME = "Evaluate LCZ model"
    GROUP = MODELS
    HELP = (
        "Scores a model on a labelled So2Sat LCZ42 HDF5 file (e.g. the published testing.h5), "
        "reading it in batches so the file is never loaded whole.<br>"
        "<b>Model</b>: a .lczmodel file, or a plain Keras .keras / .h5 full model saved by "
        "a notebook (its sensor comes from its channel count: 8 = Sentinel-1, 10 = "
        "Sentinel-2, 18 = fusion; So2Sat scaling is assumed; Lambda layers are refused).<br>"
        "<b>Sensor override</b>: only for plain Keras models whose sensor cannot be inferred "
        "or is inferred wrongly. The dataset must hold the model's sensor.<br>"
        "<b>Scores</b> (LCZ Generator conventions): OA; kappa; OA_u (urban classes 1-10 only); "
        "OA_bu (built 1-10 vs natural A-G); OA_w (weighted by LCZ similarity, Bechtel et al. "
        "2020); macro F1; per-class precision, recall and F1. Patches holding NaN or inf are "
        "skipped and counted.<br>"
        "<b>Outputs</b>: the numbers OA, KAPPA, OA_W (for graphical models); JSON with "
        "everything; optional CSV (per-class rows with LCZ code and name, then the overall "
        "scores); HTML report with the confusion matrix (rows = reference, columns = "
        "predicted; counts and row-normalised), shown in the results viewer."
    )

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(
            QgsProcessingParameterFile(
                "MODEL",
                "Model file",
                fileFilter="LCZ or Keras model (*.lczmodel *.keras *.h5 *.hdf5)",
            )
        )
        self.addParameter(
            QgsProcessingParameterFile(
                "DATASET", "Labelled dataset (So2Sat HDF5)", fileFilter="HDF5 (*.h5 *.hdf5)"
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "SENSOR",
                "Sensor of a plain Keras model (empty = from its channel count)",
                options=SENSORS,
                optional=True,
                usesStaticStrings=True,
            )
        )
        batch = QgsProcessingParameterNumber(
            "BATCH_SIZE",
            "Batch size",
            QgsProcessingParameterNumber.Integer,
            DEFAULT_BATCH,
            minValue=1,
        )
        self.add_advanced(batch)
        self.addParameter(
            QgsProcessingParameterFileDestination(
                "OUTPUT_JSON", "Scores (JSON)", fileFilter="JSON files (*.json)"
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                "REPORT",
                "Evaluation report",
                fileFilter="HTML files (*.html)",
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                "OUTPUT_CSV",
                "Per-class scores (CSV)",
                fileFilter="CSV files (*.csv)",
                optional=True,
                createByDefault=False,
            )
        )
        for key, (_, label) in NUMBERS.items():
            self.addOutput(QgsProcessingOutputNumber(key, label))

    def execute(self, parameters, context, feedback):
        sensor = self.parameterAsEnumString(parameters, "SENSOR", context) or None
        output_json = self.parameterAsFileOutput(parameters, "OUTPUT_JSON", context)
        report = self.parameterAsFileOutput(parameters, "REPORT", context) or None
        csv_path = self.parameterAsFileOutput(parameters, "OUTPUT_CSV", context) or None
        scores, _ = evaluate_to_files(
            self.parameterAsFile(parameters, "MODEL", context),
            self.parameterAsFile(parameters, "DATASET", context),
            output_json=output_json,
            csv_path=csv_path,
            report=report,
            feedback=feedback,
            batch_size=self.parameterAsInt(parameters, "BATCH_SIZE", context),
            sensor=sensor,
        )
        out = {key: float(scores[k]) for key, (k, _) in NUMBERS.items()}
        out["OUTPUT_JSON"] = output_json
        if report:
            out["REPORT"] = report
        if csv_path:
            out["OUTPUT_CSV"] = csv_path
        return out
