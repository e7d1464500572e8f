"""lcz:preparesentinel2: Sentinel-2 product -> So2Sat 10-band reflectance stack at 10 m.

Parameters, help and core call: ``lcz_qgis/commands/prepare_s2.py``; here: the extent is
taken in the product's CRS (known only once the product is opened), and the stack is
named on load after the product's sensing date and tile ("Sentinel-2 (So2Sat bands)
- 2023-07-15 - T31UDQ"), read from its names: stacks of several dates differ.
"""

from __future__ import annotations

from qgis.core import QgsCoordinateReferenceSystem

from ..lcz_qgis.commands.prepare_s2 import COMMAND, sources
from ..lcz_qgis.raster.io import gdal
from ..lcz_qgis.sentinel.prepare_s2 import find_product
from .base import PREPARED_S2, file_stem, layer_name, name_output_on_load, s2_date_tile
from .spec_algorithm import SpecAlgorithm


class PrepareSentinel2Algorithm(SpecAlgorithm):
    COMMAND = COMMAND

    def prepare_values(self, values, objects, parameters, context, feedback):
        if values.get("EXTENT") is None:
            return values
        product = find_product(sources(self.COMMAND.execute_values(values)))
        wkt = gdal().Open(product.files["B02"]).GetProjection()
        crs = QgsCoordinateReferenceSystem.fromWkt(wkt)
        rect = self.parameterAsExtent(parameters, "EXTENT", context, crs)
        extent = None
        if not rect.isNull():
            extent = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        return {**values, "EXTENT": extent}

    def post_process(self, values, outputs, objects, context, feedback):
        full = self.COMMAND.execute_values(values)
        named = [*full["INPUT"], *full["BAND_FILES"]]
        product = getattr(outputs.get("_result"), "product", None)
        paths = named + list(getattr(product, "files", {}).values())
        date, tile = s2_date_tile(paths)
        parts = (date, tile) if date or tile else (file_stem(named[0]) if named else "",)
        name = layer_name(PREPARED_S2, *parts)
        name_output_on_load(context, outputs["OUTPUT"], name)
