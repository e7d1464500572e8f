"""``export_map``: an LCZ map as the urban-climate models read it.

- **UMEP** (its LCZ Converter, for SUEWS): codes 1-10 and 101-107 for LCZ A-G (UMEP
  hard-codes 101-107; given 11-17 it silently read water as "paved", UMEP issue #442),
  uint8, nodata 0, the map's own CRS and grid (a plain recoding, cell for cell).
- **KMZ** (Google Earth): a coloured overlay in EPSG:4326 with a legend (``kmz``).
- **WRF** (W2W, for WRF's urban schemes): codes 1-17, EPSG:4326, nodata 0, nearest
  neighbour (each cell takes the code under its centre, exact transforms: never an
  interpolated class code), on a regular lat/lon grid at about the map's resolution
  (``wgs84_grid.wrf_grid``), over the map's extent or a stated domain the map must cover.

Any LCZ map is read (``read_map``: 1-17 or 101-107, any nodata, CRS, float), by strips of
rows: memory is flat in map size. The UMEP and WRF outputs are GeoTIFFs with an LCZ
``.qml`` beside them, the KMZ a zip; each written through ``common.atomic.staged_outputs``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..common.atomic import check_distinct_paths, staged_outputs
from ..common.errors import LczError, param
from ..common.feedback import Feedback
from ..common.legend import legend_entries, qml_paletted
from ..raster.io import closing_raster, create_geotiff, gdal_writes, style_lcz_band
from ..styling.qml import paletted_style
from .kmz import export_kmz
from .read_map import STRIP_ROWS, LczMap, iter_strips, open_lcz_map
from .wgs84_grid import WGS84, wgs84_wkt, wrf_grid, wrf_strips

FORMATS = ("umep", "wrf", "kmz")
# code 0-17 -> UMEP's code: 0 nodata, 1-10 as they are, LCZ A-G (11-17) -> 101-107
UMEP_CODES = np.array([0, *range(1, 11), *range(101, 108)], np.uint8)


def umep_qml(palette: str | None = None, language: str | None = None) -> str:
    """The LCZ legend style with UMEP's codes (1-10, 101-107): colours and names from
    ``common.legend`` in ``palette`` and ``language`` (None: the run's)."""
    entries = legend_entries(palette, language)
    return paletted_style([(int(UMEP_CODES[code]), color, label) for code, color, label in entries])


def check_domain(domain) -> tuple[float, float, float, float]:
    """``domain`` (W, S, E, N in degrees) as floats, checked.

    Raises:
        LczError: not four finite numbers, W >= E, S >= N or outside -180..180 / -90..90.
    """
    try:
        w, s, e, n = (float(v) for v in domain)
    except (TypeError, ValueError):
        raise LczError(f"{param('DOMAIN')}: give W,S,E,N in degrees (four numbers)") from None
    shown = f"{w:g},{s:g},{e:g},{n:g}"
    if not all(map(math.isfinite, (w, s, e, n))) or not (
        -180 <= w < e <= 180 and -90 <= s < n <= 90
    ):
        raise LczError(f"{param('DOMAIN')} {shown}: give W,S,E,N in degrees with "
                       "-180 <= W < E <= 180 and -90 <= S < N <= 90")  # fmt: skip
    return w, s, e, n


def _domain_outline(domain, steps: int = 21) -> tuple[np.ndarray, np.ndarray]:
    """Points along the domain's edges (lon, lat), densified: edges curve in the map's CRS."""
    w, s, e, n = domain
    t = np.linspace(0.0, 1.0, steps)
    lon = np.concatenate([w + (e - w) * t, w + (e - w) * t, np.full(steps, w), np.full(steps, e)])
    lat = np.concatenate([np.full(steps, s), np.full(steps, n), s + (n - s) * t, s + (n - s) * t])
    return lon, lat


def check_covers(lcz_map: LczMap, domain) -> None:
    """Refuse a domain the map does not cover (its outline, in the map's CRS, must lie
    within the map's bounds, to a tenth of a cell).

    Raises:
        LczError: one line with the domain and what the map covers, in degrees.
    """
    from rasterio.warp import transform

    info = lcz_map.info
    lon, lat = _domain_outline(domain)
    xs, ys = transform(WGS84, info.crs_wkt, lon.tolist(), lat.tolist())
    x0, y0, x1, y1 = info.bounds()
    tx, ty = 0.1 * info.pixel_size[0], 0.1 * info.pixel_size[1]
    xs, ys = np.asarray(xs), np.asarray(ys)
    inside = (xs >= x0 - tx) & (xs <= x1 + tx) & (ys >= y0 - ty) & (ys <= y1 + ty)
    if not (np.isfinite(xs).all() and np.isfinite(ys).all() and inside.all()):
        box = ",".join(f"{v:.4f}" for v in info.bounds_in(wgs84_wkt()))
        shown = ",".join(f"{v:g}" for v in domain)
        raise LczError(
            f"{param('DOMAIN')} {shown}: the LCZ map '{lcz_map.path}' does not cover this "
            f"domain (its bounding box is about {box}, W,S,E,N in degrees); W2W needs the map over "
            "the whole domain and its margin: give a domain inside the map or a larger map"
        )


def _check(output, fmt: str) -> None:
    """A known format; the output a GeoTIFF (a .kmz for Google Earth)."""
    if fmt not in FORMATS:
        raise LczError(f"{param('FORMAT')} '{fmt}': give one of {', '.join(FORMATS)}")
    suffix = Path(str(output)).suffix.lower()
    if fmt == "kmz" and suffix != ".kmz":
        raise LczError(f"{param('OUTPUT')}: the Google Earth export is a KMZ; give a .kmz name")
    if fmt != "kmz" and suffix not in (".tif", ".tiff"):
        raise LczError(f"{param('OUTPUT')}: the export is a GeoTIFF; give a .tif name")


def _write(strips, grid, crs_wkt, fmt: str, tmp, feedback) -> np.ndarray:
    """Write the strips ``(row0, codes 0-17)`` into the GeoTIFF ``tmp`` on ``grid``
    (geotransform, width, height), UMEP- or WRF-coded; returns the cells per code 0-17."""
    gt, width, height = grid
    counts = np.zeros(18, np.int64)
    lut = UMEP_CODES if fmt == "umep" else np.arange(18, dtype=np.uint8)
    with gdal_writes(), closing_raster(create_geotiff(
        tmp, width, height, 1, "uint8", gt, crs_wkt, nodata=0, descriptions=["LCZ"])) as ds:  # fmt: skip
        if fmt == "wrf":
            style_lcz_band(ds)  # the colour table of codes 0-17
        for row0, codes in strips:
            feedback.check_cancelled()
            ds.write(lut[codes][None], window=((row0, row0 + codes.shape[0]), (0, width)))
            counts += np.bincount(codes.ravel(), minlength=18)
            feedback.progress(95.0 * (row0 + codes.shape[0]) / height)
    return counts


def export_map(map_path, output, fmt: str, domain=None, feedback: Feedback | None = None):
    """Export an LCZ map for UMEP, WRF (W2W) or Google Earth (KMZ, ``kmz``).

    Args:
        map_path: any LCZ map (``read_map``).
        output: the GeoTIFF to write, its ``.qml`` style beside it; for ``kmz`` the .kmz.
        fmt: ``"umep"``, ``"wrf"`` or ``"kmz"``.
        domain: WRF only: (W, S, E, N) in degrees the map must cover (None: the map's
            extent).

    Returns:
        dict: ``output``, ``format``, ``crs`` (EPSG:... or name), ``width``, ``height``,
        ``classes`` (the LCZ codes 1-17 present), ``nodata_share`` (of the output's cells);
        for ``kmz`` also ``bounds`` (W, S, E, N, degrees) and ``note`` (downsampling).

    Raises:
        LczError: bad input (named), a domain with UMEP, a domain the map does not cover.
    """
    feedback = feedback or Feedback()
    _check(output, fmt)
    if domain is not None and fmt != "wrf":
        raise LczError(f"{param('DOMAIN')} is for the WRF export only; UMEP and KMZ keep the "
                       "map's extent")  # fmt: skip
    domain = check_domain(domain) if domain is not None else None
    check_distinct_paths({"MAP": map_path}, {"OUTPUT": output})
    with open_lcz_map(map_path) as lcz_map:
        if fmt == "kmz":
            return export_kmz(lcz_map, output, feedback)
        if fmt == "wrf" and domain is not None:
            check_covers(lcz_map, domain)
        info = lcz_map.info
        if fmt == "wrf":
            transform, width, height, _ = wrf_grid(lcz_map, domain)
            strips = wrf_strips(lcz_map, transform, width, height)
            grid, crs_wkt = (transform.to_gdal(), width, height), wgs84_wkt()
        else:
            if lcz_map.is_geographic:
                feedback.info("the map is in degrees and so is the UMEP export; UMEP's grids "
                              "are usually in metres: reproject the map first (nearest "
                              "neighbour) if yours is")  # fmt: skip
            strips = iter_strips(lcz_map, STRIP_ROWS)
            grid, crs_wkt = (info.geotransform, info.width, info.height), info.crs_wkt
        with staged_outputs(feedback) as st:
            counts = _write(strips, grid, crs_wkt, fmt, st.temp(output), feedback)
            if counts[1:].sum() == 0:
                raise LczError(f"the LCZ map '{map_path}' holds no LCZ cell where it is exported")
            st.write_text(
                Path(output).with_suffix(".qml"), umep_qml() if fmt == "umep" else qml_paletted()
            )
    share = float(counts[0] / counts.sum())
    if share > 0:
        feedback.info(f"{share:.1%} of the exported cells hold no LCZ (nodata 0)")
    crs = WGS84 if fmt == "wrf" else info.crs_description()
    classes = [int(c) for c in np.flatnonzero(counts[1:]) + 1]
    return {"output": str(output), "format": fmt, "crs": crs, "width": grid[1],
            "height": grid[2], "classes": classes, "nodata_share": share}  # fmt: skip
