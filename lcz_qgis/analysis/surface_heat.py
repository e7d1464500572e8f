"""The surface heat island from a land-surface-temperature (LST) raster, by LCZ.

Each LST pixel takes the LCZ code under its centre (nearest neighbour with exact
coordinate transforms: codes are never interpolated, LST values never resampled). Pixels
without an LCZ, with the LST's nodata or NaN, or flagged in the cloud mask are left out.
The mask is a raster on the LST's grid: any non-zero value is a cloud (or anything else
to leave out). Per LCZ: pixels, mean, standard deviation and the difference of the mean
to LCZ D's (low plants), in the LST's own unit. Unmasked clouds are cold pixels: in a
peer's Sentinel-3 example they made a false 26 degC heat island, so give the mask.
"""

from __future__ import annotations

import numpy as np

from ..common.errors import LczError
from ..raster.io import open_raster, read_errors, read_window
from .read_map import STRIP_ROWS, LczMap, read_codes

REFERENCE = 14  # LCZ D, low plants


def _lst_codes(lcz_map: LczMap, transform, crs_wkt: str, row0: int, n: int, width: int):
    """(n, width) the LCZ code under each LST pixel centre of rows [row0, row0 + n)."""
    from rasterio.warp import transform as warp

    r, c = np.mgrid[row0 : row0 + n, 0:width] + 0.5
    x, y = transform[0] + c * transform[1], transform[3] + r * transform[5]
    xs, ys = warp(crs_wkt, lcz_map.info.crs_wkt, x.ravel().tolist(), y.ravel().tolist())
    gt, info = lcz_map.info.geotransform, lcz_map.info
    with np.errstate(invalid="ignore"):
        col = np.floor((np.asarray(xs) - gt[0]) / gt[1])
        row = np.floor((np.asarray(ys) - gt[3]) / gt[5])
        ok = (col >= 0) & (col < info.width) & (row >= 0) & (row < info.height)
    codes = np.zeros(n * width, np.uint8)
    if ok.any():
        row, col = row[ok].astype(np.int64), col[ok].astype(np.int64)
        r0, c0 = row.min(), col.min()
        win = read_codes(
            lcz_map, int(c0), int(r0), int(col.max() - c0 + 1), int(row.max() - r0 + 1)
        )
        codes[ok] = win[row - r0, col - c0]
    return codes.reshape(n, width)


def _open_mask(path, info):
    """The cloud mask, checked to be on the LST's grid."""
    ds, minfo = open_raster(path)
    same = (minfo.width, minfo.height) == (info.width, info.height) and np.allclose(
        minfo.geotransform, info.geotransform, rtol=0, atol=1e-9
    )
    if not same:
        ds.close()
        raise LczError(f"the cloud mask '{path}' is not on the LST raster's grid (size, pixel "
                       "size and origin must match)")  # fmt: skip
    return ds


def _read(ds, path, row0: int, n: int, width: int) -> np.ndarray:
    """Band 1 rows [row0, row0 + n) as float64."""
    with read_errors(path):
        return read_window(ds, [0], 0, row0, width, n, np.empty((n, width, 1)))[..., 0]


def lst_by_lcz(lcz_map: LczMap, lst_path, mask_path=None, feedback=None) -> dict:
    """Mean and spread of the LST per LCZ, and each mean's difference to LCZ D's.

    Returns:
        {"pixels", "mean", "std", "minus_d": (18,) arrays per code (NaN where no pixel;
        ``minus_d`` NaN everywhere without LCZ D), "masked": pixels the mask left out,
        "used": pixels counted}.

    Raises:
        LczError: the LST raster has no CRS, the mask is on another grid, no pixel has
            an LCZ.
    """
    ds, info = open_raster(lst_path)
    mask = None
    try:
        if not info.crs_wkt:
            raise LczError(f"the LST raster '{lst_path}' has no coordinate reference system")
        mask = _open_mask(mask_path, info) if mask_path else None
        sums = _accumulate(ds, info, lcz_map, lst_path, mask, mask_path, feedback)
    finally:
        ds.close()
        if mask is not None:
            mask.close()
    count, total, squares, masked = sums
    if count[1:].sum() == 0:
        raise LczError(f"no pixel of the LST raster '{lst_path}' has an LCZ and a value")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        std = np.sqrt(np.maximum(squares / np.maximum(count, 1) - mean**2, 0))
    std[count == 0] = np.nan
    return {"pixels": count, "mean": mean, "std": std, "minus_d": mean - mean[REFERENCE],
            "masked": int(masked), "used": int(count[1:].sum())}  # fmt: skip


def _accumulate(ds, info, lcz_map, lst_path, mask, mask_path, feedback):
    """(count, sum, sum of squares) per code 0-17 and the masked pixels, by strips."""
    count, total, squares = np.zeros(18, np.int64), np.zeros(18), np.zeros(18)
    masked = 0
    nodata = info.nodata[0] if info.nodata else None
    for row0 in range(0, info.height, STRIP_ROWS):
        if feedback is not None:
            feedback.check_cancelled()
        n = min(STRIP_ROWS, info.height - row0)
        values = _read(ds, lst_path, row0, n, info.width)
        ok = np.isfinite(values) if nodata is None else np.isfinite(values) & (values != nodata)
        if mask is not None:
            cloud = _read(mask, mask_path, row0, n, info.width) != 0
            masked += int((cloud & ok).sum())
            ok &= ~cloud
        codes = _lst_codes(lcz_map, info.geotransform, info.crs_wkt, row0, n, info.width)
        ok &= codes > 0
        count += np.bincount(codes[ok], minlength=18)
        total += np.bincount(codes[ok], values[ok], minlength=18)
        squares += np.bincount(codes[ok], values[ok] ** 2, minlength=18)
    return count, total, squares, masked
