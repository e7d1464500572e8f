"""HTML reports and their PNG plots.

Public names (imported on first use, so importing the package stays cheap):
- ``html``: evaluation_report_html, write_training_report
- ``plots``: confusion_figure, confusion_png
- ``factsheet``: factsheet_html, scores_boxplot_figure, scores_boxplot_png
"""

from ..common.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "evaluation_report_html": "html",
        "write_training_report": "html",
        "confusion_figure": "plots",
        "confusion_png": "plots",
        "factsheet_html": "factsheet",
        "scores_boxplot_figure": "factsheet",
        "scores_boxplot_png": "factsheet",
    },
)
