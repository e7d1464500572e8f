"""lcz:evaluatemodel: score a model on a labelled So2Sat LCZ42 HDF5 file.

Parameters, help and core call: ``lcz_qgis/commands/evaluate.py``.
"""

from __future__ import annotations

from ..lcz_qgis.commands.evaluate import COMMAND
from .spec_algorithm import SpecAlgorithm


class EvaluateModelAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND
