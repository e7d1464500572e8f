"""Cloud-free composite of several Sentinel-2 dates: a per-pixel statistic of the valid dates.

Inputs: two or more Sentinel-2 products (``.SAFE`` folder, its ``MTD_MSIL*.xml`` or a
``.zip``, found with ``prepare_s2.find_product``) or stacks written by ``lcz prepare-s2``
(10-band GeoTIFFs), mixed freely.

* **Grid**: the 10 m grid of the first input (its B02 band, or the stack's own grid).
  Another date on the same grid is read as is; one on another grid (another tile of an
  overlapping area, another CRS, a shifted clip) is warped onto it (bilinear, SCL
  nearest) with a note; the part of the grid it does not cover counts as not valid for
  it. A date that does not overlap the grid at all is an error.
* **Radiometry** per date, like ``prepare-s2``: reflectance = (DN + offset) /
  quantification with each product's own offset (``BOA_ADD_OFFSET`` / ``RADIO_ADD_OFFSET``,
  -1000 since processing baseline 04.00, 0 before), so dates of different baselines are
  on one scale. The 20 m bands are resampled bilinearly onto the 10 m grid. Stacks are
  already reflectance.
* **Validity** of a date at a pixel: every band is finite and within the physical range
  (``common.bands``: |reflectance| <= 1e5), by ``raster.io.pixel_validity``, the rule
  ``classify`` applies, so an undeclared float nodata (3e38, -3.4e38 = the float32
  minimum) is not valid; for a product no band is DN 0 and the SCL class is not 3 (cloud
  shadow), 8, 9 (cloud) or 10 (cirrus); for a stack no band is its nodata (clouds were
  masked by ``prepare-s2``). L1C products have no SCL: they are used
  unmasked (a warning). L1C (top of atmosphere) and L2A (surface) products are not mixed.
* **Statistic** per pixel and band over the valid dates only: ``median`` (= ``p50``) or a
  percentile ``pNN``, interpolated like numpy's default (``method="linear"``, Hyndman &
  Fan type 7): with the n valid values sorted, v[0] <= ... <= v[n-1], the q-th percentile
  is v[i] + f * (v[i+1] - v[i]) at position h = (n - 1) q / 100, i = floor(h),
  f = h - i; a median of an even number of dates is the mean of the middle two. A pixel
  with no valid date is nodata (-9999) in every band.
* **Outputs**: the composite (float32 reflectance, So2Sat band order and descriptions,
  nodata -9999, tiled and compressed like ``prepare-s2``'s stack, so ``lcz classify``
  takes it directly) and the number of valid dates per pixel (uint8, 0 = none), each
  with a QGIS style; both staged and renamed into place at the end.

Speed: the statistic sorts chunk by chunk (``CHUNK_PIXELS``) and band by band, so its
buffers stay in the CPU's cache, with a sorting network pruned to the positions the
percentile needs, in float32; the dates of the next window are read meanwhile, two at
a time (``READ_THREADS``), and the last window is written (compressed in GDAL's threads)
in a thread of its own.

Memory: the work streams by windows aligned to the inputs' tiles; a window holds one
block per date (about ``WINDOW_BYTES`` for all dates together, plus the next window read
ahead), so memory depends on the number of dates but never on the raster size. GDAL's
block cache is held to ``CACHE_BYTES`` meanwhile.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.atomic import StagedOutputs, check_distinct_paths, check_output_path, staged_outputs
from ..common.bands import SEN2_BANDS, SEN2_VALUE_LIMIT
from ..common.errors import LczError, param
from ..common.feedback import Feedback
from ..raster.io import classifier_input_options, create_geotiff, pixel_validity, qml_path
from ..styling.styles import RampStop, qml_multiband, qml_pseudocolor
from .prepare_s2 import CLOUD_CLASSES, NODATA, SO2SAT_TO_ESA, TARGET_RES, find_product

METHODS = {"median": 50.0, "p25": 25.0, "p50": 50.0, "p75": 75.0}
STACK_SUFFIXES = (".tif", ".tiff")
COUNT_SUFFIX = "_count"
MAX_DATES = 255  # the count band is uint8
# a band file of a product (T32TPT_20230715T102559_B02_10m.jp2, ..._SCL_20m.jp2): one
# file of a date, never a date of its own
_BAND_FILE = re.compile(
    r"_(B0[1-9]|B1[0-2]|B8A|SCL|TCI|AOT|WVP)(_[126]0m)?\.(jp2|tif|tiff)$", re.IGNORECASE
)
_TILE_DATE = re.compile(r"^(T\d{2}[A-Z]{3}_\d{8}T\d{6})_", re.IGNORECASE)
WINDOW_BYTES = 160 * 2**20  # one window of every date's bands, float32
CACHE_BYTES = 256 * 2**20  # GDAL's block cache during the run
# GDAL compresses the output's tiles in threads (encoding costs several times decoding)
OUTPUT_OPTIONS = {"num_threads": "ALL_CPUS", "zstd_level": "3"}
READ_THREADS = max(1, min(2, os.cpu_count() or 1))  # dates read side by side
CHUNK_PIXELS = 32768  # pixels per chunk of the statistic (about 1 MB of buffers for 6 dates)
INVALID = 1e38  # a date's value where it is not valid: sorts after any reflectance
MIN_COVER = 0.99
TRUE_COLOUR_LIMITS = [(0.0, 0.3)] * 3  # reflectance stretch of B4, B3, B2
_ESA = [SO2SAT_TO_ESA[b] for b in SEN2_BANDS]


@dataclass
class CompositeResult:
    """What the composite wrote: its files, grid, method, dates and valid shares."""

    output: Path
    count_output: Path
    width: int
    height: int
    transform: tuple  # GDAL geotransform
    method: str
    dates: list  # input names, in input order
    valid_fraction: list  # per date: the share of the grid where it is valid
    nodata_fraction: float  # share of the grid with no valid date
    level: str
    qml: Path = None
    count_qml: Path = None


@dataclass
class _Grid:
    crs: object  # rasterio CRS
    transform: object  # affine
    width: int
    height: int

    @property
    def bounds(self) -> tuple:
        t = self.transform
        return (t.c, t.f + t.e * self.height, t.c + t.a * self.width, t.f)


@dataclass
class _Date:
    """One input date: its files, radiometry and, once opened, its readers on the grid."""

    path: str
    name: str
    kind: str  # "product" | "stack"
    level: str = "unknown"
    product: object = None  # prepare_s2.Product
    stack_nodata: float | None = NODATA
    add: np.ndarray = None  # offsets of the 10 bands (DN)
    q: float = 10000.0
    bands: list = field(default_factory=list)  # readers, So2Sat order (product)
    scl: object = None
    stack: object = None
    warped: bool = False
    n_valid: int = 0


def percentile_of(method: str) -> float:
    """The percentile (0..100) a method stands for: ``median``, ``p25``, ``p50``, ``p75``
    or any ``pNN`` with NN from 0 to 100.

    Raises:
        LczError: an unknown method.
    """
    if method in METHODS:
        return METHODS[method]
    text = str(method).strip().lower()
    if text.startswith("p") and text[1:].replace(".", "", 1).isdigit():
        q = float(text[1:])
        if 0 <= q <= 100:
            return q
    raise LczError(
        f"unknown composite method '{method}' ({param('METHOD')}); use median, p25, p50 or p75"
    )


def sorting_network(n: int) -> list[tuple[int, int]]:
    """Comparator pairs (i, j), i < j, that sort any ``n`` values when each pair is put in
    order in turn (Batcher's odd-even merge sort, for any n)."""
    pairs = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


def pruned_network(d: int, positions) -> list[tuple[int, int, bool, bool]]:
    """``sorting_network(d)`` reduced to what the sorted ``positions`` need: comparators
    (i, j, keep_min, keep_max), working back from the end, without those whose results
    no needed position depends on (a median of 6 dates needs positions 0..3)."""
    needed, kept = set(positions), []
    for i, j in reversed(sorting_network(d)):
        lo, hi = i in needed, j in needed
        if lo or hi:
            kept.append((i, j, lo, hi))
            needed |= {i, j}
    return kept[::-1]


def _weights(d: int, q: float) -> tuple[list[int], np.ndarray, np.ndarray]:
    """How the q-th percentile of ``n`` valid values is made of the sorted values.

    Returns:
        (positions: the sorted positions any count 1..d uses; weights (len(positions),
        d + 1) float32: the weight of each position for each valid count n (numpy's
        ``linear``: 1 - f on v[i], f on v[i+1]); bias (d + 1,): ``NODATA`` for n = 0).
    """
    used = []
    for n in range(1, d + 1):
        h = (n - 1) * (q / 100.0)
        lo = int(np.floor(h))
        hi, f = min(lo + 1, n - 1), h - lo
        used.append((n, lo, hi, f))
    positions = sorted({p for _, lo, hi, f in used for p in ((lo, hi) if f > 0 else (lo,))})
    weights = np.zeros((len(positions), d + 1), np.float32)
    for n, lo, hi, f in used:
        weights[positions.index(lo), n] += np.float32(1.0 - f)
        if f > 0:
            weights[positions.index(hi), n] += np.float32(f)
    bias = np.zeros(d + 1, np.float32)
    bias[0] = NODATA
    return positions, weights, bias


class _Scratch:
    """The per-chunk buffers of ``composite_block`` (a few hundred KB: they stay in the
    CPU's cache while all bands of a chunk are sorted)."""

    def __init__(self, d: int, n_positions: int, size: int):
        self.sorted = [np.empty(size, np.float32) for _ in range(d)]
        self.tmp = np.empty(size, np.float32)
        self.penalty = np.empty((d, size), np.float32)
        self.weights = np.empty((n_positions, size), np.float32)
        self.bias = np.empty(size, np.float32)

    def cut(self, m: int) -> None:
        """Use the first ``m`` pixels only (the last, shorter chunk)."""
        self.sorted = [s[:m] for s in self.sorted]
        self.tmp, self.penalty = self.tmp[:m], self.penalty[:, :m]
        self.weights, self.bias = self.weights[:, :m], self.bias[:m]


def composite_block(values: np.ndarray, valid: np.ndarray, q: float, out=None) -> tuple:
    """The q-th percentile over the valid dates of one block, and their count.

    Chunk by chunk of ``CHUNK_PIXELS`` pixels and band by band (so the work stays in the
    CPU's cache), every date's value, or ``INVALID`` where the date is not valid, is
    sorted by a sorting network of elementwise min/max (the invalid ones sort last);
    the percentile is then a weighted sum of two sorted positions, the weights looked
    up from the pixel's valid count (``_weights``), all in float32. A chunk where every
    date is valid sorts in place with the network of all dates' positions only.

    Args:
        values: (dates, bands, rows, cols) float32; overwritten.
        valid: (dates, rows, cols) bool, whether each date is valid at each pixel.
        q: The percentile, 0..100 (50 = median), interpolated as numpy's default
            (``linear``).
        out: (composite, count) arrays to fill (None: new ones).

    Returns:
        (composite (bands, rows, cols) float32 with ``NODATA`` where no date is valid,
        count (rows, cols) uint8).
    """
    d, n_bands, rows, cols = values.shape
    npx = rows * cols
    if not (values.flags.c_contiguous and values.dtype == np.float32):
        values = np.ascontiguousarray(values, np.float32)
    v = values.reshape(d, n_bands, npx)
    ok = np.ascontiguousarray(valid).reshape(d, npx)
    if out is None:
        out = (np.empty((n_bands, rows, cols), np.float32), np.empty((rows, cols), np.uint8))
    out, count = out
    np.add.reduce(valid, axis=0, dtype=np.uint8, out=count)
    flat_out, flat_count = out.reshape(n_bands, npx), count.reshape(npx)
    positions, weights, bias = _weights(d, q)
    network = pruned_network(d, positions)
    full = [(p, float(weights[i, d])) for i, p in enumerate(positions) if weights[i, d]]
    full_network = pruned_network(d, [p for p, _ in full])
    size = max(1, min(CHUNK_PIXELS, npx))
    sc = _Scratch(d, len(positions), size)
    for p0 in range(0, npx, size):
        p1 = min(npx, p0 + size)
        if p1 - p0 < len(sc.tmp):
            sc.cut(p1 - p0)
        if ok[:, p0:p1].all():
            for b in range(n_bands):
                _full_chunk(v[:, b, p0:p1], sc.tmp, full_network, full, flat_out[b, p0:p1])
            continue
        # -INVALID where valid (fmax keeps the value), +INVALID where not
        np.multiply(ok[:, p0:p1], np.float32(-2 * INVALID), out=sc.penalty)
        sc.penalty += np.float32(INVALID)
        n = flat_count[p0:p1].astype(np.intp)
        for i in range(len(positions)):
            np.take(weights[i], n, out=sc.weights[i])
        np.take(bias, n, out=sc.bias)
        for b in range(n_bands):
            _percentile_chunk(v[:, b, p0:p1], sc, network, positions, flat_out[b, p0:p1])
    return out, count


def _sort(s: list, tmp: np.ndarray, network) -> np.ndarray:
    """Put the arrays ``s`` in order elementwise by ``network`` (``pruned_network``),
    swapping buffers with ``tmp``; returns the buffer left over as the new ``tmp``."""
    for i, j, keep_min, keep_max in network:
        if not keep_max:
            np.minimum(s[i], s[j], out=s[i])
        elif not keep_min:
            np.maximum(s[i], s[j], out=s[j])
        else:
            np.minimum(s[i], s[j], out=tmp)
            np.maximum(s[i], s[j], out=s[j])
            s[i], tmp = tmp, s[i]  # swap the buffers, not the values
    return tmp


def _full_chunk(v: np.ndarray, tmp: np.ndarray, network, full, out) -> None:
    """One band of a chunk where every date is valid: sorted in ``v`` itself, the
    percentile weighed from the positions ``full`` [(position, weight)] of all dates."""
    s = list(v)
    tmp = _sort(s, tmp, network)
    (p, w), rest = full[0], full[1:]
    np.multiply(s[p], np.float32(w), out=out)
    for p, w in rest:
        np.multiply(s[p], np.float32(w), out=tmp)  # tmp: scratch (the buffer or a row of v)
        out += tmp


def _percentile_chunk(v: np.ndarray, sc: _Scratch, network, positions, out) -> None:
    """One band of one chunk: mask, sort along the dates (``pruned_network``), weigh the
    needed positions into ``out``."""
    s = sc.sorted
    for k in range(len(s)):
        np.fmax(v[k], sc.penalty[k], out=s[k])  # NaN where not valid becomes INVALID too
    tmp = sc.tmp = _sort(s, sc.tmp, network)
    np.multiply(s[positions[0]], sc.weights[0], out=out)
    for i in range(1, len(positions)):
        np.multiply(s[positions[i]], sc.weights[i], out=tmp)
        out += tmp
    out += sc.bias


# -- inputs ---------------------------------------------------------------------------------


def _rio():
    import rasterio

    return rasterio


def _product_of_band_file(path) -> str | None:
    """The product a band file belongs to (its ``.SAFE`` folder's name, else the tile and
    time in its name, else its folder's name); None when ``path`` is not a band file."""
    p = Path(path)
    if not p.is_file() or not _BAND_FILE.search(p.name):
        return None
    safe = next((up.name for up in p.parents if up.suffix.upper() == ".SAFE"), None)
    named = _TILE_DATE.match(p.name)
    return safe or (named.group(1) if named else p.parent.name)


def _refuse_band_files(paths) -> None:
    """Refuse band files of one product given as several inputs (QGIS's "Add Directory…"
    on a ``.SAFE`` folder adds its files one by one): a date is one input.

    Raises:
        LczError: naming the product, how many of its files were given, and what to give.
    """
    groups: dict[str, list[str]] = {}
    for p in paths:
        product = _product_of_band_file(p)
        if product is not None:
            groups.setdefault(product, []).append(Path(p).name)
    for product, names in groups.items():
        if len(names) > 1:
            raise LczError(
                f"{param('INPUT')}: {len(names)} inputs ({', '.join(names[:3])}"
                f"{', ...' if len(names) > 3 else ''}) are band files of one Sentinel-2 "
                f"product ({product}), not {len(names)} dates; a composite takes one input "
                "per date: each product whole (its .SAFE folder, its MTD_MSIL2A.xml / "
                "MTD_MSIL1C.xml or its .zip) or a raster of Prepare Sentinel-2"
            )


def _describe(path) -> _Date:
    """An input as a date: a prepared stack (GeoTIFF) or a product (find_product).

    Raises:
        LczError: the input is not a usable date; the message names it first.
    """
    p = Path(path)
    name = p.name
    if p.is_file() and p.suffix.lower() in STACK_SUFFIXES:
        return _describe_stack(str(p))  # its messages name it
    try:
        product = find_product(p)
    except LczError as exc:
        what = "a Sentinel-2 product folder" if p.is_dir() else "this date"
        raise LczError(f"{param('INPUT')} '{name}' ({what}): {exc.template}") from None
    add = np.array([product.offsets.get(b, 0.0) for b in _ESA], np.float32)
    return _Date(str(p), name, "product", product.level, product, None, add,
                 float(product.quantification))  # fmt: skip


def _describe_stack(path: str) -> _Date:
    rio = _rio()
    name = Path(path).name
    try:
        with rio.open(path) as ds:
            count, tags, nodata = ds.count, ds.tags(), ds.nodata
            descriptions = list(ds.descriptions)
    except rio.errors.RasterioIOError as exc:
        raise LczError(f"cannot read Sentinel-2 stack '{name}': {exc}") from None
    if count != len(SEN2_BANDS):
        raise LczError(
            f"'{name}' has {count} band(s); a prepared stack has the 10 So2Sat bands "
            f"({' '.join(SEN2_BANDS)}, from lcz prepare-s2); or give a product (.SAFE, .zip)"
        )
    if any(descriptions) and descriptions != list(SEN2_BANDS):
        raise LczError(
            f"the bands of '{name}' are {', '.join(map(str, descriptions))}, not the So2Sat "
            f"order {' '.join(SEN2_BANDS)} of lcz prepare-s2"
        )
    level = tags.get("LCZ_LEVEL") or "unknown"
    return _Date(path, name, "stack", level, None, nodata, None, 1.0)


def _describe_all(inputs, feedback: Feedback) -> list[_Date]:
    """Every input as a date; refuses too few or too many dates, repeats and mixed levels."""
    paths = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    if len(paths) < 2:
        raise LczError(
            f"a composite needs at least two Sentinel-2 dates ({param('INPUT')}); got {len(paths)}"
        )
    if len(paths) > MAX_DATES:
        raise LczError(f"at most {MAX_DATES} dates in one composite; got {len(paths)}")
    seen: dict = {}
    for p in paths:
        if not Path(p).exists():
            raise LczError(f"Sentinel-2 input '{p}' does not exist")
        key = Path(p).resolve()
        if key in seen:
            raise LczError(f"{param('INPUT')} lists '{p}' twice; give each date once")
        seen[key] = p
    _refuse_band_files(paths)
    dates = [_describe(p) for p in paths]
    levels = {d.level for d in dates} - {"unknown"}
    if levels == {"L1C", "L2A"}:
        l1c = [d.name for d in dates if d.level == "L1C"]
        raise LczError(
            f"{param('INPUT')} mixes L1C (top-of-atmosphere) and L2A (surface reflectance) "
            f"products ({', '.join(l1c)} L1C): their reflectances differ by the atmosphere; "
            "give products of one level"
        )
    for d in dates:
        _report_radiometry(d, feedback)
    return dates


def _report_radiometry(d: _Date, feedback: Feedback) -> None:
    if d.kind == "stack":
        feedback.info(f"{d.name}: prepared stack ({d.level}); its nodata pixels are not valid")
        return
    p = d.product
    for message in p.warnings:
        feedback.warning(f"{d.name}: {message}")
    if not p.metadata_file:
        feedback.warning(f"{d.name}: no MTD_MSIL*.xml found: assuming no radiometric offset")
    elif p.offset_note:
        feedback.warning(f"{d.name}: {p.offset_note}")
    if "SCL" not in p.files:
        feedback.warning(f"{d.name}: no SCL band ({d.level}): used without a cloud mask")
    feedback.info(
        f"{d.name}: Sentinel-2 {d.level}, baseline {p.baseline or '?'}, offsets "
        f"{sorted({float(v) for v in d.add})}, quantification {d.q:g}"
    )


# -- the grid and the readers -----------------------------------------------------------------


def _reference_path(d: _Date) -> str:
    return d.path if d.kind == "stack" else d.product.files["B02"]


def _open(stack: ExitStack, path: str, what: str):
    rio = _rio()
    try:
        return stack.enter_context(rio.open(path))
    except rio.errors.RasterioIOError as exc:
        raise LczError(f"cannot read {what} '{Path(path).name}': {exc}") from None


def _reference_grid(stack: ExitStack, first: _Date) -> _Grid:
    ds = _open(stack, _reference_path(first), f"the reference of {first.name}")
    if ds.crs is None:
        raise LczError(f"'{first.name}' has no coordinate reference system")
    if not ds.crs.is_projected:
        raise LczError(
            f"'{first.name}' is in geographic coordinates (degrees); the composite grid is "
            "the first date's 10 m UTM grid"
        )
    t = ds.transform
    if t.b or t.d or abs(abs(t.a) - TARGET_RES) > 0.05 * TARGET_RES:
        raise LczError(f"'{first.name}' is not on a north-up 10 m grid (pixel {t.a:g} m)")
    return _Grid(ds.crs, t, ds.width, ds.height)


def _cover(ds, grid: _Grid) -> float:
    """The share of the grid inside ``ds``'s footprint."""
    from rasterio.warp import transform_bounds

    try:
        b = transform_bounds(ds.crs, grid.crs, *ds.bounds) if ds.crs != grid.crs else ds.bounds
    except Exception:  # noqa: BLE001 - no transformation between the CRSs: no overlap
        return 0.0
    g = grid.bounds
    w = max(0.0, min(b[2], g[2]) - max(b[0], g[0]))
    h = max(0.0, min(b[3], g[3]) - max(b[1], g[1]))
    return w * h / ((g[2] - g[0]) * (g[3] - g[1]))


def _same_grid(ds, grid: _Grid) -> bool:
    return (
        ds.crs == grid.crs
        and (ds.width, ds.height) == (grid.width, grid.height)
        and ds.transform.almost_equals(grid.transform, 1e-6)
    )


def _on_grid(stack: ExitStack, ds, grid: _Grid, resampling: str, nodata):
    """``ds`` itself on the grid, else a warped VRT onto it (float32 except for SCL)."""
    if _same_grid(ds, grid):
        return ds, False
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    vrt = WarpedVRT(ds, crs=grid.crs, transform=grid.transform, width=grid.width,
                    height=grid.height, resampling=Resampling[resampling], src_nodata=nodata,
                    nodata=nodata, **({} if resampling == "nearest" else {"dtype": "float32"}))  # fmt: skip
    return stack.enter_context(vrt), True


def _open_date(stack: ExitStack, d: _Date, grid: _Grid, feedback: Feedback) -> None:
    """Open a date's readers on the grid; refuses a date that does not overlap it."""
    ref = _open(stack, _reference_path(d), d.name)
    share = _cover(ref, grid) if ref.crs is not None else 0.0
    if share <= 0:
        raise LczError(
            f"'{d.name}' does not overlap the grid of the first date: it is another tile "
            "or area; give dates of one tile or of overlapping tiles"
        )
    if d.kind == "stack":
        d.stack, d.warped = _on_grid(stack, ref, grid, "bilinear", d.stack_nodata)
    else:
        files = d.product.files
        for b in _ESA:
            ds = _open(stack, files[b], f"band {b} of {d.name}")
            v, w = _on_grid(stack, ds, grid, "bilinear", 0)
            d.bands.append(v)
            d.warped |= w and b in ("B02", "B03", "B04", "B08")
        if "SCL" in files:
            d.scl, _ = _on_grid(stack, _open(stack, files["SCL"], f"SCL of {d.name}"), grid,
                                "nearest", 0)  # fmt: skip
    if d.warped:
        feedback.info(f"{d.name}: on another grid; warped onto the first date's grid")
    if share < MIN_COVER:
        feedback.info(
            f"{d.name}: covers {100 * share:.0f}% of the grid; the rest gets nothing from it"
        )


def _read_date(d: _Date, window, out: np.ndarray) -> np.ndarray:
    """Read a date's 10 bands in ``window`` into ``out`` (reflectance); returns validity:
    ``raster.io.pixel_validity``, the rule ``classify`` applies (every band finite, within
    ``bands.SEN2_VALUE_LIMIT`` and not the stack's nodata), and for a product no band DN 0
    and no cloud in SCL."""
    if d.kind == "stack":
        d.stack.read(window=window, out=out)
        return _valid_values(out, d.stack_nodata)
    bad = np.zeros(out.shape[1:], bool)
    for k, v in enumerate(d.bands):
        v.read(1, window=window, out=out[k])
        bad |= out[k] == 0
        out[k] += d.add[k]
        out[k] /= np.float32(d.q)
    if d.scl is not None:
        bad |= np.isin(d.scl.read(1, window=window), CLOUD_CLASSES)
    valid = _valid_values(out, None)
    valid &= ~bad
    return valid


def _valid_values(out: np.ndarray, nodata) -> np.ndarray:
    """(rows, cols) validity of the bands ``out`` (bands, rows, cols) by
    ``raster.io.pixel_validity``: an undeclared float nodata (3e38, -3.4e38), NaN, inf or
    ``nodata`` in any band makes the pixel not valid."""
    return pixel_validity(out.transpose(1, 2, 0), [nodata] * out.shape[0], SEN2_VALUE_LIMIT)


def _read_into(d: _Date, window, values: np.ndarray, valid: np.ndarray) -> None:
    """Read one date of a window (in a reader thread: one date is read by one thread at
    a time) and count its valid pixels."""
    valid[...] = _read_date(d, window, values)
    d.n_valid += int(np.count_nonzero(valid))


class _WindowBuffers:
    """Two windows' worth of every date's bands and validity, and of the outputs, used
    in turn (one filled by the readers, or written, while the other is composited), so
    no window allocates (and page-faults in) its ~190 MB afresh."""

    def __init__(self, n_dates: int, windows: list):
        most = max(w.height * w.width for w in windows)
        self.values = [np.empty(n_dates * len(SEN2_BANDS) * most, np.float32) for _ in range(2)]
        self.valid = [np.empty(n_dates * most, bool) for _ in range(2)]
        self.composite = [np.empty(len(SEN2_BANDS) * most, np.float32) for _ in range(2)]
        self.count = [np.empty(most, np.uint8) for _ in range(2)]
        self.n_dates = n_dates

    def get(self, k: int, window) -> tuple[np.ndarray, np.ndarray]:
        """Buffer ``k % 2`` shaped for ``window``: (dates, bands, rows, cols), (dates, rows, cols)."""
        h, w, d = window.height, window.width, self.n_dates
        values = self.values[k % 2][: d * len(SEN2_BANDS) * h * w]
        valid = self.valid[k % 2][: d * h * w]
        return values.reshape(d, len(SEN2_BANDS), h, w), valid.reshape(d, h, w)

    def outputs(self, k: int, window) -> tuple[np.ndarray, np.ndarray]:
        """Output buffer ``k % 2`` shaped for ``window``: (bands, rows, cols), (rows, cols)."""
        h, w = window.height, window.width
        comp = self.composite[k % 2][: len(SEN2_BANDS) * h * w]
        return comp.reshape(len(SEN2_BANDS), h, w), self.count[k % 2][: h * w].reshape(h, w)


def _start_reading(pool, dates: list[_Date], window, buffers: tuple) -> tuple:
    """Submit the reads of every date of ``window`` into ``buffers`` (values, valid) to
    ``pool``, dates side by side; returns (values, valid, futures)."""
    values, valid = buffers
    futures = [pool.submit(_read_into, d, window, values[i], valid[i]) for i, d in enumerate(dates)]
    return values, valid, futures


def windows_of(grid_width: int, grid_height: int, n_dates: int, block=(256, 256)):
    """The windows the composite streams by: rows of the inputs' block height, columns a
    multiple of their block width, about ``WINDOW_BYTES`` for all dates' bands together."""
    from rasterio.windows import Window

    bh, bw = (max(16, min(int(v), 1024)) for v in block)
    per_col = n_dates * len(SEN2_BANDS) * bh * 4
    cols = max(bw, (WINDOW_BYTES // per_col) // bw * bw)
    for r0 in range(0, grid_height, bh):
        for c0 in range(0, grid_width, cols):
            yield Window(c0, r0, min(cols, grid_width - c0), min(bh, grid_height - r0))


# -- the entry point ------------------------------------------------------------------------


def count_path(output) -> Path:
    """The default count raster of a composite: ``<output stem>_count.tif`` beside it."""
    p = Path(output)
    return p.with_name(f"{p.stem}{COUNT_SUFFIX}.tif")


def composite_sentinel2(
    inputs,
    output,
    method: str = "median",
    count_output=None,
    feedback: Feedback | None = None,
) -> CompositeResult:
    """Write the cloud-free composite of several Sentinel-2 dates (see the module doc).

    Args:
        inputs: The dates: products (.SAFE folder, MTD_MSIL*.xml, .zip) and/or stacks of
            ``lcz prepare-s2``, two or more.
        output: The composite GeoTIFF to write (10 bands, reflectance).
        method: ``median``, ``p25``, ``p50`` or ``p75`` (any ``pNN``).
        count_output: The valid-date count GeoTIFF; None: ``count_path(output)``.
        feedback: Progress, messages and cancel.

    Returns:
        A ``CompositeResult``.

    Raises:
        LczError: bad inputs (missing, too few, mixed L1C/L2A, not overlapping, not a
            product or stack) or outputs.
    """
    feedback = feedback or Feedback()
    q = percentile_of(method)
    count_output = Path(count_output) if count_output else count_path(output)
    check_output_path(output)
    check_output_path(count_output)
    paths = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    check_distinct_paths({"INPUT": paths}, {"OUTPUT": output, "COUNT": count_output}, ".qml")
    dates = _describe_all(paths, feedback)
    rio = _rio()
    with ExitStack() as stack:
        stack.enter_context(rio.Env(GDAL_CACHEMAX=CACHE_BYTES))
        grid = _reference_grid(stack, dates[0])
        for d in dates:
            feedback.check_cancelled()
            _open_date(stack, d, grid, feedback)
        block = stack.enter_context(rio.open(_reference_path(dates[0]))).block_shapes[0]
        feedback.info(
            f"composite: {method} (percentile {q:g}, numpy 'linear') of {len(dates)} dates "
            f"on {grid.width} x {grid.height} px"
        )
        n_empty = _write_outputs(dates, grid, block, q, output, count_output, method, feedback)
    return _finish(dates, grid, output, count_output, method, n_empty, feedback)


def _finish(dates, grid, output, count_output, method, n_empty, feedback) -> CompositeResult:
    total = max(grid.width * grid.height, 1)
    for d in dates:
        if d.n_valid == 0:
            feedback.warning(
                f"{d.name} has no valid pixel on the grid (all cloud, shadow or nodata): it "
                "contributes nothing to the composite"
            )
    if n_empty >= total:
        feedback.warning("no pixel has a valid date: the composite is all nodata")
    elif n_empty:
        feedback.info(f"{100 * n_empty / total:.2f}% of the pixels have no valid date: nodata")
    feedback.progress(100)
    levels = {d.level for d in dates} - {"unknown"}
    return CompositeResult(
        Path(output), Path(count_output), grid.width, grid.height, grid.transform.to_gdal(),
        method, [d.name for d in dates], [d.n_valid / total for d in dates], n_empty / total,
        levels.pop() if len(levels) == 1 else "unknown", qml_path(output), qml_path(count_output),
    )  # fmt: skip


def _create(path, grid: _Grid, count: int, dtype: str, nodata, descriptions):
    """An output GeoTIFF on the grid (``raster.io.create_geotiff``), with ``prepare-s2``'s
    creation options."""
    opts = classifier_input_options(predictor=False)
    zstd = "COMPRESS=ZSTD" in opts
    opts += [f"{k.upper()}={v}" for k, v in OUTPUT_OPTIONS.items() if zstd or k != "zstd_level"]
    return create_geotiff(path, grid.width, grid.height, count, dtype, grid.transform.to_gdal(),
                          grid.crs, nodata, opts, descriptions)  # fmt: skip


def _tags(dates: list[_Date], method: str) -> dict:
    levels = {d.level for d in dates} - {"unknown"}
    return {
        "LCZ_SOURCE": ",".join(d.path for d in dates),
        "LCZ_LEVEL": levels.pop() if len(levels) == 1 else "unknown",
        "LCZ_COMPOSITE": f"{method} of the valid dates (numpy 'linear' percentile)",
        "LCZ_DATES": str(len(dates)),
        "LCZ_CLOUD_MASK": "SCL 3,8,9,10 per date",
        "LCZ_SCALE": "reflectance = (DN + offset) / quantification",
    }


def _styles(n_dates: int) -> tuple[str, str]:
    """The true-colour style of the composite and the ramp of the count."""
    rgb = qml_multiband(3, 2, 1, TRUE_COLOUR_LIMITS)  # B4, B3, B2
    stops = (
        RampStop(0, "#d7191c", "0 no valid date (nodata)"),
        RampStop(max(n_dates / 2, 0.5), "#ffffbf", f"{n_dates / 2:g} dates"),
        RampStop(n_dates, "#1a9641", f"{n_dates} dates (all)"),
    )
    return rgb, qml_pseudocolor(stops, title="valid dates")


def _write_outputs(dates, grid, block, q, output, count_output, method, feedback) -> int:
    """Stream the composite and the count into staged temporaries; returns the number of
    pixels without a valid date."""
    staging = StagedOutputs()
    staging.expect(output, grid.width * grid.height * len(SEN2_BANDS) * 4)
    staging.expect(count_output, grid.width * grid.height)
    staging.check_space()
    rgb, ramp = _styles(len(dates))
    with staged_outputs(feedback, staging) as st:
        with ExitStack() as files:
            out = files.enter_context(
                _create(st.temp(output), grid, len(SEN2_BANDS), "float32", NODATA, SEN2_BANDS)
            )
            cnt = files.enter_context(
                _create(st.temp(count_output), grid, 1, "uint8", None, ["valid dates"])
            )
            out.update_tags(**_tags(dates, method))
            n_empty = _stream(dates, grid, block, q, out, cnt, feedback)
        st.write_text(qml_path(output), rgb)
        st.write_text(qml_path(count_output), ramp)
    return n_empty


def _stream(dates, grid, block, q, out, cnt, feedback) -> int:
    """Read window after window (the next one's dates side by side in ``READ_THREADS``
    threads while this one is composited), composite each here and write it in a thread
    (GDAL compresses in threads of its own)."""
    windows = list(windows_of(grid.width, grid.height, len(dates), block))
    n_empty = 0
    with ThreadPoolExecutor(READ_THREADS, thread_name_prefix="lcz-composite-read") as readers, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="lcz-composite-write") as writer:  # fmt: skip
        written, buffers = None, _WindowBuffers(len(dates), windows)
        ahead = _start_reading(readers, dates, windows[0], buffers.get(0, windows[0]))
        try:
            for i, w in enumerate(windows):
                values, valid, futures = ahead
                for f in futures:
                    f.result()
                if i + 1 < len(windows):  # into the other buffer: window i - 1 is done
                    nxt = windows[i + 1]
                    ahead = _start_reading(readers, dates, nxt, buffers.get(i + 1, nxt))
                feedback.check_cancelled()
                # output buffer i % 2: the write of window i - 2 from it has ended
                comp, count = composite_block(values, valid, q, buffers.outputs(i, w))
                del values, valid
                if written is not None:
                    written.result()
                written = writer.submit(_write_window, out, cnt, comp, count, w)
                n_empty += int((count == 0).sum())
                feedback.progress(99.0 * (i + 1) / len(windows))
            written.result()
        finally:
            for f in ahead[2]:
                f.cancel()
    return n_empty


def _write_window(out, cnt, comp: np.ndarray, count: np.ndarray, window) -> None:
    out.write(comp, window=window)
    cnt.write(count, 1, window=window)
