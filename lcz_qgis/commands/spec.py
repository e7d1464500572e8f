"""The declaration of a command: its parameters, outputs, help and core call, once.

The ``lcz`` CLI (``lcz_qgis/cli``) and the Processing algorithms
(``processing_algorithms/spec_algorithm.py``) are both built from these declarations, so a
parameter has one key, one default, one help text and one list of choices. Plain Python:
no qgis import here.

A parameter's CLI flag is derived from its key (``MODEL_TYPE`` -> ``--model-type``); its
Processing parameter has the key as its name. ``Command.run(values, feedback, given)``
takes the resolved values by key (paths as strings, enum codes, numbers, ``None`` for an
empty optional value) and the keys the user typed (``None`` where the front end cannot
tell: Processing), and returns the outputs by key.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..common.errors import LczError, param

# parameter kinds
FILE = "file"  # an existing file
FOLDER = "folder"  # an existing folder
RASTER = "raster"  # a raster layer (in the CLI: a raster file)
# polygons: a feature source (a file, a project or memory layer, selected features); in the
# CLI a vector file. Processing hands the core a file path as that file (a WUDAPT KML/KMZ
# keeps its folders), anything else written to a GeoPackage
VECTOR = "vector"
MULTI_RASTER = "multi_raster"  # several raster layers / files
INT = "int"
FLOAT = "float"
BOOL = "bool"
ENUM = "enum"
# an enum whose value may also be a number (SCALE: a code or a factor): the CLI takes text,
# Processing shows the choices and also takes a number or numeric text from a script
ENUM_NUMBER = "enum_or_number"
STRING = "string"
EXTENT = "extent"  # (xmin, ymin, xmax, ymax)
CRS = "crs"  # a CRS as text (EPSG:4326, WKT)
FIELD = "field"  # a field name of the VECTOR parameter named by ``parent`` (a chooser in QGIS)
FILE_DEST = "file_dest"
RASTER_DEST = "raster_dest"
VECTOR_DEST = "vector_dest"  # polygons, GeoPackage
FOLDER_DEST = "folder_dest"
KINDS = (FILE, FOLDER, RASTER, VECTOR, MULTI_RASTER, INT, FLOAT, BOOL, ENUM, ENUM_NUMBER, STRING,
         EXTENT, CRS, FIELD, FILE_DEST, RASTER_DEST, VECTOR_DEST, FOLDER_DEST)  # fmt: skip
DESTINATIONS = (FILE_DEST, RASTER_DEST, VECTOR_DEST, FOLDER_DEST)
# kinds whose empty value ("") means "not given" (None)
_PATHLIKE = (FILE, FOLDER, RASTER, VECTOR, STRING, CRS, FIELD, *DESTINATIONS)

# output kinds (values a run returns that are not destination parameters)
OUT_NUMBER, OUT_STRING, OUT_BOOL, OUT_FILE, OUT_RASTER, OUT_LAYERS = (
    "number", "string", "bool", "file", "raster", "layers")  # fmt: skip

# toolbox groups: id -> name
GROUPS = {"data": "Data", "visualisation": "Visualisation", "models": "Models",
          "mapping": "Mapping", "analysis": "Analysis"}  # fmt: skip
# front ends, for Param.front_end_only
CLI, QGIS = "cli", "qgis"


@dataclass(frozen=True)
class Param:
    """One parameter of a command, for both front ends.

    Attributes:
        key: the Processing parameter name (upper case); the CLI flag is derived from it.
        kind: one of ``KINDS``.
        label: the short label of the Processing dialog.
        help: what it is, in whole sentences (the CLI ``--help`` text and the tooltip).
        default: the default value (an enum's default is its code).
        choices: for ``ENUM`` (and ``ENUM_NUMBER``): ``(code, readable label)`` pairs; codes are what the CLI
            takes and what ``run`` gets; Processing shows the labels and takes the code
            or the index.
        optional: may be left empty (``None``); otherwise the CLI requires it unless it
            has a default.
        advanced: under "Advanced Parameters" in the dialog.
        keyword: the core function's keyword (default: the key in lower case; ``""``: not
            passed by ``Command.kwargs``, the command's ``run`` maps it itself).
        file_filter: the file dialog filter, e.g. ``"HDF5 files (*.h5 *.hdf5)"``.
        minimum, maximum: a number's range, inclusive (checked by the dialog and by the
            CLI, ``Command.check_ranges``, before any work; the core checks again).
        create_by_default: an optional destination is offered (and created) by default.
        cli_multiple: the CLI takes several values (``nargs="+"``); ``run`` always gets a
            list (Processing's single value becomes a list of one).
        cli_aliases: former CLI flags that still work (documented in the help).
        metavar: the CLI metavar.
        cli_value_for: for a ``BOOL``: the key of an ``ENUM`` the CLI flag may also set, as
            its optional value (``--download sen2lcznet`` = DOWNLOAD and that ARCHITECTURE).
        front_end_only: ``(CLI or QGIS, reason)`` for a parameter only one front end has.
        parent: for a ``FIELD``: the key of the ``VECTOR`` parameter whose fields it names
            (Processing offers that layer's fields; the CLI takes the name as text).
    """

    key: str
    kind: str
    label: str
    help: str
    default: Any = None
    choices: tuple[tuple[str, str], ...] = ()
    optional: bool = False
    advanced: bool = False
    keyword: str | None = None
    file_filter: str = ""
    minimum: float | None = None
    maximum: float | None = None
    create_by_default: bool = True
    cli_multiple: bool = False
    cli_aliases: tuple[str, ...] = ()
    metavar: str | None = None
    cli_value_for: str | None = None
    front_end_only: tuple[str, str] = ()
    parent: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"{self.key}: unknown kind '{self.kind}'")
        if (self.kind == FIELD) != bool(self.parent):
            raise ValueError(f"{self.key}: a field, and only a field, names its parent layer")
        if self.kind in (ENUM, ENUM_NUMBER) and not self.choices:
            raise ValueError(f"{self.key}: an enum needs choices")
        if (
            self.kind in (ENUM, ENUM_NUMBER)
            and self.default is not None
            and self.default not in self.codes
        ):
            raise ValueError(f"{self.key}: default '{self.default}' is not one of its codes")

    @property
    def flag(self) -> str:
        """The CLI flag: ``--`` + the key in lower case with dashes."""
        return "--" + self.key.lower().replace("_", "-")

    @property
    def dest(self) -> str:
        """The argparse attribute name."""
        return self.key.lower()

    @property
    def core_keyword(self) -> str:
        """The core function's keyword: ``keyword`` when set, else the key in lower case.

        ``""`` means ``Command.kwargs`` does not pass the value (the command's ``run`` maps it).
        """
        return self.key.lower() if self.keyword is None else self.keyword

    @property
    def codes(self) -> list[str]:
        """An enum's choice codes, in order (what the CLI takes and ``run`` gets)."""
        return [c for c, _ in self.choices]

    @property
    def labels(self) -> list[str]:
        """An enum's readable labels, in the order of ``codes`` (what Processing shows)."""
        return [lab for _, lab in self.choices]

    @property
    def in_cli(self) -> bool:
        """Whether the CLI offers this parameter (it is not QGIS-only)."""
        return not self.front_end_only or self.front_end_only[0] == CLI

    @property
    def in_qgis(self) -> bool:
        """Whether Processing offers this parameter (it is not CLI-only)."""
        return not self.front_end_only or self.front_end_only[0] == QGIS

    @property
    def is_destination(self) -> bool:
        """Whether the parameter names an output (a file, raster, vector or folder destination)."""
        return self.kind in DESTINATIONS

    def range_text(self) -> str:
        """The declared range in words: "1 to 32", "at least 0", "any"; whole numbers for
        an ``INT``."""
        lo, hi = self.minimum, self.maximum
        what = "a whole number" if self.kind == INT else "a number"
        if lo is not None and hi is not None:
            return f"{what} from {_shown_number(lo)} to {_shown_number(hi)}"
        if lo is not None:
            return f"{what} of at least {_shown_number(lo)}"
        if hi is not None:
            return f"{what} of at most {_shown_number(hi)}"
        return what if self.kind == INT else "a finite number"

    def range_problem(self, value) -> str | None:
        """What is wrong with the number ``value`` for this ``INT`` or ``FLOAT`` parameter
        (NaN or infinite, or outside ``minimum`` .. ``maximum``), or None when it is
        acceptable, not a number parameter or None (an empty optional value)."""
        if self.kind not in (INT, FLOAT) or value is None or isinstance(value, bool):
            return None
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            return f"is not a number; give {self.range_text()}"
        if not math.isfinite(number):
            return f"is not a finite number; give {self.range_text()}"
        if (self.minimum is not None and number < self.minimum) or (
            self.maximum is not None and number > self.maximum
        ):
            return f"is out of range; give {self.range_text()}"
        return None

    def normalise(self, value):
        """The value ``run`` gets: ``None`` for an empty path or string, a list for a
        multiple one, enum codes kept."""
        if self.cli_multiple or self.kind == MULTI_RASTER:  # always a list
            if value is None or value == "":
                return []
            return [value] if isinstance(value, (str, os.PathLike)) else list(value)
        if value is None:
            return None
        if self.kind in _PATHLIKE and value == "":
            return None
        return value


@dataclass(frozen=True)
class Output:
    """A result of a command that is not a destination parameter (a number, a string)."""

    key: str
    kind: str
    label: str


@dataclass
class Command:
    """One command: the ``lcz`` subcommand and the Processing algorithm built from it.

    Attributes:
        name: the CLI subcommand (``evaluate``).
        algorithm: the Processing algorithm id without the provider (``evaluatemodel``).
        display_name: the toolbox name.
        group: a ``GROUPS`` id.
        summary: one line for ``lcz --help``.
        help: the full help, whole sentences; may hold ``<b>``, ``<i>`` and ``<br>``
            (the dialog shows it as HTML, the CLI as plain paragraphs).
        params: the parameters, in dialog order.
        run: ``run(values, feedback, given=None) -> outputs``: values by param key;
            ``given`` the keys the user typed (the CLI), None where the front end cannot
            tell (Processing shows every parameter with its default); outputs by key (the
            destination keys and the ``outputs``). A key starting with ``_`` is for
            ``report`` only (e.g. the core's result object).
        outputs: results that are not destinations.
        report: ``report(values, outputs) -> str``, the text the CLI prints (stdout) and
            Processing logs.
        order: position in ``lcz --help``.
    """

    name: str
    algorithm: str
    display_name: str
    group: str
    summary: str
    help: str
    params: list[Param]
    run: Callable[..., dict]
    outputs: list[Output] = field(default_factory=list)
    report: Callable[[dict, dict], str] | None = None
    order: int = 50

    def __post_init__(self):
        keys = [p.key for p in self.params]
        dupes = {k for k in keys if keys.count(k) > 1}
        if dupes:
            raise ValueError(f"{self.name}: parameters declared twice: {sorted(dupes)}")
        kinds = {p.key: p.kind for p in self.params}
        for p in self.params:
            if p.parent and kinds.get(p.parent) != VECTOR:
                raise ValueError(f"{self.name}: {p.key}'s parent {p.parent} is no vector parameter")
        if self.group not in GROUPS:
            raise ValueError(f"{self.name}: unknown group '{self.group}'")

    def param(self, key: str) -> Param:
        """The parameter called ``key``."""
        for p in self.params:
            if p.key == key:
                return p
        raise KeyError(key)

    def shown_name(self, key: str, front_end: str | None = None) -> str | None:
        """How a message names the parameter ``key`` (an ``errors.param`` placeholder).

        Args:
            key: the parameter key.
            front_end: ``CLI`` (the flag, ``--per-class``), ``QGIS`` (the dialog label in
                double quotes) or None (the core keyword).

        Returns:
            The name, or None when the command has no such parameter in that front end
            (or, for None, no core keyword): the message keeps its neutral text.
        """
        p = next((p for p in self.params if p.key == key), None)
        if p is None:
            return None
        if front_end == CLI:
            return p.flag if p.in_cli else None
        if front_end == QGIS:
            return f'"{p.label}"' if p.in_qgis else None
        return p.core_keyword or None

    def message_names(self, front_end: str):
        """``names`` for ``errors.render``: parameters as ``shown_name`` gives them in
        ``front_end`` (``CLI`` or ``QGIS``); tools and parameters the front end lacks keep
        their neutral text (the core keyword, the GDAL command)."""

        def names(kind: str, name: str, neutral: str) -> str | None:
            return self.shown_name(name, front_end) if kind == "param" else None

        return names

    def check_ranges(self, values: dict) -> None:
        """Refuse a number outside its parameter's declared range (and NaN or infinity),
        before any work.

        Raises:
            LczError: one line naming the parameter (``errors.param``: the CLI shows its
                flag), the value and the allowed range.
        """
        for p in self.params:
            problem = p.range_problem(values.get(p.key))
            if problem:
                shown = _shown_number(values[p.key])
                raise LczError(f"{param(p.key, p.core_keyword or None)} {shown} {problem}")

    def kwargs(self, values: dict, *keys: str) -> dict:
        """Core keyword arguments from ``values``: every param with a core keyword, or only
        those named in ``keys``."""
        chosen = [self.param(k) for k in keys] if keys else self.params
        return {p.core_keyword: values.get(p.key) for p in chosen if p.core_keyword}

    def defaults(self) -> dict:
        """Every parameter's default value, by key."""
        return {p.key: p.default for p in self.params}

    def execute_values(self, values: dict) -> dict:
        """``values`` as ``run`` gets them: every parameter present (defaults filled in),
        empty paths as None, multiple values as lists."""
        full = dict(values)
        for p in self.params:
            full[p.key] = p.normalise(values.get(p.key, p.default))
        return full

    def execute(self, values: dict, feedback, given: set | None = None) -> dict:
        """``run`` with ``execute_values(values)`` and the keys the user typed (``given``;
        None: the front end cannot tell)."""
        return self.run(self.execute_values(values), feedback, given)


def _shown_number(value) -> str:
    """A number as a user types it: 1, 0.5, 1e-09, nan (whole floats without ".0")."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if math.isfinite(number) and number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return f"{number:g}"


def plain_text(help_html: str) -> list[str]:
    """The help's paragraphs as plain text (``<br>`` breaks paragraphs, tags dropped)."""
    text = re.sub(r"<br\s*/?>|</li>|<ul>", "\n", help_html)
    text = re.sub(r"<li>", "- ", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return [" ".join(p.split()) for p in text.split("\n") if p.strip()]


def is_sentence(text: str) -> bool:
    """A whole sentence: starts with a capital letter (or a digit, quote or bracket) and
    ends with a full stop, question or exclamation mark (a closing bracket may follow)."""
    text = " ".join(plain_text(text)) if "<" in text else " ".join(text.split())
    return bool(re.match(r"^[A-Z0-9'\"(\[]", text)) and bool(re.search(r"[.!?][)'\"]?$", text))
