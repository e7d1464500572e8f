"""The LCZ legend: codes 1-17, names and colours.

This is the only place where the legend is defined. QML styles, GDAL colour
tables and plot legends are all generated from here:

- ``LCZ_CLASSES``: code, letter, English name and the WUDAPT / LCZ Generator colour;
- ``PALETTES``: ``standard`` (the WUDAPT colours) and ``colourblind`` (colours that stay
  apart with protanopia, deuteranopia and tritanopia: docs/after_the_map.md, checked by
  ``styling.colour_vision`` in tests/common/test_palettes.py);
- the class names in every language of ``class_names.json`` (``LANGUAGES``).

Which palette and language a run uses: the ``palette`` / ``language`` arguments, or, where
they are None, the ones ``legend_style`` sets for a run (a command sets them around its
core call, so every style the run writes - .qml, colour table, category names, map image
- follows them without each writer being told).
"""

from __future__ import annotations

import contextvars
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..styling.qml import paletted_style
from .errors import LczError

NODATA = 0
STANDARD, COLOURBLIND = "standard", "colourblind"


@dataclass(frozen=True)
class LczClass:
    """One LCZ class of the legend.

    Attributes:
        code: 1..17 (the raster value).
        letter: "1".."10" for the built types, "A".."G" for the land-cover types.
        name: e.g. "Compact high-rise".
        color: the WUDAPT / LCZ Generator colour, "#rrggbb".
    """

    code: int  # 1..17
    letter: str  # "1".."10", "A".."G"
    name: str
    color: str  # "#rrggbb"

    @property
    def label(self) -> str:
        """The legend label, e.g. ``LCZ A: Dense trees``."""
        return f"LCZ {self.letter}: {self.name}"

    def label_in(self, language: str | None = None) -> str:
        """The legend label in ``language`` (None: the run's, ``legend_style``)."""
        return f"LCZ {self.letter}: {class_name(self.code, language)}"

    @property
    def rgb(self) -> tuple[int, int, int]:
        """``color`` as (red, green, blue), 0..255 each."""
        c = self.color.lstrip("#")
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


LCZ_CLASSES: tuple[LczClass, ...] = (
    LczClass(1, "1", "Compact high-rise", "#8c0000"),
    LczClass(2, "2", "Compact mid-rise", "#d10000"),
    LczClass(3, "3", "Compact low-rise", "#ff0000"),
    LczClass(4, "4", "Open high-rise", "#bf4d00"),
    LczClass(5, "5", "Open mid-rise", "#ff6600"),
    LczClass(6, "6", "Open low-rise", "#ff9955"),
    LczClass(7, "7", "Lightweight low-rise", "#faee05"),
    LczClass(8, "8", "Large low-rise", "#bcbcbc"),
    LczClass(9, "9", "Sparsely built", "#ffccaa"),
    LczClass(10, "10", "Heavy industry", "#555555"),
    LczClass(11, "A", "Dense trees", "#006a00"),
    LczClass(12, "B", "Scattered trees", "#00aa00"),
    LczClass(13, "C", "Bush, scrub", "#648525"),
    LczClass(14, "D", "Low plants", "#b9db79"),
    LczClass(15, "E", "Bare rock or paved", "#000000"),
    LczClass(16, "F", "Bare soil or sand", "#fbf7ae"),
    LczClass(17, "G", "Water", "#6a6aff"),
)
CODES: tuple[int, ...] = tuple(c.code for c in LCZ_CLASSES)
N_CLASSES = len(LCZ_CLASSES)
_BY_CODE = {c.code: c for c in LCZ_CLASSES}

# colourblind: designed for this plugin (docs/after_the_map.md, "Palettes"). Seeded from
# Okabe & Ito's (2008) Color Universal Design set (vermillion, reddish purple, bluish
# green, yellow, blue) and Paul Tol's (2021) schemes (olive, sand, grey), then moved by a
# search that maximised the smallest CIEDE2000 distance between any two classes as seen
# with normal vision and with Machado et al.'s (2009) protanopia, deuteranopia and
# tritanopia, while keeping the built types dark to light (compact darker than open of
# the same height, high-rise darker than low-rise, sparsely built and 7-8 light, heavy
# industry dark) and each colour near its seed. Every two classes stay at least
# MIN_CVD_DISTANCE apart under all four (tests/common/test_palettes.py).
PALETTES: dict[str, tuple[str, ...]] = {
    STANDARD: tuple(c.color for c in LCZ_CLASSES),
    COLOURBLIND: (
        # 1-3 compact: dark brown -> rust; 4-6 open: indigo -> pink (lighter than compact)
        "#49170f", "#841e00", "#c26329", "#39256b", "#984b8c", "#fb67bd",
        # 7 lightweight (pale yellow), 8 large low-rise (light grey), 9 sparsely built
        # (peach), 10 heavy industry (dark slate)
        "#f8ffa4", "#d0dbdb", "#eccab1", "#30434b",
        # A-G: dense trees, scattered trees, bush, low plants, bare rock/paved, soil, water
        "#006339", "#548a5f", "#b8a875", "#a5f622", "#001817", "#adba28", "#0a6af3",
    ),
}  # fmt: skip
MIN_CVD_DISTANCE = 11.0  # CIEDE2000: the colourblind palette's smallest distance
PALETTE_LABELS = {
    STANDARD: "Standard (WUDAPT / LCZ Generator colours)",
    COLOURBLIND: "Colour-blind safe (distinct with protanopia, deuteranopia, tritanopia)",
}
_NAMES_TABLE = json.loads((Path(__file__).with_name("class_names.json")).read_text("utf-8"))
CLASS_NAMES: dict[int, dict[str, str]] = {int(k): v for k, v in _NAMES_TABLE["names"].items()}
LANGUAGES: tuple[str, ...] = tuple(_NAMES_TABLE["sources"])  # "en" first


