"""lcz:zonalstatistics: LCZ area and shares per zone.

Parameters, help and core call: ``lcz_qgis/commands/zonal_stats.py``.
"""

from __future__ import annotations

from ..lcz_qgis.commands.zonal_stats import COMMAND
from .spec_algorithm import SpecAlgorithm


class ZonalStatisticsAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND
