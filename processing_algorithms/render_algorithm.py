"""lcz:render: true colour, Sentinel-1 false colour and spectral / radar indices.

Parameters, help and core call: ``lcz_qgis/commands/render.py``; here: the output is
styled on load and named after the product's readable name and the input layer
("Sentinel-2 true colour \u2013 city").
"""

from __future__ import annotations

from ..lcz_qgis.commands.render import COMMAND
from .base import name_output_on_load, style_output_on_load
from .spec_algorithm import SpecAlgorithm


class RenderAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND

    def post_process(self, values, outputs, objects, context, feedback):
        output = outputs["OUTPUT"]
        style_output_on_load(context, output, str(outputs["_result"].qml))
        # the product as the dialog lists it ("Sentinel-2 true colour"), not its code
        product = dict(COMMAND.param("PRODUCT").choices)[values["PRODUCT"]]
        name = f"{product} \u2013 {objects['INPUT'].name()}"
        name_output_on_load(context, output, name)
