"""lcz:calibratemodel: temperature scaling of a model on held-out So2Sat patches.

Parameters, help and core call: ``lcz_qgis/commands/calibrate.py``.
"""

from __future__ import annotations

from ..lcz_qgis.commands.calibrate import COMMAND
from .spec_algorithm import SpecAlgorithm


class CalibrateModelAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND
