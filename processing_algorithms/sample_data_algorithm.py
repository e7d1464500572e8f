"""lcz:sampledata: write the synthetic sample data.

Parameters, help and core call: ``lcz_qgis/commands/sample_data.py``; here: the sample
city's layers are added to the project, styled and named.
"""

from __future__ import annotations

from ..lcz_qgis.commands.sample_data import COMMAND
from .base import layer_details, style_output_on_load
from .spec_algorithm import SpecAlgorithm

# output key -> name of the layer added to the project
LOADED = {
    "SCENE_S2": "Sample city, Sentinel-2 true colour (synthetic)",
    "SCENE_TRUTH": "LCZ truth (synthetic)",
}


class SampleDataAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND

    def post_process(self, values, outputs, objects, context, feedback):
        for key, title in LOADED.items():
            path = outputs[key]
            context.addLayerToLoadOnCompletion(path, layer_details(title, context, key))
            style_output_on_load(context, path, path[:-4] + ".qml")
