"""Scores the LCZ community uses, and evaluation of a model on a file.

Public names (imported on first use, so importing the package stays cheap):
- ``evaluate``: ConfusionAccumulator, DEFAULT_BATCH, evaluate_model, evaluate_to_files, json_text, overall, scores_csv_text, write_confusion_png, write_outputs
- ``metrics``: OA_W_WEIGHTS, confusion_matrix, lcz_scores, scores_from_confusion
"""

from ..common.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "ConfusionAccumulator": "evaluate",
        "DEFAULT_BATCH": "evaluate",
        "evaluate_model": "evaluate",
        "evaluate_to_files": "evaluate",
        "json_text": "evaluate",
        "overall": "evaluate",
        "scores_csv_text": "evaluate",
        "write_confusion_png": "evaluate",
        "write_outputs": "evaluate",
        "OA_W_WEIGHTS": "metrics",
        "confusion_matrix": "metrics",
        "lcz_scores": "metrics",
        "scores_from_confusion": "metrics",
    },
)
