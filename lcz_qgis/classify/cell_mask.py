"""The cells to classify: output cells whose centre lies inside an extent and/or the
polygons of a vector file (MASK / EXTENT), rasterised block by block.

The polygons are read once with OGR (in the raster's CRS, as GDAL's RasterizeLayer
reprojects them) and burnt per block of output rows with ``rasterio.features.rasterize``
(cell centres inside, like RasterizeLayer's default).

An extent or mask that selects none of the cells that can be classified (it lies
outside the raster, or between cell centres) is an error when the mask is built,
before any output is written: otherwise the run would only produce an all-0 map.
"""

from __future__ import annotations

import os

import numpy as np

from ..common.errors import LczError, first_line
from ..raster.io import open_vector, polygons_in, rasterize_rows, read_failures

# Output cells rasterised at a time when checking that the mask selects a cell.
_CHECK_CELLS = 4_000_000


def _bounds_in(bounds, src_crs: str, dst_crs: str) -> tuple:
    """``bounds`` (xmin, ymin, xmax, ymax) in ``src_crs`` as the bounds of that box in
    ``dst_crs`` (edges densified, so a box in degrees maps onto the UTM box around it)."""
    from rasterio.crs import CRS
    from rasterio.warp import transform_bounds

    try:
        src = CRS.from_user_input(str(src_crs))
    except (ValueError, *read_failures()):
        raise LczError(f"unknown CRS for the extent: '{str(src_crs)[:60]}'") from None
    dst = CRS.from_wkt(dst_crs)
    if src == dst:
        return tuple(bounds)
    try:
        return tuple(transform_bounds(src, dst, *bounds, densify_pts=21))
    except read_failures() as exc:
        raise LczError(
            f"cannot transform the extent to the raster's CRS: {first_line(exc)}"
        ) from None


class CellMask:
    """Output cells whose centre lies inside the extent and/or the polygons of a vector file."""

    def __init__(self, grid, crs_wkt: str, mask=None, extent=None, extent_crs: str | None = None):
        """``extent``: (xmin, ymin, xmax, ymax) in ``extent_crs`` (any CRS GDAL reads: WKT,
        "EPSG:4326"...), by default the grid's ``crs_wkt``."""
        self.grid, self.crs_wkt, self.extent = grid, crs_wkt, extent
        self.vector = None
        self.mask_name = str(mask) if mask else ""
        if extent is not None:
            x0, y0, x1, y1 = (float(v) for v in extent)
            if x1 <= x0 or y1 <= y0:
                raise LczError(f"extent {extent} is empty (give xmin, ymin, xmax, ymax)")
            self.extent = (x0, y0, x1, y1)
            if extent_crs:
                self.extent = _bounds_in(self.extent, extent_crs, crs_wkt)
        if mask:
            if not os.path.exists(str(mask).split("|")[0]):
                raise LczError(f"mask layer '{mask}' does not exist")
            try:
                vector = open_vector(str(mask).split("|")[0])
            except RuntimeError as exc:
                raise LczError(f"cannot open mask layer '{mask}': {exc}") from None
            if vector is None or vector.GetLayerCount() == 0:
                raise LczError(f"'{mask}' is not a vector layer GDAL/OGR can read")
            self.vector = polygons_in(vector, crs_wkt)
        self._check_selects_cells()

    @property
    def active(self) -> bool:
        """Whether an extent or a mask layer limits the cells (False: all cells)."""
        return self.extent is not None or self.vector is not None

    # -- which cells ---------------------------------------------------------------------

    def _extent_cells(self, r0: int, r1: int) -> np.ndarray:
        gt = self.grid.geotransform
        xc = gt[0] + gt[1] * (np.arange(self.grid.cols) + 0.5)
        yc = gt[3] + gt[5] * (np.arange(r0, r1) + 0.5)
        x0, y0, x1, y1 = self.extent
        return ((yc >= y0) & (yc <= y1))[:, None] & ((xc >= x0) & (xc <= x1))[None, :]

    def _vector_cells(self, r0: int, r1: int) -> np.ndarray:
        return rasterize_rows(self.vector, self.grid.geotransform, r0, r1 - r0, self.grid.cols)

    def cells(self, r0: int, r1: int, use_extent: bool = True, use_vector: bool = True):
        """(r1 - r0, cols) bool: output rows r0..r1 inside the extent and the polygons
        (either can be left out, for the check below)."""
        inside = np.ones((r1 - r0, self.grid.cols), bool)
        if use_extent and self.extent is not None:
            inside &= self._extent_cells(r0, r1)
        if use_vector and self.vector is not None:
            inside &= self._vector_cells(r0, r1)
        return inside

    # -- the check -----------------------------------------------------------------------

    def _covered(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the cells that can be classified."""
        gt = self.grid.geotransform
        xs = (gt[0], gt[0] + gt[1] * self.grid.valid_cols)
        ys = (gt[3], gt[3] + gt[5] * self.grid.valid_rows)
        return min(xs), min(ys), max(xs), max(ys)

    def _any_cell(self, use_extent: bool, use_vector: bool) -> bool:
        rows, cols = self.grid.valid_rows, self.grid.valid_cols
        step = max(1, _CHECK_CELLS // max(1, self.grid.cols))
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            if self.cells(r0, r1, use_extent, use_vector)[:, :cols].any():
                return True
        return False

    def _check_selects_cells(self) -> None:
        if not self.active or self.grid.valid_rows < 1 or self.grid.valid_cols < 1:
            return
        cov = self._covered()
        where = "({:.10g}, {:.10g}, {:.10g}, {:.10g})".format(*cov)
        size = f"{abs(self.grid.geotransform[1]):g}"
        if self.extent is not None:
            x0, y0, x1, y1 = self.extent
            given = "({:.10g}, {:.10g}, {:.10g}, {:.10g})".format(*self.extent)
            if x1 < cov[0] or x0 > cov[2] or y1 < cov[1] or y0 > cov[3]:
                raise LczError(
                    f"the extent {given} does not overlap the raster: its cells cover "
                    f"{where} (xmin, ymin, xmax, ymax) in the raster's CRS"
                )
            if not self._any_cell(True, False):
                raise LczError(
                    f"the extent {given} holds no cell centre of the {size} m output grid; "
                    "give a larger extent"
                )
        if self.vector is not None:
            if not self._any_cell(False, True):
                raise LczError(
                    f"mask layer '{self.mask_name}' selects no cell: no centre of the "
                    f"{size} m output cells, which cover {where} in the raster's CRS, lies "
                    "inside its polygons (check that they overlap the raster)"
                )
            if self.extent is not None and not self._any_cell(True, True):
                raise LczError(
                    f"the extent and mask layer '{self.mask_name}' have no cell in common"
                )
