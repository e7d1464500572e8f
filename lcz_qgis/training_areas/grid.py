"""The 100 m sampling grid of training areas and the 32 x 32 window of each grid point.

**Grid points** lie at multiples of ``GRID_M`` (100 m) in the raster's CRS: x = k * 100,
y = m * 100 exactly, whatever the raster's origin, so the grid does not move with the
extent of the image. A grid point belongs to a training area when it lies inside the
polygon, decided by GDAL's rasterizer on a 100 m grid whose cell centres are the grid
points (``rasterio.features.rasterize``, as ``raster.io.rasterize_rows``: a cell is
burnt when its centre is inside); a point exactly on a polygon's edge may go either way.

**Window**: the 32 x 32 pixel window centred on the grid point: its upper-left pixel is
``col0 = round((x - x_origin) / pixel_x) - 16``, ``row0 = round((y - y_origin) /
pixel_y) - 16``. On a raster whose pixel corners lie on multiples of 10 m (Sentinel-2
tiles, ``prepare-s2`` and ``composite-s2`` outputs), the window's centre (a pixel
corner) is the grid point exactly; otherwise the nearest pixel corner, within half a
pixel. A window that leaves the raster is skipped.

**Overlaps**: a grid point inside several areas of the same class is kept once (for the
area with the lowest id); a grid point inside areas of different classes is dropped
(its label would be ambiguous); both are counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..common.bands import PATCH_SIZE

GRID_M = 100.0  # grid spacing, metres (CRS units)
HALF = PATCH_SIZE // 2


@dataclass
class GridPoints:
    """The grid points of training areas and their windows, in raster-row order.

    Attributes:
        x, y: the grid points (CRS units).
        col0, row0: the upper-left pixel of each point's 32 x 32 window.
        polygon: the id of the area each point belongs to.
        code: its LCZ code.
        per_polygon: area id -> grid points inside it (before overlaps are resolved).
        outside: area id -> grid points whose window leaves the raster (left out).
        duplicates: grid points inside several areas of the same class (kept once).
        conflicts: grid points inside areas of different classes (left out).
    """

    x: np.ndarray
    y: np.ndarray
    col0: np.ndarray
    row0: np.ndarray
    polygon: np.ndarray
    code: np.ndarray
    per_polygon: dict = field(default_factory=dict)
    outside: dict = field(default_factory=dict)
    duplicates: int = 0
    conflicts: int = 0

    def __len__(self) -> int:
        return int(self.x.size)


def points_in(geometry) -> tuple[np.ndarray, np.ndarray]:
    """The 100 m grid points inside an OGR polygon (raster CRS), as (x, y) arrays."""
    import json

    from rasterio.features import rasterize
    from rasterio.transform import Affine

    x0, x1, y0, y1 = geometry.GetEnvelope()
    kx0, kx1 = math.ceil(x0 / GRID_M), math.floor(x1 / GRID_M)
    ky0, ky1 = math.ceil(y0 / GRID_M), math.floor(y1 / GRID_M)
    nx, ny = kx1 - kx0 + 1, ky1 - ky0 + 1
    if nx <= 0 or ny <= 0:
        return np.zeros(0), np.zeros(0)
    t = Affine(GRID_M, 0.0, (kx0 - 0.5) * GRID_M, 0.0, -GRID_M, (ky1 + 0.5) * GRID_M)
    shape = json.loads(geometry.ExportToJson())
    inside = rasterize([shape], (ny, nx), transform=t, dtype="uint8") > 0
    rows, cols = np.nonzero(inside)
    return (kx0 + cols) * GRID_M, (ky1 - rows) * GRID_M


def window_of(x, y, geotransform) -> tuple[np.ndarray, np.ndarray]:
    """(col0, row0): the upper-left pixel of the 32 x 32 window centred on (x, y)."""
    gt = geotransform
    col0 = np.rint((np.asarray(x, float) - gt[0]) / gt[1]).astype(np.int64) - HALF
    row0 = np.rint((np.asarray(y, float) - gt[3]) / gt[5]).astype(np.int64) - HALF
    return col0, row0


def _resolve(kx, ky, pid, code) -> tuple[np.ndarray, int, int]:
    """Indices kept: one per grid point of a single class (lowest area id); the counts
    of duplicates and of points dropped for conflicting classes."""
    if kx.size == 0:
        return np.zeros(0, np.int64), 0, 0
    order = np.lexsort((pid, ky, kx))
    kx, ky, c = kx[order], ky[order], code[order]
    first = np.ones(kx.size, bool)
    first[1:] = (kx[1:] != kx[:-1]) | (ky[1:] != ky[:-1])
    group = np.cumsum(first) - 1
    cmin = np.minimum.reduceat(c, np.flatnonzero(first))
    cmax = np.maximum.reduceat(c, np.flatnonzero(first))
    mixed = (cmin != cmax)[group]
    keep = first & ~mixed
    conflicts = int(np.count_nonzero(cmin != cmax))
    duplicates = int(np.count_nonzero(~mixed)) - int(np.count_nonzero(keep))
    return order[keep], duplicates, conflicts


def grid_points(areas, geotransform, width: int, height: int) -> GridPoints:
    """The grid points of ``areas`` (``read.TrainingArea``s in the raster's CRS) whose
    window fits in a ``width`` x ``height`` raster with ``geotransform``, sorted by
    window row then column (module docstring: grid, windows, overlaps).
    """
    xs, ys, pids, codes = [], [], [], []
    per_polygon, outside = {}, {}
    for a in areas:
        x, y = points_in(a.geometry)
        per_polygon[a.id] = int(x.size)
        xs.append(x)
        ys.append(y)
        pids.append(np.full(x.size, a.id, np.int64))
        codes.append(np.full(x.size, a.code, np.int64))
    cat = lambda v, t: np.concatenate(v).astype(t) if v else np.zeros(0, t)  # noqa: E731
    x, y, pid, code = cat(xs, float), cat(ys, float), cat(pids, np.int64), cat(codes, np.int64)
    kx, ky = np.rint(x / GRID_M).astype(np.int64), np.rint(y / GRID_M).astype(np.int64)
    keep, duplicates, conflicts = _resolve(kx, ky, pid, code)
    x, y, pid, code = x[keep], y[keep], pid[keep], code[keep]
    col0, row0 = window_of(x, y, geotransform)
    fits = (col0 >= 0) & (row0 >= 0) & (col0 + PATCH_SIZE <= width) & (row0 + PATCH_SIZE <= height)
    for a_id, n in zip(*np.unique(pid[~fits], return_counts=True)):
        outside[int(a_id)] = int(n)
    order = np.lexsort((col0[fits], row0[fits]))
    sel = np.flatnonzero(fits)[order]
    return GridPoints(x[sel], y[sel], col0[sel], row0[sel], pid[sel], code[sel], per_polygon,
                      outside, duplicates, conflicts)  # fmt: skip
