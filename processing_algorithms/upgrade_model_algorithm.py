"""lcz:upgrademodel: a model file written again with the installed libraries.

Parameters, help and core call: ``lcz_qgis/commands/upgrade_model.py``.
"""

from __future__ import annotations

from ..lcz_qgis.commands.upgrade_model import COMMAND
from .spec_algorithm import SpecAlgorithm


class UpgradeModelAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND
