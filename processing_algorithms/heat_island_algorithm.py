"""lcz:heatisland: air temperature by LCZ and the urban heat island from station series.

Parameters, help and core call: ``lcz_qgis/commands/heat_island.py``.
"""

from __future__ import annotations

from ..lcz_qgis.commands.heat_island import COMMAND
from .spec_algorithm import SpecAlgorithm


class HeatIslandAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND
