"""Shared base for the plugin's algorithms: names, help, feedback, errors and styling.

Every algorithm subclasses ``LczAlgorithm``, sets the class attributes and implements
``execute(parameters, context, feedback)``, which calls the core with a ``QgisFeedback``.
(Not ``run``: that name is ``QgsProcessingAlgorithm.run``, which processing.run calls.)
Core errors (``LczError``) become ``QgsProcessingException``, and so does a cancel (so a
graphical model or a batch stops and reports it). A parameter a core message names
(``errors.param``) is shown as the dialog's label in quotes, a tool (``errors.tool``) as
its QGIS menu; a missing Python package gets the QGIS advice (``QGIS_DEPENDENCY_ADVICE``).
Outputs that were not written (skipped
optional outputs) are neither returned nor loaded; the layers that are loaded carry a
raster/vector type hint. No GUI calls here: ``processAlgorithm`` runs in Processing's
background thread.
"""

from __future__ import annotations

import html
import os
import re

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputRasterLayer,
    QgsProcessingOutputVectorLayer,
)
from qgis.PyQt.QtGui import QIcon

from ..lcz_qgis.commands.spec import GROUPS
from ..lcz_qgis.common.errors import Cancelled, LczError, MissingDependency
from ..lcz_qgis.common.feedback import Feedback
from . import help_pages, qgis_compat

PLUGIN_DIR = os.path.dirname(os.path.dirname(__file__))


def toolbox_group(group_id: str) -> tuple[str, str]:
    """A toolbox group as (id, name), from ``commands.spec.GROUPS`` (declared there once;
    graphical models name theirs in the .model3, model_group)."""
    return group_id, GROUPS[group_id]


MAPPING = toolbox_group("mapping")  # the provider's and an algorithm's default group
ICONS_DIR = os.path.join(PLUGIN_DIR, "resources", "icons")
ICON_PATH = os.path.join(ICONS_DIR, "lcz.svg")  # the provider's (and the plugin's) icon
DOCS_DIR = os.path.join(PLUGIN_DIR, "docs")
README_PATH = os.path.join(PLUGIN_DIR, "README.md")
# the page that documents a group, when several docs sections name an algorithm alike
GROUP_DOCS = {
    "data": "patches_and_products.md",
    "visualisation": "patches_and_products.md",
    "models": "training_and_evaluation.md",
    "mapping": "classification.md",
    "analysis": "after_the_map.md",
}
CANCELLED = "Cancelled: no output was written."
# the QGIS menus of the tools core messages name (lcz_qgis.common.errors.TOOLS)
QGIS_TOOLS = {
    "warp": "Raster > Projections > Warp (Reproject)",
    "assign_crs": "Raster > Projections > Assign Projection",
}
# appended to a MissingDependency: the core says how to install it into QGIS's Python
QGIS_DEPENDENCY_ADVICE = (
    ", then restart QGIS. In QGIS desktop, Plugins > LCZ mapping > Install dependencies "
    "does it for you (pinned versions into the plugin's own folder, which QGIS desktop and "
    "qgis_process both search). If it is installed in the project's .venv, make it visible: "
    "`make deploy` for QGIS desktop, PYTHONPATH=<repo>/.venv/lib/python3.X/site-packages "
    "for qgis_process"
)

_RASTER_EXTENSIONS = {".tif", ".tiff", ".vrt", ".img", ".png", ".jpg", ".nc"}
_VECTOR_EXTENSIONS = {".gpkg", ".shp", ".geojson", ".json", ".kml", ".fgb", ".sqlite"}
_RASTER_PARAMETERS = {"rasterDestination"}
_VECTOR_PARAMETERS = {"vectorDestination", "sink"}
_FILE_PARAMETERS = _RASTER_PARAMETERS | _VECTOR_PARAMETERS | {"fileDestination"}


class QgisFeedback(Feedback):
    """Core feedback over ``QgsProcessingFeedback``; ``names`` shows the parameters core
    messages name (``errors.render``), e.g. ``LczAlgorithm.message_names``."""

    def __init__(self, feedback, names=None):
        self.qgis = feedback
        self.names = names

    def progress(self, percent: float) -> None:
        if self.qgis is not None:
            self.qgis.setProgress(percent)

    def info(self, message: str) -> None:
        if self.qgis is not None:
            self.qgis.pushInfo(self.text(message))

    def warning(self, message: str) -> None:
        if self.qgis is not None:
            self.qgis.pushWarning(self.text(message))

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


def layer_details(name: str, context, output_name: str):
    """``LayerDetails`` that load a layer called ``name`` for the output ``output_name``
    (the name kept on QGIS 3.40+ too, see ``qgis_compat.name_layer``)."""
    details = QgsProcessingContext.LayerDetails(name, context.project(), output_name)
    return qgis_compat.name_layer(details, name)


def name_output_on_load(context, output_value: str, name: str) -> None:
    """Give the layer loaded from ``output_value`` a name that says what it shows and of
    what (batch runs would otherwise add several layers called "Product")."""
    if context.willLoadLayerOnCompletion(output_value):
        qgis_compat.name_layer(context.layerToLoadOnCompletionDetails(output_value), name)


NAME_LIMIT = 59  # characters of a layer name: the Layers panel shows it whole
PREPARED_S2 = "Sentinel-2 (So2Sat bands)"  # a prepared stack's name, before its date
_DASH = " \u2013 "
# a Sentinel-2 product's or band file's sensing date and MGRS tile, in its name
# (S2A_MSIL2A_20230715T102559_N0509_R022_T31UDQ_..., T31UDQ_20230715T102559_B02_10m.jp2),
# or a date in a file's name (s2_2023-07-15.tif)
_S2_DATE = re.compile(r"(?<!\d)(20\d\d)-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])(?!\d)")
_S2_TILE = re.compile(r"(?:^|[_\s])(T\d{2}[A-Z]{3})(?=[_.\s]|$)")


def layer_name(what: str, *parts) -> str:
    """A layer name: ``what`` and the ``parts`` that tell it apart (model, input, date),
    joined by en dashes, empty parts left out, at most ``NAME_LIMIT`` characters: the
    room left by ``what`` is shared out, the shortest parts kept whole and the longer
    ones cut to their share with "\u2026". The same inputs give the same name."""
    parts = [str(p) for p in parts if p]
    left = NAME_LIMIT - len(what) - len(_DASH) * len(parts)
    by_length = sorted(range(len(parts)), key=lambda k: len(parts[k]))
    for rank, k in enumerate(by_length):
        share = max(4, left // (len(parts) - rank))
        if len(parts[k]) > share:
            parts[k] = parts[k][: share - 1].rstrip(" _-.") + "\u2026"
        left -= len(parts[k])
    return _DASH.join([what, *parts])


def file_stem(path) -> str:
    """A file's name without folder and extension ('/m/rf_sen2.lczmodel' -> 'rf_sen2')."""
    name = os.path.basename(str(path or "").split("|", 1)[0].rstrip("/\\"))
    return os.path.splitext(name)[0] if not name.upper().endswith(".SAFE") else name[:-5]


def s2_date_tile(paths) -> tuple[str, str]:
    """The sensing date ("2023-07-15") and tile ("T31UDQ") of a Sentinel-2 product from
    the names of its paths (a .SAFE folder, its MTD file's folder, a zip, band files, a
    prepared stack), each read from its last folder or file name back (the first date in
    a name: a product's sensing date); "" for what no name holds."""
    date = tile = ""
    for path in paths:
        for part in reversed(str(path).replace("\\", "/").split("/")):
            d, t = _S2_DATE.search(part), _S2_TILE.search(part)
            date = date or (f"{d[1]}-{d[2]}-{d[3]}" if d else "")
            tile = tile or (t[1] if t else "")
            if date and tile:
                return date, tile
    return date, tile


def date_range(dates) -> str:
    """Dates ("YYYY-MM-DD") as a short range: "2023-06-01", "2023-06-01 to 08-15" (one
    year), "2022-12-01 to 2023-02-28"; "" for none."""
    dates = sorted(set(dates))
    if len(dates) < 2:
        return dates[0] if dates else ""
    last = dates[-1][5:] if dates[0][:4] == dates[-1][:4] else dates[-1]
    return f"{dates[0]} to {last}"


def input_part(name: str) -> str:
    """What in an input layer's name tells it apart: a Sentinel-2 product's date and tile
    ("2023-07-15 T31UDQ" for S2A_MSIL2A_20230715T..._T31UDQ_...), a prepared stack's
    ("Sentinel-2 (So2Sat bands) - 2023-07-15 - T31UDQ"), else the name."""
    date, tile = s2_date_tile([name])
    if date:
        return f"{date} {tile}".strip()
    if name.startswith(PREPARED_S2 + _DASH):
        return name[len(PREPARED_S2 + _DASH) :].replace(_DASH, " ")
    return name


_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "cf.", "vs.", "approx.", "al.", "Fig.", "No.")


def short_description(help_html: str) -> str:
    """The toolbox tooltip: the first whole sentence of ``help_html``, ending with '.'.

    The sentence ends at the first '.', '!' or '?' followed by a space, or at a ':' (which
    introduces a list: the clause before it is the sentence), or at the end of the first
    paragraph; never inside parentheses or brackets, nor after an abbreviation such as
    "e.g.". Markup is dropped and entities decoded.
    """
    first = re.split(r"<br\s*/?>|</?p\b[^>]*>", help_html, flags=re.IGNORECASE)
    first = next((part for part in first if re.sub(r"<[^>]+>", "", part).strip()), "")
    text = html.unescape(re.sub(r"<[^>]+>", " ", first))
    text = " ".join(text.split())
    depth = 0
    end = len(text)
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0 and ch in ".!?:" and (i + 1 == len(text) or text[i + 1].isspace()):
            if ch == "." and text[: i + 1].endswith(_ABBREVIATIONS):
                continue
            end = i + (ch in "!?")
            break
    sentence = text[:end].rstrip(" ,;:.")
    if not sentence:
        return ""
    return sentence if sentence.endswith(("!", "?")) else sentence + "."


def help_url(alg_id: str, group_id: str = "", command: str = "") -> str:
    """The dialog's Help button: the docs rendered as HTML (``help_pages``), at the section
    that documents ``alg_id`` (e.g. ``lcz:classifyraster``, CLI ``command`` "classify");
    file://.../page.html#anchor, '' when no docs are installed."""
    return help_pages.help_url(alg_id, command, GROUP_DOCS.get(group_id, ""), DOCS_DIR)


def group_icon_path(group_id: str) -> str:
    """The SVG icon of a toolbox group (resources/icons/<group>.svg), else the plugin's."""
    path = os.path.join(ICONS_DIR, f"{group_id}.svg")
    return path if os.path.exists(path) else ICON_PATH


def _file_part(value) -> str:
    """The file path of an output value ('x.gpkg|layername=y' -> 'x.gpkg'); '' if the value
    is not a local file path (a memory layer, a database URI, a number...)."""
    if not isinstance(value, str):
        return ""
    path = value.split("|", 1)[0]
    return path if os.path.isabs(path) else ""


