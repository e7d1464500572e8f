"""The end of a classify-many run: a VRT mosaic per CRS, an optional COG of it, and one
area table.

The area table sums the integer cell counts of the tasks' success records, unless tiles
of one CRS overlap (rasters that overlap, like neighbouring Sentinel-2 tiles): then it
counts the cells of the mosaics, so no cell is counted twice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..common.atomic import atomic_output
from ..common.legend import N_CLASSES

COG_OPTIONS = ["COMPRESS=DEFLATE", "OVERVIEW_RESAMPLING=NEAREST", "BIGTIFF=IF_SAFER"]


def crs_label(wkt: str) -> str:
    """``EPSG_32632`` for a CRS with an EPSG code, else a short checksum of its WKT."""
    import zlib

    from rasterio.crs import CRS

    code = CRS.from_wkt(wkt).to_epsg()
    return f"EPSG_{code}" if code else f"CRS_{zlib.crc32(wkt.encode()):08x}"


def group_by_crs(records: list[dict]) -> dict[str, list[dict]]:
    """Success records by CRS WKT, in name order within each."""
    groups: dict[str, list[dict]] = {}
    for rec in sorted(records, key=lambda r: r["name"]):
        groups.setdefault(rec["crs"], []).append(rec)
    return groups


def build_vrt(folder: Path, records: list[dict], name: str) -> Path:
    """``<folder>/<name>`` (VRT) of the records' tiles (one CRS), nodata 0, styled.

    Tile paths are relative to the VRT, so the output folder can be moved as a whole.
    """
    from ..raster.io import gdal, gdal_writes, write_lcz_qml

    g = gdal()
    target = Path(folder) / name
    tiles = [str(Path(folder) / r["tile"]) for r in records]
    with atomic_output(target) as tmp, gdal_writes():
        ds = g.BuildVRT(str(tmp), tiles, srcNodata=0, VRTNodata=0, resolution="highest")
        if ds is None:
            raise OSError(f"gdal.BuildVRT could not write {target}")
        ds = None
    write_lcz_qml(target)
    return target


def build_cog(vrt: Path, target: Path) -> Path:
    """A Cloud Optimized GeoTIFF of the mosaic ``vrt`` (nearest overviews), styled."""
    from ..raster.io import copy_as_cog, gdal_writes, write_lcz_qml

    with atomic_output(target) as tmp, gdal_writes():
        copy_as_cog(vrt, tmp, COG_OPTIONS)
    write_lcz_qml(target)
    return target


# what the mosaic shows where tiles of one CRS overlap (GDAL's VRT: the last source wins)
OVERLAP_RULE = (
    "where tiles overlap, the mosaic shows the tile whose name sorts last (a VRT's last "
    "source wins; where that tile has no data, the one below shows); the area table counts "
    "the mosaic's cells, so no cell is counted twice"
)


def overlapping_pairs(tiles, limit: int = 5) -> tuple[list[tuple[str, str]], int]:
    """Pairs of tiles of one CRS that share an output cell (their ``cells`` boxes on the
    CRS's grid intersect; tiles that only touch do not).

    Args:
        tiles: (name, CRS WKT, (col0, row0, cols, rows)) of each tile.
        limit: how many pairs to return (all are counted).

    Returns:
        (the first ``limit`` pairs, each in name order, the number of pairs).
    """
    groups: dict[str, list] = {}
    for name, crs, cells in tiles:
        groups.setdefault(crs, []).append((*cells, name))
    pairs, count = [], 0
    for boxes in groups.values():
        boxes.sort()
        for i, (c0, r0, w0, h0, a) in enumerate(boxes):
            for c1, r1, _w1, h1, b in boxes[i + 1 :]:
                if c1 >= c0 + w0:
                    break
                if r1 < r0 + h0 and r0 < r1 + h1:
                    count += 1
                    if len(pairs) < limit:
                        pairs.append(tuple(sorted((a, b))))
    return pairs, count


def _overlap(records: list[dict]) -> bool:
    """Whether two tiles of one CRS share a cell (their ``cells`` boxes intersect)."""
    tiles = [(r["name"], r["crs"], tuple(r["cells"])) for r in records]
    return overlapping_pairs(tiles, limit=0)[1] > 0


def count_cells(path: Path) -> np.ndarray:
    """Cells per value 0..17 of an LCZ raster, read block by block."""
    import rasterio

    counts = np.zeros(N_CLASSES + 1, np.int64)
    with rasterio.open(path) as ds:
        for _, win in ds.block_windows(1):
            counts += np.bincount(ds.read(1, window=win).ravel(), minlength=N_CLASSES + 1)[
                : N_CLASSES + 1
            ]
    return counts


def area_counts(records: list[dict], mosaics: dict[str, Path]) -> tuple[np.ndarray, str]:
    """Cells per value 0..17 of the whole run and how they were counted.

    Args:
        records: every finished task's success record.
        mosaics: CRS WKT -> its mosaic (used for a CRS whose tiles overlap).

    Returns:
        (counts, "records" or "mosaic" for what was summed).
    """
    total = np.zeros(N_CLASSES + 1, np.int64)
    how = "records"
    for wkt, recs in group_by_crs(records).items():
        if _overlap(recs) and wkt in mosaics:
            total += count_cells(mosaics[wkt])
            how = "mosaic"
        else:
            for r in recs:
                total += np.asarray(r["counts"], np.int64)
    return total, how
