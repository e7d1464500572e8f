"""QGIS enum values for QGIS 3.22 to 4: the scoped forms, the unscoped names before 3.36.

QGIS 3.36 moved most enums into scoped ones (``Qgis.ProcessingSourceType.Raster`` for
``QgsProcessing.TypeRaster``); QGIS 4 (Qt6) keeps only those, and QGIS's
``pyqt5_to_pyqt6`` check rewrites the old names. Older QGIS has only the old names. The
shipped code takes every QGIS enum value from this module; each is declared as a pair of
dotted paths in ``qgis.core`` (``ENUMS``), resolved once on import, so the unscoped
names never appear as code.
"""

from __future__ import annotations

import qgis.core

SCOPED_SINCE = 33600  # QGIS 3.36: the scoped enums exist

# name -> (scoped path, path before QGIS 3.36); both in qgis.core
ENUMS = {
    "SOURCE_RASTER": ("Qgis.ProcessingSourceType.Raster", "QgsProcessing.TypeRaster"),
    "SOURCE_VECTOR_POLYGON": (
        "Qgis.ProcessingSourceType.VectorPolygon",
        "QgsProcessing.TypeVectorPolygon",
    ),
    "SOURCE_FILE": ("Qgis.ProcessingSourceType.File", "QgsProcessing.TypeFile"),
    "NUMBER_INTEGER": (
        "Qgis.ProcessingNumberParameterType.Integer",
        "QgsProcessingParameterNumber.Integer",
    ),
    "NUMBER_DOUBLE": (
        "Qgis.ProcessingNumberParameterType.Double",
        "QgsProcessingParameterNumber.Double",
    ),
    "FILE_BEHAVIOR_FILE": (
        "Qgis.ProcessingFileParameterBehavior.File",
        "QgsProcessingParameterFile.File",
    ),
    "FILE_BEHAVIOR_FOLDER": (
        "Qgis.ProcessingFileParameterBehavior.Folder",
        "QgsProcessingParameterFile.Folder",
    ),
    "FLAG_ADVANCED": (
        "Qgis.ProcessingParameterFlag.Advanced",
        "QgsProcessingParameterDefinition.FlagAdvanced",
    ),
    "WKT_PREFERRED_GDAL": (
        "Qgis.CrsWktVariant.PreferredGdal",
        "QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL",
    ),
    # scoped access already works on 3.22 for these
    "MESSAGE_CRITICAL": ("Qgis.MessageLevel.Critical", "Qgis.MessageLevel.Critical"),
    "NETWORK_NO_ERROR": (
        "QgsBlockingNetworkRequest.ErrorCode.NoError",
        "QgsBlockingNetworkRequest.ErrorCode.NoError",
    ),
    "NETWORK_TIMEOUT": (
        "QgsBlockingNetworkRequest.ErrorCode.TimeoutError",
        "QgsBlockingNetworkRequest.ErrorCode.TimeoutError",
    ),
    "LAYER_HINT_UNKNOWN": (
        "QgsProcessingUtils.LayerHint.UnknownType",
        "QgsProcessingUtils.LayerHint.UnknownType",
    ),
    "LAYER_HINT_RASTER": (
        "QgsProcessingUtils.LayerHint.Raster",
        "QgsProcessingUtils.LayerHint.Raster",
    ),
    "LAYER_HINT_VECTOR": (
        "QgsProcessingUtils.LayerHint.Vector",
        "QgsProcessingUtils.LayerHint.Vector",
    ),
}


def qgis_version() -> int:
    """The running QGIS as an integer (33600 for 3.36.0)."""
    return qgis.core.Qgis.QGIS_VERSION_INT


def resolve(path: str):
    """The object at a dotted ``path`` in ``qgis.core`` (``AttributeError`` if absent)."""
    obj = qgis.core
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def enum_path(name: str) -> str:
    """The path of ENUMS' ``name`` on the running QGIS."""
    scoped, old = ENUMS[name]
    return scoped if qgis_version() >= SCOPED_SINCE else old


def value(name: str):
    """The value of ENUMS' ``name`` on the running QGIS."""
    return resolve(enum_path(name))


SOURCE_RASTER = value("SOURCE_RASTER")
SOURCE_VECTOR_POLYGON = value("SOURCE_VECTOR_POLYGON")
SOURCE_FILE = value("SOURCE_FILE")
NUMBER_INTEGER = value("NUMBER_INTEGER")
NUMBER_DOUBLE = value("NUMBER_DOUBLE")
FILE_BEHAVIOR_FILE = value("FILE_BEHAVIOR_FILE")
FILE_BEHAVIOR_FOLDER = value("FILE_BEHAVIOR_FOLDER")
FLAG_ADVANCED = value("FLAG_ADVANCED")
WKT_PREFERRED_GDAL = value("WKT_PREFERRED_GDAL")
MESSAGE_CRITICAL = value("MESSAGE_CRITICAL")
NETWORK_NO_ERROR = value("NETWORK_NO_ERROR")
NETWORK_TIMEOUT = value("NETWORK_TIMEOUT")
LAYER_HINT_UNKNOWN = value("LAYER_HINT_UNKNOWN")
LAYER_HINT_RASTER = value("LAYER_HINT_RASTER")
LAYER_HINT_VECTOR = value("LAYER_HINT_VECTOR")


def name_layer(details, name: str):
    """Name the layer that ``details`` (a ``QgsProcessingContext.LayerDetails``) loads.

    From QGIS 3.40 Processing names loaded layers after their files ("Prefer output
    filename for layer names", on by default) unless ``forceName`` is set; QGIS 3.22 has
    neither the setting nor the attribute. Returns ``details``."""
    details.name = name
    if hasattr(details, "forceName"):
        details.forceName = True
    return details
