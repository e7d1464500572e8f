"""The cells to classify: output cells whose centre lies inside an extent and/or the
polygons of a vector file (MASK / EXTENT), rasterised block by block."""

from __future__ import annotations

import os

import numpy as np

from .errors import LczError
from .raster_io import gdal


class CellMask:
    """Output cells whose centre lies inside the extent and/or the polygons of a vector file."""

    def __init__(self, grid, crs_wkt: str, mask=None, extent=None):
        self.grid, self.crs_wkt, self.extent = grid, crs_wkt, extent
        self.vector = None
        if extent is not None:
            x0, y0, x1, y1 = (float(v) for v in extent)
            if x1 <= x0 or y1 <= y0:
                raise LczError(f"extent {extent} is empty (give xmin, ymin, xmax, ymax)")
            self.extent = (x0, y0, x1, y1)
        if mask:
            g = gdal()
            if not os.path.exists(str(mask).split("|")[0]):
                raise LczError(f"mask layer '{mask}' does not exist")
            try:
                self.vector = g.OpenEx(str(mask).split("|")[0], g.OF_VECTOR)
            except RuntimeError as exc:
                raise LczError(f"cannot open mask layer '{mask}': {exc}") from None
            if self.vector is None or self.vector.GetLayerCount() == 0:
                raise LczError(f"'{mask}' is not a vector layer GDAL/OGR can read")

    @property
    def active(self) -> bool:
        return self.extent is not None or self.vector is not None

    def cells(self, r0: int, r1: int) -> np.ndarray:
        gt = self.grid.geotransform
        cols = self.grid.cols
        inside = np.ones((r1 - r0, cols), bool)
        if self.extent is not None:
            xc = gt[0] + gt[1] * (np.arange(cols) + 0.5)
            yc = gt[3] + gt[5] * (np.arange(r0, r1) + 0.5)
            x0, y0, x1, y1 = self.extent
            inside &= ((yc >= y0) & (yc <= y1))[:, None] & ((xc >= x0) & (xc <= x1))[None, :]
        if self.vector is not None:
            g = gdal()
            mem = g.GetDriverByName("MEM").Create("", cols, r1 - r0, 1, g.GDT_Byte)
            mem.SetGeoTransform((gt[0], gt[1], 0.0, gt[3] + r0 * gt[5], 0.0, gt[5]))
            mem.SetProjection(self.crs_wkt)
            for i in range(self.vector.GetLayerCount()):
                g.RasterizeLayer(mem, [1], self.vector.GetLayer(i), burn_values=[1])
            inside &= mem.GetRasterBand(1).ReadAsArray() > 0
        return inside
