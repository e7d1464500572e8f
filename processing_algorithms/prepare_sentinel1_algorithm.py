"""lcz:preparesentinel1: Sentinel-1 GRD VV/VH -> Lee-filtered intensities on a Sentinel-2 grid.

Parameters, help and core call: ``lcz_qgis/commands/prepare_s1.py``.
"""

from __future__ import annotations

from ..lcz_qgis.commands.prepare_s1 import COMMAND
from .spec_algorithm import SpecAlgorithm


class PrepareSentinel1Algorithm(SpecAlgorithm):
    COMMAND = COMMAND
