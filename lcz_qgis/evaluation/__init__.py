"""Scores the LCZ community uses, evaluation of a model on a file, and its calibration.

Public names (imported on first use, so importing the package stays cheap):
- ``calibrate``: calibrate_to_file, held_out_probabilities
- ``evaluate``: ConfusionAccumulator, DEFAULT_BATCH, evaluate_model, evaluate_to_files, json_text, overall, scores_csv_text, write_confusion_png, write_outputs
- ``metrics``: DEFAULT_ECE_BINS, OA_W_WEIGHTS, calibration_bin_counts, calibration_table, confusion_matrix, ece_from_bins, expected_calibration_error, lcz_scores, scores_from_confusion
- ``predictions``: Predictions, iter_predictions
"""

from ..common.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "ConfusionAccumulator": "evaluate",
        "DEFAULT_BATCH": "evaluate",
        "calibrate_to_file": "calibrate",
        "held_out_probabilities": "calibrate",
        "Predictions": "predictions",
        "iter_predictions": "predictions",
        "evaluate_model": "evaluate",
        "evaluate_to_files": "evaluate",
        "json_text": "evaluate",
        "overall": "evaluate",
        "scores_csv_text": "evaluate",
        "write_confusion_png": "evaluate",
        "write_outputs": "evaluate",
        "DEFAULT_ECE_BINS": "metrics",
        "OA_W_WEIGHTS": "metrics",
        "calibration_bin_counts": "metrics",
        "calibration_table": "metrics",
        "ece_from_bins": "metrics",
        "expected_calibration_error": "metrics",
        "confusion_matrix": "metrics",
        "lcz_scores": "metrics",
        "scores_from_confusion": "metrics",
    },
)
