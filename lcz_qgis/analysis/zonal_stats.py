"""LCZ statistics per zone: area and share of each class, majority, built and
impervious-dominated shares, mean confidence.

A cell belongs to a zone when its centre lies inside the polygon (GDAL's rule, as
``raster.io.rasterize_rows`` burns it), so a cell on a border counts whole for one zone
and the zones of a partition share the map's cells without overlap. Shares are fractions
(0-1) of the zone's cells that hold an LCZ (nodata cells are counted apart).

``count_zones`` counts every zone in one pass over the map by strips of rows: each
zone's cells in a strip are spans of columns (``zone_spans``: GDAL's rule without
burning a raster), and the keys ``id * 18 + code`` are counted per run of one code in
one zone (``run_counts.count_zone_codes``). Zones that overlap go in separate groups
(``zones.overlap_layers``), each counted apart, so a cell counts in every zone holding
its centre. One thread does it all: the work is numpy's, and a reader thread beside it
made the pass slower and its time erratic (the two threads queue for Python's lock).
Memory depends on the strip (``read_map.pass_rows``), never on the map's size.
``count_zone`` counts one zone by the windows of its bounding box with GDAL's own
rasterizer (the tests' reference).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..common.errors import LczError
from ..common.feedback import Feedback
from ..raster.io import open_raster, rasterize_rows, read_errors, read_window
from . import read_map
from .cell_area import row_areas
from .class_groups import BUILT_CODES, IMPERVIOUS_CODES
from .read_map import STRIP_ROWS, LczMap, pass_rows, read_codes
from .run_counts import count_zone_codes, zone_ids
from .zone_spans import polygon_edges, row_spans
from .zones import Zone, overlap_layers


@dataclass
class ZoneCounts:
    """What one zone holds.

    Attributes:
        cells: cells per code 0-17 (index = code; 0 = nodata).
        area_m2: the area of those cells in m^2, per code 0-17.
        confidence_sum, confidence_cells: the sum and count of the confidence values of
            the zone's LCZ cells (0 without a confidence raster).
    """

    cells: np.ndarray
    area_m2: np.ndarray
    confidence_sum: float = 0.0
    confidence_cells: int = 0

    def share(self, codes) -> float | None:
        """The fraction of the zone's LCZ cells that hold one of ``codes`` (None: no LCZ cell)."""
        cells = self.cells.tolist()  # Python ints: cheap for the 20 shares of a zone
        valid = sum(cells[1:])
        return float(np.int64(sum(cells[c] for c in codes)) / np.int64(valid)) if valid else None

    def summary(self) -> dict:
        """Majority (code, share; the lowest code on a tie), built and impervious shares
        and mean confidence (None where the zone has no LCZ cell)."""
        valid = int(self.cells[1:].sum())
        majority = int(np.argmax(self.cells[1:]) + 1) if valid else None
        conf = self.confidence_sum / self.confidence_cells if self.confidence_cells else None
        return {
            "majority": majority,
            "majority_share": self.share([majority]) if valid else None,
            "built_share": self.share(BUILT_CODES),
            "impervious_share": self.share(IMPERVIOUS_CODES),
            "mean_confidence": conf,
        }


def open_confidence(path, lcz_map: LczMap):
    """The confidence raster, checked to be on the map's grid (same size, geotransform, CRS).

    Raises:
        LczError: another grid.
    """
    ds, info = open_raster(path)
    same = (info.width, info.height) == (lcz_map.info.width, lcz_map.info.height) and np.allclose(
        info.geotransform, lcz_map.info.geotransform, rtol=0, atol=1e-9
    )
    if not same or (info.crs_wkt and info.crs_wkt != lcz_map.info.crs_wkt):
        ds.close()
        raise LczError(
            f"the confidence raster '{path}' is not on the LCZ map's grid (size, pixel "
            "size, origin and CRS must match); give the confidence written with the map"
        )
    return ds


def zone_window(zone: Zone, lcz_map: LczMap) -> tuple[int, int, int, int] | None:
    """(col0, row0, width, height) of the map cells under the zone's bounding box, clipped
    to the map; None when the zone lies outside it."""
    gt, info = lcz_map.info.geotransform, lcz_map.info
    xmin, xmax, ymin, ymax = zone.bounds
    cols = sorted(((xmin - gt[0]) / gt[1], (xmax - gt[0]) / gt[1]))
    rows = sorted(((ymax - gt[3]) / gt[5], (ymin - gt[3]) / gt[5]))
    c0, r0 = max(int(np.floor(cols[0])), 0), max(int(np.floor(rows[0])), 0)
    c1, r1 = min(int(np.ceil(cols[1])), info.width), min(int(np.ceil(rows[1])), info.height)
    if c1 <= c0 or r1 <= r0:
        return None
    return c0, r0, c1 - c0, r1 - r0


