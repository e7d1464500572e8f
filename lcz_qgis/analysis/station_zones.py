"""``station_zones``: the LCZ under each weather station and how homogeneous its
surroundings are.

For each station (reprojected to the map's CRS): the code of the cell it falls in, and in
a ``window`` x ``window`` cell square centred on that cell (5 x 5 by default, clipped at
the map's edges) the majority LCZ (the lowest code on a tie) and its share of the
window's cells that hold an LCZ. A station is homogeneous when that share is at least
80 % (as LCZ4r, Anjos et al. 2025). Codes are read, never interpolated. Stations off the
map (or without a position) are kept, with ``on_map`` = 0 and no LCZ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..common.atomic import check_distinct_paths, staged_outputs
from ..common.errors import LczError, param
from ..common.feedback import Feedback
from ..common.legend import lcz_class
from .feature_output import INTEGER, REAL, STRING, point_wkb, write_features
from .read_map import LczMap, open_lcz_map, read_codes
from .stations import StationLayer, read_stations, to_crs

HOMOGENEOUS_SHARE = 0.8
LAYER_NAME = "stations_lcz"
FIELDS = [("on_map", INTEGER), ("lcz", INTEGER), ("lcz_name", STRING),
          ("majority", INTEGER), ("majority_name", STRING), ("majority_share", REAL),
          ("window_lcz_cells", INTEGER), ("homogeneous", INTEGER)]  # fmt: skip


def cell_of(lcz_map: LczMap, x: float, y: float) -> tuple[int, int] | None:
    """(row, col) of the map cell holding the point (map CRS), or None off the map."""
    gt, info = lcz_map.info.geotransform, lcz_map.info
    if not (np.isfinite(x) and np.isfinite(y)):
        return None
    col, row = int(np.floor((x - gt[0]) / gt[1])), int(np.floor((y - gt[3]) / gt[5]))
    if 0 <= col < info.width and 0 <= row < info.height:
        return row, col
    return None


def window_stats(lcz_map: LczMap, row: int, col: int, window: int) -> dict:
    """The cell's code and the majority of the ``window`` square around it (clipped)."""
    half = window // 2
    r0, c0 = max(row - half, 0), max(col - half, 0)
    r1 = min(row + half + 1, lcz_map.info.height)
    c1 = min(col + half + 1, lcz_map.info.width)
    codes = read_codes(lcz_map, c0, r0, c1 - c0, r1 - r0)
    counts = np.bincount(codes.ravel(), minlength=18)
    valid = int(counts[1:].sum())
    code = int(codes[row - r0, col - c0])
    out = {"on_map": 1, "lcz": code or None, "window_lcz_cells": valid}
    if valid:
        majority = int(np.argmax(counts[1:]) + 1)
        share = float(counts[majority] / valid)
        out.update(majority=majority, majority_share=share,
                   homogeneous=int(share >= HOMOGENEOUS_SHARE))  # fmt: skip
    return out


def _named(values: dict) -> dict:
    """Add the class names of ``lcz`` and ``majority``."""
    for key in ("lcz", "majority"):
        if values.get(key):
            values[f"{key}_name"] = lcz_class(values[key]).name
    return values


def _check(output, window) -> None:
    """A .gpkg output and an odd window of at least 1 cell."""
    if Path(str(output)).suffix.lower() != ".gpkg":
        raise LczError(f"{param('OUTPUT')}: the stations layer is a GeoPackage; give .gpkg")
    if int(window) != window or window < 1 or window % 2 == 0:
        raise LczError(f"{param('WINDOW')} {window}: give an odd number of cells (1, 3, 5, ...)")


def classify_stations(lcz_map: LczMap, layer: StationLayer, window: int, feedback) -> list:
    """The LCZ values (a dict) of each station."""
    xy = to_crs(layer.xy, layer.crs_wkt, lcz_map.info.crs_wkt)
    rows = []
    for i, (x, y) in enumerate(xy):
        feedback.check_cancelled()
        cell = cell_of(lcz_map, x, y)
        rows.append(_named(window_stats(lcz_map, *cell, window)) if cell else {"on_map": 0})
        feedback.progress(90.0 * (i + 1) / len(xy))
    return rows


def station_zones(map_path, stations, output, x_field=None, y_field=None, crs=None,
                  window: int = 5, feedback: Feedback | None = None) -> dict:  # fmt: skip
    """The LCZ of each weather station, written as a point GeoPackage.

    Args:
        map_path: any LCZ map (``read_map``).
        stations: a CSV with coordinate columns or a point layer (``stations``).
        output: the GeoPackage to write: the stations (their CRS and fields) and
            ``on_map``, ``lcz``, ``lcz_name``, ``majority``, ``majority_name``,
            ``majority_share``, ``window_lcz_cells``, ``homogeneous``.
        x_field, y_field, crs: a CSV's coordinate columns and CRS (default EPSG:4326).
        window: the side of the square window, in cells (odd).

    Returns:
        {"output", "stations": count, "on_map": count, "homogeneous": count, "rows"}.

    Raises:
        LczError: bad input (named), an output that is an input.
    """
    feedback = feedback or Feedback()
    _check(output, window)
    check_distinct_paths({"MAP": map_path, "STATIONS": stations}, {"OUTPUT": output})
    layer = read_stations(stations, x_field, y_field, crs)
    with open_lcz_map(map_path) as lcz_map:
        rows = classify_stations(lcz_map, layer, int(window), feedback)
    own = [(n, t) for n, t in layer.fields if n.lower() not in {f for f, _ in FIELDS} | {"fid"}]
    features = [(point_wkb(*xy), {**{n: a.get(n) for n, _ in own}, **r})
                for xy, a, r in zip(layer.xy, layer.attributes, rows)]  # fmt: skip
    with staged_outputs(feedback) as st:
        write_features(st.temp(output), LAYER_NAME, layer.crs_wkt, "point", own + FIELDS,
                       features)  # fmt: skip
    on_map = sum(r["on_map"] for r in rows)
    if on_map < len(rows):
        feedback.warning(f"{len(rows) - on_map} of {len(rows)} stations are off the map "
                         "(kept, on_map = 0)")  # fmt: skip
    return {"output": str(output), "stations": len(rows), "on_map": on_map,
            "homogeneous": sum(r.get("homogeneous") or 0 for r in rows), "rows": rows}  # fmt: skip
