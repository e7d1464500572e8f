"""Agreement as a function of the confidence threshold (``lcz compare-maps --confidence``).

The confidence raster belongs to the compared map (B) and lies on its grid, as the
plugin's classify writes it: float 0-1 with nodata -1, or byte percent 0-100 with nodata
255 (any declared nodata and NaN are no data too). It is put on the comparison grid the
way B is (nearest neighbour). For each threshold t in 0, 0.1, ..., 0.9 a cell where both
maps hold an LCZ and the confidence is known is kept when its confidence >= t (compared
in float32, the precision the rasters store; percent p is read as p / 100): the table
gives the share of those cells kept and the OA of the kept cells.
"""

from __future__ import annotations

import numpy as np

from ..common.errors import LczError, param
from ..common.input_files import check_input_file
from ..raster.io import open_raster, read_errors, read_window, warped_vrt
from .read_map import LczMap

THRESHOLDS = np.round(np.arange(10) / 10, 1)
_T32 = THRESHOLDS.astype(np.float32)
# the nodata the confidence gets on the comparison grid (off the raster)
WARP_NODATA = -1.0


class Confidence:
    """An open confidence raster on the comparison grid; ``read`` gives float32 0-1 with
    NaN where unknown; ``kept``/``agree`` count cells per threshold."""

    def __init__(self, path, other: LczMap, grid: LczMap):
        p = check_input_file(path, "confidence raster")
        self.path = str(p)
        ds, info = open_raster(p)
        self._close = [ds]
        self.percent = np.dtype(ds.dtypes[0]).kind in "iu"
        nodata = ds.nodata if ds.nodata is not None else (255 if self.percent else -1)
        self.nodata = float(nodata)
        _check_grid(self.path, info, other.info, ds)
        if grid.ds is not other.ds:  # B was resampled: the confidence follows it
            t = grid.info
            try:
                ds = warped_vrt(ds, t.crs_wkt, type(ds.transform).from_gdal(*t.geotransform),
                                t.width, t.height, "nearest", self.nodata, WARP_NODATA,
                                dtype="float32")  # fmt: skip
            except LczError:
                self.close()
                raise
            self._close.append(ds)
            self.nodata = WARP_NODATA
        self.ds = ds
        self.kept = np.zeros(len(THRESHOLDS), np.int64)
        self.agree = np.zeros(len(THRESHOLDS), np.int64)

    def read(self, row0: int, nrows: int) -> np.ndarray:
        """Rows [row0, row0 + nrows) as float32 0-1, NaN where no data.

        Raises:
            LczError: a value outside 0-1 (0-100 for a byte percent raster).
        """
        width = self.ds.width
        with read_errors(self.path):
            raw = read_window(self.ds, [0], 0, row0, width, nrows, np.empty((nrows, width, 1)))
        raw = raw[..., 0]
        raw[raw == self.nodata] = np.nan
        top = 100.0 if self.percent else 1.0
        bad = np.isfinite(raw) & ((raw < 0) | (raw > top))
        if bad.any():
            raise LczError(f"{param('CONFIDENCE')} '{self.path}' holds {raw[bad][0]:g}: a "
                           f"confidence is 0-{top:g} ({'byte percent' if self.percent else 'float'})"
                           )  # fmt: skip
        conf = raw.astype(np.float32)
        return conf / np.float32(100) if self.percent else conf

    def add(self, conf: np.ndarray, both: np.ndarray, same: np.ndarray) -> None:
        """Count, per threshold, the cells of ``both`` (LCZ in both maps) kept and agreeing."""
        known = both & np.isfinite(conf)
        c, s = conf[known], same[known]
        for i, t in enumerate(_T32):
            keep = c >= t
            self.kept[i] += int(keep.sum())
            self.agree[i] += int((keep & s).sum())

    def curve(self) -> list[dict]:
        """One row per threshold: ``threshold``, ``cells``, ``kept_share``, ``oa``."""
        total = self.kept[0]
        return [{"threshold": float(t), "cells": int(k),
                 "kept_share": k / total if total else float("nan"),
                 "oa": a / k if k else float("nan")}
                for t, k, a in zip(THRESHOLDS, self.kept, self.agree)]  # fmt: skip

    def close(self) -> None:
        """Close the raster (and its warped view)."""
        for ds in reversed(self._close):
            ds.close()


def _check_grid(path: str, info, map_info, ds) -> None:
    """The confidence must lie on the compared map's own grid."""
    same = (info.width, info.height) == (map_info.width, map_info.height) and np.allclose(
        info.geotransform, map_info.geotransform, rtol=0, atol=1e-9
    )
    if not same or (info.crs_wkt and info.crs_wkt != map_info.crs_wkt):
        ds.close()
        raise LczError(f"{param('CONFIDENCE')} '{path}' is not on the grid of the compared map "
                       "(size, pixel size, origin and CRS must match); give the confidence "
                       "written with that map")  # fmt: skip


def curve_text(curve: list[dict]) -> str:
    """The confidence curve as CSV: threshold, cells kept, share kept, OA of the kept."""
    lines = ["threshold,cells_kept,share_kept,oa_kept"]
    for r in curve:
        lines.append(f"{r['threshold']:.1f},{r['cells']},{r['kept_share']:.6f},{r['oa']:.6f}")
    return "\n".join(lines) + "\n"
