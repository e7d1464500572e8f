"""The cells of each zone, row by row, as spans of columns: the cells whose centre lies
inside the polygon, decided as GDAL's rasterizer decides them (``raster.io
.rasterize_rows``), without burning a raster.

GDAL's rule, in the map's pixel coordinates (the inverse geotransform applied to each
vertex): a sloped edge from ``(x1, y1)`` to ``(x2, y2)`` (``y1 < y2``) crosses row ``r``
when ``y1 <= r + 0.5 < y2``, at ``x = (r + 0.5 - y1) * (x2 - x1) / (y2 - y1) + x1``,
rounded to ``floor(x + 0.5)``; a row's crossings, sorted, pair up into spans
``[a, b)`` (even-odd over the rings of one polygon: a hole is a gap; the parts of a
multi-polygon are filled apart, and their cells joined). An edge lying on a row's centre
line and running towards -x is filled too, each ring turned clockwise first (GDAL's
order: the bottom edges of a polygon are the ones filled). The arithmetic is GDAL's
(north-up grids only), in the whole map's frame, so zones sharing a border split its
cells without overlap, and a cell's zone never depends on which strip of the map is
being read.

``polygon_edges`` collects every zone's edges once; ``row_spans`` gives the spans of a
strip of rows. A zone layer's edges are small next to the map (a vertex costs one edge).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..common.errors import LczError

_NOT_CLOSED = "a zone's rings are not closed (a row crosses them an odd number of times)"


@dataclass(frozen=True)
class PolygonEdges:
    """The edges of a list of polygons, in the map's pixel coordinates.

    Attributes:
        owner: the polygon (index in the list) of each part (a polygon of a multi-polygon).
        poly: the part of each sloped edge.
        x1, y1: its low end (``y1`` the smaller y); dx, dy: to its high end (``dy > 0``).
        first, stop: the rows whose centre it crosses are ``first .. stop - 1``.
        flat: ``(part, row, a, b)`` of the edges lying on a row's centre line that GDAL
            fills (cells ``a .. b - 1``).
    """

    owner: np.ndarray
    poly: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    first: np.ndarray
    stop: np.ndarray
    flat: tuple

    @property
    def multipart(self) -> bool:
        """Whether a polygon has several parts (their spans are joined)."""
        return bool((np.diff(self.owner) == 0).any())


def _inverse(gt) -> tuple[float, ...]:
    """GDAL's inverse of a north-up geotransform (``GDALInvGeoTransform``'s case without
    rotation, term for term); LCZ maps on a rotated grid are refused when opened
    (``read_map.open_lcz_map``), and here too."""
    g0, g1, g2, g3, g4, g5 = (float(v) for v in gt)
    if g2 != 0.0 or g4 != 0.0 or g1 == 0.0 or g5 == 0.0:
        raise LczError("the map's grid is rotated or has a zero pixel size; warp it to a "
                       "north-up grid")  # fmt: skip
    return (-g0 / g1, 1.0 / g1, 0.0, -g3 / g5, 0.0, 1.0 / g5)


def _parts(shape: dict) -> list:
    """The parts (each a list of rings) of a GeoJSON-like Polygon or MultiPolygon."""
    kind, coords = shape["type"], shape["coordinates"]
    if kind == "Polygon":
        return [coords]
    if kind == "MultiPolygon":
        return list(coords)
    raise LczError(f"a zone is a {kind}, not a polygon")


def _clockwise(xy: np.ndarray) -> bool:
    """Whether a closed ring runs clockwise in the map's CRS, decided as OGR decides it
    (``OGRLinearRing::isClockwise``): the turn at the lowest (then rightmost) vertex, or
    the sign of the area when that vertex is repeated or too close to a neighbour. GDAL
    turns every ring clockwise before filling it, which decides which of the edges lying
    on a row's centre line it fills."""
    n = len(xy)
    if n < 2:
        return True
    x, y = xy[: n - 1, 0], xy[: n - 1, 1]
    low = np.flatnonzero(y == y.min())
    v = int(low[np.argmax(x[low])])  # the first of the rightmost lowest vertices
    fallback = int(np.count_nonzero(x[low] == x[v])) > 1
    prev, nxt = (v - 1) % (n - 1), (v + 1) % (n - 1)
    for j in (prev, nxt):
        fallback |= abs(x[j] - x[v]) < 1e-5 and abs(y[j] - y[v]) < 1e-5
    cross = (x[nxt] - x[v]) * (y[prev] - y[v]) - (x[prev] - x[v]) * (y[nxt] - y[v])
    if not fallback and cross != 0.0:
        return bool(cross < 0.0)
    xa, ya = xy[:, 0], xy[:, 1]  # the area's sign, closing vertex included
    return float(np.dot(xa, np.roll(ya, -1) - np.roll(ya, 1))) < 0.0


def polygon_edges(shapes: list, geotransform) -> PolygonEdges:
    """The edges of ``shapes`` (GeoJSON-like polygons in the map's CRS; None: no edge) in
    the pixel coordinates of the grid ``geotransform``."""
    inv = _inverse(geotransform)
    rings, part_of, owner = [], [], []
    for k, shape in enumerate(shapes):
        for part in _parts(shape) if shape else ():
            for ring in part:
                xy = np.asarray(ring, np.float64)
                rings.append(xy[:, :2] if xy.ndim == 2 else np.zeros((0, 2)))
                part_of.append(len(owner))
            owner.append(k)
    sizes = np.array([len(r) for r in rings], np.int64)
    if not sizes.sum():
        empty_f, empty_i = np.zeros(0), np.zeros(0, np.int64)
        return PolygonEdges(empty_i, empty_i, empty_f, empty_f, empty_f, empty_f, empty_i,
                            empty_i, (empty_i, empty_i, empty_i, empty_i))  # fmt: skip
    xy = np.concatenate(rings)
    ring_of = np.repeat(np.arange(len(rings)), sizes)
    poly = np.array(part_of, np.int64)[ring_of]
    # each vertex ends an edge that starts at the ring's previous vertex (the last, for
    # the first): GDAL's loop, which closes a ring without its closing vertex
    ends = np.cumsum(sizes)
    prev = np.arange(xy.shape[0]) - 1
    prev[(ends - sizes)[sizes > 0]] = (ends - 1)[sizes > 0]
    # GDALApplyGeoTransform's order of operations, so that ties round as GDAL's do
    px, py = (inv[0] + xy[:, 0] * inv[1] + xy[:, 1] * inv[2],
              inv[3] + xy[:, 0] * inv[4] + xy[:, 1] * inv[5])  # fmt: skip
    qx, qy = px[prev], py[prev]
    if not (np.isfinite(px).all() and np.isfinite(py).all()):
        raise LczError("a zone has a vertex that is not a finite number")
    sloped = qy != py
    up = qy < py  # the previous vertex is the edge's low end
    x1, y1 = np.where(up, qx, px)[sloped], np.where(up, qy, py)[sloped]
    x2, y2 = np.where(up, px, qx)[sloped], np.where(up, py, qy)[sloped]
    # rows far off the map stay far off (no overflow): no strip reaches +-2**40
    first = np.clip(np.ceil(y1 - 0.5), -(2.0**40), 2.0**40).astype(np.int64)
    stop = np.clip(np.ceil(y2 - 0.5), -(2.0**40), 2.0**40).astype(np.int64)
    keep = stop > first
    # a flat edge on a row's centre line is filled from end to end when it runs towards
    # -x in its ring turned clockwise (GDAL fills the "bottom" ones apart; the others fall
    # inside the spans): the winding matters only for the rings that have such an edge
    row = py - 0.5
    flat = ~sloped & (row == np.floor(row)) & (qx != px)
    clockwise = np.zeros(len(rings), bool)
    for i in np.unique(ring_of[flat]):
        clockwise[i] = _clockwise(rings[i])
    flat &= np.where(clockwise[ring_of], qx > px, px > qx)
    flat = tuple(np.clip(v, -(2.0**40), 2.0**40).astype(np.int64) for v in
                 (poly[flat], row[flat], np.floor(np.minimum(px, qx)[flat] + 0.5),
                  np.floor(np.maximum(px, qx)[flat] + 0.5)))  # fmt: skip
    return PolygonEdges(np.array(owner, np.int64), poly[sloped][keep], x1[keep], y1[keep],
                        (x2 - x1)[keep], (y2 - y1)[keep], first[keep], stop[keep], flat)  # fmt: skip


def row_spans(edges: PolygonEdges, row0: int, nrows: int, width: int):
    """``(poly, row, a, b)``: the spans of cells ``a .. b - 1`` (``0 <= a < b <= width``)
    of rows ``row0 .. row0 + nrows - 1`` whose centre lies inside each polygon, sorted by
    polygon, row and column; a polygon's spans in a row never overlap."""
    row1 = row0 + nrows
    on = np.flatnonzero((edges.first < row1) & (edges.stop > row0))
    lo = np.maximum(edges.first[on], row0)
    n = np.minimum(edges.stop[on], row1) - lo
    total = int(n.sum())
    e = np.repeat(on, n)
    rows = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(n) - n - lo, n)
    dy = rows + 0.5
    x1, y1 = edges.x1[e], edges.y1[e]
    x = (dy - y1) * edges.dx[e] / edges.dy[e] + x1  # GDAL's expression, term for term
    col = np.clip(np.floor(x + 0.5), 0, width).astype(np.int64)
    # sort each part-row's crossings by column: one key (part, row, column); its pairs
    # are the spans
    key = np.sort((edges.poly[e] * nrows + (rows - row0)) * (width + 1) + col)
    if key.size % 2:
        raise LczError(_NOT_CLOSED)
    line = key[0::2] // (width + 1)
    a, b = key[0::2] - line * (width + 1), key[1::2] - line * (width + 1)
    if (b > width).any():  # a pair across two part-rows
        raise LczError(_NOT_CLOSED)
    fp, fr, fa, fb = edges.flat
    inside = (fr >= row0) & (fr < row1)
    if inside.any():
        line = np.concatenate([line, fp[inside] * nrows + (fr[inside] - row0)])
        a = np.concatenate([a, np.clip(fa[inside], 0, width)])
        b = np.concatenate([b, np.clip(fb[inside], 0, width)])
    part, r = np.divmod(line, nrows)
    if line.size and (inside.any() or edges.multipart):
        # a part's flat edge, or several parts: join the spans of each polygon's row
        line, a, b = _union(edges.owner[part] * nrows + r, a, b, width)
        poly, r = np.divmod(line, nrows)
    else:
        poly = edges.owner[part]
    keep = a < b
    return poly[keep], r[keep] + row0, a[keep], b[keep]


def _union(line, a, b, width: int):
    """The spans ``[a, b)`` of each ``line`` merged where they overlap or touch, sorted."""
    order = np.lexsort((a, line))
    line, a, b = line[order], a[order], b[order]
    reach = np.maximum.accumulate(line * (width + 1) + b)  # the furthest end so far, by line
    new = np.ones(line.size, bool)
    new[1:] = line[1:] * (width + 1) + a[1:] > reach[:-1]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], line.size] - 1
    return line[starts], a[starts], reach[ends] - line[starts] * (width + 1)


__all__ = ["PolygonEdges", "polygon_edges", "row_spans"]
