"""lcz:classifyraster: LCZ map from Sentinel-2 and/or Sentinel-1 rasters.

Parameters, help and core call: ``lcz_qgis/commands/classify.py``; here: the extent's
CRS, and the outputs styled and named on load, after the model file and the input layer
("LCZ map - rf_sen2 - scene_s2": two models on one city give two names). Keeps
no state on the instance between runs, so it works in the batch dialog.
"""

from __future__ import annotations

from ..lcz_qgis.commands.classify import COMMAND
from ..lcz_qgis.raster.io import qml_path
from . import qgis_compat
from .base import (
    file_stem,
    input_part,
    layer_name,
    name_output_on_load,
    style_output_on_load,
)
from .spec_algorithm import SpecAlgorithm

# output -> layer name (followed by the model file's and the input layer's names)
NAMES = {
    "OUTPUT": "LCZ map",
    "CONFIDENCE": "LCZ confidence",
    "PROBABILITIES": "LCZ probabilities",
    "SECOND_CLASS": "LCZ second class",
    "MARGIN": "LCZ margin",
}


class ClassifyRasterAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND
    NAMES = NAMES  # a subclass (classify dates) names more outputs

    def prepare_values(self, values, objects, parameters, context, feedback):
        if values.get("EXTENT") is None:
            return values
        # the extent in its own CRS: the core maps it onto the grid the model reads, which
        # differs from the layer's CRS when REPROJECT warps it
        crs = objects.get("EXTENT")
        if crs is None or not crs.isValid():
            ref = objects.get("SENTINEL2") or objects.get("SENTINEL1")
            crs = ref.crs() if ref is not None else None
        if crs is None:
            return values
        wkt = crs.toWkt(qgis_compat.WKT_PREFERRED_GDAL)
        return {**values, "EXTENT_CRS": wkt}

    def input_name(self, objects) -> str:
        """What the layer names say the map is of: the input layer (its name, or the
        product's date and tile, ``input_part``)."""
        ref = objects.get("SENTINEL2") or objects.get("SENTINEL1")
        return input_part(ref.name()) if ref is not None else ""

    def post_process(self, values, outputs, objects, context, feedback):
        of = self.input_name(objects)
        model = file_stem(values.get("MODEL"))
        for key, name in self.NAMES.items():
            if outputs.get(key):
                style_output_on_load(context, outputs[key], str(qml_path(outputs[key])))
                name_output_on_load(context, outputs[key], layer_name(name, model, of))
