"""Two LCZ maps on one grid: the coarser map's, the other resampled onto it by nearest
neighbour (class codes are never interpolated)."""

from __future__ import annotations

from ..raster.io import info_from_dataset, warped_vrt
from .cell_area import row_areas
from .read_map import LczMap

# the value the warped map gets where it has no data (LCZ nodata)
WARP_NODATA = 0


def cell_area_m2(lcz_map: LczMap) -> float:
    """The ground area of the map's middle cell, m^2 (compares grids in any CRS)."""
    return float(row_areas(lcz_map.info, lcz_map.info.height // 2, 1)[0])


def on_grid_of(target: LczMap, other: LczMap) -> LczMap:
    """``other`` resampled (nearest neighbour, a ``WarpedVRT``) onto ``target``'s grid;
    its nodata and the cells outside it read as 0."""
    t = target.info
    src_nodata = other.nodata if other.nodata is not None else WARP_NODATA
    vrt = warped_vrt(
        other.ds, t.crs_wkt, type(other.ds.transform).from_gdal(*t.geotransform), t.width, t.height,
        "nearest", float(src_nodata), float(WARP_NODATA), dtype="float32",
    )  # fmt: skip
    return LczMap(other.path, vrt, info_from_dataset(vrt, other.path), other.band_names)


def common_grid(reference: LczMap, other: LczMap) -> tuple[LczMap, LczMap, str]:
    """(reference, other) on the coarser one's grid, and a note saying which was resampled.

    On equal cell areas the reference's grid is used.
    """
    if cell_area_m2(other) > cell_area_m2(reference) * 1.0001:
        note = (f"the reference '{reference.path}' was resampled onto the coarser grid of "
                f"'{other.path}' (nearest neighbour)")  # fmt: skip
        return on_grid_of(other, reference), other, note
    same = (reference.info.geotransform, reference.info.crs_wkt, reference.info.width,
            reference.info.height) == (other.info.geotransform, other.info.crs_wkt,
                                       other.info.width, other.info.height)  # fmt: skip
    if same:
        return reference, other, "both maps are on the same grid; nothing was resampled"
    note = (f"the map '{other.path}' was resampled onto the grid of the reference "
            f"'{reference.path}' (nearest neighbour)")  # fmt: skip
    return reference, on_grid_of(reference, other), note