def count_zone(zone: Zone, lcz_map: LczMap, confidence=None, rows: int = STRIP_ROWS):
    """The ``ZoneCounts`` of one zone, reading its window by strips of ``rows`` rows."""
    cells, area = np.zeros(18, np.int64), np.zeros(18, np.float64)
    counts = ZoneCounts(cells, area)
    window = zone_window(zone, lcz_map) if zone.map_shape else None
    if window is None:
        return counts
    c0, r0, width, height = window
    gt = lcz_map.info.geotransform
    shifted = (gt[0] + c0 * gt[1], gt[1], 0.0, gt[3], 0.0, gt[5])
    for row in range(r0, r0 + height, rows):
        n = min(rows, r0 + height - row)
        inside = rasterize_rows([zone.map_shape], shifted, row, n, width)
        if not inside.any():
            continue
        codes = read_codes(lcz_map, c0, row, width, n)
        weights = np.broadcast_to(row_areas(lcz_map.info, row, n)[:, None], codes.shape)
        cells += np.bincount(codes[inside], minlength=18)
        area += np.bincount(codes[inside], weights=weights[inside], minlength=18)
        if confidence is not None:
            _add_confidence(counts, confidence, (c0, row, width, n), inside & (codes > 0))
    return counts


def _add_confidence(counts: ZoneCounts, ds, window, cells: np.ndarray) -> None:
    """Add the finite, non-nodata confidence values of ``cells`` in ``window``."""
    c0, row, width, n = window
    with read_errors(ds.name):
        conf = read_window(ds, [0], c0, row, width, n, np.empty((n, width, 1)))[..., 0]
    ok = cells & np.isfinite(conf)
    if ds.nodata is not None:
        ok &= conf != ds.nodata
    counts.confidence_sum += float(conf[ok].sum())
    counts.confidence_cells += int(ok.sum())


@dataclass
class _Tally:
    """The running sums of the one pass, one row per zone."""

    cells: np.ndarray  # (zones, 18) int64
    area: np.ndarray | None  # (zones, 18) float64; None on a projected map (cells x area)
    conf_sum: np.ndarray  # (zones,)
    conf_cells: np.ndarray  # (zones,)


def count_zones(zones: list[Zone], lcz_map: LczMap, confidence=None,
                feedback: Feedback | None = None, rows: int | None = None) -> list[ZoneCounts]:  # fmt: skip
    """The ``ZoneCounts`` of every zone (as ``count_zone`` gives), in one pass over the
    map by strips of ``rows`` rows (``pass_rows``, strips 4 x the usual size); cancel and
    progress (0-90) per strip.
    """
    feedback = feedback or Feedback()
    info, n = lcz_map.info, len(zones)
    # strips 4 x the usual (up to 4 MB of codes, a few tens of MB of work arrays on a
    # noisy map): a strip costs about 60 numpy calls whatever its size
    rows = rows or pass_rows(info.width, 4 * read_map.STRIP_CELLS)
    projected = info.is_projected()
    tally = _Tally(np.zeros((n, 18), np.int64), None if projected else np.zeros((n, 18)),
                   np.zeros(n), np.zeros(n, np.int64))  # fmt: skip
    windows = np.array([w or (0, 0, 0, 0) for w in
                        (zone_window(z, lcz_map) if z.map_shape else None for z in zones)],
                       np.int64).reshape(n, 4)  # fmt: skip
    layers = [np.array(ks, np.int64) for ks in overlap_layers(zones)]
    edges = polygon_edges([z.map_shape for z in zones], info.geotransform)
    plan = (rows, windows, layers, edges)
    for done, strip in _strips(lcz_map, confidence, plan):
        feedback.check_cancelled()
        if strip is not None:
            for ks, spans in strip.spans:
                _add_group(tally, ks, spans, strip.codes, strip.weights, strip.conf)
        feedback.progress(90.0 * done / info.height)
    area = tally.cells * row_areas(info, 0, 1)[0] if projected else tally.area
    return [ZoneCounts(tally.cells[k].copy(), area[k].copy(), float(tally.conf_sum[k]),
                       int(tally.conf_cells[k])) for k in range(n)]  # fmt: skip


