"""The "LCZ mapping" Processing provider (id ``lcz``).

Algorithms are the ``LczAlgorithm`` subclasses in this package's ``*_algorithm.py``
modules; graphical models are the ``.model3`` files in ``resources/models``.
"""

from __future__ import annotations

import glob
import importlib
import inspect
import os
import pkgutil
import traceback

from qgis.core import Qgis, QgsMessageLog, QgsProcessingModelAlgorithm, QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .base import ICON_PATH, PLUGIN_DIR, LczAlgorithm


def algorithm_classes() -> list[type]:
    """The algorithm classes; a module that fails to import is logged and skipped, so one
    broken algorithm never takes the provider (and qgis_process) down with it."""
    package = __name__.rsplit(".", 1)[0]
    classes = []
    for info in pkgutil.iter_modules([os.path.dirname(__file__)]):
        if not info.name.endswith("_algorithm"):
            continue
        try:
            module = importlib.import_module(f"{package}.{info.name}")
        except Exception:  # noqa: BLE001 - report and keep the other algorithms
            QgsMessageLog.logMessage(
                f"could not load {info.name}:\n{traceback.format_exc()}",
                "LCZ mapping",
                Qgis.Critical,
            )
            continue
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, LczAlgorithm) and obj.NAME and obj.__module__ == module.__name__:
                classes.append(obj)
    return sorted(classes, key=lambda c: c.NAME)


class LczProvider(QgsProcessingProvider):
    def id(self):
        return "lcz"

    def name(self):
        return "LCZ mapping"

    def longName(self):  # noqa: N802 - QGIS API
        return "Local Climate Zone mapping (So2Sat LCZ42)"

    def icon(self):
        return QIcon(ICON_PATH)

    def loadAlgorithms(self):  # noqa: N802 - QGIS API
        for cls in algorithm_classes():
            self.addAlgorithm(cls())
        for path in sorted(glob.glob(os.path.join(PLUGIN_DIR, "resources", "models", "*.model3"))):
            model = QgsProcessingModelAlgorithm()
            if model.fromFile(path):
                self.addAlgorithm(model)
