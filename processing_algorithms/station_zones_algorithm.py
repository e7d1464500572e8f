"""lcz:stationzones: the LCZ under each weather station.

Parameters, help and core call: ``lcz_qgis/commands/stations.py``; here: the output
named on load.
"""

from __future__ import annotations

from ..lcz_qgis.commands.stations import COMMAND
from .base import name_output_on_load
from .spec_algorithm import SpecAlgorithm


class StationZonesAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND

    def post_process(self, values, outputs, objects, context, feedback):
        out = outputs.get("OUTPUT")
        if out:
            name_output_on_load(context, out, "Weather stations with their LCZ")
