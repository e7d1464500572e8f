"""Any LCZ map in: one reader for LCZ rasters as they come.

Maps from this plugin, the LCZ Generator, the global 100 m map and older WUDAPT maps
differ in everything but their meaning: codes 1-17 or 101-107 for LCZ A-G, nodata 0,
255, -1 or -999 (declared or not), float or integer, any CRS including EPSG:4326, and
the LCZ Generator's multi-band files (band 1 the map, then the filtered map and the
class probabilities, named by their band descriptions). ``open_lcz_map`` opens one
(checked, never read whole); ``read_codes`` reads a window of it as codes 0-17 (0 =
nodata) through ``raster.io`` (rasterio windows), so memory never grows with the map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..common.errors import LczError
from ..common.input_files import check_input_file
from ..common.legend import normalize_codes
from ..raster.io import RasterInfo, open_raster, read_errors, read_window
from .run_counts import count_keys

# rows read at once when a whole map is scanned (memory = STRIP_ROWS x width values)
STRIP_ROWS = 256
# cells per strip of a one-pass scan (``pass_rows``): a few MB of work arrays
STRIP_CELLS = 1 << 20


@dataclass
class LczMap:
    """An open LCZ map: band 1 holds the classes.

    Attributes:
        path: the file (or GDAL virtual path).
        ds: the open rasterio dataset (close it with ``close`` or ``with``).
        info: its ``RasterInfo`` (size, geotransform, CRS, nodata, type).
        band_names: every band's description ("" where none), band 1 first.
    """

    path: str
    ds: object
    info: RasterInfo
    band_names: list[str] = field(default_factory=list)

    @property
    def nodata(self):
        """Band 1's declared nodata value, or None."""
        return self.info.nodata[0] if self.info.nodata else None

    @property
    def is_geographic(self) -> bool:
        """Whether the map is in longitude/latitude degrees (EPSG:4326 and the like)."""
        return bool(self.info.crs_wkt) and not self.info.is_projected()

    def close(self) -> None:
        """Close the dataset."""
        self.ds.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_lcz_map(path, what: str = "LCZ map") -> LczMap:
    """Open an LCZ map for window reads.

    Args:
        path: a raster file (GeoTIFF, VRT, ...) or a GDAL virtual path.
        what: how messages name it ("reference map").

    Raises:
        LczError: not a readable raster, no CRS, or a rotated grid.
    """
    p = check_input_file(path, what)
    ds, info = open_raster(p)
    gt = info.geotransform
    try:
        if not info.crs_wkt:
            raise LczError(f"the {what} '{p}' has no coordinate reference system; assign one")
        if gt[2] != 0 or gt[4] != 0:
            raise LczError(f"the {what} '{p}' has a rotated grid; warp it to a north-up grid")
    except LczError:
        ds.close()
        raise
    names = [d or "" for d in ds.descriptions]
    return LczMap(p, ds, info, names)


@lru_cache(maxsize=16)
def _integer_lut(dtype: str, nodata) -> np.ndarray | None:
    """For 8- and 16-bit integer maps: the code (0-17, uint8) of every value the type
    holds, indexed by the value's unsigned bit pattern, with the same rules as the
    float path of ``read_codes``; None for other types."""
    dt = np.dtype(dtype)
    if dt.kind not in "iu" or dt.itemsize > 2:
        return None
    values = np.arange(2 ** (8 * dt.itemsize), dtype=f"u{dt.itemsize}").view(dt)
    codes = normalize_codes(values)
    if nodata is not None and np.isfinite(nodata):
        codes[values == nodata] = 0
    return codes


def read_codes(lcz_map: LczMap, col0: int, row0: int, width: int, nrows: int) -> np.ndarray:
    """A window of band 1 as LCZ codes 0-17 (uint8; 0 = nodata).

    101-107 become 11-17 (``legend.normalize_codes``); the declared nodata, NaN, 0,
    255, negative values and anything not an LCZ code become 0.

    Raises:
        LczError: the window holds non-whole class values (a map resampled with a
            smoothing method), or the file cannot be read.
    """
    lut = _integer_lut(np.dtype(lcz_map.ds.dtypes[0]).str, lcz_map.nodata)
    if lut is not None:  # small integers: no float copy, nothing fractional
        raw = np.empty((nrows, width, 1), lcz_map.ds.dtypes[0])
        with read_errors(lcz_map.path):
            values = read_window(lcz_map.ds, [0], col0, row0, width, nrows, raw)[..., 0]
        same = values.dtype.kind == "u" and lut[:18].tolist() == list(range(18))
        if same and values.max(initial=0) <= 17:
            return values.astype(np.uint8, copy=False)  # already codes 0-17 (a uint8 map)
        return lut[values.view(f"u{values.itemsize}")]
    out = np.empty((nrows, width, 1), np.float64)
    with read_errors(lcz_map.path):
        values = read_window(lcz_map.ds, [0], col0, row0, width, nrows, out)[..., 0]
    bad = ~np.isfinite(values)
    if lcz_map.nodata is not None and np.isfinite(lcz_map.nodata):
        bad |= values == lcz_map.nodata
    values[bad] = 0
    fractional = values != np.round(values)
    if fractional.any():
        example = values[fractional][0]
        raise LczError(
            f"the LCZ map '{lcz_map.path}' holds non-whole values (e.g. {example:g}): an LCZ "
            "map holds class codes; was it resampled with a smoothing method? Resample "
            "with nearest neighbour"
        )
    return normalize_codes(values)


def pass_rows(width: int, cells: int | None = None) -> int:
    """Rows per strip of a one-pass scan of a map ``width`` cells wide: a power of two up
    to ``STRIP_ROWS`` keeping a strip within ``cells`` cells (``STRIP_CELLS`` unless
    given; at least one row), so memory stays flat in map size."""
    cells = STRIP_CELLS if cells is None else cells
    rows = STRIP_ROWS
    while rows > 1 and rows * width > cells:
        rows //= 2
    return rows


def iter_strips(lcz_map: LczMap, rows: int = STRIP_ROWS):
    """Yield ``(row0, codes)`` for strips of ``rows`` full-width rows, top to bottom."""
    width, height = lcz_map.info.width, lcz_map.info.height
    for row0 in range(0, height, rows):
        yield row0, read_codes(lcz_map, 0, row0, width, min(rows, height - row0))


def raw_values(lcz_map: LczMap, rows: int = STRIP_ROWS) -> list[float]:
    """The distinct values of band 1 as stored, nodata included (a map's "code set"),
    read by strips."""
    width, height = lcz_map.info.width, lcz_map.info.height
    seen: set[float] = set()
    for row0 in range(0, height, rows):
        n = min(rows, height - row0)
        with read_errors(lcz_map.path):
            block = read_window(lcz_map.ds, [0], 0, row0, width, n, np.empty((n, width, 1)))
        seen.update(np.unique(block).tolist())
    return sorted(seen)


def code_counts(lcz_map: LczMap, rows: int = STRIP_ROWS) -> np.ndarray:
    """Cells per code 0-17 of the whole map (index = code, 0 = nodata), read by strips."""
    counts = np.zeros(18, np.int64)
    for _, codes in iter_strips(lcz_map, rows):
        counts += count_keys(codes, 18)[0]
    return counts
