"""lcz:datasetsummary: patches per class, shapes and band statistics of a So2Sat file.

Parameters, help and core call: ``lcz_qgis/commands/summary.py``.
"""

from __future__ import annotations

from ..lcz_qgis.commands.summary import COMMAND
from .spec_algorithm import SpecAlgorithm


class DatasetSummaryAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND
