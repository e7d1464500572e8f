"""lcz:compositesentinel2: several Sentinel-2 dates -> one cloud-free 10-band composite.

Parameters, help and core call: ``lcz_qgis/commands/composite_s2.py``; here: the dates
are a multiple-file input (products are folders, zips and XML files, not layers), and
the composite is styled as true colour, the count with its ramp.
"""

from __future__ import annotations

from qgis.core import QgsProcessingParameterMultipleLayers

from ..lcz_qgis.commands.composite_s2 import COMMAND, METHOD_LABELS
from . import qgis_compat
from .base import name_output_on_load, style_output_on_load
from .spec_algorithm import SpecAlgorithm, parameter_definition


class CompositeSentinel2Algorithm(SpecAlgorithm):
    COMMAND = COMMAND

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        for p in self.qgis_params():
            if p.key == "INPUT":
                d = QgsProcessingParameterMultipleLayers(
                    p.key, p.label, qgis_compat.SOURCE_FILE, None, p.optional
                )
                d.setHelp(p.help)
            else:
                d = parameter_definition(p)
            self.addParameter(d)

    def resolve_param(self, p, parameters, context, feedback, objects):
        if p.key == "INPUT":
            return [f for f in self.parameterAsFileList(parameters, p.key, context) if f]
        return super().resolve_param(p, parameters, context, feedback, objects)

    def post_process(self, values, outputs, objects, context, feedback):
        res = outputs["_result"]
        style_output_on_load(context, outputs["OUTPUT"], str(res.qml))
        name_output_on_load(
            context,
            outputs["OUTPUT"],
            f"Sentinel-2 composite ({METHOD_LABELS[res.method].lower()})",
        )
        if values.get("COUNT"):
            style_output_on_load(context, values["COUNT"], str(res.count_qml))
