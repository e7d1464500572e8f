"""``lcz evaluate`` / lcz:evaluatemodel: score a model on a labelled So2Sat HDF5 file."""

from __future__ import annotations

from ..evaluation.evaluate import evaluate_to_files, json_text, overall
from .params import (
    PLAIN_MODEL_SENSOR,
    batch_param,
    dataset_param,
    model_param,
    runtime_param,
    sensor_param,
)
from .spec import FILE_DEST, OUT_NUMBER, Command, Output, Param

# number output -> (scores key, label)
NUMBERS = {
    "OA": ("oa", "Overall accuracy (OA)"),
    "KAPPA": ("kappa", "Kappa"),
    "OA_W": ("oa_w", "Weighted overall accuracy (OA_w)"),
    "OA_U": ("oa_u", "Urban overall accuracy (OA_u)"),
    "OA_BU": ("oa_bu", "Built vs natural accuracy (OA_bu)"),
    "MACRO_F1": ("macro_f1", "Macro F1"),
    "WEIGHTED_F1": ("weighted_f1", "Weighted F1 (by class support)"),
    "ECE": ("ece", "Expected calibration error (ECE, 15 bins)"),
}
FILES = ("OUTPUT_JSON", "OUTPUT_CSV", "REPORT", "CONFUSION_PNG")


def _run(values: dict, feedback, given=None) -> dict:
    scores, written = evaluate_to_files(
        values["MODEL"], values["DATASET"], **COMMAND.kwargs(values, *FILES, "BATCH_SIZE",
                                                            "SENSOR", "RUNTIME"), feedback=feedback
    )  # fmt: skip
    out = {key: float(scores[k]) for key, (k, _) in NUMBERS.items()}
    out |= {key: values[key] for key in FILES}
    out |= {"_scores": scores, "_written": written}
    return out


def _report(values: dict, outputs: dict) -> str:
    scores = outputs["_scores"]
    summary = {**overall(scores), "n": scores["n"], "n_skipped": scores["n_skipped"]}
    summary |= {k: str(v) for k, v in outputs["_written"].items()}
    return json_text(summary)


COMMAND = Command(
    name="evaluate",
    algorithm="evaluatemodel",
    display_name="Evaluate LCZ model",
    group="models",
    order=25,
    summary="score a model on a labelled So2Sat HDF5 file (OA, kappa, F1, OA_u, OA_bu, OA_w, "
    "per class)",
    help=(
        "Scores a model on a labelled So2Sat LCZ42 HDF5 file (e.g. the published testing.h5), "
        "reading it in batches so the file is never loaded whole.<br>"
        "<b>Model</b>: a .lczmodel file, or a plain Keras .keras / .h5 full model saved by "
        "a notebook (its sensor comes from its channel count: 8 = Sentinel-1, 10 = "
        "Sentinel-2, 18 = fusion; So2Sat scaling is assumed; Lambda layers are refused).<br>"
        "<b>Sensor override</b>: only for plain Keras models whose sensor cannot be inferred "
        "or is inferred wrongly. The dataset must hold the model's sensor.<br>"
        "<b>Scores</b> (LCZ Generator conventions): OA; kappa; OA_u (urban classes 1-10 only); "
        "OA_bu (built 1-10 vs natural A-G); OA_w (weighted by LCZ similarity, Bechtel et al. "
        "2020); macro F1; per-class precision, recall and F1; ECE, the expected calibration "
        "error (15 equal-width confidence bins: how far the confidence is from the share "
        "predicted right; 0 = calibrated, see <i>Calibrate LCZ model</i>). Patches holding "
        "NaN or inf are skipped and counted.<br>"
        "<b>Outputs</b>: the numbers OA, KAPPA, OA_W (for graphical models); JSON with "
        "everything; optional CSV (per-class rows with LCZ code and name, then the overall "
        "scores); HTML report with the confusion matrix (rows = reference, columns = "
        "predicted; counts and row-normalised) and the reliability diagram, shown in the "
        "results viewer; optional "
        "confusion matrix plot (PNG)."
    ),
    params=[
        model_param(),
        dataset_param("Labelled dataset (So2Sat HDF5)",
                      "The labelled So2Sat HDF5 file to score on (e.g. testing.h5)."),
        sensor_param(**PLAIN_MODEL_SENSOR),
        batch_param(),
        runtime_param(),
        Param("OUTPUT_JSON", FILE_DEST, "Scores (JSON)",
              "All scores, per-class values and the confusion matrix (rows = reference, "
              "columns = predicted, labelled 1-10, A-G), as JSON.",
              optional=True, file_filter="JSON files (*.json)"),
        Param("REPORT", FILE_DEST, "Evaluation report",
              "An HTML report: scores, confusion matrix and per-class table.",
              optional=True, file_filter="HTML files (*.html)"),
        Param("OUTPUT_CSV", FILE_DEST, "Per-class scores (CSV)",
              "Per-class precision (= user's accuracy, UA), recall (= producer's accuracy, "
              "PA) and F1, then the overall scores, as CSV.", keyword="csv_path",
              optional=True, create_by_default=False, file_filter="CSV files (*.csv)",
              cli_aliases=("--csv",)),
        Param("CONFUSION_PNG", FILE_DEST, "Confusion matrix plot",
              "The confusion matrix plotted as a PNG.", optional=True,
              create_by_default=False, file_filter="PNG files (*.png)"),
    ],
    outputs=[Output(key, OUT_NUMBER, label) for key, (_, label) in NUMBERS.items()],
    run=_run,
    report=_report,
)  # fmt: skip
