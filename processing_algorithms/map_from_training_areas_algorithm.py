"""lcz:mapfromtrainingareas: training areas + Sentinel-2 -> LCZ map, bootstrap accuracy,
calibrated confidence and factsheet.

Parameters, help and core call: ``lcz_qgis/commands/map_from_areas.py``; here: the map,
confidence and suspicious training areas styled and named on load.
"""

from __future__ import annotations

import os

from ..lcz_qgis.commands.map_from_areas import COMMAND
from ..lcz_qgis.raster.io import qml_path
from .base import name_output_on_load, style_output_on_load
from .spec_algorithm import SpecAlgorithm

NAMES = {"OUTPUT": "LCZ map", "CONFIDENCE": "LCZ confidence (calibrated)"}


class MapFromTrainingAreasAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND

    def post_process(self, values, outputs, objects, context, feedback):
        ref = objects.get("SENTINEL2")
        of = f" \u2013 {ref.name()}" if ref is not None else ""
        for key, name in NAMES.items():
            if outputs.get(key):
                style_output_on_load(context, outputs[key], str(qml_path(outputs[key])))
                name_output_on_load(context, outputs[key], name + of)
        layer = outputs.get("SUSPICIOUS")
        if layer:
            style_output_on_load(context, layer, os.path.splitext(layer)[0] + ".qml")
            name_output_on_load(context, layer, "Suspicious training areas")
