"""lcz:quantizemodel: an int8 copy of a network's model file.

Parameters, help and core call: ``lcz_qgis/commands/quantize_model.py``.
"""

from __future__ import annotations

from ..lcz_qgis.commands.quantize_model import COMMAND
from .spec_algorithm import SpecAlgorithm


class QuantizeModelAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND
