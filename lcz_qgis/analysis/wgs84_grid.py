"""A regular longitude/latitude grid over an LCZ map, filled by nearest neighbour: the
grid of the WRF (W2W) export and of the Google Earth overlay.

``wrf_grid`` gives the grid (cells of about the map's size, over its bounds in EPSG:4326
or a stated domain); ``wrf_strips`` fills it by strips, each cell the map's code under
its centre (exact coordinate transforms, as ``gdalwarp -r near -et 0``; never an
interpolated class code), reading only the map window under each strip.
"""

from __future__ import annotations

import math

import numpy as np

from .common_grid import cell_area_m2
from .read_map import STRIP_ROWS, LczMap, read_codes

# metres per degree of latitude (about: 110.6 km at the equator, 111.7 km at the poles)
M_PER_DEGREE = 111_320.0
WGS84 = "EPSG:4326"


def wgs84_wkt() -> str:
    """EPSG:4326 as WKT."""
    from rasterio.crs import CRS

    return CRS.from_user_input(WGS84).to_wkt()


def wrf_grid(lcz_map: LczMap, domain=None):
    """The WRF export's grid: (Affine, width, height, cell size in degrees).

    The cell size is the map's: a map in degrees keeps its pixel height; otherwise the
    side of its middle cell's ground area divided by ``M_PER_DEGREE`` (100 m ->
    0.000898 degrees). The extent is ``domain`` (W, S, E, N) when given, else the map's
    bounds in EPSG:4326; its edges are the grid's edges (cells of about that size, as many
    as fit, at least one).
    """
    from rasterio.transform import Affine

    info = lcz_map.info
    if lcz_map.is_geographic:
        res = info.pixel_size[1]
    else:
        res = math.sqrt(cell_area_m2(lcz_map)) / M_PER_DEGREE
    w, s, e, n = domain if domain is not None else info.bounds_in(wgs84_wkt())
    width = max(1, math.ceil((e - w) / res - 1e-6))
    height = max(1, math.ceil((n - s) / res - 1e-6))
    return Affine((e - w) / width, 0.0, w, 0.0, -(n - s) / height, n), width, height, res


def _cells_under(lcz_map: LczMap, lon: np.ndarray, lat: np.ndarray):
    """(row, col) of the map cell under each point (exact transforms), and whether it is
    on the map."""
    from rasterio.warp import transform

    info = lcz_map.info
    xs, ys = transform(WGS84, info.crs_wkt, lon.ravel().tolist(), lat.ravel().tolist())
    gt = info.geotransform
    with np.errstate(invalid="ignore"):
        col = np.floor((np.asarray(xs) - gt[0]) / gt[1])
        row = np.floor((np.asarray(ys) - gt[3]) / gt[5])
        ok = (col >= 0) & (col < info.width) & (row >= 0) & (row < info.height)
    return np.where(ok, row, 0).astype(np.int64), np.where(ok, col, 0).astype(np.int64), ok


def wrf_strips(lcz_map: LczMap, transform, width: int, height: int, rows: int = STRIP_ROWS):
    """Yield ``(row0, codes)`` of the WRF grid by strips: each cell takes the map's code
    under its centre (nearest neighbour with exact coordinate transforms, as ``gdalwarp
    -r near -et 0``); 0 off the map. Reads the map window under each strip only."""
    for row0 in range(0, height, rows):
        n = min(rows, height - row0)
        r, c = np.mgrid[row0 : row0 + n, 0:width] + 0.5
        lon, lat = transform.c + c * transform.a, transform.f + r * transform.e
        src_row, src_col, ok = _cells_under(lcz_map, lon, lat)
        codes = np.zeros(n * width, np.uint8)
        if ok.any():
            r0, c0 = src_row[ok].min(), src_col[ok].min()
            window = read_codes(lcz_map, int(c0), int(r0), int(src_col[ok].max() - c0 + 1),
                                int(src_row[ok].max() - r0 + 1))  # fmt: skip
            codes[ok] = window[src_row[ok] - r0, src_col[ok] - c0]
        yield row0, codes.reshape(n, width)
