"""The "LCZ mapping" Processing provider (id ``lcz``).

Algorithms are the ``LczAlgorithm`` subclasses in this package's ``*_algorithm.py``
modules; graphical models are the ``.model3`` files in ``resources/models``, run as
``LczModelAlgorithm`` (icon, tooltip, help page, defaults, cancel and layer names as for
the algorithms).
"""

from __future__ import annotations

import glob
import importlib
import inspect
import os
import pkgutil
import traceback

from qgis.core import (
    QgsMapLayer,
    QgsMessageLog,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingModelAlgorithm,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingProvider,
)
from qgis.PyQt.QtGui import QIcon

from . import qgis_compat
from .base import (
    CANCELLED,
    ICON_PATH,
    MAPPING,
    PLUGIN_DIR,
    LczAlgorithm,
    group_icon_path,
    help_url,
    input_part,
    layer_name,
    short_description,
)

# graphical models: file name in resources/models -> toolbox name (the id keeps the file's
# model_name, e.g. lcz:sentinel2_to_lcz_map)
MODEL_TITLES = {
    "sentinel2_to_lcz_map": "Sentinel-2 product \u2192 LCZ map",
    "training_areas_to_lcz_map": "Training areas + Sentinel-2 \u2192 LCZ map",
}


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
                qgis_compat.MESSAGE_CRITICAL,
            )
            continue
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, LczAlgorithm) and obj.NAME and obj.__module__ == module.__name__:
                classes.append(obj)
    return sorted(classes, key=lambda c: c.NAME)


