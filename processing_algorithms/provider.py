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

from qgis.core import QgsProcessingModelAlgorithm, QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .base import ICON_PATH, PLUGIN_DIR, LczAlgorithm


def algorithm_classes() -> list[type]:
    package = __name__.rsplit(".", 1)[0]
    classes = []
    for info in pkgutil.iter_modules([os.path.dirname(__file__)]):
        if not info.name.endswith("_algorithm"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
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
