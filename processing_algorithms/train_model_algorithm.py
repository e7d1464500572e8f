"""lcz:trainmodel: train a model on a So2Sat LCZ42 HDF5 file.

Parameters, help and core call: ``lcz_qgis/commands/train.py``. Every model type is
offered, so saved batch and model settings stay valid; a Keras type without TensorFlow
installed stops with a message saying how to install it.
"""

from __future__ import annotations

from ..lcz_qgis.commands.train import COMMAND
from .spec_algorithm import SpecAlgorithm


class TrainModelAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND
