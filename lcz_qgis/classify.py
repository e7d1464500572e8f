"""Classify Sentinel-1/2 rasters into an LCZ map, streaming by blocks of window rows.

Flow: open and check the inputs (CRS, ~10 m pixels, size, band count; optional on-the-fly
warps: REPROJECT to UTM, RESAMPLE to 10 m, Sentinel-1 onto the Sentinel-2 grid, all as
GDAL warped VRTs, never a full copy) -> detect the Sentinel-2 scale (DN or reflectance)
from a sample of pixels -> lay out the output grid (``sliding_window.output_grid``) ->
for each block of output rows read the input rows it needs (its windows plus the
32-pixel halo), mark windows holding nodata/NaN or outside the mask, predict the valid
windows in batches, write the block -> rename the finished files into place.

With a post-filter (majority, Gaussian) the 17 class probabilities of pass 1 go to a
temporary GeoTIFF beside the output; pass 2 reads it back by blocks of rows with the
filter's halo. Either way, peak memory depends on the raster width and the block size,
never on the raster height.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_output, check_output_path
from .bands import sensor_channels
from .errors import LczError
from .feedback import Feedback
from .postfilter import check_filter, filter_block, halo_cells
from .raster_io import (
    PIXEL_SIZE_M,
    PIXEL_SIZE_TOLERANCE,
    RasterInfo,
    create_geotiff,
    gdal,
    open_raster,
    osr,
    style_lcz_band,
    write_lcz_qml,
    write_qml,
)
from .sliding_window import WINDOW, gather, output_grid, window_validity, windows

DEFAULT_STRIDE = 10
DEFAULT_BATCH = 256
BLOCK_BYTES = 64 * 2**20  # input bytes read per block
PROBA_BLOCK_BYTES = 32 * 2**20  # probabilities held per block
SCALES = ("auto", "reflectance", "dn")
DN_SCALE = 1e-4  # Sentinel-2 DN -> reflectance
DN_THRESHOLD = 2.0  # 99th percentile above this: DN-scaled (reflectance is ~0-1.5)
FORMATS = ("float", "byte")
N_CLASSES = 17
BYTE_NODATA = 255
FLOAT_NODATA = -1.0


@dataclass
class ClassifyResult:
    output: Path
    grid: object
    windows_total: int = 0
    windows_valid: int = 0
    counts: list = field(default_factory=lambda: [0] * 18)  # cells per value 0..17
    seconds: float = 0.0
    stride: int = DEFAULT_STRIDE
    cell_area_m2: float = 0.0
    scale_factor: float = 1.0
    outputs: dict = field(default_factory=dict)  # name -> path of every file written

    @property
    def valid_cells(self) -> int:
        return int(sum(self.counts[1:]))


@dataclass
class _Source:
    ds: object
    info: RasterInfo
    bands: list  # 0-based raster bands to read, in model channel order
    sensor: str  # "sen2" | "sen1"
    scale: float = 1.0
    keep: list = field(default_factory=list)  # datasets the VRT needs alive


_LABEL = {"sen2": "Sentinel-2", "sen1": "Sentinel-1"}


# -- geometry: checks and on-the-fly warps ---------------------------------------------------


def _warp_vrt(ds, info: RasterInfo, **kwargs):
    """A warped VRT of ``ds`` (in memory; pixels are warped when read)."""
    g = gdal()
    nd = info.nodata[0]
    if nd is None:
        nd = float("nan") if "Float" in info.dtype else 0
    try:
        out = g.Warp("", ds, format="VRT", srcNodata=nd, dstNodata=nd, multithread=False, **kwargs)
    except RuntimeError as exc:
        raise LczError(f"cannot warp '{Path(info.path).name}': {exc}") from None
    if out is None:
        raise LczError(f"cannot warp '{Path(info.path).name}'")
    return out


def _info_of(ds, path: str) -> RasterInfo:
    g = gdal()
    return RasterInfo(
        path=path,
        width=ds.RasterXSize,
        height=ds.RasterYSize,
        count=ds.RasterCount,
        geotransform=tuple(ds.GetGeoTransform()),
        crs_wkt=ds.GetProjection() or "",
        nodata=[ds.GetRasterBand(i + 1).GetNoDataValue() for i in range(ds.RasterCount)],
        dtype=g.GetDataTypeName(ds.GetRasterBand(1).DataType),
    )


def utm_epsg(info: RasterInfo) -> int:
    """EPSG code of the UTM zone (WGS 84) holding the raster's centre."""
    o = osr()
    src = o.SpatialReference()
    src.ImportFromWkt(info.crs_wkt)
    src.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    dst = o.SpatialReference()
    dst.ImportFromEPSG(4326)
    dst.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    gt = info.geotransform
    cx = gt[0] + gt[1] * info.width / 2
    cy = gt[3] + gt[5] * info.height / 2
    lon, lat, _ = o.CoordinateTransformation(src, dst).TransformPoint(cx, cy)
    zone = min(60, max(1, int((lon + 180.0) // 6) + 1))
    return (32600 if lat >= 0 else 32700) + zone


def _size_ok(info: RasterInfo) -> bool:
    lo = PIXEL_SIZE_M * (1 - PIXEL_SIZE_TOLERANCE)
    hi = PIXEL_SIZE_M * (1 + PIXEL_SIZE_TOLERANCE)
    px, py = info.pixel_size
    return lo <= px <= hi and lo <= py <= hi


def _prepare_geometry(ds, info: RasterInfo, what: str, reproject: bool, resample: bool, feedback):
    """Check CRS and pixel size; warp (VRT) to UTM / 10 m when asked. Returns (ds, info)."""
    name = Path(info.path).name
    if not info.crs_wkt:
        raise LczError(
            f"{what} '{name}' has no coordinate reference system; assign one (Raster > "
            "Projections > Assign Projection), then reproject it to its UTM zone at 10 m"
        )
    if not info.is_projected():
        if not reproject:
            raise LczError(
                f"{what} '{name}' is in geographic coordinates ({info.crs_description()}); "
                "reproject it to its UTM zone at 10 m (Raster > Projections > Warp), or set "
                "REPROJECT (--reproject) to warp it on the fly"
            )
        epsg = utm_epsg(info)
        feedback.info(f"{what}: warping on the fly to EPSG:{epsg} (UTM) at 10 m, bilinear")
        vrt = _warp_vrt(
            ds,
            info,
            dstSRS=f"EPSG:{epsg}",
            xRes=PIXEL_SIZE_M,
            yRes=PIXEL_SIZE_M,
            targetAlignedPixels=True,
            resampleAlg="bilinear",
        )
        return vrt, _info_of(vrt, info.path)
    if not _size_ok(info):
        px, py = info.pixel_size
        if not resample:
            raise LczError(
                f"{what} '{name}' has a pixel size of {px:g} x {py:g} (CRS units); So2Sat "
                f"models need about {PIXEL_SIZE_M:g} m: resample it to 10 m first, or set "
                "RESAMPLE (--resample) to resample it on the fly"
            )
        alg = "average" if max(px, py) < PIXEL_SIZE_M else "bilinear"
        feedback.info(f"{what}: resampling on the fly from {px:g} m to 10 m ({alg})")
        vrt = _warp_vrt(
            ds, info, xRes=PIXEL_SIZE_M, yRes=PIXEL_SIZE_M, resampleAlg=alg, dstSRS=info.crs_wkt
        )
        return vrt, _info_of(vrt, info.path)
    return ds, info


def _bounds(info: RasterInfo) -> tuple[float, float, float, float]:
    gt = info.geotransform
    xs = (gt[0], gt[0] + gt[1] * info.width)
    ys = (gt[3], gt[3] + gt[5] * info.height)
    return min(xs), min(ys), max(xs), max(ys)


def _bounds_in(info: RasterInfo, dst_wkt: str) -> tuple[float, float, float, float]:
    """The raster's bounds in another CRS (edges densified)."""
    o = osr()
    src = o.SpatialReference()
    src.ImportFromWkt(info.crs_wkt)
    src.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    dst = o.SpatialReference()
    dst.ImportFromWkt(dst_wkt)
    dst.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    x0, y0, x1, y1 = _bounds(info)
    t = np.linspace(0, 1, 21)
    pts = [(x0 + (x1 - x0) * a, y) for a in t for y in (y0, y1)]
    pts += [(x, y0 + (y1 - y0) * a) for a in t for x in (x0, x1)]
    ct = o.CoordinateTransformation(src, dst)
    out = np.array([ct.TransformPoint(x, y)[:2] for x, y in pts])
    return out[:, 0].min(), out[:, 1].min(), out[:, 0].max(), out[:, 1].max()


def _onto_grid(ds, info: RasterInfo, ref: RasterInfo, what: str, feedback):
    """``ds`` as a warped VRT on ``ref``'s grid (CRS, transform, size), bilinear."""
    name = Path(info.path).name
    if not info.crs_wkt:
        raise LczError(f"{what} '{name}' has no coordinate reference system; assign one")
    a = _bounds_in(info, ref.crs_wkt)
    b = _bounds(ref)
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        raise LczError(
            f"{what} '{name}' and the Sentinel-2 raster '{Path(ref.path).name}' do not overlap; "
            "give rasters of the same area"
        )
    feedback.info(f"{what}: resampling on the fly onto the Sentinel-2 grid (bilinear)")
    vrt = _warp_vrt(
        ds,
        info,
        dstSRS=ref.crs_wkt,
        outputBounds=b,
        width=ref.width,
        height=ref.height,
        resampleAlg="bilinear",
    )
    return vrt, _info_of(vrt, info.path)


def _same_grid(a: RasterInfo, b: RasterInfo) -> bool:
    if (a.width, a.height) != (b.width, b.height):
        return False
    if not np.allclose(a.geotransform, b.geotransform, rtol=0, atol=1e-6 * abs(a.geotransform[1])):
        return False
    if a.crs_wkt == b.crs_wkt:
        return True
    o = osr()
    sa, sb = o.SpatialReference(), o.SpatialReference()
    sa.ImportFromWkt(a.crs_wkt)
    sb.ImportFromWkt(b.crs_wkt)
    return bool(sa.IsSame(sb))


# -- band mapping ----------------------------------------------------------------------------


def parse_band_map(spec, count: int, n_full: int, mine: list[int], what: str) -> list[int]:
    """0-based raster bands feeding the model channels ``mine`` (indices into the sensor).

    ``spec``: 1-based raster band numbers, one per So2Sat channel of the sensor
    (``n_full`` numbers, in So2Sat order) or one per channel the model uses.
    """
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.replace(";", ",").split(",") if p.strip()]
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            raise LczError(
                f"band mapping '{spec}' for the {what}: give raster band numbers, e.g. "
                "'2,3,4,5,6,7,8,9,12,13'"
            ) from None
    else:
        nums = [int(p) for p in spec]
    bad = [n for n in nums if not 1 <= n <= count]
    if bad:
        raise LczError(
            f"band mapping for the {what} names band(s) {bad}, but the raster has {count} bands"
        )
    if len(nums) == n_full:
        return [nums[m] - 1 for m in mine]
    if len(nums) == len(mine):
        return [n - 1 for n in nums]
    raise LczError(
        f"band mapping for the {what} has {len(nums)} numbers; give {n_full} (one per So2Sat "
        f"channel) or {len(mine)} (one per channel the model uses)"
    )


def _sources(
    model, sentinel2, sentinel1, bands, bands_s1, reproject, resample, feedback
) -> list[_Source]:
    """Which rasters and bands feed the model's channels, in the model's channel order."""
    sensor, want = model.sensor, model.bands
    need = {"sen2": ["sen2"], "sen1": ["sen1"], "fusion": ["sen1", "sen2"]}[sensor]
    paths = {"sen2": sentinel2, "sen1": sentinel1}
    spec = {"sen2": bands, "sen1": bands_s1}
    mine_of, offset = {}, 0
    for s in need:
        n_full = len(sensor_channels(s))
        mine = [b - offset for b in want if offset <= b < offset + n_full]
        offset += n_full
        if mine:
            mine_of[s] = mine
    if not mine_of:
        raise LczError("the model uses no input channels")
    for s in mine_of:
        if not paths[s]:
            raise LczError(
                f"this {model.model_type} model uses {_LABEL[s]} data "
                f"({', '.join(model.manifest['band_names'])}); give a {_LABEL[s]} raster"
            )
    # the grid comes from Sentinel-2 when the model uses it; Sentinel-1 follows it
    order = [s for s in ("sen2", "sen1") if s in mine_of]
    opened, ref = {}, None
    for s in order:
        ds, info = open_raster(paths[s])
        what = f"{_LABEL[s]} raster"
        keep = [ds]
        if ref is None:
            ds, info = _prepare_geometry(ds, info, what, reproject, resample, feedback)
            gt = info.geotransform
            if gt[2] != 0 or gt[4] != 0:
                raise LczError(f"{what} '{Path(info.path).name}' is rotated; warp it north-up")
            if info.width < WINDOW or info.height < WINDOW:
                raise LczError(
                    f"{what} '{Path(info.path).name}' is {info.width} x {info.height} pixels, "
                    "smaller than one 32 x 32 window"
                )
            ref = info
        elif not _same_grid(info, ref):
            ds, info = _onto_grid(ds, info, ref, what, feedback)
        keep.append(ds)
        n_full = len(sensor_channels(s))
        mine = mine_of[s]
        if spec[s]:
            bands_idx = parse_band_map(spec[s], info.count, n_full, mine, what)
        elif info.count == n_full:
            bands_idx = mine
        elif info.count == len(mine):
            bands_idx = list(range(len(mine)))
        else:
            raise LczError(
                f"{what} '{Path(info.path).name}' has {info.count} bands; the model needs "
                f"{len(mine)} ({', '.join(sensor_channels(s)[m] for m in mine)}), either alone "
                f"in that order or within the full So2Sat {s} stack of {n_full}; or give a band "
                "mapping (BANDS / --bands)"
            )
        opened[s] = _Source(ds, info, bands_idx, s, keep=keep)
    return [opened[s] for s in ("sen1", "sen2") if s in opened]  # model channel order


# -- scale ---------------------------------------------------------------------------------


def sample_values(src: _Source, size: int = 64, grid: int = 4) -> np.ndarray:
    """Valid values of the source's bands in ``grid x grid`` small blocks spread over the
    raster, (N, C). Reads at most grid² x size² pixels, whatever the raster size."""
    g = gdal()
    w, h = src.info.width, src.info.height
    bw, bh = min(w, size), min(h, size)
    xs = np.unique(np.linspace(0, w - bw, grid).astype(int))
    ys = np.unique(np.linspace(0, h - bh, grid).astype(int))
    parts = []
    for y in ys:
        for x in xs:
            a = src.ds.ReadAsArray(
                int(x),
                int(y),
                bw,
                bh,
                buf_type=g.GDT_Float32,
                band_list=[b + 1 for b in src.bands],
                interleave="pixel",
            )
            parts.append(a.reshape(-1, len(src.bands)))
    v = np.concatenate(parts)
    ok = np.isfinite(v).all(axis=1)
    for k, b in enumerate(src.bands):
        nd = src.info.nodata[b]
        if nd is not None and not np.isnan(nd):
            ok &= v[:, k] != nd
    return v[ok]


def detect_scale(src: _Source, scale: str, feedback: Feedback) -> float:
    """Factor turning the Sentinel-2 raster into reflectance (1 or 1e-4); warns on mismatch."""
    scale = (scale or "auto").lower()
    if scale not in SCALES:
        raise LczError(f"unknown scale '{scale}'; use one of {', '.join(SCALES)}")
    vals = sample_values(src)
    looks_dn = None
    rng = ""
    if vals.size:
        p1, p50, p99 = np.percentile(vals, [1, 50, 99])
        looks_dn = bool(p99 > DN_THRESHOLD)
        rng = f"values {p1:.4g} to {p99:.4g} (1st-99th percentile), median {p50:.4g}"
    name = Path(src.info.path).name
    if scale == "dn":
        if looks_dn is False:
            feedback.warning(
                f"SCALE is 'dn' but the Sentinel-2 raster '{name}' looks like reflectance ({rng}); "
                "dividing by 10000 anyway"
            )
        return DN_SCALE
    if scale == "reflectance":
        if looks_dn:
            feedback.warning(
                f"the Sentinel-2 raster '{name}' looks DN-scaled ({rng}) but SCALE is "
                "'reflectance'; the model expects reflectance (DN / 10000), so predictions will "
                "be wrong. Use SCALE 'dn' or 'auto'."
            )
        return 1.0
    if looks_dn:
        feedback.warning(
            f"the Sentinel-2 raster '{name}' looks DN-scaled ({rng}); the model expects "
            "reflectance (DN / 10000), so the values are divided by 10000 (SCALE 'auto'). "
            "For processing baseline 04.00+ products, prepare them with 'Prepare Sentinel-2' "
            "to apply the -1000 offset."
        )
        return DN_SCALE
    return 1.0


# -- mask --------------------------------------------------------------------------------


class _CellMask:
    """Output cells whose centre lies inside the extent and/or the polygons of a vector file."""

    def __init__(self, grid, crs_wkt: str, mask=None, extent=None):
        self.grid, self.crs_wkt, self.extent = grid, crs_wkt, extent
        self.vector = None
        if extent is not None:
            x0, y0, x1, y1 = (float(v) for v in extent)
            if x1 <= x0 or y1 <= y0:
                raise LczError(f"extent {extent} is empty (give xmin, ymin, xmax, ymax)")
            self.extent = (x0, y0, x1, y1)
        if mask:
            g = gdal()
            if not os.path.exists(str(mask).split("|")[0]):
                raise LczError(f"mask layer '{mask}' does not exist")
            try:
                self.vector = g.OpenEx(str(mask).split("|")[0], g.OF_VECTOR)
            except RuntimeError as exc:
                raise LczError(f"cannot open mask layer '{mask}': {exc}") from None
            if self.vector is None or self.vector.GetLayerCount() == 0:
                raise LczError(f"'{mask}' is not a vector layer GDAL/OGR can read")

    @property
    def active(self) -> bool:
        return self.extent is not None or self.vector is not None

    def cells(self, r0: int, r1: int) -> np.ndarray:
        gt = self.grid.geotransform
        cols = self.grid.cols
        inside = np.ones((r1 - r0, cols), bool)
        if self.extent is not None:
            xc = gt[0] + gt[1] * (np.arange(cols) + 0.5)
            yc = gt[3] + gt[5] * (np.arange(r0, r1) + 0.5)
            x0, y0, x1, y1 = self.extent
            inside &= ((yc >= y0) & (yc <= y1))[:, None] & ((xc >= x0) & (xc <= x1))[None, :]
        if self.vector is not None:
            g = gdal()
            mem = g.GetDriverByName("MEM").Create("", cols, r1 - r0, 1, g.GDT_Byte)
            mem.SetGeoTransform((gt[0], gt[1], 0.0, gt[3] + r0 * gt[5], 0.0, gt[5]))
            mem.SetProjection(self.crs_wkt)
            for i in range(self.vector.GetLayerCount()):
                g.RasterizeLayer(mem, [1], self.vector.GetLayer(i), burn_values=[1])
            inside &= mem.GetRasterBand(1).ReadAsArray() > 0
        return inside


# -- reading and predicting ----------------------------------------------------------------


def _read_block(sources: list[_Source], row0: int, nrows: int) -> tuple[np.ndarray, np.ndarray]:
    """Input rows as (nrows, W, C) float32 (So2Sat scale) and the pixel validity mask."""
    g = gdal()
    parts, valid = [], None
    for src in sources:
        x = src.ds.ReadAsArray(
            0,
            row0,
            src.info.width,
            nrows,
            buf_type=g.GDT_Float32,
            band_list=[b + 1 for b in src.bands],
            interleave="pixel",
        ).reshape(nrows, src.info.width, len(src.bands))
        ok = np.isfinite(x).all(axis=-1)
        for k, b in enumerate(src.bands):
            nd = src.info.nodata[b]
            if nd is not None and not np.isnan(nd):
                ok &= x[..., k] != nd
        if src.scale != 1.0:
            x *= np.float32(src.scale)
        valid = ok if valid is None else valid & ok
        parts.append(x)
    x = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
    return x, valid


def _window_batches(sources, grid, rows_per_block, batch_size, mask, stop):
    """Producer: per block of output rows, its window batches.

    Yields ("block", r0, r1, ok) then ("batch", rows, cols, windows (N, 32, 32, C)) for
    each batch of valid windows, then ("end", r0, r1, ok). Runs in a reader thread: GDAL
    reads, validity and window gathering overlap with the model's predictions.
    """
    stride = grid.stride
    for r0 in range(0, grid.rows, rows_per_block):
        if stop.is_set():
            return
        r1 = min(grid.rows, r0 + rows_per_block)
        vr1 = min(r1, grid.valid_rows)
        ok = None
        if r0 < vr1:
            in0 = r0 * stride
            x, ok_px = _read_block(sources, in0, (vr1 - 1) * stride + WINDOW - in0)
            _release_cache(sources)
            view = windows(x, stride)[:, : grid.valid_cols]
            ok = window_validity(ok_px, stride)[:, : grid.valid_cols]
            if mask.active:
                ok &= mask.cells(r0, vr1)[:, : grid.valid_cols]
            yield ("block", r0, r1, ok)
            rr, cc = np.nonzero(ok)
            for b0 in range(0, len(rr), batch_size):
                if stop.is_set():
                    return
                br, bc = rr[b0 : b0 + batch_size], cc[b0 : b0 + batch_size]
                yield ("batch", br, bc, gather(view, br, bc))
            del x, view
        else:
            yield ("block", r0, r1, ok)
        yield ("end", r0, r1, ok)


CACHE_BUDGET = 192 * 2**20  # GDAL block cache our inputs may hold before we drop it


def _release_cache(sources) -> None:
    """Drop the inputs' cached GDAL blocks once the cache grows past CACHE_BUDGET.

    GDAL keeps decoded blocks up to GDAL_CACHEMAX (5 % of RAM by default); without this,
    a full 10980 x 10980 tile would fill it and peak memory would grow with the raster.
    """
    if gdal().GetCacheUsed() > CACHE_BUDGET:
        for src in sources:
            for d in reversed(src.keep):
                d.FlushCache()


def _threaded(gen_fn, *args, depth: int = 3):
    """Run the generator ``gen_fn(*args, stop)`` in a thread; iterate its items here."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work():
        try:
            for item in gen_fn(*args, stop):
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            q.put(exc)

    t = threading.Thread(target=work, name="lcz-reader", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except Exception:  # noqa: BLE001 - queue.Empty
                pass
            t.join(timeout=0.05)


def _predict_blocks(model, sources, grid, rows_per_block, batch_size, mask, result, feedback):
    """Pass 1: yield (r0, probabilities (R, cols, 17), valid (R, cols)) per block of rows."""
    done = 0
    total = max(result.windows_total, 1)
    proba = valid = None
    in_block = 0
    for item in _threaded(_window_batches, sources, grid, rows_per_block, batch_size, mask):
        kind = item[0]
        if kind == "block":
            feedback.check_cancelled()
            _, r0, r1, ok = item
            proba = np.zeros((r1 - r0, grid.cols, N_CLASSES), np.float32)
            valid = np.zeros((r1 - r0, grid.cols), bool)
            in_block = 0
        elif kind == "batch":
            feedback.check_cancelled()
            _, br, bc, batch = item
            proba[br, bc] = model.predict_proba(batch, batch_size=batch_size)
            in_block += len(br)
            feedback.progress(100.0 * (done + in_block) / total)
        else:
            _, r0, r1, ok = item
            if ok is not None:
                valid[: ok.shape[0], : grid.valid_cols] = ok
                result.windows_valid += int(ok.sum())
                done += ok.size
            feedback.progress(100.0 * done / total)
            yield r0, proba, valid


# -- outputs ---------------------------------------------------------------------------------


class _Writers:
    """The raster outputs (map, confidence, probabilities), written block by block."""

    def __init__(self, stack, grid, crs_wkt, output, confidence, conf_fmt, probabilities, p_fmt):
        g = gdal()
        self.conf_fmt, self.p_fmt = conf_fmt, p_fmt
        self.counts = np.zeros(18, np.int64)
        gt = grid.geotransform

        def create(path, count, gtype, nodata):
            tmp = stack.enter_context(atomic_output(path, (".aux.xml",)))
            return create_geotiff(tmp, grid.cols, grid.rows, count, gtype, gt, crs_wkt, nodata)

        self.map = create(output, 1, g.GDT_Byte, 0)
        style_lcz_band(self.map.GetRasterBand(1))
        self.conf = self.proba = None
        if confidence:
            byte = conf_fmt == "byte"
            self.conf = create(
                confidence,
                1,
                g.GDT_Byte if byte else g.GDT_Float32,
                BYTE_NODATA if byte else FLOAT_NODATA,
            )
            self.conf.GetRasterBand(1).SetDescription(
                "LCZ confidence (max probability, %)"
                if byte
                else "LCZ confidence (max probability)"
            )
        if probabilities:
            byte = p_fmt == "byte"
            self.proba = create(
                probabilities,
                N_CLASSES,
                g.GDT_Byte if byte else g.GDT_Float32,
                BYTE_NODATA if byte else FLOAT_NODATA,
            )
            from .legend import LCZ_CLASSES

            for c in LCZ_CLASSES:
                unit = " (%)" if byte else ""
                self.proba.GetRasterBand(c.code).SetDescription(f"P(LCZ {c.letter}){unit}")

    def write(self, r0, codes, conf, proba, valid):
        self.map.GetRasterBand(1).WriteArray(codes, 0, r0)
        self.counts += np.bincount(codes.ravel(), minlength=18)
        if self.conf is not None:
            if self.conf_fmt == "byte":
                c = np.where(valid, np.rint(np.clip(conf, 0, 1) * 100), BYTE_NODATA)
                self.conf.GetRasterBand(1).WriteArray(c.astype(np.uint8), 0, r0)
            else:
                self.conf.GetRasterBand(1).WriteArray(conf.astype(np.float32), 0, r0)
        if self.proba is not None:
            if self.p_fmt == "byte":
                p = np.where(valid[..., None], np.rint(np.clip(proba, 0, 1) * 100), BYTE_NODATA)
                p = p.astype(np.uint8)
            else:
                p = np.where(valid[..., None], proba, FLOAT_NODATA).astype(np.float32)
            self.proba.WriteArray(p, 0, r0, interleave="pixel")

    def close(self):
        for ds in (self.map, self.conf, self.proba):
            if ds is not None:
                ds.FlushCache()
        self.map = self.conf = self.proba = None


def _argmax_block(proba, valid):
    codes = np.where(valid, np.argmax(proba, axis=-1) + 1, 0).astype(np.uint8)
    conf = np.where(valid, proba.max(axis=-1), FLOAT_NODATA).astype(np.float32)
    return codes, conf


def _filter_pass(tmp_ds, grid, rows_per_block, method, cell_m, writers, feedback):
    """Pass 2: read the temporary probabilities by blocks with a halo, filter, write."""
    halo = halo_cells(method, cell_m)
    g = gdal()
    for r0 in range(0, grid.rows, rows_per_block):
        feedback.check_cancelled()
        r1 = min(grid.rows, r0 + rows_per_block)
        a0, a1 = max(0, r0 - halo), min(grid.rows, r1 + halo)
        p = tmp_ds.ReadAsArray(
            0, a0, grid.cols, a1 - a0, buf_type=g.GDT_Float32, interleave="pixel"
        ).reshape(a1 - a0, grid.cols, N_CLASSES)
        valid = p.sum(axis=-1) > 0
        codes, conf, proba = filter_block(method, p, valid, cell_m)
        s = slice(r0 - a0, r0 - a0 + (r1 - r0))
        writers.write(r0, codes[s], conf[s], proba[s], valid[s])
        feedback.progress(100.0 * r1 / grid.rows)


def confidence_qml(maximum: float) -> str:
    """A QGIS pseudocolour style for a confidence raster (0..maximum, red to green)."""
    stops = [(0.0, "#d7191c"), (0.5, "#fdae61"), (0.75, "#a6d96a"), (1.0, "#1a9641")]
    items = "\n".join(
        f'          <item value="{v * maximum:g}" color="{c}" alpha="255" label="{v * maximum:g}"/>'
        for v, c in stops
    )
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22" styleCategories="AllStyleCategories">
  <pipe>
    <rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1"
        classificationMin="0" classificationMax="{maximum:g}">
      <rastershader>
        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0">
{items}
        </colorrampshader>
      </rastershader>
    </rasterrenderer>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


# -- the entry point -------------------------------------------------------------------------


def stride_for(resolution, pixel_size: float) -> int:
    """The stride (input pixels) giving an output pixel of ``resolution`` metres."""
    ratio = float(resolution) / pixel_size
    stride = int(round(ratio))
    if stride < 1 or abs(ratio - stride) > 1e-3:
        raise LczError(
            f"resolution {float(resolution):g} m is not a multiple of the input pixel size "
            f"({pixel_size:g} m); use e.g. {pixel_size * 10:g} m"
        )
    return stride


def classify_raster(
    model,
    output,
    sentinel2=None,
    sentinel1=None,
    stride: int = DEFAULT_STRIDE,
    batch_size: int = DEFAULT_BATCH,
    confidence=None,
    feedback: Feedback | None = None,
    *,
    bands=None,
    bands_s1=None,
    scale: str = "auto",
    resolution: float | None = None,
    mask=None,
    extent=None,
    filter: str = "none",  # noqa: A002 - the Processing parameter's name
    confidence_format: str = "float",
    probabilities=None,
    probabilities_format: str = "float",
    area_table=None,
    map_image=None,
    map_title: str | None = None,
    reproject: bool = False,
    resample: bool = False,
) -> ClassifyResult:
    """Write an LCZ map (uint8, 1-17, nodata 0, colour table, .qml) of the input rasters.

    ``model`` is a loaded model (``lcz_qgis.load_model``). Optional outputs:
    ``confidence`` (winning class's probability, float32 with nodata -1, or byte percent
    with nodata 255), ``probabilities`` (17 bands, same formats), ``area_table`` (CSV),
    ``map_image`` (PNG). ``bands``/``bands_s1`` map raster bands to So2Sat channels;
    ``scale`` is auto|reflectance|dn; ``resolution`` (m) overrides ``stride``; ``mask``
    (polygon vector file) and ``extent`` (xmin, ymin, xmax, ymax in the raster CRS) set
    the cells to classify; ``filter`` is none|majority|gaussian.
    """
    feedback = feedback or Feedback()
    t0 = time.monotonic()
    method = check_filter(filter)
    for fmt in (confidence_format, probabilities_format):
        if fmt not in FORMATS:
            raise LczError(f"unknown output format '{fmt}'; use one of {', '.join(FORMATS)}")
    if batch_size < 1:
        raise LczError(f"batch size must be at least 1; got {batch_size}")
    for p in (output, confidence, probabilities, area_table, map_image):
        if p:
            check_output_path(p)
    sources = _sources(model, sentinel2, sentinel1, bands, bands_s1, reproject, resample, feedback)
    for src in sources:
        if src.sensor == "sen2":
            src.scale = detect_scale(src, scale, feedback)
    info = next((s for s in sources if s.sensor == "sen2"), sources[0]).info
    if resolution:
        stride = stride_for(resolution, info.pixel_size[0])
    grid = output_grid(info.width, info.height, info.geotransform, int(stride))
    cell_m = abs(grid.geotransform[1])
    cell_mask = _CellMask(grid, info.crs_wkt, mask, extent)
    n_channels = sum(len(s.bands) for s in sources)
    rows_per_block = max(1, BLOCK_BYTES // (info.width * n_channels * 4 * grid.stride) - 3)
    rows_per_block = min(rows_per_block, max(1, PROBA_BLOCK_BYTES // (grid.cols * N_CLASSES * 4)))
    result = ClassifyResult(Path(output), grid, stride=grid.stride)
    result.windows_total = grid.valid_rows * grid.valid_cols
    result.cell_area_m2 = abs(grid.geotransform[1] * grid.geotransform[5])
    result.scale_factor = next((s.scale for s in sources if s.sensor == "sen2"), 1.0)
    g = gdal()
    tmp_path = None
    try:
        with contextlib.ExitStack() as stack:
            writers = _Writers(
                stack,
                grid,
                info.crs_wkt,
                output,
                confidence,
                confidence_format,
                probabilities,
                probabilities_format,
            )
            try:
                blocks = _predict_blocks(
                    model,
                    sources,
                    grid,
                    rows_per_block,
                    batch_size,
                    cell_mask,
                    result,
                    feedback if method == "none" else feedback.scaled(0, 90),
                )
                if method == "none":
                    for r0, proba, valid in blocks:
                        codes, conf = _argmax_block(proba, valid)
                        writers.write(r0, codes, conf, proba, valid)
                else:
                    fd, tmp_path = tempfile.mkstemp(
                        prefix=".lcz_probabilities.", suffix=".tif", dir=Path(output).parent
                    )
                    os.close(fd)
                    tmp = create_geotiff(
                        tmp_path,
                        grid.cols,
                        grid.rows,
                        N_CLASSES,
                        g.GDT_Float32,
                        grid.geotransform,
                        info.crs_wkt,
                        options=["TILED=YES", "COMPRESS=LZW", "BIGTIFF=IF_SAFER"],
                    )
                    for r0, proba, _valid in blocks:
                        tmp.WriteArray(proba, 0, r0, interleave="pixel")
                    tmp.FlushCache()
                    _filter_pass(
                        tmp,
                        grid,
                        rows_per_block,
                        method,
                        cell_m,
                        writers,
                        feedback.scaled(90, 100),
                    )
                    tmp = None
            finally:
                writers.close()  # GDAL writes .aux.xml on close, before the rename
            result.counts = writers.counts.tolist()
    finally:
        if tmp_path:
            for p in (tmp_path, tmp_path + ".aux.xml"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p)
    result.outputs["OUTPUT"] = Path(output)
    write_lcz_qml(output)
    if confidence:
        write_qml(confidence, confidence_qml(100 if confidence_format == "byte" else 1))
        result.outputs["CONFIDENCE"] = Path(confidence)
    if probabilities:
        result.outputs["PROBABILITIES"] = Path(probabilities)
    if result.windows_valid == 0:
        feedback.warning(
            "no window was free of nodata"
            + (" inside the mask" if cell_mask.active else "")
            + ": the map is empty (all 0). Check the input's nodata value and extent."
        )
    if area_table:
        from .area_table import write_area_csv

        write_area_csv(area_table, result.counts, result.cell_area_m2)
        result.outputs["AREA_TABLE"] = Path(area_table)
    if map_image:
        from .map_image import render_map_png

        render_map_png(
            output,
            map_image,
            title=map_title or "Local Climate Zones",
            subtitle=f"{model.model_type} model ({model.sensor}), {cell_m:g} m cells"
            + (f", {method} filter" if method != "none" else ""),
        )
        result.outputs["MAP_IMAGE"] = Path(map_image)
    result.seconds = time.monotonic() - t0
    return result
