"""lcz:classifydates: one LCZ map from several Sentinel-2 dates, probabilities fused.

Parameters, help and core call: ``lcz_qgis/commands/classify_dates.py``; the extent's
CRS and the styling and naming of the outputs on load are those of Classify raster.
"""

from __future__ import annotations

from ..lcz_qgis.commands.classify_dates import COMMAND
from .classify_raster_algorithm import NAMES, ClassifyRasterAlgorithm


class ClassifyDatesAlgorithm(ClassifyRasterAlgorithm):
    COMMAND = COMMAND
    NAMES = {
        **NAMES,
        "OUTPUT": "LCZ map (dates fused)",
        "AGREEMENT": "LCZ date agreement",
        "DATE_COUNT": "LCZ dates seen",
    }
