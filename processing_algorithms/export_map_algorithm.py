"""lcz:exportmap: an LCZ map as UMEP or WRF (W2W) read it, or a KMZ for Google Earth.

Parameters, help and core call: ``lcz_qgis/commands/export_map.py``; here: the domain
extent's CRS (the core takes degrees), and a GeoTIFF output loaded, styled and named (the
output is a file destination, since a KMZ is no raster QGIS writes; a KMZ is not loaded).
"""

from __future__ import annotations

from ..lcz_qgis.commands.export_map import COMMAND
from ..lcz_qgis.raster.io import qml_path
from .base import layer_details, style_output_on_load
from .spec_algorithm import SpecAlgorithm

NAMES = {"umep": "LCZ map for UMEP", "wrf": "LCZ map for WRF (W2W)"}


class ExportMapAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND

    def prepare_values(self, values, objects, parameters, context, feedback):
        """The domain in degrees (EPSG:4326): an extent drawn or taken from a layer in
        another CRS is transformed (its bounding box); one without a CRS is degrees."""
        crs = objects.get("DOMAIN")
        if values.get("DOMAIN") is None or crs is None or not crs.isValid():
            return values
        from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsRectangle

        wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
        if crs == wgs84:
            return values
        ct = QgsCoordinateTransform(crs, wgs84, context.transformContext())
        box = ct.transformBoundingBox(QgsRectangle(*values["DOMAIN"]))
        feedback.info(f"domain in EPSG:4326: {box.toString(6)}")
        domain = (box.xMinimum(), box.yMinimum(), box.xMaximum(), box.yMaximum())
        return {**values, "DOMAIN": domain}

    def post_process(self, values, outputs, objects, context, feedback):
        out = outputs.get("OUTPUT")
        if out and values["FORMAT"] in NAMES:
            details = layer_details(NAMES[values["FORMAT"]], context, "OUTPUT")
            context.addLayerToLoadOnCompletion(out, details)
            style_output_on_load(context, out, str(qml_path(out)))