def _not_written(value) -> bool:
    """True for an empty output value or a local file that does not exist."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    path = _file_part(value)
    return bool(path) and not os.path.exists(path)


def _layer_hint(alg, details, path: str):
    """The layer type (raster/vector) of an output loaded on completion: from the output
    it belongs to (its parameter or output definition), else from the file extension."""
    name = details.outputName
    param = alg.parameterDefinition(name) if name else None
    if param is not None and param.type() in _RASTER_PARAMETERS:
        return qgis_compat.LAYER_HINT_RASTER
    if param is not None and param.type() in _VECTOR_PARAMETERS:
        return qgis_compat.LAYER_HINT_VECTOR
    output = alg.outputDefinition(name) if name else None
    if isinstance(output, QgsProcessingOutputRasterLayer):
        return qgis_compat.LAYER_HINT_RASTER
    if isinstance(output, QgsProcessingOutputVectorLayer):
        return qgis_compat.LAYER_HINT_VECTOR
    ext = os.path.splitext(_file_part(path) or path)[1].lower()
    if ext in _RASTER_EXTENSIONS:
        return qgis_compat.LAYER_HINT_RASTER
    if ext in _VECTOR_EXTENSIONS:
        return qgis_compat.LAYER_HINT_VECTOR
    return qgis_compat.LAYER_HINT_UNKNOWN


def tidy_outputs(alg, results: dict, context, registered_before) -> dict:
    """Drop the outputs that were not written and set the layer type of those loaded.

    From ``results``: every empty value, and every file output (raster, vector, file
    destination) whose file does not exist. From the layers ``context`` loads on
    completion, among those registered since ``registered_before`` (the keys before the
    run): empty or missing files (a skipped optional output: QGIS would report "The
    following layers were not correctly generated"); the others get a raster/vector type
    hint when they have none, so QGIS opens them with the right provider (no OGR "Cannot
    open" warnings for rasters).
    """
    file_outputs = {p.name() for p in alg.destinationParameterDefinitions()}
    file_outputs = {
        n for n in file_outputs if alg.parameterDefinition(n).type() in _FILE_PARAMETERS
    }
    kept = {}
    for key, value in (results or {}).items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if key in file_outputs and _not_written(value):
            continue
        kept[key] = value
    layers = context.layersToLoadOnCompletion()
    new = [key for key in layers if key not in registered_before]
    stale = [key for key in new if _not_written(key)]
    if stale:
        context.setLayersToLoadOnCompletion(
            {key: details for key, details in layers.items() if key not in stale}
        )
    for key in new:
        if key in stale:
            continue
        details = context.layerToLoadOnCompletionDetails(key)
        if details.layerTypeHint == qgis_compat.LAYER_HINT_UNKNOWN:
            details.layerTypeHint = _layer_hint(alg, details, key)
    return kept


class LczAlgorithm(QgsProcessingAlgorithm):
    NAME = ""
    DISPLAY_NAME = ""
    GROUP = MAPPING  # (id, name), one of the groups above
    HELP = ""
    SHORT = ""  # the toolbox tooltip, one sentence; default: the help's first sentence

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
        """The toolbox tooltip: ``SHORT``, else the help's first whole sentence."""
        return self.SHORT or short_description(self.HELP)

    def helpUrl(self):  # noqa: N802 - QGIS API
        """The dialog's Help button: the docs section (HTML, file://) about the algorithm."""
        command = getattr(getattr(self, "COMMAND", None), "name", "")
        return help_url(f"lcz:{self.NAME}", self.GROUP[0], command)

    def svgIconPath(self):  # noqa: N802 - QGIS API
        """The group's icon (the modeler draws algorithms with their SVG)."""
        return group_icon_path(self.GROUP[0])

    def icon(self):
        return QIcon(self.svgIconPath())

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "run" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} defines run(); implement execute(parameters, context, feedback) "
                "instead: run() is QgsProcessingAlgorithm.run, which processing.run calls"
            )

    def createInstance(self):  # noqa: N802 - QGIS API
        return type(self)()

    def message_names(self, kind: str, name: str, neutral: str) -> str | None:
        """How this algorithm's messages show a placeholder (``errors.render``): a
        parameter as its dialog label in double quotes, a tool as its QGIS menu; None
        (the neutral text) for a parameter the algorithm does not have."""
        if kind == "tool":
            return QGIS_TOOLS.get(name)
        d = self.parameterDefinition(name) if kind == "param" else None
        return f'"{d.description()}"' if d is not None else None

    def error_text(self, exc: LczError) -> str:
        """The message of a core error as the Processing log shows it."""
        text = exc.message(self.message_names)
        if isinstance(exc, MissingDependency):
            text += QGIS_DEPENDENCY_ADVICE
        return text

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        """Runs ``execute``; errors and a cancel become ``QgsProcessingException``.

        Of what ``execute`` returns and registers for loading, only the outputs that were
        written are kept (see ``tidy_outputs``)."""
        if feedback is not None and feedback.isCanceled():
            raise QgsProcessingException(CANCELLED)
        registered_before = set(context.layersToLoadOnCompletion())
        try:
            results = self.execute(parameters, context, QgisFeedback(feedback, self.message_names))
        except LczError as exc:
            raise QgsProcessingException(self.error_text(exc)) from exc
        except OSError as exc:  # a file the system refused: say which, without a traceback
            where = f" ({exc.filename})" if exc.filename else ""
            raise QgsProcessingException(f"{exc.strerror or exc}{where}") from exc
        except Cancelled:
            # raised, not an empty result: a graphical model or a batch must stop and say so
            raise QgsProcessingException(CANCELLED) from None
        return tidy_outputs(self, results, context, registered_before)

    def execute(self, parameters, context, feedback: QgisFeedback) -> dict:  # pragma: no cover
        raise NotImplementedError
