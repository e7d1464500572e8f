"""Processing algorithms built from the command declarations (``lcz_qgis/commands``).

A ``SpecAlgorithm`` subclass names its ``COMMAND``; ``initAlgorithm`` adds one
``QgsProcessingParameter*`` per declared parameter (label, help as tooltip, default,
range, file filter, "Advanced" flag), ``execute`` resolves each with the matching
``parameterAs*`` call and calls ``Command.run``. What only QGIS does (styling outputs on
load, layer names, an extent's CRS) stays in the subclass, in ``prepare_values`` and
``post_process``.

Enums show readable labels; their values stay the codes of the CLI: a parameter takes
the index (what the dialog and ``qgis_process ... MODEL_TYPE=0`` give) or the code
(``SENSOR=sen2``, as in scripts and saved models before the labels were readable).
"""

from __future__ import annotations

import json
import os
import re

from qgis.core import (
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingOutputBoolean,
    QgsProcessingOutputFile,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingOutputNumber,
    QgsProcessingOutputRasterLayer,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterCrs,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
    QgsVectorLayer,
)

from ..lcz_qgis.commands import spec
from ..lcz_qgis.commands.choices import FORMER_LABELS
from ..lcz_qgis.common.errors import LczError, param
from ..lcz_qgis.common.input_files import check_input_file
from . import qgis_compat
from .base import LczAlgorithm, toolbox_group

VECTOR_FORMATS = ["gpkg", "shp", "geojson"]  # what the core reads; others are converted
# files whose layers the core reads together (a WUDAPT template's folders): a layer of the
# project over one of them stands for the whole file
MULTI_LAYER_FILES = (".kml", ".kmz")

_OUTPUTS = {
    spec.OUT_NUMBER: QgsProcessingOutputNumber,
    spec.OUT_STRING: QgsProcessingOutputString,
    spec.OUT_BOOL: QgsProcessingOutputBoolean,
    spec.OUT_FILE: QgsProcessingOutputFile,
    spec.OUT_RASTER: QgsProcessingOutputRasterLayer,
    spec.OUT_LAYERS: QgsProcessingOutputMultipleLayers,
}


def _number_range(p: spec.Param) -> dict:
    kw = {}
    if p.minimum is not None:
        kw["minValue"] = p.minimum
    if p.maximum is not None:
        kw["maxValue"] = p.maximum
    return kw


def _places(x) -> int:
    """How many decimal places show the number ``x`` whole (0.98 -> 2, 1e-9 -> 9)."""
    text = f"{abs(x):.10f}".rstrip("0")
    return len(text.split(".")[1])


def number_decimals(p: spec.Param) -> int:
    """The decimals a ``FLOAT`` parameter's box shows (QGIS's default, 6, shows a
    resolution as "100.000000"): 1 for metres, else what the default and minimum need,
    at least 3 and at most 6."""
    if "metres" in p.label:
        return 1
    needed = [_places(x) for x in (p.default, p.minimum) if x is not None]
    return min(6, max([3, *needed]))


