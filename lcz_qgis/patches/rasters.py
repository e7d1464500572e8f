"""The patch rasters: GeoTIFF mosaics per placement group, or one GeoTIFF per patch.

Mosaics (the default) hold every patch of a group (one UTM zone and 10 m grid, or the
grid layout) with nodata between patches; they are tiled, compressed and sparse (empty
tiles are not stored) and written tile row by tile row, so only the patches of one row
of tiles are held in memory. Per-patch files are written in batches of 256 patches.
Only the selected rows are read (``So2SatFile.read``: sorted runs), so the work and
memory depend on the selection, not on the file size.
"""

from __future__ import annotations

import numpy as np

from ..common.bands import PATCH_SIZE
from ..common.enums import Sensor
from ..common.errors import LczError
from ..common.feedback import Feedback

NODATA = -9999.0
TILE = 64
TIFF_OPTIONS = [
    "TILED=YES",
    f"BLOCKXSIZE={TILE}",
    f"BLOCKYSIZE={TILE}",
    "COMPRESS=DEFLATE",
    "ZLEVEL=1",  # So2Sat floats hardly compress; level 1 is as small and 2-3x faster
    "SPARSE_OK=TRUE",
    "BIGTIFF=IF_SAFER",
]
PATCH_TIFF_OPTIONS = ["COMPRESS=DEFLATE", "ZLEVEL=1"]
# Channels of the quick-look style of the patch rasters (1-based band numbers).
DISPLAY_BANDS = {Sensor.SEN2: (3, 2, 1), Sensor.SEN1: (6, 5, 6)}  # B4,B3,B2 / VV,VH,VV


class PatchSource:
    """Reads selected patches on demand and keeps a small sample for the display stretch."""

    def __init__(self, so2sat, sensor: str, display_channels):
        self.f, self.sensor = so2sat, sensor
        self.display = [b - 1 for b in display_channels]
        self.sample: list[np.ndarray] = []
        self.nonfinite: set[int] = set()  # indices of patches holding NaN or inf

    def read(self, indices: np.ndarray) -> dict[int, np.ndarray]:
        """The patches ``indices`` ({index: (rows, cols, channels) array}), read in
        index order; notes non-finite patches and keeps a sample of the display bands."""
        if len(indices) == 0:
            return {}
        order = np.sort(np.asarray(indices, dtype=np.int64))
        arr = self.f.read(self.sensor, order)
        bad = ~np.isfinite(arr).reshape(len(order), -1).all(axis=1)
        self.nonfinite.update(int(i) for i in order[bad])
        self.sample.append(arr[:, ::4, ::4][..., self.display].reshape(-1, len(self.display)))
        return {int(i): arr[k] for k, i in enumerate(order)}

    def limits(self) -> list[tuple[float, float]]:
        """The 2-98 % stretch (low, high) of each display band over the patches read;
        (0, 1) when none was read."""
        if not self.sample:
            return [(0.0, 1.0)] * len(self.display)
        s = np.concatenate(self.sample).astype(np.float64)
        out = []
        for k in range(s.shape[1]):
            v = s[:, k][np.isfinite(s[:, k])]
            lo, hi = np.percentile(v, (2, 98)) if v.size else (0.0, 1.0)
            out.append((float(lo), float(hi if hi > lo else lo + 1e-6)))
        return out


def warn_nonfinite(bad: set[int], n: int, sensor: str, feedback: Feedback) -> None:
    """Warn that the patches ``bad`` (of ``n`` written) hold NaN or infinite values."""
    if not bad:
        return
    shown = ", ".join(str(i) for i in sorted(bad)[:10]) + (", ..." if len(bad) > 10 else "")
    feedback.warning(
        f"{len(bad)} of {n} patch(es) hold NaN or infinite {sensor} values (indices {shown}); "
        "they were written as they are (not as nodata), so those pixels may look empty or "
        "distort statistics"
    )


