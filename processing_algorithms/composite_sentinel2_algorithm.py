"""lcz:compositesentinel2: several Sentinel-2 dates -> one cloud-free 10-band composite.

Parameters, help and core call: ``lcz_qgis/commands/composite_s2.py``; here: the dates
are a multiple-file input (products are folders, zips and XML files, not layers), and
the composite is styled as true colour, the count with its ramp; its layer is named after
the dates' range, read from the products' names ("Sentinel-2 composite (median) -
2023-06-01 to 08-30"), else their number.
"""

from __future__ import annotations

from qgis.core import QgsProcessingParameterMultipleLayers

from ..lcz_qgis.commands.composite_s2 import COMMAND
from . import qgis_compat
from .base import date_range, layer_name, name_output_on_load, s2_date_tile, style_output_on_load
from .spec_algorithm import SpecAlgorithm, parameter_definition

# the method in a layer name ("median", "percentile 25")
METHOD_WORDS = {"median": "median", "p25": "percentile 25", "p50": "median",
                "p75": "percentile 75"}  # fmt: skip


def composite_name(method: str, inputs) -> str:
    """The composite's layer name: its method and the dates' range of its inputs
    ("2023-06-01 to 08-30"), their number where a name holds no date."""
    found = [s2_date_tile([path])[0] for path in inputs]
    what = f"Sentinel-2 composite ({METHOD_WORDS.get(method, method)})"
    if found and all(found):
        return layer_name(what, date_range(found))
    return layer_name(what, f"{len(inputs)} inputs" if inputs else "")


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
        name_output_on_load(context, outputs["OUTPUT"], composite_name(res.method, values["INPUT"]))
        if values.get("COUNT"):
            style_output_on_load(context, values["COUNT"], str(res.count_qml))
