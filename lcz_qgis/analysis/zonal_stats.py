"""LCZ statistics per zone: area and share of each class, majority, built and
impervious-dominated shares, mean confidence.

A cell belongs to a zone when its centre lies inside the polygon (GDAL's rasterizer,
``raster.io.rasterize_rows``), so a cell on a border counts whole for one zone and the
zones of a partition share the map's cells without overlap. Shares are fractions (0-1)
of the zone's cells that hold an LCZ (nodata cells are counted apart). Each zone reads
only the window of its bounding box, by strips of rows, so memory depends on the zone
and ``STRIP_ROWS``, never on the map's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..common.errors import LczError
from ..raster.io import open_raster, rasterize_rows, read_errors, read_window
from .cell_area import row_areas
from .class_groups import BUILT_CODES, IMPERVIOUS_CODES
from .read_map import STRIP_ROWS, LczMap, read_codes
from .zones import Zone


@dataclass
class ZoneCounts:
    """What one zone holds.

    Attributes:
        cells: cells per code 0-17 (index = code; 0 = nodata).
        area_m2: the area of those cells in m^2, per code 0-17.
        confidence_sum, confidence_cells: the sum and count of the confidence values of
            the zone's LCZ cells (0 without a confidence raster).
    """

    cells: np.ndarray
    area_m2: np.ndarray
    confidence_sum: float = 0.0
    confidence_cells: int = 0

    def share(self, codes) -> float | None:
        """The fraction of the zone's LCZ cells that hold one of ``codes`` (None: no LCZ cell)."""
        valid = self.cells[1:].sum()
        return float(self.cells[list(codes)].sum() / valid) if valid else None

    def summary(self) -> dict:
        """Majority (code, share; the lowest code on a tie), built and impervious shares
        and mean confidence (None where the zone has no LCZ cell)."""
        valid = int(self.cells[1:].sum())
        majority = int(np.argmax(self.cells[1:]) + 1) if valid else None
        conf = self.confidence_sum / self.confidence_cells if self.confidence_cells else None
        return {
            "majority": majority,
            "majority_share": self.share([majority]) if valid else None,
            "built_share": self.share(BUILT_CODES),
            "impervious_share": self.share(IMPERVIOUS_CODES),
            "mean_confidence": conf,
        }


def open_confidence(path, lcz_map: LczMap):
    """The confidence raster, checked to be on the map's grid (same size, geotransform, CRS).

    Raises:
        LczError: another grid.
    """
    ds, info = open_raster(path)
    same = (info.width, info.height) == (lcz_map.info.width, lcz_map.info.height) and np.allclose(
        info.geotransform, lcz_map.info.geotransform, rtol=0, atol=1e-9
    )
    if not same or (info.crs_wkt and info.crs_wkt != lcz_map.info.crs_wkt):
        ds.close()
        raise LczError(
            f"the confidence raster '{path}' is not on the LCZ map's grid (size, pixel "
            "size, origin and CRS must match); give the confidence written with the map"
        )
    return ds


def zone_window(zone: Zone, lcz_map: LczMap) -> tuple[int, int, int, int] | None:
    """(col0, row0, width, height) of the map cells under the zone's bounding box, clipped
    to the map; None when the zone lies outside it."""
    gt, info = lcz_map.info.geotransform, lcz_map.info
    xmin, xmax, ymin, ymax = zone.bounds
    cols = sorted(((xmin - gt[0]) / gt[1], (xmax - gt[0]) / gt[1]))
    rows = sorted(((ymax - gt[3]) / gt[5], (ymin - gt[3]) / gt[5]))
    c0, r0 = max(int(np.floor(cols[0])), 0), max(int(np.floor(rows[0])), 0)
    c1, r1 = min(int(np.ceil(cols[1])), info.width), min(int(np.ceil(rows[1])), info.height)
    if c1 <= c0 or r1 <= r0:
        return None
    return c0, r0, c1 - c0, r1 - r0


def count_zone(zone: Zone, lcz_map: LczMap, confidence=None, rows: int = STRIP_ROWS):
    """The ``ZoneCounts`` of one zone, reading its window by strips of ``rows`` rows."""
    cells, area = np.zeros(18, np.int64), np.zeros(18, np.float64)
    counts = ZoneCounts(cells, area)
    window = zone_window(zone, lcz_map) if zone.map_shape else None
    if window is None:
        return counts
    c0, r0, width, height = window
    gt = lcz_map.info.geotransform
    shifted = (gt[0] + c0 * gt[1], gt[1], 0.0, gt[3], 0.0, gt[5])
    for row in range(r0, r0 + height, rows):
        n = min(rows, r0 + height - row)
        inside = rasterize_rows([zone.map_shape], shifted, row, n, width)
        if not inside.any():
            continue
        codes = read_codes(lcz_map, c0, row, width, n)
        weights = np.broadcast_to(row_areas(lcz_map.info, row, n)[:, None], codes.shape)
        cells += np.bincount(codes[inside], minlength=18)
        area += np.bincount(codes[inside], weights=weights[inside], minlength=18)
        if confidence is not None:
            _add_confidence(counts, confidence, (c0, row, width, n), inside & (codes > 0))
    return counts


def _add_confidence(counts: ZoneCounts, ds, window, cells: np.ndarray) -> None:
    """Add the finite, non-nodata confidence values of ``cells`` in ``window``."""
    c0, row, width, n = window
    with read_errors(ds.name):
        conf = read_window(ds, [0], c0, row, width, n, np.empty((n, width, 1)))[..., 0]
    ok = cells & np.isfinite(conf)
    if ds.nodata is not None:
        ok &= conf != ds.nodata
    counts.confidence_sum += float(conf[ok].sum())
    counts.confidence_cells += int(ok.sum())