def source_label(value) -> str:
    """A short name for an input file, for layer names: a Sentinel-2 product's name from
    its .SAFE folder, its MTD_*.xml or its .zip; else the file's name without extension."""
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        value = value.sink.staticValue()
    path = str(value or "").split("|", 1)[0].rstrip("/\\")
    if not path:
        return ""
    name = os.path.basename(path)
    if name.upper().startswith("MTD_") and name.lower().endswith(".xml"):
        name = os.path.basename(os.path.dirname(path)) or name
    for suffix in (".zip", ".SAFE", ".safe"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return os.path.splitext(name)[0] if name.endswith((".xml", ".tif", ".tiff")) else name


def input_label(value, project=None) -> str:
    """``source_label`` of a model input that may also be a layer: a layer (or the layer
    of a feature source, "selected features only" included) gives its name in
    ``project``."""
    if isinstance(value, QgsProcessingFeatureSourceDefinition):
        value = value.source.staticValue()
    if isinstance(value, QgsMapLayer):
        return value.name()
    layer = project.mapLayer(value) if project is not None and isinstance(value, str) else None
    return layer.name() if layer is not None else source_label(value)


def enum_words(options: list, value):
    """The words among ``options`` (a model input's static-string choices, the labels of
    one of the plugin's enum parameters) for ``value`` given as that parameter's code
    ("gaussian"), index or former label; None when no parameter has these labels or the
    value is none of them (QGIS's own check then reports it)."""
    from ..lcz_qgis.commands import all_commands, spec
    from .spec_algorithm import enum_code

    for command in all_commands():
        for p in command.params:
            if p.kind == spec.ENUM and list(p.labels) == list(options):
                code = enum_code(p, value)
                return None if code is None else p.labels[p.codes.index(code)]
    return None


class LczModelAlgorithm(QgsProcessingModelAlgorithm):
    """A shipped graphical model, shown under a readable name in the Mapping group.

    Runs as the plugin's algorithms do: inputs left out take the model's defaults (as in
    the dialog, so processing.run and qgis_process write the outputs the dialog writes by
    default), a cancel raises ``QgsProcessingException`` (QGIS 3.22 would report a
    cancelled model as processed OK), unwritten outputs are dropped from the results and
    loaded layers are named after the model's first input (e.g. "LCZ map – 2023-07-15 T32TPT"
    for a Sentinel-2 product: its sensing date and tile).
    """

    def __init__(self, title: str = ""):
        super().__init__()
        self._title = title

    def displayName(self):  # noqa: N802 - QGIS API
        return self._title or super().displayName()

    def group(self):
        return MAPPING[1]

    def groupId(self):  # noqa: N802 - QGIS API
        return MAPPING[0]

    def shortDescription(self):  # noqa: N802 - QGIS API
        """The model's SHORT_DESCRIPTION, else its description's first sentence."""
        return super().shortDescription() or short_description(self.shortHelpString() or "")

    def helpUrl(self):  # noqa: N802 - QGIS API
        return super().helpUrl() or help_url(f"lcz:{self.name()}", self.groupId())

    def svgIconPath(self):  # noqa: N802 - QGIS API
        return group_icon_path(self.groupId())

    def icon(self):
        return QIcon(self.svgIconPath())

    def load(self, path: str) -> bool:
        """Read the .model3 at ``path``; False if QGIS cannot."""
        if not self.fromFile(path):
            return False
        self.create_outputs_by_default()
        return True

    def create_outputs_by_default(self) -> None:
        """Mark the outputs with a default value (TEMPORARY_OUTPUT in the .model3) as
        created by default: QGIS 3.22 rebuilds the model's outputs from the steps' (whose
        optional outputs are skipped by default) and keeps only the default value."""
        for p in self.destinationParameterDefinitions():
            if p.defaultValue() not in (None, ""):
                p.setCreateByDefault(True)

    def with_words(self, parameters: dict) -> dict:
        """``parameters`` with each static-string choice of the model given as a code, an
        index or a former label (``FILTER=gaussian``, as the model stored it before its
        choices were words) replaced by its words (``enum_words``)."""
        out = dict(parameters)
        for d in self.parameterDefinitions():
            value = out.get(d.name())
            if (isinstance(d, QgsProcessingParameterEnum) and d.usesStaticStrings()
                    and isinstance(value, (str, int)) and value not in d.options()):  # fmt: skip
                words = enum_words(d.options(), value)
                if words is not None:
                    out[d.name()] = words
        return out

    def checkParameterValues(self, parameters, context):  # noqa: N802 - QGIS API
        return super().checkParameterValues(self.with_words(parameters), context)

    def createInstance(self):  # noqa: N802 - QGIS API
        alg = LczModelAlgorithm(self._title)
        alg.loadVariant(self.toVariant())
        alg.setSourceFilePath(self.sourceFilePath())
        alg.create_outputs_by_default()
        return alg

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        """Run the model's steps (see the class docstring for what differs from QGIS)."""
        if feedback is not None and feedback.isCanceled():
            raise QgsProcessingException(CANCELLED)
        params = self.with_words(parameters)
        for p in self.parameterDefinitions():
            if p.name() not in params and p.defaultValue() is not None:
                params[p.name()] = p.defaultValue()
        try:
            results = super().processAlgorithm(params, context, feedback)
        except QgsProcessingException as exc:
            if feedback is not None and feedback.isCanceled():  # QGIS says only "Error ..."
                raise QgsProcessingException(f"Cancelled: the model stopped ({exc}).") from None
            raise
        outputs = {o.name() for o in self.outputDefinitions()}
        written = {k: v for k, v in results.items() if k in outputs and v not in (None, "")}
        if feedback is not None and feedback.isCanceled():
            active = [c for c in self.childAlgorithms().values() if c.isActive()]
            if len(results.get("CHILD_RESULTS") or {}) < len(active):
                if written:
                    raise QgsProcessingException(
                        "Cancelled before the model's last step: only "
                        + ", ".join(sorted(written))
                        + " were written."
                    )
                raise QgsProcessingException(CANCELLED)
        self._name_loaded_layers(written, params, context)
        return {k: v for k, v in results.items() if k not in outputs or k in written}

    def _name_loaded_layers(self, written: dict, params: dict, context) -> None:
        """Name each output loaded on completion after the model's first input
        ("LCZ map – 2023-07-15 T31UDQ" for a Sentinel-2 product): the steps only know their own, often temporary, inputs
        (which gave "LCZ map – OUTPUT")."""
        ordered = [p.parameterName() for p in self.orderedParameters()]
        project = context.project()
        label = next((input_label(params.get(n), project) for n in ordered if params.get(n)), "")
        if not label:
            return
        for key, value in written.items():
            if isinstance(value, str) and context.willLoadLayerOnCompletion(value):
                title = key.split(":", 1)[-1]
                qgis_compat.name_layer(  # a product by its date and tile, within 59 chars
                    context.layerToLoadOnCompletionDetails(value),
                    layer_name(title, input_part(label)),
                )


class LczProvider(QgsProcessingProvider):
    def id(self):
        return "lcz"

    def name(self):
        return "LCZ mapping"

    def longName(self):  # noqa: N802 - QGIS API
        return "Local Climate Zone mapping (So2Sat LCZ42)"

    def icon(self):
        return QIcon(ICON_PATH)

    def svgIconPath(self):  # noqa: N802 - QGIS API
        return ICON_PATH

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
            if model.load(path):
                self.addAlgorithm(model)