def parameter_definition(p: spec.Param) -> QgsProcessingParameterDefinition:
    """The Processing parameter of a declared parameter."""
    key, label, opt = p.key, p.label, p.optional
    k = p.kind
    if k in (spec.FILE, spec.FOLDER):
        behavior = (
            qgis_compat.FILE_BEHAVIOR_FOLDER if k == spec.FOLDER else qgis_compat.FILE_BEHAVIOR_FILE
        )
        d = QgsProcessingParameterFile(
            key, label, behavior, "", p.default, opt, fileFilter=p.file_filter
        )
    elif k == spec.RASTER:
        d = QgsProcessingParameterRasterLayer(key, label, p.default, opt)
    elif k == spec.VECTOR:
        d = QgsProcessingParameterFeatureSource(
            key, label, [qgis_compat.SOURCE_VECTOR_POLYGON], p.default, opt
        )
    elif k == spec.MULTI_RASTER:
        d = QgsProcessingParameterMultipleLayers(key, label, qgis_compat.SOURCE_RASTER, None, opt)
    elif k in (spec.INT, spec.FLOAT):
        kind = qgis_compat.NUMBER_DOUBLE if k == spec.FLOAT else qgis_compat.NUMBER_INTEGER
        d = QgsProcessingParameterNumber(key, label, kind, p.default, opt, **_number_range(p))
        if k == spec.FLOAT:
            d.setMetadata({"widget_wrapper": {"decimals": number_decimals(p)}})
    elif k == spec.BOOL:
        d = QgsProcessingParameterBoolean(key, label, bool(p.default), opt)
    elif k in (spec.ENUM, spec.ENUM_NUMBER):
        default = p.codes.index(p.default) if p.default is not None else None
        d = QgsProcessingParameterEnum(key, label, p.labels, False, default, opt)
    elif k == spec.STRING:
        d = QgsProcessingParameterString(key, label, p.default, False, opt)
    elif k == spec.EXTENT:
        d = QgsProcessingParameterExtent(key, label, p.default, opt)
    elif k == spec.CRS:
        d = QgsProcessingParameterCrs(key, label, p.default, opt)
    elif k == spec.FIELD:  # any type: the core reads numbers and text
        d = QgsProcessingParameterField(key, label, p.default, p.parent, optional=opt)
    elif k == spec.FILE_DEST:
        d = QgsProcessingParameterFileDestination(
            key, label, p.file_filter, None, opt, p.create_by_default
        )
    elif k == spec.RASTER_DEST:
        d = QgsProcessingParameterRasterDestination(key, label, None, opt, p.create_by_default)
    elif k == spec.VECTOR_DEST:
        d = QgsProcessingParameterVectorDestination(
            key, label, qgis_compat.SOURCE_VECTOR_POLYGON, None, opt, p.create_by_default
        )
    elif k == spec.FOLDER_DEST:
        d = QgsProcessingParameterFolderDestination(key, label, None, opt, p.create_by_default)
    else:  # pragma: no cover - spec.Param refuses unknown kinds
        raise ValueError(k)
    d.setHelp(p.help)
    if p.advanced:
        d.setFlags(d.flags() | qgis_compat.FLAG_ADVANCED)
    return d


def enum_code(p: spec.Param, value):
    """The code of an enum value given as a code, a readable label or an index; ``None``
    when it is none of these (Processing's own check then reports it)."""
    if isinstance(value, str):
        text = value.strip()
        if text in p.codes:
            return text
        if text in p.labels:
            return p.codes[p.labels.index(text)]
        if FORMER_LABELS.get(text) in p.codes:  # a label before labels were words
            return FORMER_LABELS[text]
        try:
            value = int(text)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        i = int(value)
        return p.codes[i] if 0 <= i < len(p.codes) and i == value else None
    return None


def enum_number(p: spec.Param, value):
    """An ``ENUM_NUMBER`` value given as a number (or numeric text) that is not one of its
    codes, labels or indexes, as text (``"0.0001"``); ``None`` otherwise."""
    if p.kind != spec.ENUM_NUMBER or enum_code(p, value) is not None:
        return None
    number = _number(value)
    return None if number is None else repr(number)


def _empty(value) -> bool:
    return value is None or value == ""


def _is_part(value) -> bool:
    """Whether a feature source value wants only some features: "selected features
    only", a feature limit or a filter."""
    return isinstance(value, QgsProcessingFeatureSourceDefinition) and bool(
        value.selectedFeaturesOnly
        or getattr(value, "featureLimit", -1) != -1
        or getattr(value, "filterExpression", "")
    )


def _plain_source(value) -> str | None:
    """A feature source's text (a path, a layer id or name) when all its features are
    wanted: None for a part of them (``_is_part``) or a layer object."""
    if _is_part(value):
        return None
    if isinstance(value, QgsProcessingFeatureSourceDefinition):
        value = value.source.staticValue()
    if isinstance(value, QgsVectorLayer):
        return None
    return value if isinstance(value, str) and value else None


