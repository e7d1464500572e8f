"""The LCZ legend: codes 1-17, names and WUDAPT / LCZ Generator colours.

This is the only place where the legend is defined. QML styles, GDAL colour
tables and plot legends are all generated from ``LCZ_CLASSES``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..styling.qml import paletted_style

NODATA = 0


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


def qml_paletted(band: int = 1, opacity: float = 1.0) -> str:
    """A QGIS style (QML) with the paletted renderer and the LCZ legend."""
    entries = [(c.code, c.color, c.label) for c in LCZ_CLASSES]
    return paletted_style(entries, band, opacity)


def gdal_color_entries() -> dict[int, tuple[int, int, int, int]]:
    """Colour-table entries {code: (r, g, b, a)}, with 0 transparent."""
    entries = {0: (0, 0, 0, 0)}
    for c in LCZ_CLASSES:
        entries[c.code] = (*c.rgb, 255)
    return entries


def category_names() -> list[str]:
    """GDAL raster-attribute category names, index = pixel value (0..17)."""
    return ["nodata"] + [c.label for c in LCZ_CLASSES]


def matplotlib_cmap():
    """(ListedColormap, BoundaryNorm) for values 0..17, 0 drawn white."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    colors = ["#ffffff"] + [c.color for c in LCZ_CLASSES]
    return ListedColormap(colors), BoundaryNorm(np.arange(-0.5, 18.5, 1.0), 18)
