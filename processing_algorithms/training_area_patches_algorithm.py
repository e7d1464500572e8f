"""lcz:trainingareapatches: training-area polygons -> So2Sat patches and the suspicious
training areas.

Parameters, help and core call: ``lcz_qgis/commands/training_patches.py``; here: the
suspicious training areas layer is loaded styled by LCZ and named.
"""

from __future__ import annotations

import os

from ..lcz_qgis.commands.training_patches import COMMAND
from .base import name_output_on_load, style_output_on_load
from .spec_algorithm import SpecAlgorithm


class TrainingAreaPatchesAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND

    def post_process(self, values, outputs, objects, context, feedback):
        layer = outputs.get("SUSPICIOUS")
        if layer:
            style_output_on_load(context, layer, os.path.splitext(layer)[0] + ".qml")
            name_output_on_load(context, layer, "Suspicious training areas")