def _stand_in_layer():
    """What QGIS's own parameter check is given for a KML/KMZ file (``vector_path`` hands
    the file to the core, which reads and checks it): QGIS would load it as a layer, and
    one whose GDAL has no LIBKML driver (Debian's GDAL 3.13 on) cannot load a KMZ."""
    return QgsVectorLayer("Polygon?crs=EPSG:4326", "KML/KMZ read by the plugin", "memory")


def _named_copy(path: str, layer, part: bool) -> str:
    """The GeoPackage QGIS wrote for ``layer`` (``<temporary folder>/AREAS.gpkg``) renamed
    after the layer ("training areas (selected features).gpkg" when ``part``); ``path``
    itself when it is the layer's own file."""
    folder, name = os.path.split(path)
    if layer.source().split("|", 1)[0] == path or not name.lower().endswith(".gpkg"):
        return path
    stem = re.sub(r"[^\w\- ]+", "_", layer.name()).strip(" _") or os.path.splitext(name)[0]
    target = os.path.join(folder, stem + (" (selected features)" if part else "") + ".gpkg")
    if target != path and not os.path.exists(target):
        os.replace(path, target)
        return target
    return path


# names of report keys as the log shows them (others: underscores as spaces)
_KEY_WORDS = {
    "oa": "OA", "oa_u": "OA_u", "oa_bu": "OA_bu", "oa_w": "OA_w", "ece": "ECE",
    "macro_f1": "macro F1", "weighted_f1": "weighted F1", "n": "patches",
    "n_skipped": "patches skipped (NaN/inf)", "sha256": "SHA-256",
}  # fmt: skip
_LONG_FLOAT = re.compile(r"(?<![\w.])-?\d+\.\d{7,}(?:e[-+]?\d+)?(?![\w.])")


def _key_name(key) -> str:
    """A report key as the log names it ("oa" -> "OA", "n_trees" -> "n trees")."""
    return _KEY_WORDS.get(key, str(key).replace("_", " "))


def _shown(value) -> str:
    """A report value as the log shows it: numbers with 3 decimals, as the core's log
    lines show scores (4 significant digits when tiny or huge), lists and small mappings
    on one line."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}" if value == 0 or 0.001 <= abs(value) < 1e4 else f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{_key_name(k)} {_shown(v)}" for k, v in value.items())
    return str(value)


def _flat(value) -> bool:
    """Whether a list or mapping fits on one line: scalars only, at most 6 of them."""
    items = value.values() if isinstance(value, dict) else value
    return len(value) <= 6 and not any(isinstance(v, (dict, list)) for v in items)


def _report_lines(value, depth: int = 0):
    """Indented "name: value" lines of a JSON mapping or list."""
    pad = "  " * depth
    pairs = value.items() if isinstance(value, dict) else (("-", v) for v in value)
    for key, item in pairs:
        name = _key_name(key)
        if isinstance(item, (dict, list)) and item and not _flat(item):
            yield f"{pad}{name}:" if key != "-" else f"{pad}-"
            yield from _report_lines(item, depth + 1)
        else:
            yield f"{pad}{name}: {_shown(item)}" if key != "-" else f"{pad}- {_shown(item)}"


def readable_report(text: str) -> str:
    """A command's report as the Processing log shows it: JSON (what the CLI prints for
    scripts) as "Summary:" and indented "name: value" lines, numbers with 3 decimals
    (``_shown``); other text with its long decimals (0.8234567891: 7 or more) cut to 4
    significant digits."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, (dict, list)):  # indented: not taken for qgis_process's outputs
        return "\n".join(["Summary:", *_report_lines(data, 1)])
    return _LONG_FLOAT.sub(lambda m: f"{float(m.group()):.4g}", text)


