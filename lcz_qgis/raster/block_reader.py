"""Reading the inputs block by block for the sliding window.

Per block of output rows: read the input rows its windows need (plus the 32-pixel halo)
as one (rows, width, channels) float32 array, mark windows holding nodata/NaN or outside
the cell mask, and gather the valid windows into batches. A reader thread runs this
while the model predicts the previous batch. Reads are rasterio windows decoded straight
into the pixel-interleaved array; GDAL's block cache is trimmed back to ``CACHE_BUDGET``
once it grows past it (``raster.io.trim_cache``).
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..classify.inputs import InputSource
from ..classify.sliding_window import WINDOW, gather, window_validity, windows
from ..common.background import in_reader_thread
from .io import CACHE_BUDGET, pixel_validity, read_errors, read_window, trim_cache


def read_block(sources: list[InputSource], row0: int, nrows: int) -> tuple[np.ndarray, np.ndarray]:
    """Input rows as (nrows, W, C) float32 (So2Sat scale: (value + offset) x scale, in
    float32) and the pixel validity mask, found on the values as read (nodata stays
    nodata whatever the offset)."""
    parts, valid = [], None
    for src in sources:
        with read_errors(src.info.path):
            x = read_window(src.ds, src.bands, 0, row0, src.info.width, nrows)
        ok = pixel_validity(x, [src.info.nodata[b] for b in src.bands], src.limit)
        if src.offset:
            x += np.float32(src.offset)
        if src.scale != 1.0:
            x *= np.float32(src.scale)
        valid = ok if valid is None else valid & ok
        parts.append(x)
    x = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
    return x, valid


def block_spans(n_rows: int, rows_per_block: int) -> list[tuple[int, int]]:
    """Output row spans [r0, r1): an eighth, a quarter and a half of ``rows_per_block``
    first, so the model gets its first windows after a short read, then full blocks."""
    spans, r0 = [], 0
    for k in (8, 4, 2):
        if rows_per_block // k < 4:
            continue
        r1 = min(n_rows, r0 + rows_per_block // k)
        if r0 < r1:
            spans.append((r0, r1))
        r0 = r1
    spans += [(a, min(n_rows, a + rows_per_block)) for a in range(r0, n_rows, rows_per_block)]
    return spans


def _blocks(sources, grid, rows_per_block, mask, stop):
    """Per block of output rows: (r0, r1, window view or None, window validity or None)."""
    stride = grid.stride
    for r0, r1 in block_spans(grid.rows, rows_per_block):
        if stop.is_set():
            return
        vr1 = min(r1, grid.valid_rows)
        if r0 >= vr1:
            yield r0, r1, None, None
            continue
        in0 = r0 * stride
        x, ok_px = read_block(sources, in0, (vr1 - 1) * stride + WINDOW - in0)
        release_gdal_cache(sources)
        view = windows(x, stride)[:, : grid.valid_cols]
        ok = window_validity(ok_px, stride)[:, : grid.valid_cols]
        if mask.active:
            ok &= mask.cells(r0, vr1)[:, : grid.valid_cols]
        yield r0, r1, view, ok


def window_batches(sources, grid, rows_per_block, batch_size, mask, stop):
    """Producer: per block of output rows, its window batches.

    Yields ("block", r0, r1, ok) then ("batch", rows, cols, windows (N, 32, 32, C)) for
    each batch of valid windows, then ("end", r0, r1, ok). Runs in a reader thread that
    gathers windows while a second thread reads and checks the next block (GDAL decoding
    is the long step), so the model is not kept waiting at block boundaries. At most
    three blocks are held: one gathered, one queued, one being read.
    """
    blocks = in_reader_thread(_blocks, sources, grid, rows_per_block, mask, depth=1)
    with contextlib.closing(blocks):
        for r0, r1, view, ok in blocks:
            yield ("block", r0, r1, ok)
            if view is not None:
                rr, cc = np.nonzero(ok)
                for b0 in range(0, len(rr), batch_size):
                    if stop.is_set():
                        return
                    br, bc = rr[b0 : b0 + batch_size], cc[b0 : b0 + batch_size]
                    yield ("batch", br, bc, gather(view, br, bc))
                del view
            if stop.is_set():
                return
            yield ("end", r0, r1, ok)


def release_gdal_cache(sources) -> None:
    """Trim GDAL's block cache back to CACHE_BUDGET once it grows past it.

    GDAL keeps decoded blocks up to GDAL_CACHEMAX (5 % of RAM by default); without this,
    a full 10980 x 10980 tile would fill it and peak memory would grow with the raster.
    ``sources``: the inputs being read (their blocks are the ones that accumulate).
    """
    trim_cache(CACHE_BUDGET)
