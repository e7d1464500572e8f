"""Weather stations as points: a CSV with coordinate columns, or a point layer OGR reads.

A CSV's coordinates are in ``crs`` (EPSG:4326 by default) and its columns are found by
name (x/lon/longitude, y/lat/latitude) unless given; a layer keeps its CRS (``crs`` is
used only when it has none). Each station keeps its attributes and its coordinates in
its own CRS (the output layer's); ``to_crs`` gives them in the map's.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.errors import LczError, first_line, param
from ..common.input_files import check_input_file
from ..raster.io import open_vector, osr

X_NAMES = ("x", "lon", "long", "longitude", "lng", "easting")
Y_NAMES = ("y", "lat", "latitude", "northing")
DEFAULT_CRS = "EPSG:4326"


@dataclass
class StationLayer:
    """Stations read whole (a few hundred points at most).

    Attributes:
        attributes: each station's fields, by name, in file order.
        fields: (name, OGR field type or "string") of the attributes.
        xy: (N, 2) coordinates in ``crs_wkt`` (NaN for a station without a position).
        crs_wkt: the stations' CRS.
    """

    attributes: list[dict]
    fields: list[tuple[str, object]]
    xy: np.ndarray
    crs_wkt: str


def crs_wkt_of(text: str, what: str = "CRS") -> str:
    """The WKT of a CRS given as text (EPSG:4326, a WKT, a PROJ string).

    Raises:
        LczError: not a CRS.
    """
    s = osr().SpatialReference()
    try:
        if s.SetFromUserInput(str(text)) != 0:
            raise RuntimeError("unknown")
    except RuntimeError:
        raise LczError(f"{param(what)} '{text}' is not a coordinate reference system") from None
    return s.ExportToWkt()


def _column(header: list[str], given, names, key: str, path) -> str:
    """The coordinate column: ``given`` (checked) or the first of ``names`` present."""
    lower = {h.strip().lower(): h for h in header}
    if given:
        if given.lower() not in lower:
            raise LczError(f"{param(key)} '{given}': the stations '{path}' have no such "
                           f"column (they have {', '.join(header)})")  # fmt: skip
        return lower[given.lower()]
    for n in names:
        if n in lower:
            return lower[n]
    raise LczError(f"the stations '{path}' have no coordinate column ({'/'.join(names)}); "
                   f"name it with {param(key)}")  # fmt: skip


def _number(text, path, line: int, column: str) -> float:
    """A coordinate of a CSV cell (empty: NaN)."""
    if text is None or not str(text).strip():
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise LczError(f"the stations '{path}', line {line}: {column} '{text}' is not a "
                       "number") from None  # fmt: skip


def read_station_csv(path, x_field=None, y_field=None, crs=None) -> StationLayer:
    """Stations from a CSV with a header row and coordinate columns."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LczError(f"cannot read the stations '{path}': {first_line(exc)}") from None
    if not rows:
        raise LczError(f"the stations '{path}' hold no row")
    xcol = _column(header, x_field, X_NAMES, "X_FIELD", path)
    ycol = _column(header, y_field, Y_NAMES, "Y_FIELD", path)
    xy = np.array([(_number(r[xcol], path, i + 2, xcol), _number(r[ycol], path, i + 2, ycol))
                   for i, r in enumerate(rows)])  # fmt: skip
    fields = [(h, "string") for h in header]
    attrs = [{h: r.get(h) for h in header} for r in rows]
    return StationLayer(attrs, fields, xy, crs_wkt_of(crs or DEFAULT_CRS))


def read_station_layer(path, crs=None) -> StationLayer:
    """Stations from the first layer of a vector file (points)."""
    try:
        ds = open_vector(path)
    except RuntimeError as exc:
        raise LczError(f"cannot open the stations '{path}': {first_line(exc)}") from None
    if ds is None or ds.GetLayerCount() == 0:
        raise LczError(f"the stations '{path}' hold no vector layer")
    layer = ds.GetLayer(0)
    defn = layer.GetLayerDefn()
    fields = [(defn.GetFieldDefn(i).GetName(), defn.GetFieldDefn(i).GetType())
              for i in range(defn.GetFieldCount())]  # fmt: skip
    attrs, xy = [], []
    for feat in layer:
        geom = feat.GetGeometryRef()
        if geom is not None and not geom.IsEmpty() and "POINT" not in geom.GetGeometryName():
            raise LczError(f"station {feat.GetFID()} of '{path}' is a "
                           f"{geom.GetGeometryName().lower()}: stations are points")  # fmt: skip
        empty = geom is None or geom.IsEmpty()
        pt = geom.Centroid() if not empty else None  # a multipoint of one point
        xy.append((math.nan, math.nan) if empty else (pt.GetX(), pt.GetY()))
        attrs.append({name: feat.GetField(name) for name, _ in fields})
    if not attrs:
        raise LczError(f"the stations '{path}' hold no feature")
    srs = layer.GetSpatialRef()
    wkt = srs.ExportToWkt() if srs is not None else crs_wkt_of(crs or DEFAULT_CRS)
    return StationLayer(attrs, fields, np.array(xy, np.float64), wkt)


def read_stations(path, x_field=None, y_field=None, crs=None) -> StationLayer:
    """Stations from a CSV (``.csv``, ``.txt``) or a point layer (anything else).

    Raises:
        LczError: unreadable, no station, coordinates that are not numbers, shapes that
            are not points, coordinate fields given for a layer.
    """
    p = check_input_file(path, "stations")
    if Path(p).suffix.lower() in (".csv", ".txt"):
        return read_station_csv(p, x_field, y_field, crs)
    if x_field or y_field:
        raise LczError(f"{param('X_FIELD')}/{param('Y_FIELD')} are for a CSV; the stations "
                       f"'{p}' are a layer with point geometries")  # fmt: skip
    return read_station_layer(p, crs)


def to_crs(xy: np.ndarray, src_wkt: str, dst_wkt: str) -> np.ndarray:
    """(N, 2) coordinates from ``src_wkt`` to ``dst_wkt`` (x = easting/longitude first);
    NaN where they cannot be transformed."""
    o = osr()
    src, dst = o.SpatialReference(), o.SpatialReference()
    src.ImportFromWkt(src_wkt)
    dst.ImportFromWkt(dst_wkt)
    if src.IsSame(dst):
        return xy.copy()
    for s in (src, dst):
        s.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    ct = o.CoordinateTransformation(src, dst)
    out = np.full_like(xy, np.nan)
    for i, (x, y) in enumerate(xy):
        if np.isfinite(x) and np.isfinite(y):
            try:
                out[i] = ct.TransformPoint(float(x), float(y))[:2]
            except RuntimeError:
                pass  # off the projection's domain: the station is off the map
    return out
