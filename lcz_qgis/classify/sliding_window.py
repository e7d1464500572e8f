"""The 32x32 sliding window: output geometry, window views and window validity.

Geometry rule: output cell (i, j) is predicted from the input window whose upper-left
pixel is (i*stride, j*stride); the cell's centre is that window's centre, and the output
pixel size is stride x the input pixel size. So the output grid starts
``16 - stride/2`` input pixels in from the input's corner. Cells whose window leaves the
raster, or holds a nodata/NaN pixel, are 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..common.aligned_arrays import aligned_empty
from ..common.bands import PATCH_SIZE
from ..common.errors import LczError

WINDOW = PATCH_SIZE  # the model's input patch, 32 x 32 pixels
HALF = WINDOW // 2


@dataclass(frozen=True)
class OutputGrid:
    """The output grid of a sliding-window classification (module docstring).

    Attributes:
        cols, rows: output cells across and down; the last ones, whose window would leave
            the raster, stay 0.
        valid_cols, valid_rows: the leading cells whose 32 x 32 window lies inside the
            raster.
        stride: input pixels from one cell's window to the next.
        geotransform: the output's GDAL geotransform (pixel size stride x the input's).
    """

    cols: int  # output cells across
    rows: int  # output cells down
    valid_cols: int  # cells whose window lies inside the raster (the first ones)
    valid_rows: int
    stride: int
    geotransform: tuple


def output_grid(width: int, height: int, geotransform, stride: int) -> OutputGrid:
    """The output grid of a ``width`` x ``height`` pixel raster classified every ``stride`` pixels.

    Args:
        width, height: the input raster's size, pixels.
        geotransform: the input's GDAL geotransform.
        stride: pixels between windows, 1..32.

    Raises:
        LczError: the stride is outside 1..32 or the raster is smaller than one window.
    """
    if not 1 <= stride <= WINDOW:
        raise LczError(f"stride must be between 1 and {WINDOW} pixels; got {stride}")
    if width < WINDOW or height < WINDOW:
        raise LczError(
            f"the raster ({width} x {height}) is smaller than one {WINDOW} x {WINDOW} window"
        )
    x0, px, rx, y0, ry, py = geotransform
    offset = HALF - stride / 2.0  # input pixels from the corner to the first cell's edge
    gt = (x0 + offset * px, stride * px, rx, y0 + offset * py, ry, stride * py)
    cols = int((width - offset) // stride)
    rows = int((height - offset) // stride)
    valid_cols = (width - WINDOW) // stride + 1
    valid_rows = (height - WINDOW) // stride + 1
    return OutputGrid(cols, rows, valid_cols, valid_rows, stride, gt)


def windows(block: np.ndarray, stride: int) -> np.ndarray:
    """Strided view of all windows in ``block`` (H, W, C): shape (rows, cols, 32, 32, C).

    No data is copied. ``rows = (H - 32)//stride + 1``, likewise cols. The window axes
    come before the channel axis, so a window is laid out like a model input.
    """
    v = sliding_window_view(block, (WINDOW, WINDOW), axis=(0, 1))[::stride, ::stride]
    return v.transpose(0, 1, 3, 4, 2)


def gather(view: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Windows at (rows, cols) of a ``windows`` view as a contiguous (N, 32, 32, C) batch,
    aligned so that a Keras model reads it without another copy (``aligned_arrays``).

    One copy. Windows come in row-major order (as ``np.nonzero`` gives them), so they
    form few runs of consecutive columns in one row; each run is one strided slice copy.
    A fragmented selection (many short runs, e.g. under a patchy mask) is gathered by
    fancy indexing instead.
    """
    rows, cols = np.asarray(rows), np.asarray(cols)
    out = aligned_empty((len(rows), *view.shape[2:]), view.dtype)
    if len(rows) == 0:
        return out
    breaks = np.flatnonzero((np.diff(rows) != 0) | (np.diff(cols) != 1)) + 1
    if len(breaks) > len(rows) // 16:
        out[...] = view[rows, cols]
        return out
    for a, b in zip([0, *breaks.tolist()], [*breaks.tolist(), len(rows)]):
        c = int(cols[a])
        out[a:b] = view[int(rows[a]), c : c + (b - a)]
    return out


def window_validity(valid: np.ndarray, stride: int) -> np.ndarray:
    """For a (H, W) pixel-validity mask, whether each strided window is fully valid.

    Counts invalid pixels with running sums, first down the rows (kept only at the window
    rows), then across the columns of those, so the cost is O(H*W) whatever the window
    count; a mask with no invalid pixel returns at once.
    """
    h, w = valid.shape
    r = np.arange(0, h - WINDOW + 1, stride)
    c = np.arange(0, w - WINDOW + 1, stride)
    if valid.all():
        return np.ones((r.size, c.size), bool)
    down = np.zeros((h + 1, w), np.int32)
    np.cumsum(~valid, axis=0, dtype=np.int32, out=down[1:])
    rows = down[r + WINDOW] - down[r]  # invalid pixels per column in each window row band
    across = np.zeros((r.size, w + 1), np.int32)
    np.cumsum(rows, axis=1, out=across[:, 1:])
    return (across[:, c + WINDOW] - across[:, c]) == 0
