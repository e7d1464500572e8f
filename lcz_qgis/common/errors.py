"""Exceptions the core raises. Front ends turn them into user messages.

``LczError`` is bad input or a state the user can fix: the CLI prints its message
on one line and exits 2; Processing raises ``QgsProcessingException`` with it.

The core never spells a parameter the way one front end does (``--per-class``, "Patches
per class"): a message names it with :func:`param`, a placeholder each front end replaces
(:func:`render`). ``str(exc)`` (the Python API) shows the core keyword (``per_class``), the
CLI its flag, Processing the dialog label in quotes. A desktop tool is named with
:func:`tool` the same way (``gdalwarp``; Processing: its QGIS menu). Feedback messages
(``Feedback.warning``, ``Feedback.info``) may hold the same placeholders.
"""

from __future__ import annotations

import re
import sys
from typing import Callable, Optional

# A placeholder: <OPEN>kind:name=neutral<CLOSE>. The angle brackets (U+27E8, U+27E9) do
# not occur in paths or values a user types, so no text of theirs is taken for one.
_OPEN, _CLOSE = "\u27e8", "\u27e9"
_PLACEHOLDER = re.compile(f"{_OPEN}(param|tool):([^={_CLOSE}]+)=([^{_CLOSE}]*){_CLOSE}")

# desktop tools a message may point to: name -> what the Python API and the CLI show
TOOLS = {
    "warp": "gdalwarp",
    "assign_crs": "gdal_edit.py -a_srs",
}

# names(kind, name, neutral) -> the front end's text, or None for the neutral one
Names = Callable[[str, str, str], Optional[str]]


def param(key: str, keyword: str | None = None) -> str:
    """A placeholder for the parameter ``key`` (its ``lcz_qgis.commands`` key) in a message.

    Args:
        key: the parameter key, e.g. ``"PER_CLASS"``.
        keyword: the core function's keyword argument for it (what a Python caller
            passed); default: ``key`` in lower case.

    Returns:
        Text to put in the message (f-string); each front end shows it its way (see
        :func:`render`).
    """
    return f"{_OPEN}param:{key}={keyword or key.lower()}{_CLOSE}"


_KEY = re.compile(r"\b[A-Z]{2,}[A-Z0-9]*(?:_[A-Z0-9]+)*\b")


def keys_as_params(name: str) -> str:
    """``name`` with each parameter key in it (an upper-case word of two letters or
    more: ``OUTPUT``, ``style of INPUT``) as a :func:`param` placeholder; a name that
    already holds a placeholder, or none (``band B03``, ``raster``), is kept.

    For functions that take the names of their paths as keys (``check_distinct_paths``).
    """
    if _OPEN in name:
        return name
    return _KEY.sub(lambda m: param(m.group()), name)


def tool(name: str) -> str:
    """A placeholder for the desktop tool ``name`` (a key of ``TOOLS``) in a message: the
    Python API and the CLI show the GDAL command, Processing the QGIS menu."""
    return f"{_OPEN}tool:{name}={TOOLS[name]}{_CLOSE}"


def render(text: str, names: Names | None = None) -> str:
    """``text`` with every placeholder replaced.

    Args:
        text: a message that may hold :func:`param` and :func:`tool` placeholders.
        names: ``names(kind, name, neutral)`` -> the front end's text for a placeholder
            (``kind`` is ``"param"`` or ``"tool"``), or None to keep the neutral text
            (the core keyword, the GDAL command). None: the neutral text throughout.

    Returns:
        The text a user of that front end reads.
    """
    if _OPEN not in text:
        return text

    def one(m: re.Match) -> str:
        kind, name, neutral = m.groups()
        shown = names(kind, name, neutral) if names is not None else None
        return neutral if shown is None else shown

    return _PLACEHOLDER.sub(one, text)


class LczError(Exception):
    """Bad input or a condition the user can fix; the message says what and how.

    The message may name parameters with :func:`param`: ``str(exc)`` shows their core
    keywords, :meth:`message` another front end's names.
    """

    @property
    def template(self) -> str:
        """The message with its placeholders (what the core raised)."""
        return super().__str__()

    def message(self, names: Names | None = None) -> str:
        """The message with the placeholders shown by ``names`` (see :func:`render`)."""
        return render(self.template, names)

    def __str__(self) -> str:
        return self.message()


class MissingDependency(LczError):
    """A Python package the work needs is not installed in the Python that runs it.

    The message says how to install it into that Python (``sys.executable``); the QGIS
    front end adds its own advice (``processing_algorithms/base.py``).
    """

    def __init__(self, package: str, purpose: str):
        how = DISTRIBUTION_PACKAGES.get(package)
        if how is None:
            how = f"for example `{sys.executable} -m pip install {package}`"
        super().__init__(
            f"{purpose} needs the Python package '{package}', which is not installed "
            f"in this Python ({sys.executable}). Install it (see the README, "
            f"'Dependencies'), {how}"
        )
        self.package = package


# Packages that must share QGIS's own GDAL: they come from QGIS's distribution, because
# pip's wheels bring a second libgdal into the QGIS process (qgis/QGIS#29878).
DISTRIBUTION_PACKAGES = {
    "rasterio": "from the distribution that installed QGIS (Debian/Ubuntu: `apt install "
    "python3-rasterio`; OSGeo4W: the python3-rasterio package; conda: conda-forge's "
    "rasterio), not with pip: pip's rasterio wheel carries a second GDAL library",
}


class Cancelled(Exception):
    """The user cancelled; outputs were not written."""


def require(module: str, package: str, purpose: str):
    """Import ``module`` or raise MissingDependency naming the pip package."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(package, purpose) from exc


def first_line(exc: BaseException | str, default: str | None = None) -> str:
    """The first line of an exception's text (or of a string), for a one-line message.

    Args:
        exc: the exception (its ``str``) or the text.
        default: what an empty text gives; the exception's type name when None.

    Returns:
        The first line, without surrounding whitespace.
    """
    text = str(exc).strip()
    if text:
        return text.splitlines()[0].strip()
    if default is not None:
        return default
    return type(exc).__name__ if isinstance(exc, BaseException) else ""


MAX_SEED = 2**32 - 1  # numpy's legacy seeding (used by Keras) takes 0 .. 2**32 - 1


def check_seed(seed) -> int:
    """The seed as an int, or LczError when it is not a whole number 0 .. MAX_SEED."""
    try:
        value = int(seed)
        whole = value == seed
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole or not 0 <= value <= MAX_SEED:
        raise LczError(f"the random seed must be a whole number from 0 to {MAX_SEED}; got {seed}")
    return value