def _crs_wkt(epsg: int) -> str:
    """The WKT of EPSG:``epsg``."""
    from ..raster.io import osr

    s = osr().SpatialReference()
    try:
        s.ImportFromEPSG(int(epsg))
    except RuntimeError:
        raise LczError(f"EPSG:{epsg} is not a coordinate reference system GDAL knows") from None
    return s.ExportToWkt()


def _create(path, width, height, count, gt, wkt, names, options):
    """A float32 GeoTIFF of ``count`` patch bands named ``names``, nodata ``NODATA``."""
    from ..raster.io import create_geotiff

    return create_geotiff(path, width, height, count, "float32", gt, wkt, NODATA, options, names)


def _write_mosaic(path, src: PatchSource, order, cols, rows, gt, wkt, names, feedback):
    """Patches ``order`` (in stacking order) at pixel offsets (cols, rows), tile by tile,
    into ``path`` (a temporary file of the run's ``StagedOutputs``)."""
    count = len(names)
    width, height = int(cols.max()) + PATCH_SIZE, int(rows.max()) + PATCH_SIZE
    r0, r1 = rows // TILE, (rows + PATCH_SIZE - 1) // TILE
    c0, c1 = cols // TILE, (cols + PATCH_SIZE - 1) // TILE
    tile_rows = np.unique(np.concatenate([r0, r1]))
    from ..raster.io import closing_raster

    ds = _create(path, width, height, count, gt, wkt, names, TIFF_OPTIONS)
    with closing_raster(ds):  # closed also on failure, so the temporary file can be removed
        _fill_mosaic(ds, src, order, cols, rows, (r0, r1, c0, c1), tile_rows, feedback)
    return width, height


def _fill_mosaic(ds, src, order, cols, rows, spans, tile_rows, feedback) -> None:
    from rasterio.windows import Window

    r0, r1, c0, c1 = spans
    count, width, height = ds.count, ds.width, ds.height
    cache: dict[int, np.ndarray] = {}
    for step, tr in enumerate(tile_rows):
        feedback.check_cancelled()
        members = np.flatnonzero((r0 <= tr) & (r1 >= tr))
        needed = set(order[members].tolist())
        for i in [i for i in cache if i not in needed]:
            del cache[i]
        cache.update(src.read([i for i in order[members] if int(i) not in cache]))
        y0 = int(tr) * TILE
        th = min(TILE, height - y0)
        for tc in np.unique(np.concatenate([c0[members], c1[members]])):
            x0 = int(tc) * TILE
            tw = min(TILE, width - x0)
            tile = np.full((count, th, tw), NODATA, dtype=np.float32)
            for m in members:  # stacking order: later patches on top
                if not (c0[m] <= tc <= c1[m]):
                    continue
                patch = cache[int(order[m])]
                py0, px0 = int(rows[m]) - y0, int(cols[m]) - x0
                ys, xs = max(0, py0), max(0, px0)
                ye, xe = min(th, py0 + PATCH_SIZE), min(tw, px0 + PATCH_SIZE)
                tile[:, ys:ye, xs:xe] = np.moveaxis(
                    patch[ys - py0 : ye - py0, xs - px0 : xe - px0], -1, 0
                )
            ds.write(tile, window=Window(x0, y0, tw, th))
        feedback.progress(100.0 * (step + 1) / len(tile_rows))


