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

from .base import ICON_PATH, MAPPING, PLUGIN_DIR, LczAlgorithm

# graphical models: file name in resources/models -> toolbox name (the id keeps the file's
# model_name, e.g. lcz:sentinel2_to_lcz_map)
MODEL_TITLES = {"sentinel2_to_lcz_map": "Sentinel-2 product \u2192 LCZ map"}


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


class LczModelAlgorithm(QgsProcessingModelAlgorithm):
    """A shipped graphical model, shown under a readable name in the Mapping group."""

    def __init__(self, title: str = ""):
        super().__init__()
        self._title = title

    def displayName(self):  # noqa: N802 - QGIS API
        return self._title or super().displayName()

    def group(self):
        return MAPPING[1]

    def groupId(self):  # noqa: N802 - QGIS API
        return MAPPING[0]

    def icon(self):
        return QIcon(ICON_PATH)

    def createInstance(self):  # noqa: N802 - QGIS API
        alg = LczModelAlgorithm(self._title)
        alg.loadVariant(self.toVariant())
        alg.setSourceFilePath(self.sourceFilePath())
        return alg


class LczProvider(QgsProcessingProvider):
    def id(self):
        return "lcz"

    def name(self):
        return "LCZ mapping"

    def longName(self):  # noqa: N802 - QGIS API
        return "Local Climate Zone mapping (So2Sat LCZ42)"

    def icon(self):
        return QIcon(ICON_PATH)

    def versionInfo(self):  # noqa: N802 - QGIS API
        from ..lcz_qgis import __version__

        return __version__

    # every raster the algorithms write is a GeoTIFF, every vector layer a GeoPackage: the
    # dialogs then offer only those (the GDAL writer is not chosen by the file extension)
    def supportedOutputRasterLayerExtensions(self):  # noqa: N802 - QGIS API
        return ["tif"]

    def defaultRasterFileExtension(self):  # noqa: N802 - QGIS API
        return "tif"

    def supportedOutputVectorLayerExtensions(self):  # noqa: N802 - QGIS API
        return ["gpkg"]

    def defaultVectorFileExtension(self, has_geometry=True):  # noqa: N802 - QGIS API
        return "gpkg"

    def loadAlgorithms(self):  # noqa: N802 - QGIS API
        for cls in algorithm_classes():
            self.addAlgorithm(cls())
        # a model's steps resolve only once this provider is registered: the plugin calls
        # refreshAlgorithms() after addProvider, which loads the models again, complete
        for path in sorted(glob.glob(os.path.join(PLUGIN_DIR, "resources", "models", "*.model3"))):
            stem = os.path.splitext(os.path.basename(path))[0]
            model = LczModelAlgorithm(MODEL_TITLES.get(stem, ""))
            if model.fromFile(path):
                self.addAlgorithm(model)
