"""Shared base for the plugin's algorithms: names, help, feedback, errors and styling.

Every algorithm subclasses ``LczAlgorithm``, sets the class attributes and implements
``execute(parameters, context, feedback)``, which calls the core with a ``QgisFeedback``.
(Not ``run``: that name is ``QgsProcessingAlgorithm.run``, which processing.run calls.)
Core errors (``LczError``) become ``QgsProcessingException``; a cancel returns no outputs.
No GUI calls here: ``processAlgorithm`` runs in Processing's background thread.
"""

from __future__ import annotations

import os
import re

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingParameterDefinition,
)
from qgis.PyQt.QtGui import QIcon

from ..lcz_qgis.errors import Cancelled, LczError
from ..lcz_qgis.feedback import Feedback

PLUGIN_DIR = os.path.dirname(os.path.dirname(__file__))
# toolbox groups: (id, name); graphical models name theirs in the .model3 (model_group)
DATA = ("data", "Data")
VISUALISATION = ("visualisation", "Visualisation")
MODELS = ("models", "Models")
MAPPING = ("mapping", "Mapping")
ICON_PATH = os.path.join(PLUGIN_DIR, "resources", "icons", "lcz.svg")


class QgisFeedback(Feedback):
    """Core feedback over ``QgsProcessingFeedback``."""

    def __init__(self, feedback):
        self.qgis = feedback

    def progress(self, percent: float) -> None:
        if self.qgis is not None:
            self.qgis.setProgress(percent)

    def info(self, message: str) -> None:
        if self.qgis is not None:
            self.qgis.pushInfo(message)

    def warning(self, message: str) -> None:
        if self.qgis is not None:
            self.qgis.pushWarning(message)

    def is_cancelled(self) -> bool:
        return self.qgis is not None and self.qgis.isCanceled()


class StyleFromQml(QgsProcessingLayerPostProcessorInterface):
    """Loads a QML style onto an output layer when Processing adds it to the project."""

    def __init__(self, qml_path: str):
        super().__init__()
        self.qml_path = qml_path

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 - QGIS API
        if layer is not None and os.path.exists(self.qml_path):
            layer.loadNamedStyle(self.qml_path)
            layer.triggerRepaint()


# Post-processors must outlive processAlgorithm: QGIS keeps only a raw pointer.
_POST_PROCESSORS: dict[str, StyleFromQml] = {}


def style_output_on_load(context, output_value: str, qml_path: str) -> None:
    """Style the layer loaded from ``output_value`` with ``qml_path`` (if it is loaded)."""
    if context.willLoadLayerOnCompletion(output_value):
        proc = StyleFromQml(qml_path)
        _POST_PROCESSORS[output_value] = proc
        context.layerToLoadOnCompletionDetails(output_value).setPostProcessor(proc)


def name_output_on_load(context, output_value: str, name: str) -> None:
    """Give the layer loaded from ``output_value`` a name that says what it shows and of
    what (batch runs would otherwise add several layers called "Product")."""
    if context.willLoadLayerOnCompletion(output_value):
        context.layerToLoadOnCompletionDetails(output_value).name = name


def short_description(help_html: str) -> str:
    text = re.sub(r"<[^>]+>", " ", help_html)
    text = " ".join(text.split())
    m = re.match(r"(.+?[.:])(\s|$)", text)
    return m.group(1) if m else text


class LczAlgorithm(QgsProcessingAlgorithm):
    NAME = ""
    DISPLAY_NAME = ""
    GROUP = MAPPING  # (id, name), one of the groups above
    HELP = ""

    def name(self):
        return self.NAME

    def displayName(self):  # noqa: N802 - QGIS API
        return self.DISPLAY_NAME

    def group(self):
        return self.GROUP[1]

    def groupId(self):  # noqa: N802 - QGIS API
        return self.GROUP[0]

    def shortHelpString(self):  # noqa: N802 - QGIS API
        return self.HELP

    def shortDescription(self):  # noqa: N802 - QGIS API
        """The toolbox tooltip: the help's first sentence."""
        return short_description(self.HELP)

    def icon(self):
        return QIcon(ICON_PATH)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "run" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} defines run(); implement execute(parameters, context, feedback) "
                "instead: run() is QgsProcessingAlgorithm.run, which processing.run calls"
            )

    def add_advanced(self, *params) -> None:
        """Add ``params`` under the dialog's "Advanced Parameters" (collapsed by default)."""
        for p in params:
            p.setFlags(p.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(p)

    def createInstance(self):  # noqa: N802 - QGIS API
        return type(self)()

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        try:
            return self.execute(parameters, context, QgisFeedback(feedback))
        except LczError as exc:
            raise QgsProcessingException(str(exc)) from exc
        except OSError as exc:  # a file the system refused: say which, without a traceback
            where = f" ({exc.filename})" if exc.filename else ""
            raise QgsProcessingException(f"{exc.strerror or exc}{where}") from exc
        except Cancelled:
            feedback.pushInfo("Cancelled: no output was written.")
            return {}

    def execute(self, parameters, context, feedback: QgisFeedback) -> dict:  # pragma: no cover
        raise NotImplementedError
