"""Raster reading and writing through rasterio, on the GDAL library QGIS uses in-process.

Rasters are rasterio datasets: ``open_raster`` gives one (with its ``RasterInfo``),
reads are windows (``read_bands``, ``read_window``), on-the-fly reprojection and
resampling are ``rasterio.vrt.WarpedVRT``s, and ``create_geotiff`` is the one place a
GeoTIFF is created (``rasterio.open(..., "w")``), ``copy_as_cog`` the one place a COG is
(a GDAL translation of a mosaic VRT). rasterio must be the build on the
same libgdal as QGIS (Debian's or OSGeo4W's ``python3-rasterio``, conda-forge's
``rasterio`` in QGIS's environment), never pip's wheel, which bundles a second libgdal
(tests/raster/test_one_gdal.py checks the process maps one).

``gdal()`` (``osgeo.gdal``) is kept only for what rasterio has no API for: GDAL's
error-handler stack (``gdal_writes`` collects the messages GDAL reports without
raising, e.g. a full disk on close or an unsaved ``.aux.xml``), the category names of
the LCZ band (``style_lcz_band``: PAM metadata rasterio cannot set), the block cache
(``trim_cache``: rasterio has no FlushCache) and the driver's
creation-option list; BuildVRT / Translate elsewhere. ``osr()`` serves the CRS descriptions of messages and vector (OGR)
geometries.

``RasterInfo`` describes an input raster and checks it for classification: a
projected CRS, a pixel size of about 10 m, enough size and the right band count.
Writers create tiled, compressed GeoTIFFs; LCZ maps get an embedded colour table,
category names and a ``.qml`` sidecar.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.bands import PATCH_SIZE
from ..common.errors import LczError, first_line, keys_as_params, require, tool
from ..common.legend import category_names, gdal_color_entries, qml_paletted

PIXEL_SIZE_M = 10.0
PIXEL_SIZE_TOLERANCE = 0.05  # 5 %
GTIFF_OPTIONS = ["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER"]
_F32_MAX = float(np.finfo(np.float32).max)
CACHE_BUDGET = 192 * 2**20  # GDAL block cache our reads and writes may fill before a trim
_CACHE_LOCK = threading.Lock()  # trim_cache: one thread lowers and restores the maximum


def classifier_input_options(predictor: bool) -> list[str]:
    """GeoTIFF creation options for rasters that classification reads back (the prepared
    Sentinel-2 and Sentinel-1 stacks): tiled 256 x 256, ZSTD when this GDAL has it (it
    decodes faster than DEFLATE, and decoding competes with the model for the CPU),
    else DEFLATE. ``predictor``: the floating-point predictor, which shrinks continuous
    values (dB) but enlarged a synthetic stack of reflectance quantised to 1e-4
    (DN / 10000) five-fold."""
    drv = gdal().GetDriverByName("GTiff")
    codec = "ZSTD" if "ZSTD" in (drv.GetMetadataItem("DMD_CREATIONOPTIONLIST") or "") else "DEFLATE"
    opts = ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", f"COMPRESS={codec}"]
    return opts + (["PREDICTOR=3"] if predictor else []) + ["BIGTIFF=IF_SAFER"]


def gdal():
    """The ``osgeo.gdal`` module, with exceptions enabled.

    Raises:
        MissingDependency: GDAL's Python bindings are not installed.
    """
    g = require("osgeo.gdal", "GDAL", "Reading and writing rasters")
    g.UseExceptions()
    return g


def osr():
    """The ``osgeo.osr`` module, with exceptions enabled.

    Raises:
        MissingDependency: GDAL's Python bindings are not installed.
    """
    o = require("osgeo.osr", "GDAL", "Coordinate reference systems")
    o.UseExceptions()
    return o


@dataclass
class RasterInfo:
    """What a raster is: size, georeferencing, nodata and data type.

    Attributes:
        path: the raster's path (or GDAL name).
        width, height: pixels.
        count: bands.
        geotransform: the GDAL geotransform (the identity when the raster has none).
        crs_wkt: the CRS as WKT, "" when it has none.
        nodata: the nodata value per band (None where unset).
        dtype: GDAL's name of the first band's data type, e.g. ``"Float32"``.
    """

    path: str
    width: int
    height: int
    count: int
    geotransform: tuple
    crs_wkt: str
    nodata: list
    dtype: str

    @property
    def pixel_size(self) -> tuple[float, float]:
        """(x, y) pixel size in CRS units, both positive."""
        gt = self.geotransform
        return abs(gt[1]), abs(gt[5])

    def crs_description(self) -> str:
        """The CRS as ``EPSG:<code>``, else its name, or ``"none"`` without one."""
        if not self.crs_wkt:
            return "none"
        s = osr().SpatialReference()
        s.ImportFromWkt(self.crs_wkt)
        code = s.GetAuthorityCode(None)
        return f"EPSG:{code}" if code else s.GetName()

    def is_projected(self) -> bool:
        """Whether the CRS is projected (not geographic)."""
        s = osr().SpatialReference()
        s.ImportFromWkt(self.crs_wkt)
        return bool(s.IsProjected())

    def is_metric(self) -> bool:
        """Whether the CRS's linear unit is the metre (pixel sizes are then metres)."""
        s = osr().SpatialReference()
        s.ImportFromWkt(self.crs_wkt)
        return abs(s.GetLinearUnits() - 1.0) < 1e-9

    def units_problem(self) -> str | None:
        """Why the CRS cannot give 10 m pixels ("geographic coordinates", "non-metre
        units"), or None for a projected CRS in metres."""
        if not self.is_projected():
            return "geographic coordinates"
        return None if self.is_metric() else "non-metre units"

    def has_10m_pixels(self) -> bool:
        """Pixels of PIXEL_SIZE_M (10 m) within PIXEL_SIZE_TOLERANCE, both ways."""
        lo = PIXEL_SIZE_M * (1 - PIXEL_SIZE_TOLERANCE)
        hi = PIXEL_SIZE_M * (1 + PIXEL_SIZE_TOLERANCE)
        px, py = self.pixel_size
        return lo <= px <= hi and lo <= py <= hi

    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) in the raster's CRS."""
        gt = self.geotransform
        xs = (gt[0], gt[0] + gt[1] * self.width)
        ys = (gt[3], gt[3] + gt[5] * self.height)
        return min(xs), min(ys), max(xs), max(ys)

    def bounds_in(self, dst_wkt: str) -> tuple[float, float, float, float]:
        """The raster's bounds in another CRS (edges densified)."""
        o = osr()
        src = o.SpatialReference()
        src.ImportFromWkt(self.crs_wkt)
        src.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
        dst = o.SpatialReference()
        dst.ImportFromWkt(dst_wkt)
        dst.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
        x0, y0, x1, y1 = self.bounds()
        t = np.linspace(0, 1, 21)
        pts = [(x0 + (x1 - x0) * a, y) for a in t for y in (y0, y1)]
        pts += [(x, y0 + (y1 - y0) * a) for a in t for x in (x0, x1)]
        ct = o.CoordinateTransformation(src, dst)
        out = np.array([ct.TransformPoint(x, y)[:2] for x, y in pts])
        return out[:, 0].min(), out[:, 1].min(), out[:, 0].max(), out[:, 1].max()

    def check_for_classification(self, what: str = "raster") -> None:
        """Refuse a raster a 32 x 32, 10 m So2Sat model cannot classify.

        Args:
            what: how messages name the raster, e.g. ``"Sentinel-2 raster"``.

        Raises:
            LczError: no CRS, geographic or non-metre units, a rotated grid, pixels not about
                10 m, or fewer than 32 x 32 pixels.
        """
        name = Path(self.path).name
        if not self.crs_wkt:
            raise LczError(
                f"{what} '{name}' has no coordinate reference system; assign one, or "
                f"reproject it to its UTM zone ({tool('warp')})"
            )
        units = self.units_problem()
        if units:
            raise LczError(
                f"{what} '{name}' is in {units} ({self.crs_description()}); "
                f"reproject it to its UTM zone at 10 m ({tool('warp')})"
            )
        gt = self.geotransform
        if gt[2] != 0 or gt[4] != 0:
            raise LczError(f"{what} '{name}' is rotated; warp it to a north-up grid first")
        px, py = self.pixel_size
        if not self.has_10m_pixels():
            raise LczError(
                f"{what} '{name}' has a pixel size of {px:g} x {py:g} (CRS units); So2Sat models "
                f"need about {PIXEL_SIZE_M:g} m: resample it to 10 m first"
            )
        if self.width < PATCH_SIZE or self.height < PATCH_SIZE:
            raise LczError(
                f"{what} '{name}' is {self.width} x {self.height} pixels, smaller than one "
                "32 x 32 window"
            )


def check_tif_name(path, what: str) -> None:
    """Rasters are written as GeoTIFF whatever the name: refuse another extension."""
    if Path(path).suffix.lower() not in (".tif", ".tiff"):
        raise LczError(
            f"{keys_as_params(what)} '{path}' is written as a GeoTIFF: give it a .tif name"
        )


def pixel_validity(x: np.ndarray, nodata: list, limit=None) -> np.ndarray:
    """(H, W) mask of pixels of ``x`` (H, W, C) whose channels are all finite, within
    ``limit`` and differ from their band's ``nodata`` (None or NaN: no value).

    ``limit``: the largest usable magnitude, one for all channels or one per channel
    (``bands.value_limit``: a value beyond it is nodata, like NaN); None: any finite
    value is valid.

    Works by slabs of rows that stay in the CPU cache. A slab's max and min (two fast
    passes) settle the usual case, every value valid. Otherwise, when NaN-ignoring max and
    min are within the limit, only NaN can be wrong: it is found from each pixel's channel
    sum (one BLAS pass), the rare pixels whose sum is not finite being checked channel by
    channel, so finite values whose sum overflows stay valid. Else (values beyond the
    limit, or infinities) each pixel's summed excess ``max(|x| - limit, 0)`` is tested
    for 0 (the excesses are never negative: no cancellation).
    """
    c = x.shape[-1]
    nd = [None if v is None or np.isnan(v) else np.float32(v) for v in nodata]
    lim = np.broadcast_to(np.asarray(_F32_MAX if limit is None else limit, np.float32), (c,))
    bound = lim.min()
    ones = np.ones(c, np.float32)
    out = np.empty(x.shape[:2], bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for r in range(0, x.shape[0], 16):
            part, o = x[r : r + 16], out[r : r + 16]
            if part.max() <= bound and part.min() >= -bound:  # NaN compares False
                o[...] = True
            elif np.fmax.reduce(part, axis=None) <= bound and -bound <= np.fmin.reduce(
                part, axis=None
            ):  # in range where not NaN
                np.isfinite(part @ ones, out=o)
                if not o.all():
                    bad = ~o
                    o[bad] = np.isfinite(part[bad]).all(axis=-1)
            else:
                d = np.abs(part)
                d -= lim
                np.maximum(d, 0, out=d)  # NaN stays NaN
                np.equal(d @ ones, 0, out=o)
            for k, v in enumerate(nd):
                if v is not None:
                    o &= part[..., k] != v
    return out


def rio():
    """The ``rasterio`` module.

    Raises:
        MissingDependency: rasterio is not installed (install the build of QGIS's own
            distribution, see the README).
    """
    return require("rasterio", "rasterio", "Reading and writing rasters")


def read_failures() -> tuple:
    """The exception types a failed read raises: GDAL's RuntimeError, rasterio's errors."""
    rio()
    from rasterio._err import CPLE_BaseError
    from rasterio.errors import RasterioError, RasterioIOError

    return (RuntimeError, RasterioError, RasterioIOError, CPLE_BaseError)


@contextlib.contextmanager
def read_errors(path):
    """Turn read failures (a truncated or damaged file) into a clear LczError."""
    try:
        yield
    except read_failures() as exc:
        msg = first_line(exc, "read error")
        raise LczError(
            f"cannot read '{Path(str(path)).name}': {msg}. The file may be damaged or "
            "incomplete; write or download it again"
        ) from None


def open_dataset(path):
    """Open a raster read-only with rasterio, quietly when it has no georeferencing.

    Raises:
        RasterioIOError: rasterio cannot open it.
    """
    import warnings

    r = rio()
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return r.open(str(path))


def open_raster(path) -> tuple[object, RasterInfo]:
    """Open a raster with rasterio (read-only).

    Args:
        path: a file, or a ``/vsi...`` GDAL path.

    Returns:
        (the rasterio dataset, its ``RasterInfo``).

    Raises:
        LczError: the file is missing, unreadable, holds no band or a complex band.
    """
    p = str(path)
    if not os.path.exists(p) and not p.startswith("/vsi"):
        raise LczError(f"raster '{p}' does not exist")
    try:
        ds = open_dataset(p)
    except read_failures() as exc:
        raise LczError(f"cannot open raster '{p}': {first_line(exc)}") from None
    if ds.count == 0:
        ds.close()
        raise LczError(f"'{p}' is not a raster GDAL can read")
    check_real_bands(ds, p)
    return ds, info_from_dataset(ds, p)


def check_real_bands(ds, path) -> None:
    """Refuse a raster with a complex band (CInt16, CFloat32, ...): read as real numbers
    GDAL would give its real part silently.

    Raises:
        LczError: naming the first complex band and the fix.
    """
    from rasterio.dtypes import _gdal_typename

    for k, dt in enumerate(ds.dtypes):
        if "complex" in dt:
            raise LczError(
                f"band {k + 1} of '{Path(str(path)).name}' is complex "
                f"({_gdal_typename(dt)}); give a real-valued raster, e.g. its amplitude "
                "|x| (or, for Sentinel-1, the intensity |x|\u00b2)"
            )


def info_from_dataset(ds, path: str) -> RasterInfo:
    """The ``RasterInfo`` of an open rasterio dataset (a file, or a ``WarpedVRT`` of one
    at ``path``); no geotransform reads as the identity (pixel coordinates)."""
    from rasterio.dtypes import _gdal_typename

    return RasterInfo(
        path=path,
        width=ds.width,
        height=ds.height,
        count=ds.count,
        geotransform=tuple(ds.transform.to_gdal()),
        crs_wkt=ds.crs.to_wkt() if ds.crs else "",
        nodata=list(ds.nodatavals),
        dtype=_gdal_typename(ds.dtypes[0]),
    )


def trim_cache(budget: int = CACHE_BUDGET) -> None:
    """Evict GDAL's least recently used blocks (writing dirty ones) until the cache holds
    at most ``budget`` bytes.

    rasterio has no ``FlushCache``; lowering the cache maximum makes GDAL flush blocks
    down to it (``GDALSetCacheMax64``), and the maximum is then set back. Blocks leave in
    LRU order, so a writer's complete tiles reach the file in the order they were
    written, as a per-strip ``FlushCache`` wrote them. GDAL writes them with Python's GIL
    released; one thread trims at a time (``_CACHE_LOCK``: another thread reading the
    lowered maximum as the one to restore would keep it).
    """
    g = gdal()
    with _CACHE_LOCK:  # two threads at once could leave the maximum lowered for good
        if g.GetCacheUsed() > budget:
            old = g.GetCacheMax()
            try:  # a block that fails to write (a full disk) may raise here
                g.SetCacheMax(int(budget))
            finally:
                g.SetCacheMax(old)


def read_window(ds, bands: list[int], col0: int, row0: int, width: int, nrows: int, out=None):
    """A window of the given 0-based bands, pixel-interleaved: (nrows, width, len(bands)).

    GDAL decodes straight into the (rows, cols, channels) array (``out``, or a new
    float32 one): no band-by-band copy.
    """
    from rasterio.windows import Window

    if out is None:
        out = np.empty((nrows, width, len(bands)), np.float32)
    ds.read(
        [b + 1 for b in bands], window=Window(col0, row0, width, nrows), out=out.transpose(2, 0, 1)
    )
    return out


def read_bands(ds, bands: list[int], row0: int, nrows: int, out_dtype=np.float32) -> np.ndarray:
    """Rows [row0, row0+nrows) of the given 0-based bands as (nrows, width, len(bands))."""
    out = np.empty((nrows, ds.width, len(bands)), dtype=out_dtype)
    return read_window(ds, bands, 0, row0, ds.width, nrows, out)


def warped_vrt(ds, crs, transform, width, height, resampling, src_nodata, nodata, dtype=None):
    """A rasterio ``WarpedVRT`` of ``ds`` on a given grid, warping as ``gdalwarp -of VRT
    -srcnodata -dstnodata`` does: sources' nodata unified across bands, and a float64
    working type when a nodata is NaN (gdalwarp's working type must hold it; the values
    read then round to float32 as gdalwarp's output did).

    Args:
        ds: the open source dataset.
        crs: the target CRS (WKT, ``"EPSG:..."`` or a rasterio CRS).
        transform: the target grid's ``Affine``; width, height: its size.
        resampling: a ``rasterio.enums.Resampling`` name, e.g. ``"bilinear"``.
        src_nodata, nodata: the source's and the VRT's nodata.
        dtype: the VRT's data type (None: the source's).

    Raises:
        LczError: rasterio cannot make the VRT (e.g. an unknown CRS).
    """
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    if np.isnan(src_nodata) or np.isnan(nodata):
        dtype = "float64"
    try:
        return WarpedVRT(
            ds, crs=CRS.from_user_input(crs), transform=transform, width=width, height=height,
            resampling=Resampling[resampling], src_nodata=src_nodata, nodata=nodata,
            dtype=dtype, UNIFIED_SRC_NODATA="YES",
        )  # fmt: skip
    except (*read_failures(), ValueError) as exc:
        raise LczError(f"cannot warp '{Path(str(ds.name)).name}': {first_line(exc)}") from None


def _rio_dtype(dtype) -> str:
    """rasterio's name of a data type: a numpy dtype or name, or a GDAL type code."""
    from rasterio.dtypes import dtype_fwd

    if isinstance(dtype, int) and not isinstance(dtype, bool):
        return dtype_fwd[dtype]
    return np.dtype(dtype).name


def create_geotiff(
    path,
    width,
    height,
    count,
    dtype,
    geotransform,
    crs_wkt,
    nodata=None,
    options=None,
    descriptions=None,
    readable: bool = False,
):
    """Create a GeoTIFF with its georeferencing (rasterio): the one place the project
    creates one.

    Every GeoTIFF writer calls this with the creation options of its output (tiling,
    block size, compression, predictor), so those stay per output while the creation
    itself is written once.

    Args:
        path: the file to create.
        width, height: pixels.
        count: bands.
        dtype: the data type: a numpy dtype or name (``"float32"``), or a GDAL type code.
        geotransform: the GDAL geotransform (None leaves it unset).
        crs_wkt: the CRS as WKT, or a rasterio ``CRS`` ("" or None leaves it unset).
        nodata: the nodata value of every band (None: unset).
        options: the GTiff creation options ``"KEY=VALUE"``, used as given (None:
            ``GTIFF_OPTIONS``, tiled and DEFLATE-compressed).
        descriptions: one description per band (None: unset).
        readable: open it ``"w+"``, to read back what was written (a temporary).

    Returns:
        The open, writable rasterio dataset (write with ``write(..., window=...)``; close
        it with ``close_raster`` or ``closing_raster``, inside ``gdal_writes``, to have
        write failures raised).

    Raises:
        ValueError: ``descriptions`` does not have ``count`` entries.
    """
    import warnings

    from rasterio.crs import CRS
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.transform import Affine

    if descriptions is not None and len(descriptions) != count:
        raise ValueError(f"{len(descriptions)} band descriptions for {count} bands")
    opts = dict(o.split("=", 1) for o in (GTIFF_OPTIONS if options is None else options))
    profile = dict(driver="GTiff", width=int(width), height=int(height), count=count)
    profile.update(dtype=_rio_dtype(dtype), nodata=nodata)
    if geotransform is not None:
        profile["transform"] = Affine.from_gdal(*(float(v) for v in geotransform))
    if crs_wkt:
        profile["crs"] = CRS.from_wkt(crs_wkt) if isinstance(crs_wkt, str) else crs_wkt
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        ds = rio().open(str(path), "w+" if readable else "w", **profile, **opts)
    for i, text in enumerate(descriptions or ()):
        ds.set_band_description(i + 1, str(text))
    return ds


def copy_as_cog(source, path, options) -> None:
    """Write ``source`` (any raster GDAL reads, e.g. a VRT mosaic) as a Cloud Optimized
    GeoTIFF ``path``: the COG writer beside ``create_geotiff``, the other place the
    project creates a GeoTIFF. Call it inside ``gdal_writes`` so a failed write raises.

    Args:
        source: the raster to copy.
        path: the COG to write (a temporary of the caller's).
        options: the COG creation options ``"KEY=VALUE"``.

    Raises:
        OSError: GDAL could not write it.
    """
    ds = gdal().Translate(str(path), str(source), format="COG", creationOptions=list(options))
    if ds is None:
        raise OSError(f"GDAL could not write the COG {path}")
    ds = None


def close_raster(ds) -> None:
    """Close a rasterio writer and raise what GDAL reports while closing (rasterio does
    not): a full disk often shows only when the last blocks are written.

    GDAL's dirty blocks are written first by ``trim_cache(0)``, which releases Python's
    GIL, and only then is the dataset closed: rasterio's ``close`` holds the GIL while
    GDAL compresses and writes what is left in its block cache (up to ``GDAL_CACHEMAX``,
    seconds for a Sentinel-2 tile), which froze QGIS's main thread (issue 24: 9).

    Raises:
        RuntimeError: GDAL reported a failure; the text names the file and holds GDAL's
            messages (``gdal_writes`` turns a full disk into ENOSPC). Warnings go on to
            the previous error handler (``gdal_writes``'s, when inside one).
    """
    g = gdal()
    msgs: list[tuple[int, int, str]] = []
    g.PushErrorHandler(lambda cls, no, msg: msgs.append((cls, no, str(msg))))
    try:
        with contextlib.suppress(RuntimeError):  # GDAL's messages are in msgs: below
            trim_cache(0)
        ds.close()
    finally:
        g.PopErrorHandler()
        for cls, no, m in msgs:
            if cls == g.CE_Warning:
                g.Error(g.CE_Warning, no, m)
    failed = [m for c, _, m in msgs if c >= g.CE_Failure]
    if failed:
        raise RuntimeError(f"writing {ds.name} failed: " + "; ".join(dict.fromkeys(failed)))


@contextlib.contextmanager
def closing_raster(ds):
    """``with closing_raster(create_geotiff(...)) as ds:`` closes ``ds`` at the end with
    ``close_raster`` (its failures raised), and also on an exception (then that exception
    is the one raised)."""
    try:
        yield ds
    except BaseException:
        ds.close()
        raise
    close_raster(ds)


_WRITE_PROBLEMS = ("unable to save auxiliary", "write error", "no space left", "disk is full")


@contextlib.contextmanager
def gdal_writes():
    """Around code that writes rasters (or vectors) with GDAL, in the thread that writes.

    GDAL reports some write failures without raising: on closing a dataset (``ds = None``,
    Python then prints 'Exception ignored') and when the ``.aux.xml`` cannot be saved (a
    warning). Here GDAL's messages of this thread are collected; such a failure raises
    ``RuntimeError`` at the end of the block, and when any message says the disk is full
    the error raised is ``OSError(ENOSPC)`` with GDAL's messages (``atomic.staged_outputs``
    turns it into ``DiskFull``). Other warnings are passed on to the previous handler
    afterwards. Close the datasets inside the block.
    """
    import errno
    import sys
    import traceback

    g = gdal()
    msgs: list[tuple[int, int, str]] = []
    unraisable: list[BaseException] = []
    old_hook = sys.unraisablehook

    def hook(u):
        if isinstance(u.exc_value, RuntimeError):
            unraisable.append(u.exc_value)
        else:
            old_hook(u)

    def full(texts) -> bool:
        return any("no space left" in t.lower() or "disk is full" in t.lower() for t in texts)

    g.PushErrorHandler(lambda cls, no, msg: msgs.append((cls, no, str(msg))))
    sys.unraisablehook = hook
    try:
        yield
    except BaseException as exc:
        # the failed calls' frames hold datasets (``self`` of WriteArray): close them here,
        # where their errors are collected, not later on the console
        traceback.clear_frames(exc.__traceback__)
        errno_set = isinstance(exc, OSError) and exc.errno is not None  # not rasterio's
        if not errno_set and full([str(exc)] + [m for _, _, m in msgs]):
            text = "; ".join(dict.fromkeys([str(exc)] + [m for c, _, m in msgs if c >= 2]))
            raise OSError(errno.ENOSPC, f"No space left on device ({text})") from exc
        raise
    finally:
        sys.unraisablehook = old_hook
        g.PopErrorHandler()
        for cls, no, m in msgs:
            if cls == g.CE_Warning and not any(w in m.lower() for w in _WRITE_PROBLEMS):
                g.Error(g.CE_Warning, no, m)  # to the previous handler
    failed = [str(e) for e in unraisable] + [
        m for c, _, m in msgs if c >= g.CE_Failure or any(w in m.lower() for w in _WRITE_PROBLEMS)
    ]
    failed = [m for m in failed if any(w in m.lower() for w in (*_WRITE_PROBLEMS, "write"))]
    if failed:
        text = "; ".join(dict.fromkeys(failed))
        if full(failed):
            raise OSError(errno.ENOSPC, f"No space left on device ({text})")
        raise RuntimeError(f"writing failed: {text}")


def style_lcz_band(ds, band: int = 1) -> None:
    """Embed the LCZ colour table (values 0..17) and the description "LCZ" in band
    ``band`` of an open rasterio writer; once it is closed, ``name_lcz_categories`` adds
    the category names."""
    ds.write_colormap(band, gdal_color_entries())
    ds.set_band_description(band, "LCZ")


def name_lcz_categories(path, band: int = 1) -> None:
    """Give band ``band`` of the closed GeoTIFF ``path`` the LCZ category names.

    rasterio cannot set category names (GDAL keeps them in the ``.aux.xml``), so this
    is GDAL's, in update mode; the TIFF itself is left as it is. Call it inside
    ``gdal_writes``: a failure to save the ``.aux.xml`` is raised there.
    """
    g = gdal()
    ds = g.Open(str(path), g.GA_Update)
    ds.GetRasterBand(band).SetCategoryNames(category_names())
    ds.FlushCache()
    ds = None


def open_vector(path):
    """A vector file opened with OGR (vector I/O stays on OGR; exceptions enabled). A KMZ
    that GDAL cannot read as one (no LIBKML driver: ``kmz_document``) is opened as the
    KML document inside it, with GDAL's KML driver.

    Raises:
        RuntimeError: OGR cannot open it.
    """
    from osgeo import ogr

    ogr.UseExceptions()
    document = kmz_document(path)
    if document is not None:
        return ogr.GetDriverByName("KML").Open(document)
    return ogr.Open(str(path))


def has_libkml() -> bool:
    """Whether GDAL has its LIBKML driver, the one that reads KMZ files (Debian's GDAL
    3.13 and later has none: Debian dropped libkml)."""
    from osgeo import ogr

    return ogr.GetDriverByName("LIBKML") is not None


def kmz_document(path) -> str | None:
    """Where GDAL has no LIBKML driver (``has_libkml``), the ``/vsizip/`` path of a KMZ's
    KML document (``doc.kml``, else its first ``.kml`` member, as Google Earth takes it),
    which GDAL's KML driver reads with the same folders and placemarks (not the
    GroundOverlay images LIBKML shows as polygons). None: not a KMZ, LIBKML present, no
    zip or no KML inside (OGR's own error then names the file)."""
    import zipfile

    p = Path(str(path))
    if p.suffix.lower() != ".kmz" or has_libkml():
        return None
    try:
        with zipfile.ZipFile(p) as z:
            names = [i.filename for i in z.infolist()
                     if not i.is_dir() and i.filename.lower().endswith(".kml")]  # fmt: skip
    except (zipfile.BadZipFile, OSError):
        return None
    if not names:
        return None
    member = next((n for n in names if n.lower() == "doc.kml"), names[0])
    return f"/vsizip/{p.absolute()}/{member}"


def polygons_in(vector, crs_wkt: str) -> list:
    """Every feature's geometry of every layer of an OGR dataset, as GeoJSON-like dicts
    in ``crs_wkt``: a layer with a CRS is reprojected (as GDAL's RasterizeLayer does); a
    raster without a CRS takes the coordinates as they are."""
    import json

    o = osr()
    dst = o.SpatialReference()
    if crs_wkt:
        dst.ImportFromWkt(crs_wkt)
        dst.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    shapes = []
    for i in range(vector.GetLayerCount()):
        layer = vector.GetLayer(i)
        srs = layer.GetSpatialRef()
        ct = None
        if srs is not None and crs_wkt and not srs.IsSame(dst):
            srs = srs.Clone()
            srs.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
            ct = o.CoordinateTransformation(srs, dst)
        for feat in layer:
            geom = feat.GetGeometryRef()
            if geom is None or geom.IsEmpty():
                continue
            geom = geom.Clone()
            if ct is not None:
                geom.Transform(ct)
            shapes.append(json.loads(geom.ExportToJson()))
        layer.ResetReading()
    return shapes


def rasterize_rows(shapes: list, geotransform, row0: int, nrows: int, width: int) -> np.ndarray:
    """(nrows, width) bool: the cells of rows [row0, row0 + nrows) of a grid whose centre
    lies inside ``shapes`` (``polygons_in``), burnt with ``rasterio.features.rasterize``
    (GDAL's rasterizer, as RasterizeLayer's default)."""
    from rasterio.features import rasterize
    from rasterio.transform import Affine

    if not shapes:
        return np.zeros((nrows, width), bool)
    gt = geotransform
    t = Affine.from_gdal(gt[0], gt[1], 0.0, gt[3] + row0 * gt[5], 0.0, gt[5])
    return rasterize(shapes, (nrows, width), transform=t, dtype="uint8") > 0


def qml_path(raster_path) -> Path:
    """The QGIS style sidecar of ``raster_path``: the same name with ``.qml``."""
    p = Path(raster_path)
    return p.with_suffix(".qml")


def write_qml(raster_path, qml: str) -> Path:
    """Write ``qml`` as the style sidecar of ``raster_path`` (atomically); returns its path."""
    from ..common.atomic import write_text_atomic

    return write_text_atomic(qml_path(raster_path), qml)


def write_lcz_qml(raster_path) -> Path:
    """Write the LCZ legend style (paletted, 1-17) beside ``raster_path``; returns its path."""
    return write_qml(raster_path, qml_paletted())


def read_lcz_map(path) -> tuple[np.ndarray, RasterInfo]:
    """An LCZ map as codes 0..17 (101-107 accepted for A-G)."""
    from ..common.legend import normalize_codes

    ds, info = open_raster(path)
    with ds, read_errors(path):
        arr = ds.read(1)
    return normalize_codes(arr), info
