"""Visual products of whole rasters, by blocks (``lcz:render`` / ``lcz render``).

Products (``indices.PRODUCTS``): ``truecolor``, ``s1falsecolor`` (byte RGB + alpha) and
the indices ``ndvi``, ``rvi``, ``ndbi``, ``ndwi``, ``mndwi`` (float32, nodata -9999 where
the denominator is 0 or an input is nodata/NaN; never inf or NaN).

Bands are found, in this order, from ``bands`` (e.g. "B4=3,B8=4" with 1-based raster
band numbers, or "B2,B3,B4,B8" = the raster's bands in that order), from the raster's
band descriptions (the patch rasters of ``loadpatches`` and the sample data name their
bands), or from the band count in So2Sat order (10 = Sentinel-2, 8 = Sentinel-1,
18 = fusion).

The raster is read in full-width strips of rows (at most ~64 MB of working memory), so
a 10980 x 10980 tile is never held in memory. The true-colour percentile stretch comes
from a subsample: a decimated read of the overviews when the raster has them, else of at
most 8 evenly spaced strips; or from a first pass by blocks when that finds too few valid
pixels (sparse patch mosaics). After each strip the blocks GDAL cached for it are dropped,
so GDAL's block cache (5 % of RAM by default) does not fill up either.
Each output gets a ``.qml`` style sidecar with a legend.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.atomic import StagedOutputs, check_distinct_paths, check_output_path, staged_outputs
from ..common.bands import SEN1_CHANNELS, SEN2_BANDS, BandItem, band_items
from ..common.errors import LczError, param
from ..common.feedback import Feedback
from ..raster.io import (
    check_tif_name,
    closing_raster,
    gdal_writes,
    qml_path,
    read_errors,
    trim_cache,
)
from .indices import (
    DEFAULT_PERCENTILES,
    NODATA,
    PRODUCTS,
    canonical_band,
    compute,
    percentile_limits,
    product,
    so2sat_band_map,
)

BLOCK_BUDGET_BYTES = 64 * 2**20
# Deflate level 1: as small as the default level on image data (within ~1 %) and about
# twice as fast; the float predictor saves ~7 % on indices but costs ~40 % of the time.
OUTPUT_OPTIONS = ["TILED=YES", "COMPRESS=DEFLATE", "ZLEVEL=1", "BIGTIFF=IF_SAFER"]
INDEX_OPTIONS: list[str] = []
RGB_OPTIONS = ["PHOTOMETRIC=RGB", "ALPHA=YES"]
SAMPLE_MAX = 1024  # decimated read for the stretch statistics: at most 1024 x 1024
MIN_SAMPLE_PIXELS = 5000
SAMPLE_STRIPS = 8


def parse_band_mapping(spec: str, count: int) -> dict[str, int]:
    """BANDS (``common.bands.band_items``) -> {canonical name: 0-based raster band}.

    'B4=3,B8=4' names each band's number; 'B2,B3,B4,B8' names the raster's bands in
    order; numbers alone ('3,2,1,...') are the raster bands of the So2Sat channels in
    So2Sat order (10 for Sentinel-2, 8 for Sentinel-1, 18 for fusion).
    """
    items = band_items(spec)
    if items and all(it.name is None for it in items):
        order = {10: SEN2_BANDS, 8: SEN1_CHANNELS, 18: SEN1_CHANNELS + SEN2_BANDS}
        if len(items) not in order:
            raise LczError(
                f"{param('BANDS')} '{spec}': numbers alone are the raster bands of the So2Sat "
                "channels in So2Sat order (10, 8 or 18 numbers); or name them, e.g. 'B4=3,B8=4'"
            )
        items = [BandItem(n, it.number) for n, it in zip(order[len(items)], items)]
    out: dict[str, int] = {}
    for k, item in enumerate(items):
        if item.name is None:
            raise LczError(
                f"{param('BANDS')} entry '{item.number}': write NAME=BAND_NUMBER, e.g. 'B8=4'"
            )
        b = k + 1 if item.number is None else item.number
        shown = item.name if item.number is None else f"{item.name}={item.number}"
        if not 1 <= b <= count:
            raise LczError(f"{param('BANDS')} entry '{shown}': the raster has bands 1-{count}")
        c = canonical_band(item.name)
        if c in out:
            raise LczError(f"{param('BANDS')} names {item.name} twice")
        out[c] = b - 1
    return out


def _from_descriptions(descriptions: list[str]) -> dict[str, int]:
    out = {}
    for i, d in enumerate(descriptions):
        d = re.sub(r"^S[12]_", "", (d or "").strip())
        if not d:
            continue
        try:
            out.setdefault(canonical_band(d), i)
        except LczError:
            continue
    return out


ORDER_NAMES = {10: "Sentinel-2 (B2 ... B12)", 8: "Sentinel-1 (8 channels)", 18: "fusion (S1 + S2)"}


def resolve_bands(
    product_name: str, count: int, descriptions: list[str], spec=None, raster_name: str = ""
) -> tuple[dict[str, int], str]:
    """{needed band: 0-based raster band} and where the mapping came from."""
    p = product(product_name)
    needs = p.needs
    shown = ", ".join(n.replace("_intensity", "") for n in needs)
    if spec is not None and str(spec).strip():
        m = parse_band_mapping(spec, count)
        missing = [n for n in needs if n not in m]
        if missing:
            raise LczError(
                f"{p.name} needs bands {shown}; {param('BANDS')} does not name "
                f"{', '.join(n.replace('_intensity', '') for n in missing)}"
            )
        return {n: m[n] for n in needs}, "BANDS"
    m = _from_descriptions(descriptions)
    if all(n in m for n in needs):
        return {n: m[n] for n in needs}, "band descriptions"
    m = so2sat_band_map(count)
    missing = [n for n in needs if n not in m]
    if m and not missing:
        return {n: m[n] for n in needs}, f"So2Sat order, {ORDER_NAMES[count]}"
    miss = ", ".join(n.replace("_intensity", "") for n in (missing if m else needs))
    if m:
        why = f"has {count} bands, read in So2Sat {ORDER_NAMES[count]} order, without {miss}"
    else:
        why = (
            f"has {count} band(s), not in So2Sat order (10 Sentinel-2 / 8 Sentinel-1 / 18 "
            f"fusion bands), and its band descriptions do not name {miss}"
        )
    example = ",".join(f"{n.replace('_intensity', '')}={i + 1}" for i, n in enumerate(needs))
    raise LczError(
        f"{p.name} needs bands {shown}: raster '{raster_name}' {why}. Missing: {miss}. "
        f"Give {param('BANDS')} with the raster's band numbers, e.g. '{example}'"
    )


@dataclass
class RenderResult:
    """What ``render`` wrote and counted.

    Attributes:
        output: the product's GeoTIFF.
        qml: its style sidecar.
        product: the product's name (``indices.PRODUCTS``).
        bands: {needed band: 0-based raster band} read.
        band_source: where the band mapping came from (BANDS, band descriptions, So2Sat
            order).
        limits: the true-colour stretch, (low, high) per band; None for other products.
        blocks: the strips of rows written.
        valid_pixels: the pixels with a value (not nodata / transparent).
        seconds: the run's wall time.
        extra: more about the run (``stretch``: how the stretch was sampled).
    """

    output: Path
    qml: Path
    product: str
    bands: dict
    band_source: str
    limits: list | None = None
    blocks: int = 0
    valid_pixels: int = 0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def _read(ds, bands: list[int], nodata: list, row0: int, nrows: int, shape=None) -> np.ndarray:
    """Bands as float32 (rows, cols, k), band nodata values -> NaN; ``shape``: (rows,
    cols) to read the rows decimated into (nearest), None: at full resolution."""
    from rasterio.windows import Window

    arrs = []
    for b in bands:
        with read_errors(ds.name):
            a = ds.read(b + 1, window=Window(0, row0, ds.width, nrows), out_shape=shape)
        a = a.astype(np.float32, copy=False)
        nd = nodata[b]
        if nd is not None and np.isfinite(nd):
            a[a == nd] = np.nan
        arrs.append(a)
    return np.stack(arrs, axis=-1)


def _block_rows(width: int, n_in: int, input_block_height: int = 0) -> int:
    """Rows per strip: a multiple of 16 (the strip height is the output's tile height) within
    the memory budget; a multiple of the input's block height when that fits in twice the
    budget, so that each input block is decoded once."""
    per_row = max(1, width) * (n_in * 4 + 48)  # float32 inputs + float64 temporaries
    rows = max(16, 16 * (BLOCK_BUDGET_BYTES // per_row // 16))
    bh = int(input_block_height or 0)
    if 16 <= bh <= 1024 and bh % 16 == 0:
        k = (2 * BLOCK_BUDGET_BYTES) // (bh * per_row)
        if k >= 1:
            rows = bh * int(min(k, max(1, 512 // bh)))
    return int(min(rows, 1024))


def _stretch_limits(ds, bands, nodata, rows_per_block, feedback) -> tuple[np.ndarray, str]:
    w, h = ds.width, ds.height
    step = int(np.ceil(max(w / SAMPLE_MAX, h / SAMPLE_MAX, 1.0)))
    bw = max(1, w // step)
    if ds.overviews(bands[0] + 1) or step == 1:
        x = _read(ds, bands, nodata, 0, h, (max(1, h // step), bw))
    else:
        # no overviews: at most SAMPLE_STRIPS evenly spaced strips, one input block high,
        # decimated; GDAL's cache is trimmed after each strip (``raster.io.trim_cache``)
        bh = ds.block_shapes[bands[0]][0]
        strip = bh if 16 <= bh <= 1024 else 64
        starts = np.unique(np.linspace(0, max(0, h - strip), SAMPLE_STRIPS).astype(int))
        ystep = max(1, step * len(starts) * strip // h)  # about SAMPLE_MAX rows in all
        parts = []
        for row0 in starts:
            feedback.check_cancelled()
            n = min(strip, h - int(row0))
            parts.append(_read(ds, bands, nodata, int(row0), n, (max(1, n // ystep), bw)))
            trim_cache(0)
        x = np.concatenate(parts)
    ok = np.isfinite(x).all(axis=-1)
    if ok.sum() >= MIN_SAMPLE_PIXELS or step == 1:
        chans = [x[..., k] for k in range(len(bands))]
        how = f"{x.shape[1]} x {x.shape[0]} pixels, decimated read"
        return percentile_limits(chans, ok, DEFAULT_PERCENTILES), how
    # sparse data: a first pass by blocks, keeping a bounded random sample of valid pixels
    rng = np.random.default_rng(0)
    keep = max(64, SAMPLE_MAX * SAMPLE_MAX // max(1, -(-h // rows_per_block)))
    parts = []
    for row0 in range(0, h, rows_per_block):
        feedback.check_cancelled()
        n = min(rows_per_block, h - row0)
        blk = _read(ds, bands, nodata, row0, n).reshape(-1, len(bands))
        blk = blk[np.isfinite(blk).all(axis=1)]
        if blk.shape[0] > keep:
            blk = blk[rng.choice(blk.shape[0], keep, replace=False)]
        parts.append(blk)
        trim_cache(0)
    s = np.concatenate(parts) if parts else np.zeros((0, len(bands)))
    ok = np.ones(s.shape[0], dtype=bool)
    return percentile_limits([s[:, k] for k in range(len(bands))], ok), "first pass by blocks"


@dataclass(frozen=True)
class _Job:
    """What ``render`` reads and how: the input, the product, its bands and strips."""

    ds: object  # the input dataset
    info: object  # its ``RasterInfo``
    product: object  # ``indices.Product``
    bands: list  # 0-based raster bands, in the order of ``product.needs``
    rows_per_block: int
    compute_kw: dict  # more arguments of ``indices.compute`` (the stretch limits)
    local: dict = field(default_factory=dict)  # needed band -> index in ``bands``


def _check_output(input_path, output) -> Path:
    """The output path, checked: writable, named .tif/.tiff, and neither the input nor its
    style file (in.tif -> in.tiff shares in.qml) is overwritten.

    Args:
        input_path: the input raster.
        output: the GeoTIFF to write.

    Returns:
        ``output`` as a Path.

    Raises:
        LczError: the output cannot be written, is not a .tif/.tiff, or is the input.
    """
    out = check_output_path(output)
    check_tif_name(out.name, "the output")
    check_distinct_paths(
        {"INPUT": input_path, "style of INPUT": Path(input_path).with_suffix(".qml")},
        {"OUTPUT": out, "style of OUTPUT": out.with_suffix(".qml")},
    )
    return out


def _bands_for(ds, info, p, bands, feedback) -> tuple[dict[str, int], str]:
    """Find the raster bands the product needs (``resolve_bands``) and report them.

    Args:
        ds: the input dataset (its band descriptions are read).
        info: its ``RasterInfo``.
        p: the product (``indices.Product``).
        bands: the BANDS parameter, or None.
        feedback: gets one line naming the band of each input of the product.

    Returns:
        {needed band: 0-based raster band} and where that mapping came from.
    """
    descriptions = [d or "" for d in ds.descriptions]
    mapping, source = resolve_bands(p.name, info.count, descriptions, bands, Path(info.path).name)
    feedback.info(
        f"{p.title}: "
        + ", ".join(f"{n.replace('_intensity', '')} = band {mapping[n] + 1}" for n in p.needs)
        + f" ({source})"
    )
    return mapping, source


def _output_tiling(w: int, h: int, rows_per_block: int) -> list[str]:
    """The output's tile size: 256 wide and one strip high (when a multiple of 16), so every
    output tile is complete when its strip is written and is compressed and written once."""
    tiling = [f"BLOCKXSIZE={256 if w > 256 else 16 * max(1, -(-w // 16))}"]
    if rows_per_block % 16 == 0:
        tiling.append(f"BLOCKYSIZE={min(rows_per_block, 16 * max(1, -(-h // 16)))}")
    return tiling


def _truecolor_stretch(ds, p, band_list, nodata, rows_per_block, result, feedback) -> dict:
    """The true-colour stretch (2-98 % per band), reported and recorded in ``result``.

    Args:
        ds: the input dataset.
        p: the product (``truecolor``).
        band_list: its 0-based raster bands (red, green, blue).
        nodata: the nodata value of each raster band.
        rows_per_block: the strip height of the fallback first pass.
        result: gets ``limits`` and ``extra["stretch"]``.
        feedback: gets the limits; cancel.

    Returns:
        The arguments ``indices.compute`` takes for the stretch.
    """
    lims, how = _stretch_limits(ds, band_list, nodata, rows_per_block, feedback)
    result.limits = lims.tolist()
    result.extra["stretch"] = how
    feedback.info(
        "stretch (2-98 %, "
        + how
        + "): "
        + ", ".join(f"{n} {lo:.4g}..{hi:.4g}" for n, (lo, hi) in zip(p.needs, lims))
    )
    return {"limits": lims}


def _create_output(tmp, p, info, tiling: list[str]):
    """Create the output GeoTIFF: one float32 band for an index, else RGB + alpha bytes.

    Args:
        tmp: the temporary file to create.
        p: the product (``indices.Product``).
        info: the input's ``RasterInfo`` (size and georeferencing of the output).
        tiling: the tile size options (``_output_tiling``).

    Returns:
        The open rasterio dataset (an index band with nodata set, or RGB + alpha).
    """
    from ..raster.io import create_geotiff

    w, h, gt, wkt = info.width, info.height, info.geotransform, info.crs_wkt
    if p.kind == "index":
        opts = OUTPUT_OPTIONS + INDEX_OPTIONS + tiling
        return create_geotiff(tmp, w, h, 1, "float32", gt, wkt, NODATA, opts, [p.title])
    names = ("Red", "Green", "Blue", "Alpha")
    opts = OUTPUT_OPTIONS + RGB_OPTIONS + tiling
    return create_geotiff(tmp, w, h, 4, "uint8", gt, wkt, None, opts, names)


def _write_product(tmp, job: _Job, result: RenderResult, feedback) -> None:
    """Compute the product strip by strip and write it to the GeoTIFF ``tmp``.

    The output is closed here, also on failure (before the temporary is removed); so it
    is never handed to a function that could still hold it in a traceback.

    Args:
        tmp: the temporary output file (staged).
        job: the input, product, bands and strip height.
        result: gets ``blocks`` and ``valid_pixels``.
        feedback: progress per strip; cancel.
    """
    from rasterio.windows import Window

    p, info, ds = job.product, job.info, job.ds
    w, h = info.width, info.height
    ods = _create_output(tmp, p, info, _output_tiling(w, h, job.rows_per_block))
    with closing_raster(ods):
        ods.update_tags(LCZ_PRODUCT=p.name, LCZ_FORMULA=p.formula)
        nblocks = -(-h // job.rows_per_block)
        for k, row0 in enumerate(range(0, h, job.rows_per_block)):
            feedback.check_cancelled()
            n = min(job.rows_per_block, h - row0)
            x = _read(ds, job.bands, info.nodata, row0, n)
            y = compute(p.name, x, job.local, **job.compute_kw)
            win = Window(0, row0, w, n)
            if p.kind == "index":
                ods.write(y.astype(np.float32, copy=False), 1, window=win)
                result.valid_pixels += int(np.count_nonzero(y != NODATA))
            else:
                ok = np.isfinite(x).all(axis=-1)
                alpha = np.where(ok, 255, 0).astype(np.uint8)
                rgba = np.concatenate([np.moveaxis(y, -1, 0), alpha[None]])
                ods.write(rgba.astype(np.uint8, copy=False), window=win)
                result.valid_pixels += int(ok.sum())
            # keep GDAL's block cache (global, 5 % of RAM by default) from filling up with
            # blocks this strip is done with (its complete tiles are written, in order)
            trim_cache(0)
            feedback.progress(100.0 * (k + 1) / nblocks)
        result.blocks = nblocks
    # closed also on failure, before the temporary is removed


def render(
    input_path,
    product_name: str,
    output,
    bands=None,
    feedback: Feedback | None = None,
    block_rows: int | None = None,
) -> RenderResult:
    """Write ``product_name`` of raster ``input_path`` to the GeoTIFF ``output`` (+ .qml).

    Args:
        input_path: the input raster.
        product_name: a product of ``indices.PRODUCTS`` (e.g. ``ndvi``, ``truecolor``).
        output: the GeoTIFF to write; its .qml style is written beside it.
        bands: the BANDS parameter ("B4=3,B8=4" or "B2,B3,B4,B8"), or None to find the
            bands from the band descriptions or the So2Sat order.
        feedback: progress, messages and cancel.
        block_rows: rows per strip; None for a strip within the memory budget.

    Returns:
        What was written (``RenderResult``).

    Raises:
        LczError: an unknown product, bands not found, a bad output path.
        DiskFull: the output does not fit.
        Cancelled: the user cancelled; no output is left.
    """
    from ..raster.io import open_raster
    from ..styling.styles import qml_for_product

    feedback = feedback or Feedback()
    t0 = time.monotonic()
    p = product(product_name)
    out = _check_output(input_path, output)
    ds, info = open_raster(input_path)
    mapping, source = _bands_for(ds, info, p, bands, feedback)
    band_list = [mapping[n] for n in p.needs]
    in_block_h = ds.block_shapes[band_list[0]][0]
    rows_per_block = int(block_rows or _block_rows(info.width, len(band_list), in_block_h))
    result = RenderResult(out, out.with_suffix(".qml"), p.name, mapping, source)
    kwargs = {}
    if p.name == "truecolor":
        kwargs = _truecolor_stretch(ds, p, band_list, info.nodata, rows_per_block, result, feedback)
    local = {n: k for k, n in enumerate(p.needs)}
    job = _Job(ds, info, p, band_list, rows_per_block, kwargs, local)
    staging = StagedOutputs()
    # float32 or RGBA bytes; compressed, so about
    staging.expect(out, info.width * info.height * 4)
    staging.check_space()
    # the raster, its .aux.xml and .qml are moved in together (atomic.py)
    with staged_outputs(feedback, staging) as st, gdal_writes():
        _write_product(st.temp(out), job, result, feedback)
        st.write_text(qml_path(out), qml_for_product(p.name))
    ds = job = None
    result.seconds = time.monotonic() - t0
    return result


__all__ = ["PRODUCTS", "render", "resolve_bands", "parse_band_mapping", "RenderResult"]