def _count_overlaps(cols: np.ndarray, rows: np.ndarray) -> int:
    """How many patches at pixel offsets (cols, rows) overlap another one."""
    cells: dict[tuple[int, int], list[int]] = {}
    for k, (c, r) in enumerate(zip(cols // PATCH_SIZE, rows // PATCH_SIZE)):
        cells.setdefault((int(c), int(r)), []).append(k)
    hit = set()
    for k in range(cols.size):
        cc, rr = int(cols[k] // PATCH_SIZE), int(rows[k] // PATCH_SIZE)
        for dc in (-1, 0, 1):
            for dr in (-1, 0, 1):
                for j in cells.get((cc + dc, rr + dr), ()):
                    if (
                        j != k
                        and abs(cols[j] - cols[k]) < PATCH_SIZE
                        and abs(rows[j] - rows[k]) < PATCH_SIZE
                    ):
                        hit.add(k)
    return len(hit)


def write_mosaics(paths, src, placement, names, raster_of, staging, fb) -> int:
    """Write one mosaic per placement group (to temporary files of ``staging``).

    Args:
        paths: The mosaic path of each group.
        src: The ``PatchSource``.
        placement: Where the patches go.
        names: The band names.
        raster_of: Filled in: the file name of each placed patch's raster.
        staging: The run's ``StagedOutputs``.
        fb: Progress, messages and cancel.

    Returns:
        The number of patches overlapping another one of their mosaic.
    """
    ngroups = len(placement.group_names)
    wkts: dict[int, str] = {}
    overlapping = 0
    for g in range(ngroups):
        fb.check_cancelled()
        members = np.flatnonzero(placement.group == g)
        px = float(placement.pixel[members[0]])
        x0 = float(placement.ul_x[members].min())
        y0 = float(placement.ul_y[members].max())
        cols = np.rint((placement.ul_x[members] - x0) / px).astype(np.int64)
        rows = np.rint((y0 - placement.ul_y[members]) / px).astype(np.int64)
        epsg = int(placement.epsg[members[0]])
        if epsg not in wkts:
            wkts[epsg] = _crs_wkt(epsg)
        overl = _count_overlaps(cols, rows)
        if overl:
            overlapping += overl
            fb.warning(
                f"{overl} patch(es) in {placement.group_names[g]} overlap others; in the mosaic "
                "the patch with the higher index is on top (use one file per patch to keep "
                "each whole)"
            )
        gt = (x0, px, 0.0, y0, 0.0, -px)
        _write_mosaic(
            staging.temp(paths[g]),
            src,
            placement.indices[members],
            cols,
            rows,
            gt,
            wkts[epsg],
            names,
            fb.scaled(100 * g / ngroups, 100 * (g + 1) / ngroups),
        )
        for m in members:
            raster_of[m] = paths[g].name
    return overlapping


def write_patch_files(paths, src, placement, names, raster_of, staging, fb) -> None:
    """Write one GeoTIFF per placed patch (to temporary files of ``staging``).

    Args:
        paths: The path of each placed patch.
        src: The ``PatchSource``.
        placement: Where the patches go.
        names: The band names.
        raster_of: Filled in: the file name of each placed patch's raster.
        staging: The run's ``StagedOutputs``.
        fb: Progress and cancel.
    """
    from rasterio.crs import CRS

    from ..raster.io import closing_raster

    wkts: dict[int, object] = {}
    n = placement.indices.size
    batch = 256
    order = np.argsort(placement.indices, kind="stable")
    for b0 in range(0, n, batch):
        ks = order[b0 : b0 + batch]
        data = src.read(placement.indices[ks])
        for k in ks:
            fb.check_cancelled()
            idx = int(placement.indices[k])
            epsg = int(placement.epsg[k])
            if epsg not in wkts:
                wkts[epsg] = CRS.from_wkt(_crs_wkt(epsg))  # parsed once per zone
            px = float(placement.pixel[k])
            gt = (float(placement.ul_x[k]), px, 0.0, float(placement.ul_y[k]), 0.0, -px)
            tmp = staging.temp(paths[k])
            ds = _create(
                tmp, PATCH_SIZE, PATCH_SIZE, len(names), gt, wkts[epsg], names, PATCH_TIFF_OPTIONS
            )
            with closing_raster(ds):
                ds.write(np.moveaxis(data[idx], -1, 0).astype(np.float32, copy=False))
            raster_of[k] = paths[k].name
        fb.progress(100.0 * min(n, b0 + batch) / n)