def _number(value):
    """A parameter's raw value as a float when it is a plain number or numeric text, else
    None (a layer, an expression, an empty value: QGIS checks those itself)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except ValueError:
        return None


class SpecAlgorithm(LczAlgorithm):
    """An algorithm whose parameters, help and core call are its ``COMMAND``'s."""

    COMMAND: spec.Command | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        c = cls.__dict__.get("COMMAND")
        if c is not None:
            cls.NAME = c.algorithm
            cls.DISPLAY_NAME = c.display_name
            cls.GROUP = toolbox_group(c.group)
            cls.HELP = c.help

    def qgis_params(self) -> list[spec.Param]:
        return [p for p in self.COMMAND.params if p.in_qgis]

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        for p in self.qgis_params():
            self.addParameter(parameter_definition(p))
        for o in self.COMMAND.outputs:
            self.addOutput(_OUTPUTS[o.kind](o.key, o.label))

    def checkParameterValues(self, parameters, context):  # noqa: N802 - QGIS API
        """Accept an enum's code (``rf``, ``sen2``) as well as its index."""
        checked = dict(parameters)
        for p in self.qgis_params():
            if enum_number(p, checked.get(p.key)) is not None:  # the core checks the number
                checked[p.key] = p.codes.index(p.default)
            elif p.kind in (spec.ENUM, spec.ENUM_NUMBER) and isinstance(checked.get(p.key), str):
                code = enum_code(p, checked[p.key])
                if code is not None:
                    checked[p.key] = p.codes.index(code)
        try:  # QGIS's own number check lets NaN through: the CLI's rule, one place
            self.COMMAND.check_ranges(
                {p.key: _number(checked.get(p.key)) for p in self.qgis_params()}
            )
            self.check_vector_paths(checked)
        except LczError as exc:
            return False, exc.message(self.message_names)
        for p in self.qgis_params():  # a KML/KMZ file reaches the core, which checks it
            source = _plain_source(checked.get(p.key)) if p.kind == spec.VECTOR else None
            if source and source.lower().endswith(MULTI_LAYER_FILES) and os.path.isfile(source):
                checked[p.key] = _stand_in_layer()
        return super().checkParameterValues(checked, context)

    def check_vector_paths(self, parameters) -> None:
        """Refuse a named pipe, a socket or a device given as a ``VECTOR`` path before
        QGIS's own check opens it as a layer (OGR would wait for ever on a pipe).

        Raises:
            LczError: ``check_input_file``'s message, naming the parameter.
        """
        for p in self.qgis_params():
            source = _plain_source(parameters.get(p.key)) if p.kind == spec.VECTOR else None
            if source and "|" not in source and os.path.exists(source):
                check_input_file(source, f"{param(p.key)}:", folder_ok=True)  # a folder: OGR's

    # -- resolving ---------------------------------------------------------------------
    def resolve(self, parameters, context, feedback) -> tuple[dict, dict]:
        """(values by key as ``Command.run`` takes them, the QGIS objects behind them: the
        raster layers, an extent's CRS)."""
        values, objects = {}, {}
        for p in self.qgis_params():
            values[p.key] = self.resolve_param(p, parameters, context, feedback, objects)
        return values, objects

    def resolve_param(self, p: spec.Param, parameters, context, feedback, objects):
        key, k = p.key, p.kind
        raw = parameters.get(key)
        if k in (spec.FILE, spec.FOLDER):
            return self.parameterAsFile(parameters, key, context) or None
        if k == spec.RASTER:
            layer = self.parameterAsRasterLayer(parameters, key, context)
            if layer is None:
                return None
            if layer.providerType() != "gdal":
                raise LczError(
                    f"{param(key)}: the input must be a raster file (GDAL), not a web or database "
                    "layer; save it as a GeoTIFF first (Export > Save As)"
                )
            objects[key] = layer
            return layer.source()
        if k == spec.VECTOR:
            return None if _empty(raw) else self.vector_path(p, parameters, context, feedback)
        if k == spec.FIELD:  # parameterAsStrings on QGIS 3.32+ (parameterAsFields deprecated)
            as_list = getattr(self, "parameterAsStrings", None) or self.parameterAsFields
            fields = as_list(parameters, key, context)
            return fields[0] if fields else None
        if k == spec.MULTI_RASTER:
            layers = self.parameterAsLayerList(parameters, key, context)
            objects[key] = layers
            return [lyr.source() for lyr in layers]
        if k in (spec.INT, spec.FLOAT):
            if _empty(raw) and p.default is None:
                return None
            if k == spec.INT:
                return self.parameterAsInt(parameters, key, context)
            return self.parameterAsDouble(parameters, key, context)
        if k == spec.BOOL:
            return self.parameterAsBoolean(parameters, key, context)
        if k in (spec.ENUM, spec.ENUM_NUMBER):
            if _empty(raw):
                return p.default
            if enum_number(p, raw) is not None:
                return enum_number(p, raw)
            code = enum_code(p, raw)
            if code is None:  # an expression or another variant: Processing resolves it
                code = p.codes[self.parameterAsEnum(parameters, key, context)]
            return code
        if k == spec.STRING:
            return self.parameterAsString(parameters, key, context)
        if k == spec.EXTENT:
            if _empty(raw):
                return None
            rect = self.parameterAsExtent(parameters, key, context)
            if rect.isNull():
                return None
            objects[key] = self.parameterAsExtentCrs(parameters, key, context)
            return (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        if k == spec.CRS:
            crs = self.parameterAsCrs(parameters, key, context)
            return crs.authid() or crs.toWkt() if crs.isValid() else None
        if k in (spec.FILE_DEST, spec.FOLDER_DEST):
            return self.parameterAsFileOutput(parameters, key, context) or None
        if k in (spec.RASTER_DEST, spec.VECTOR_DEST):
            return self.parameterAsOutputLayer(parameters, key, context) or None
        raise ValueError(k)  # pragma: no cover

    def vector_path(self, p: spec.Param, parameters, context, feedback) -> str:
        """The file the core reads for the ``VECTOR`` parameter ``p``.

        A path (without "selected features only" or a feature limit) reaches the core as
        it is, as from the CLI: a WUDAPT KML/KMZ keeps its folders, which QGIS's layer view
        of the file loses, and a named pipe or a device is refused by the core's checks
        before anything opens it. So does a project layer that is one folder of a KML/KMZ
        (the core reads the template's folders together; said in the log). Any other
        layer, a scratch layer or selected features are written to a GeoPackage named
        after the layer (which the factsheet and the log show).
        """
        raw = parameters.get(p.key)
        source, part = _plain_source(raw), _is_part(raw)
        if source and "|" not in source and os.path.exists(source):
            return source
        if isinstance(raw, QgsProcessingFeatureSourceDefinition):  # QGIS gives no layer
            raw = raw.source.staticValue()
        layer = self.parameterAsVectorLayer({p.key: raw}, p.key, context)
        if source and layer is not None and layer.providerType() == "ogr":
            path = layer.source().split("|", 1)[0]
            if path.lower().endswith(MULTI_LAYER_FILES) and not layer.subsetString():
                feedback.info(
                    f"{p.label}: '{layer.name()}' is a layer of {os.path.basename(path)}; "
                    "every folder of that file is read"
                )
                return path
        path = self.parameterAsCompatibleSourceLayerPath(
            parameters, p.key, context, VECTOR_FORMATS, "gpkg", feedback.qgis
        )
        return _named_copy(path, layer, part) if layer is not None else path

    # -- hooks -------------------------------------------------------------------------
    def prepare_values(self, values: dict, objects: dict, parameters, context, feedback) -> dict:
        """Adjust the resolved values before the run (QGIS-only rules); returns them."""
        return values

    def post_process(self, values: dict, outputs: dict, objects: dict, context, feedback):
        """After the run: style outputs on load, name layers."""

    def execute(self, parameters, context, feedback):
        values, objects = self.resolve(parameters, context, feedback)
        values = self.prepare_values(values, objects, parameters, context, feedback)
        from qgis.core import QgsApplication

        from ..lcz_qgis.common.legend import legend_style

        # legend names in QGIS's interface language where LANGUAGE is auto (the CLI: English)
        with legend_style(language=QgsApplication.locale()):
            # Processing cannot tell a value typed from a default: given=None
            outputs = self.COMMAND.execute(values, feedback, given=None)
            if self.COMMAND.report is not None:
                report = readable_report(self.COMMAND.report(values, outputs))
                for line in report.splitlines():
                    feedback.info(line)
            self.post_process(values, outputs, objects, context, feedback)
        return {k: v for k, v in outputs.items() if not k.startswith("_") and v is not None}
