"""lcz:stylemap: the LCZ legend style of any LCZ map (palette, class-name language).

Parameters, help and core call: ``lcz_qgis/commands/style_map.py``; here: the language
"auto" is QGIS's interface language (``QgsApplication.locale()``: the run's default
language, ``legend.legend_style``, so the values stay those the CLI passes), and the style
applied to the map's layer when the map is a layer of the project (so the algorithm runs
in the main thread: a layer's renderer is changed in the thread that owns it).
"""

from __future__ import annotations

from qgis.core import QgsApplication

from ..lcz_qgis.commands.style_map import COMMAND
from ..lcz_qgis.common.legend import legend_style
from . import qgis_compat
from .spec_algorithm import SpecAlgorithm

# the algorithm flag "no threading" (to do: a qgis_compat.ENUMS entry, FLAG_NO_THREADING)
NO_THREADING = qgis_compat.resolve(
    "Qgis.ProcessingAlgorithmFlag.NoThreading"
    if qgis_compat.qgis_version() >= qgis_compat.SCOPED_SINCE
    else "QgsProcessingAlgorithm.FlagNoThreading"
)


class StyleMapAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND

    def flags(self):
        return super().flags() | NO_THREADING

    def execute(self, parameters, context, feedback):
        with legend_style(language=QgsApplication.locale()):  # LANGUAGE auto: QGIS's
            return super().execute(parameters, context, feedback)

    def post_process(self, values, outputs, objects, context, feedback):
        layer, qml = objects.get("MAP"), outputs.get("OUTPUT")
        if layer is None or not qml or context.project() is None:
            return
        if context.project().mapLayer(layer.id()) is not layer:
            return  # a file, or a layer of no project: the .qml is all there is
        message, ok = layer.loadNamedStyle(qml)
        if not ok:
            feedback.reportError(f"the style could not be applied to '{layer.name()}': {message}")
            return
        layer.triggerRepaint()
        layer.emitStyleChanged()
        feedback.info(f"style applied to the layer '{layer.name()}'")
