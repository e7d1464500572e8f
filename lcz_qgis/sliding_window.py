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

from .errors import LczError

WINDOW = 32
HALF = WINDOW // 2


@dataclass(frozen=True)
class OutputGrid:
    cols: int  # output cells across
    rows: int  # output cells down
    valid_cols: int  # cells whose window lies inside the raster (the first ones)
    valid_rows: int
    stride: int
    geotransform: tuple

    def window_origin(self, row: int, col: int) -> tuple[int, int]:
        """Input (row, col) of the upper-left pixel of the cell's window."""
        return row * self.stride, col * self.stride


def output_grid(width: int, height: int, geotransform, stride: int) -> OutputGrid:
    if not 1 <= stride <= WINDOW:
        raise LczError(f"stride must be between 1 and {WINDOW} pixels; got {stride}")
    if width < WINDOW or height < WINDOW:
        raise LczError(f"the raster ({width} x {height}) is smaller than one 32 x 32 window")
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
    """Windows at (rows, cols) of a ``windows`` view as a contiguous (N, 32, 32, C) batch.

    One copy: each window row of 32 pixels x C channels is contiguous in the block.
    """
    return np.ascontiguousarray(view[rows, cols])


def window_validity(valid: np.ndarray, stride: int) -> np.ndarray:
    """For a (H, W) pixel-validity mask, whether each strided window is fully valid.

    Uses an integral image, so the cost is O(H*W) whatever the window count.
    """
    bad = (~valid).astype(np.int32)
    ii = np.zeros((bad.shape[0] + 1, bad.shape[1] + 1), np.int32)
    np.cumsum(np.cumsum(bad, axis=0), axis=1, out=ii[1:, 1:])
    r = np.arange(0, bad.shape[0] - WINDOW + 1, stride)
    c = np.arange(0, bad.shape[1] - WINDOW + 1, stride)
    s = (
        ii[np.ix_(r + WINDOW, c + WINDOW)]
        - ii[np.ix_(r, c + WINDOW)]
        - ii[np.ix_(r + WINDOW, c)]
        + ii[np.ix_(r, c)]
    )
    return s == 0