@dataclass
class _Strip:
    """One strip of the pass, read, with each group's zone spans: what ``_add_group``
    counts."""

    codes: np.ndarray  # (rows, cols) codes under the active zones' windows
    weights: np.ndarray | None  # a cell's area per row (geographic maps), else None
    conf: np.ndarray | None  # the confidence (NaN where it does not count), or None
    spans: list  # (the group's active zones, their spans: ``_group_spans``) per group


def _strips(lcz_map: LczMap, confidence, plan):
    """Yield ``(rows done, _Strip or None)`` for each strip of the pass, top to bottom
    (None: no zone there)."""
    rows, windows, layers, edges = plan
    height = lcz_map.info.height
    for row0 in range(0, height, rows):
        nrows = min(rows, height - row0)
        groups = [ks[(windows[ks, 1] < row0 + nrows) & (windows[ks, 1] + windows[ks, 3]
                     > row0) & (windows[ks, 2] > 0)] for ks in layers]  # fmt: skip
        groups = [ks for ks in groups if ks.size]
        strip = _read_strip(lcz_map, confidence, edges, (row0, nrows, windows, groups))
        yield row0 + nrows, strip


def _read_strip(lcz_map: LczMap, confidence, edges, strip) -> _Strip | None:
    """Read the part of one strip under the active zones' windows and find each group's
    spans (None without an active zone)."""
    row0, nrows, windows, groups = strip
    if not groups:
        return None
    active = np.concatenate(groups)
    c0 = int(windows[active, 0].min())
    width = int((windows[active, 0] + windows[active, 2]).max()) - c0
    codes = read_codes(lcz_map, c0, row0, width, nrows)
    weights = None if lcz_map.info.is_projected() else row_areas(lcz_map.info, row0, nrows)
    conf = _confidence_values(confidence, (c0, row0, width, nrows), codes)
    poly, row, a, b = row_spans(edges, row0, nrows, lcz_map.info.width)
    at = (row - row0) * width - c0  # flat position of column 0 of each span's row
    starts, stops = at + np.clip(a, c0, c0 + width), at + np.clip(b, c0, c0 + width)
    spans = [(ks, _group_spans(ks, poly, starts, stops)) for ks in groups]
    return _Strip(codes, weights, conf, spans)


def _group_spans(ks: np.ndarray, poly, starts, stops) -> tuple:
    """``(starts, stops, ids)`` of the spans of the zones ``ks`` (sorted; ids 1..len(ks)
    index ``ks``), in order, each starting where the one before stops at the latest: a
    cell two touching zones both claim through rounding counts once, for the first."""
    ids = np.searchsorted(ks, poly)
    mine = ks[np.minimum(ids, ks.size - 1)] == poly
    order = np.argsort(starts[mine], kind="stable")
    starts, stops, ids = starts[mine][order], stops[mine][order], ids[mine][order] + 1
    if starts.size > 1:
        starts[1:] = np.maximum(starts[1:], np.maximum.accumulate(stops)[:-1])
    keep = starts < stops
    return starts[keep], stops[keep], ids[keep]


def _confidence_values(ds, window, codes: np.ndarray):
    """The confidence of ``window`` with NaN where it does not count (no LCZ, not
    finite, nodata), or None without a confidence raster."""
    if ds is None:
        return None
    c0, row, width, n = window
    with read_errors(ds.name):
        conf = read_window(ds, [0], c0, row, width, n, np.empty((n, width, 1)))[..., 0]
    bad = codes == 0
    if ds.nodata is not None:
        bad |= conf == ds.nodata
    conf[bad] = np.nan
    return conf


def _add_group(tally: _Tally, ks: np.ndarray, spans: tuple, codes, weights, conf) -> None:
    """Add one group's cells to ``tally``: ``spans`` (``_group_spans``) hold each zone's
    cells, ids 1..len(ks) indexing ``ks``."""
    cells, area = count_zone_codes(codes, spans, len(ks), weights)
    tally.cells[ks] += cells.reshape(-1, 18)[1:]
    if area is not None:
        tally.area[ks] += area.reshape(-1, 18)[1:]
    if conf is not None:
        zone = zone_ids(spans, codes.shape)
        ok = np.isfinite(conf) & (zone > 0)
        zid = zone[ok]
        tally.conf_sum[ks] += np.bincount(zid, weights=conf[ok], minlength=len(ks) + 1)[1:]
        tally.conf_cells[ks] += np.bincount(zid, minlength=len(ks) + 1)[1:]