@dataclass(frozen=True)
class LegendStyle:
    """A run's legend: its palette (``PALETTES`` key) and language (``LANGUAGES``)."""

    palette: str = STANDARD
    language: str = "en"


_DEFAULT_STYLE = LegendStyle()
_ACTIVE: contextvars.ContextVar[LegendStyle] = contextvars.ContextVar(
    "lcz_legend_style",
    default=_DEFAULT_STYLE,  # noqa: B039 - frozen (immutable) dataclass
)


def check_palette(palette: str | None) -> str:
    """``palette`` if it is a ``PALETTES`` key, the run's palette for None.

    Raises:
        LczError: an unknown palette.
    """
    if palette is None:
        return _ACTIVE.get().palette
    if palette not in PALETTES:
        raise LczError(f"unknown palette '{palette}' (choose one of: {', '.join(PALETTES)})")
    return palette


def check_language(language: str | None) -> str:
    """A ``LANGUAGES`` code for ``language``: None, "" or "auto" give the run's; a locale
    such as ``fr_FR`` or ``de-CH`` its language, and English where the table lacks it."""
    if not language or language == "auto":
        return _ACTIVE.get().language
    code = str(language).replace("-", "_").split("_")[0].lower()
    return code if code in LANGUAGES else "en"


@contextmanager
def legend_style(palette: str | None = None, language: str | None = None):
    """Within the block, styles use ``palette`` and class names ``language`` (None:
    unchanged). Checked on entry (``check_palette``, ``check_language``)."""
    style = LegendStyle(check_palette(palette), check_language(language))
    token = _ACTIVE.set(style)
    try:
        yield style
    finally:
        _ACTIVE.reset(token)


def class_name(code: int, language: str | None = None) -> str:
    """The name of LCZ ``code`` in ``language`` (None: the run's; English where missing)."""
    names = CLASS_NAMES[lcz_class(code).code]
    return names.get(check_language(language)) or names["en"]


def class_colors(palette: str | None = None) -> dict[int, str]:
    """{code: "#rrggbb"} of ``palette`` (None: the run's)."""
    return dict(zip(CODES, PALETTES[check_palette(palette)]))


def class_rgb(code: int, palette: str | None = None) -> tuple[int, int, int]:
    """The (red, green, blue) of LCZ ``code`` in ``palette`` (None: the run's)."""
    c = class_colors(palette)[lcz_class(code).code].lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def legend_entries(palette: str | None = None, language: str | None = None) -> list:
    """(code, "#rrggbb", label) of every class in legend order, in ``palette`` and
    ``language`` (None: the run's)."""
    colors = class_colors(palette)
    return [(c.code, colors[c.code], c.label_in(language)) for c in LCZ_CLASSES]


def lcz_class(code: int) -> LczClass:
    """The legend entry of LCZ ``code`` (1..17).

    Raises:
        ValueError: ``code`` is not 1..17.
    """
    try:
        return _BY_CODE[int(code)]
    except KeyError:
        raise ValueError(f"{code} is not an LCZ code (1-17)") from None


def normalize_codes(values: np.ndarray) -> np.ndarray:
    """Map older WUDAPT codes 101-107 (LCZ A-G) to 11-17; leave 0-17 as they are.

    Any other value becomes 0 (nodata). Returns uint8.
    """
    v = np.asarray(values)
    out = np.zeros(v.shape, dtype=np.uint8)
    ok = (v >= 1) & (v <= 17)
    out[ok] = v[ok]
    old = (v >= 101) & (v <= 107)
    out[old] = v[old] - 90
    return out


def qml_paletted(
    band: int = 1, opacity: float = 1.0, palette: str | None = None, language: str | None = None
) -> str:
    """A QGIS style (QML) with the paletted renderer and the LCZ legend in ``palette``
    and ``language`` (None: the run's, ``legend_style``)."""
    return paletted_style(legend_entries(palette, language), band, opacity)


def gdal_color_entries(palette: str | None = None) -> dict[int, tuple[int, int, int, int]]:
    """Colour-table entries {code: (r, g, b, a)} of ``palette`` (None: the run's), with 0
    transparent."""
    entries = {0: (0, 0, 0, 0)}
    for code in CODES:
        entries[code] = (*class_rgb(code, palette), 255)
    return entries


def category_names(language: str | None = None) -> list[str]:
    """GDAL raster-attribute category names, index = pixel value (0..17), in
    ``language`` (None: the run's)."""
    return ["nodata"] + [c.label_in(language) for c in LCZ_CLASSES]


def matplotlib_cmap(palette: str | None = None):
    """(ListedColormap, BoundaryNorm) for values 0..17 in ``palette`` (None: the run's),
    0 drawn white."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    colors = ["#ffffff"] + list(PALETTES[check_palette(palette)])
    return ListedColormap(colors), BoundaryNorm(np.arange(-0.5, 18.5, 1.0), 18)
