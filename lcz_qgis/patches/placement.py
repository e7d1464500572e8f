"""Where the selected patches go on the map.

* With a So2Sat geolocation file (``*_geo.h5``, see ``so2sat.geo``) every patch lies
  at its true place in its UTM zone. Patches sharing a UTM zone and a 10 m grid (in
  practice: a city) form one mosaic group; groups more than 200 km apart are split.
  Rows whose transform is impossible are skipped with a warning.
* Without one, patches are laid out on a grid with 80 m gaps, in EPSG:3857
  (Web Mercator) from (0, 0) at "Null Island" south-eastwards: 10 m pixels, and at
  the equator Web Mercator's scale error is below 0.003 % over the grid, so map
  distances are metres. With a per-class selection each grid row is one class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..common.bands import PATCH_SIZE
from ..common.errors import LczError
from ..common.feedback import Feedback

GRID_EPSG = 3857
GRID_GAP_PX = 8
SPLIT_DISTANCE_M = 200_000.0


@dataclass
class Placement:
    """Where each selected patch goes (arrays aligned with ``indices``)."""

    indices: np.ndarray
    epsg: np.ndarray
    ul_x: np.ndarray
    ul_y: np.ndarray
    pixel: np.ndarray
    city: list
    group: np.ndarray  # mosaic group id per patch
    group_names: list  # file-name part per group


def _phase(v: np.ndarray, px: np.ndarray) -> np.ndarray:
    """Sub-pixel phase of coordinates in thousandths of a pixel (0..999)."""
    return np.rint((v / px - np.floor(v / px)) * 1000).astype(np.int64) % 1000


def _split_far(x: np.ndarray, y: np.ndarray, members: np.ndarray) -> list[np.ndarray]:
    """Split a set of patches where they are more than SPLIT_DISTANCE_M apart (x, then y)."""
    out = []
    order = members[np.argsort(x[members], kind="stable")]
    gaps = np.flatnonzero(np.diff(x[order]) > SPLIT_DISTANCE_M) + 1
    for part in np.split(order, gaps):
        o2 = part[np.argsort(-y[part], kind="stable")]
        gaps2 = np.flatnonzero(np.diff(-y[o2]) > SPLIT_DISTANCE_M) + 1
        out.extend(np.sort(p) for p in np.split(o2, gaps2))
    return out


def safe_name(s: str) -> str:
    """``s`` as a file-name part: each run of characters other than letters, digits, ``_``
    and ``-`` becomes one ``_``, and ``_`` at either end is dropped."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", s).strip("_")


def place_geo(locs, feedback: Feedback) -> tuple[Placement, list]:
    """Placement of the usable rows of a ``PatchLocations``; returns (placement, skipped)."""
    skipped = [(int(i), r) for i, r, ok in zip(locs.indices, locs.reasons, locs.ok) if not ok]
    if skipped:
        shown = "; ".join(f"row {i}: {r}" for i, r in skipped[:5])
        more = f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""
        feedback.warning(
            f"{len(skipped)} patch(es) skipped: their geolocation is impossible: {shown}{more}"
        )
    keep = np.flatnonzero(locs.ok)
    idx = locs.indices[keep]
    epsg, x, y, px = locs.epsg[keep], locs.ul_x[keep], locs.ul_y[keep], locs.pixel[keep]
    city = [locs.city[k] for k in keep] if locs.city is not None else [""] * idx.size
    keys = {}
    for k in range(idx.size):
        key = (
            int(epsg[k]),
            round(float(px[k]), 6),
            int(_phase(x[k : k + 1], px[k : k + 1])[0]),
            int(_phase(y[k : k + 1], px[k : k + 1])[0]),
            city[k],
        )
        keys.setdefault(key, []).append(k)
    group = np.zeros(idx.size, dtype=np.int64)
    names_raw = []
    for key, members in sorted(keys.items(), key=lambda kv: (kv[0][0], kv[0][4], kv[1][0])):
        for part in _split_far(x, y, np.asarray(members)):
            group[part] = len(names_raw)
            names_raw.append((key[0], key[4]))
    # file-name part: [city_]EPSGxxxxx, numbered when one name would repeat
    base = [(safe_name(c) + "_" if c else "") + f"EPSG{e}" for e, c in names_raw]
    names = []
    for b in base:
        if base.count(b) > 1:
            names.append(f"{b}_{sum(1 for n in names if n.startswith(b + '_')) + 1}")
        else:
            names.append(b)
    return Placement(idx, epsg, x, y, px, city, group, names), skipped


def place_grid(indices: np.ndarray, rows_of: list[np.ndarray] | None = None) -> Placement:
    """A grid in EPSG:3857 from (0, 0): row-major, or one row per list in ``rows_of``."""
    cell = (PATCH_SIZE + GRID_GAP_PX) * 10.0
    if rows_of is None:
        ncol = max(1, int(np.ceil(np.sqrt(indices.size))))
        pos = np.arange(indices.size)
        r, c = pos // ncol, pos % ncol
        order = indices
    else:
        order = np.concatenate(rows_of) if rows_of else np.zeros(0, np.int64)
        r = np.concatenate([np.full(len(g), i) for i, g in enumerate(rows_of)]) if rows_of else []
        c = np.concatenate([np.arange(len(g)) for g in rows_of]) if rows_of else []
    n = len(order)
    return Placement(
        indices=np.asarray(order, dtype=np.int64),
        epsg=np.full(n, GRID_EPSG, dtype=np.int64),
        ul_x=np.asarray(c, dtype=np.float64) * cell,
        ul_y=-np.asarray(r, dtype=np.float64) * cell,
        pixel=np.full(n, 10.0),
        city=[""] * n,
        group=np.zeros(n, dtype=np.int64),
        group_names=["grid"],
    )


def place_patches(sel, rows_of, geo_file, feedback: Feedback) -> tuple[Placement, list]:
    """Place the selected patches: at their geolocation, or on the grid.

    Args:
        sel: The selected indices.
        rows_of: Index arrays, one grid row each (per-class selection), or None.
        geo_file: The ``So2SatGeo``, or None for the grid.
        feedback: Messages.

    Returns:
        (placement, skipped [(row, reason)]).

    Raises:
        LczError: no selected patch has a usable geolocation.
    """
    if geo_file is None:
        return place_grid(sel, rows_of), []
    locs = geo_file.locations(sel)
    feedback.info(f"geolocation: {geo_file.layout} layout ({geo_file.path.name})")
    placement, skipped = place_geo(locs, feedback)
    if placement.indices.size == 0:
        raise LczError("none of the selected patches has a usable geolocation")
    return placement, skipped
