"""The ground area of a map's cells, in square metres.

A projected map's cells all have the pixel area (times the square of the CRS's linear
unit in metres). A map in degrees (EPSG:4326) has cells that shrink towards the poles:
their area is that of the cell on the authalic sphere (radius 6 371 007.2 m, the sphere
of the WGS 84 ellipsoid's area), R^2 * |dlon| * |sin(lat_top) - sin(lat_bottom)|,
exact on that sphere and within 0.3 % of the ellipsoid's.
"""

from __future__ import annotations

import numpy as np

from ..raster.io import RasterInfo, osr

AUTHALIC_RADIUS_M = 6371007.2


def linear_unit_m(crs_wkt: str) -> float:
    """Metres per unit of a projected CRS (1 for metres, 0.3048 for feet)."""
    s = osr().SpatialReference()
    s.ImportFromWkt(crs_wkt)
    return float(s.GetLinearUnits())


def row_areas(info: RasterInfo, row0: int, nrows: int) -> np.ndarray:
    """(nrows,) float64: the area in m^2 of one cell of each row [row0, row0 + nrows)."""
    gt = info.geotransform
    if info.is_projected():
        return np.full(nrows, abs(gt[1] * gt[5]) * linear_unit_m(info.crs_wkt) ** 2)
    top = gt[3] + (row0 + np.arange(nrows)) * gt[5]
    lat = np.radians(np.clip(np.stack([top, top + gt[5]]), -90.0, 90.0))
    dlon = np.radians(abs(gt[1]))
    return AUTHALIC_RADIUS_M**2 * dlon * np.abs(np.sin(lat[0]) - np.sin(lat[1]))
