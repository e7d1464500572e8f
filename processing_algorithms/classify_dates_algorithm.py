"""lcz:classifydates: one LCZ map from several Sentinel-2 dates, probabilities fused.

Parameters, help and core call: ``lcz_qgis/commands/classify_dates.py``; the extent's
CRS and the styling and naming of the outputs on load are those of Classify raster, the
layers named after the model and the dates' range (or their number).
"""

from __future__ import annotations

from ..lcz_qgis.commands.classify_dates import COMMAND
from .base import date_range, s2_date_tile
from .classify_raster_algorithm import NAMES, ClassifyRasterAlgorithm


class ClassifyDatesAlgorithm(ClassifyRasterAlgorithm):
    COMMAND = COMMAND
    NAMES = {
        **NAMES,
        "OUTPUT": "LCZ map (dates fused)",
        "AGREEMENT": "LCZ date agreement",
        "DATE_COUNT": "LCZ dates seen",
    }

    def input_name(self, objects) -> str:
        """The dates' range from the layers' names ("2023-06-01 to 08-30"),
        else the first date's layer and how many more ("date1 + 2 more")."""
        first = objects.get("SENTINEL2")
        layers = ([first] if first is not None else []) + list(objects.get("DATES") or [])
        found = [s2_date_tile([lyr.source(), lyr.name()])[0] for lyr in layers]
        if found and all(found):
            return date_range(found)
        first = super().input_name(objects)
        return f"{first} + {len(layers) - 1} more" if len(layers) > 1 else first
