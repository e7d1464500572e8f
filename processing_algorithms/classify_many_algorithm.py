"""lcz:classifymany: classify many rasters or tiles on a local Dask cluster, resumable.

Parameters, help and core call: ``lcz_qgis/commands/classify_many.py``. Processing runs a
local cluster only (the CLI's --scheduler connects to a running one). Progress is the
share of finished tasks; cancel stops submitting and cancels the tasks in flight (the
tiles already finished stay, and a re-run resumes: the cancel message says how many
were kept, not "no output was written"). Here: the mosaic is loaded, styled and named.
"""

from __future__ import annotations

from qgis.core import QgsProcessingException

from ..lcz_qgis.commands.classify_many import COMMAND
from ..lcz_qgis.raster.io import qml_path
from .base import layer_details, style_output_on_load
from .spec_algorithm import SpecAlgorithm


class ClassifyManyAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND

    def execute(self, parameters, context, feedback):
        """The run; a cancel says which finished tiles were kept for resume."""
        from ..lcz_qgis.cluster.run import RunCancelled

        try:
            return super().execute(parameters, context, feedback)
        except RunCancelled as exc:
            raise QgsProcessingException(f"Cancelled: {exc.kept}") from None

    def post_process(self, values, outputs, objects, context, feedback):
        mosaics = {"": outputs["MOSAIC"]} if outputs.get("MOSAIC") else {}
        mosaics.update(outputs.get("_mosaics") or {})  # one per CRS when there are several
        for crs, mosaic in mosaics.items():
            name = f"LCZ mosaic ({crs.replace('_', ':')})" if crs else "LCZ mosaic"
            details = layer_details(name, context, "MOSAIC")
            context.addLayerToLoadOnCompletion(mosaic, details)
            style_output_on_load(context, mosaic, str(qml_path(mosaic)))
