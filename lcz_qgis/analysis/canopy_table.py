"""The Stewart & Oke (2012) property table per LCZ, read from its one data file.

``data/stewart_oke_2012.json`` holds the published values (Tables 3 and 4) as the paper
prints them ("0.2-0.4", ">2", "<10"), with the citation and each property's unit. Here
they become numbers: a range's lower end (``min``), upper end (``max``) and midpoint
(``mean``). An open side ("<10", ">25") takes the property's physical limit where it has
one (fractions 0-100 %, sky view factor and albedo 0-1, roughness class 1-8); where it
has none (">2" for an aspect ratio, ">25" m, ">300" W m-2) that end, and so the mean, is
undefined (NaN), as is a value the paper does not give (the height of water, the
admittance of dense trees). The numbers are the paper's, never invented.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..common.errors import LczError

DATA_FILE = Path(__file__).resolve().parent / "data" / "stewart_oke_2012.json"
STATISTICS = ("min", "max", "mean")


@dataclass(frozen=True)
class CanopyProperty:
    """One property of the table.

    Attributes:
        key: short name (band and field names).
        name: the paper's name ("sky view factor").
        unit: its unit ("%", "m", "0-1").
        table: the paper's table (3 or 4).
        published: the 17 values as printed, LCZ 1-10 then A-G ("" where not given).
        floor, ceiling: the physical limits that close an open side (None: none).
    """

    key: str
    name: str
    unit: str
    table: int
    published: tuple[str, ...]
    floor: float | None
    ceiling: float | None

    @property
    def description(self) -> str:
        """The band description: name and unit."""
        return f"{self.name} ({self.unit})"

    def bounds(self, code: int) -> tuple[float, float]:
        """(low, high) for LCZ ``code`` 1-17 (NaN where undefined)."""
        return parse_range(self.published[code - 1], self.floor, self.ceiling)


def _limit(value) -> float:
    """A floor or ceiling from the file: NaN when absent."""
    return math.nan if value is None else float(value)


def parse_range(text: str, floor=None, ceiling=None) -> tuple[float, float]:
    """(low, high) of a published value: "a-b", "<b" (floor to b), ">a" (a to ceiling),
    "a" (a to a); "" is (NaN, NaN). An open side without a limit is NaN.

    Raises:
        LczError: text that is none of these (a damaged data file).
    """
    t = text.strip()
    try:
        if not t:
            return math.nan, math.nan
        if t[0] == "<":
            return _limit(floor), float(t[1:])
        if t[0] == ">":
            return float(t[1:]), _limit(ceiling)
        if "-" in t:
            low, high = t.split("-", 1)
            return float(low), float(high)
        return float(t), float(t)
    except ValueError:
        raise LczError(f"{DATA_FILE.name}: '{text}' is not a published range") from None


@lru_cache(maxsize=1)
def load_table(path: str | None = None) -> tuple[str, tuple[CanopyProperty, ...]]:
    """(citation, properties) of the data file (``DATA_FILE`` unless ``path``).

    Raises:
        LczError: the file is missing or damaged (not 17 values per property).
    """
    p = Path(path) if path else DATA_FILE
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        props = tuple(
            CanopyProperty(
                d["key"],
                d["name"],
                d["unit"],
                int(d["table"]),
                tuple(d["values"]),
                d.get("floor"),
                d.get("ceiling"),
            )  # fmt: skip
            for d in data["properties"]
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LczError(f"cannot read the canopy parameter table '{p}': {exc}") from None
    if any(len(prop.published) != 17 for prop in props):
        raise LczError(f"the canopy parameter table '{p}' needs 17 values (LCZ 1-G) per property")
    return data["citation"], props


def parameter_lut(statistic: str = "mean") -> np.ndarray:
    """(18, P) float32: row = LCZ code (row 0, nodata, all NaN), column = property, the
    ``statistic`` (min, max or mean = midpoint) of each published range."""
    if statistic not in STATISTICS:
        raise LczError(f"statistic '{statistic}': give one of {', '.join(STATISTICS)}")
    _, props = load_table()
    lut = np.full((18, len(props)), np.nan, np.float64)
    for j, prop in enumerate(props):
        for code in range(1, 18):
            low, high = prop.bounds(code)
            lut[code, j] = {"min": low, "max": high, "mean": (low + high) / 2}[statistic]
    return lut.astype(np.float32)
