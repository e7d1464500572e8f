"""lcz:loadpatches: So2Sat patches as georeferenced GeoTIFFs and styled outlines.

Parameters, help and core call: ``lcz_qgis/commands/patches.py``; here: the rasters
(at most MAX_LOADED_FILES) and the outlines are added to the project, styled.
"""

from __future__ import annotations

import os

from ..lcz_qgis.commands.patches import COMMAND
from .base import layer_details, style_output_on_load
from .spec_algorithm import SpecAlgorithm

MAX_LOADED_FILES = 50  # per-patch files added to the project at most


class LoadPatchesAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND

    def post_process(self, values, outputs, objects, context, feedback):
        rasters = outputs["RASTERS"]
        if len(rasters) <= MAX_LOADED_FILES:
            for path in rasters:
                name = os.path.splitext(os.path.basename(path))[0]
                context.addLayerToLoadOnCompletion(path, layer_details(name, context, "RASTERS"))
                style_output_on_load(context, path, os.path.splitext(path)[0] + ".qml")
        else:
            feedback.info(
                f"{len(rasters)} files are too many to add to the project; open them from "
                f"{outputs['OUTPUT_FOLDER']} (each has a .qml style)"
            )
        outlines = outputs.get("OUTPUT_PATCHES")
        if outlines:
            style_output_on_load(context, outlines, os.path.splitext(outlines)[0] + ".qml")
