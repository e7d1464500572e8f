"""lcz:comparemaps: agreement of two LCZ maps.

Parameters, help and core call: ``lcz_qgis/commands/compare_maps.py``.
"""

from __future__ import annotations

from ..lcz_qgis.commands.compare_maps import COMMAND
from .spec_algorithm import SpecAlgorithm


class CompareMapsAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND
