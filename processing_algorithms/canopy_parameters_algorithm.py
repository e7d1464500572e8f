"""lcz:canopyparameters: the Stewart & Oke (2012) urban canopy parameters of an LCZ map.

Parameters, help and core call: ``lcz_qgis/commands/canopy_parameters.py``; here: the
raster styled (band 1, the sky view factor) and both outputs named on load.
"""

from __future__ import annotations

from ..lcz_qgis.commands.canopy_parameters import COMMAND
from ..lcz_qgis.raster.io import qml_path
from .base import name_output_on_load, style_output_on_load
from .spec_algorithm import SpecAlgorithm


class CanopyParametersAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND

    def post_process(self, values, outputs, objects, context, feedback):
        out = outputs.get("OUTPUT")
        if out:
            style_output_on_load(context, out, str(qml_path(out)))
            name_output_on_load(context, out, f"LCZ canopy parameters ({values['STATISTIC']})")
        zones = outputs.get("ZONES_OUTPUT")
        if zones:
            name_output_on_load(context, zones, "Zones with LCZ canopy parameters")
