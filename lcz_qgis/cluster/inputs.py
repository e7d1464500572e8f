"""The tasks of a classify-many run: one per input raster, or per tile of a raster.

Inputs: a LIST file (one raster per line; ``S2,S1`` for a fusion model; ``#`` starts a
comment; relative paths are relative to the list), a FOLDER (its ``*.tif``, ``*.tiff``
and ``*.vrt``, sorted) or a tile index (a vector file, e.g. from ``gdaltindex``: one
polygon per tile with a ``location`` field naming the raster; the tile is the raster's
output cells whose centres lie inside the polygon's bounding box in the raster's CRS: a
polygon in another CRS is reprojected, its edges densified, before its box is taken; an
index without a CRS is refused).

Geometry (``classify.sliding_window``): output cell (i, j) of a raster comes from the
32 x 32 window whose upper-left pixel is (i*stride, j*stride). A tile is a block of
output cells of its raster's grid; its task reads the pixels of those cells' windows
plus a halo of ``postfilter.halo_cells`` cells each side (the Gaussian filter's radius),
starting on a multiple of the stride, so every cell of the tile sees the same pixels
and the same filtered neighbours as in a run on the whole raster. Rasters in one CRS
share one grid, that of the first raster in the CRS: another raster whose cells are
offset from it starts its windows that many pixels in (a raster whose pixels are offset
by a fraction of a pixel is refused).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from ..classify.postfilter import halo_cells
from ..classify.sliding_window import WINDOW, output_grid
from ..common.enums import Sensor
from ..common.errors import LczError, param
from ..common.input_files import check_input_file

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt")
VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".fgb", ".sqlite")
NAME_FIELDS = ("name", "tile", "tile_id", "id")  # a tile index field naming the tile
# what OGR's GeoPackage driver reads for a layer written without a CRS (srs_id 0, -1)
UNDEFINED_SRS = ("Undefined geographic SRS", "Undefined Cartesian SRS")


@dataclass(frozen=True)
class TaskSpec:
    """One task: one call of ``classify_raster`` on a raster or on a window of it.

    Attributes:
        name: unique in the run; the tile is ``tiles/<name>.tif``.
        sentinel2, sentinel1: the input rasters (None where the model takes no such input).
        window: (col_off, row_off, width, height) input pixels of the reference raster
            read by the task, or None for the whole raster.
        crop: (col0, row0, cols, rows): the cells of the window's grid the tile keeps,
            or None for all of them.
        cells: (col0, row0, cols, rows): the tile's cells on the CRS's grid.
        crs: the CRS (WKT) of the grid; one mosaic per CRS.
        raster_windows: windows of the whole raster's grid (for ``prepare_many``).
    """

    name: str
    sentinel2: str | None
    sentinel1: str | None
    window: tuple | None
    crop: tuple | None
    cells: tuple
    crs: str
    raster_windows: int

    @property
    def reference(self) -> str:
        """The raster whose grid the task follows (Sentinel-2 when given)."""
        return self.sentinel2 or self.sentinel1


@dataclass(frozen=True)
class RasterHeader:
    """What planning needs of a raster: its size, geotransform and CRS."""

    path: str
    width: int
    height: int
    geotransform: tuple
    crs: str


def read_header(path: str) -> RasterHeader:
    """The size, geotransform and CRS of a raster (its header only, with rasterio).

    Raises:
        LczError: the raster is missing or unreadable, or has no CRS.
    """
    import rasterio

    check_input_file(path, f"{param('INPUTS')}: raster")
    try:
        with rasterio.open(path) as ds:
            head = RasterHeader(
                str(path), ds.width, ds.height, ds.transform.to_gdal(), ds.crs.to_wkt()
            )
    except (
        rasterio.errors.RasterioError,
        rasterio.errors.RasterioIOError,
        AttributeError,
    ) as exc:  # rasterio 1.3: RasterioIOError is an OSError only
        raise LczError(f"{param('INPUTS')}: cannot read raster '{path}': {exc}") from None
    if not head.crs:
        raise LczError(f"{param('INPUTS')}: raster '{path}' has no coordinate reference system")
    return head


# -- the inputs -> rasters (and tile boxes) -------------------------------------------------


def _list_file(path: Path) -> list[tuple[list[str], None, str | None]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            files = [str((path.parent / p.strip()).resolve()) for p in line.split(",")]
            rows.append((files, None, None))
    return rows


def _folder(path: Path) -> list[tuple[list[str], None, str | None]]:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in RASTER_SUFFIXES)
    return [([str(p.resolve())], None, None) for p in files if p.is_file()]


def _finite(geom) -> bool:
    """Whether every vertex of an OGR geometry (its parts and rings too) is finite."""
    n = geom.GetGeometryCount()
    if n:
        return all(_finite(geom.GetGeometryRef(i)) for i in range(n))
    return all(math.isfinite(v) for point in geom.GetPoints() or [] for v in point)


def _tile_index(path: Path) -> list[tuple[list[str], tuple, str | None]]:
    """(rasters, tile box (see ``read_inputs``), tile name) per feature.

    Raises:
        LczError: not a vector file, no ``location`` field, no feature, or a polygon
            without a coordinate reference system.
    """
    from osgeo import ogr

    ds = ogr.Open(str(path))
    if ds is None or ds.GetLayerCount() == 0:
        raise LczError(f"{param('INPUTS')}: '{path}' is not a vector file OGR can read")
    layer = ds.GetLayer(0)
    fields = [layer.GetLayerDefn().GetFieldDefn(i).GetName().lower()
              for i in range(layer.GetLayerDefn().GetFieldCount())]  # fmt: skip
    if "location" not in fields:
        raise LczError(
            f"{param('INPUTS')}: tile index '{path.name}' has no 'location' field naming "
            "each tile's raster (make one with gdaltindex)"
        )
    name_field = next((f for f in NAME_FIELDS if f in fields), None)
    rows = []
    for feat in layer:
        loc = feat.GetField(fields.index("location"))
        files = [str((path.parent / p.strip()).resolve()) for p in str(loc).split(",")]
        geom = feat.GetGeometryRef()
        if geom is None:
            rows.append((files, None, None))
            continue
        srs = geom.GetSpatialReference() or layer.GetSpatialRef()
        if srs is None or srs.GetName() in UNDEFINED_SRS:
            raise LczError(
                f"{param('INPUTS')}: tile index '{path.name}' has no coordinate reference "
                "system; assign the one its coordinates are in (ogr2ogr -a_srs EPSG:xxxx)"
            )
        box = geom.GetEnvelope()  # (xmin, xmax, ymin, ymax)
        name = str(feat.GetField(fields.index(name_field))) if name_field else None
        if not (all(math.isfinite(v) for v in box) and _finite(geom)):
            raise LczError(
                f"{param('INPUTS')}: tile index '{path.name}': the polygon of feature "
                f"{feat.GetFID()}{f' ({name})' if name else ''} has NaN or infinite "
                "coordinates; fix or delete it"
            )
        rows.append(
            (files, (box[0], box[2], box[1], box[3], srs.ExportToWkt(), geom.ExportToWkt()), name)
        )
    if not rows:
        raise LczError(f"{param('INPUTS')}: tile index '{path.name}' has no feature")
    return rows


def read_inputs(inputs) -> list[tuple[list[str], tuple | None, str | None]]:
    """The rasters of each input (LIST file, FOLDER or tile index), with a tile box.

    Args:
        inputs: one path or several (any mix of the three kinds; a raster is taken as is).

    Returns:
        (raster paths, tile box or None, tile name or None) per raster or tile, in input
        order; a tile box is (xmin, ymin, xmax, ymax, crs wkt, polygon wkt) in the
        index's CRS (``_box_in`` takes it into the raster's).

    Raises:
        LczError: an input does not exist or holds no raster, or a tile index has no CRS.
    """
    out = []
    for item in [inputs] if isinstance(inputs, (str, Path)) else list(inputs):
        p = Path(item)
        check_input_file(p, param("INPUTS"), folder_ok=True)
        if p.is_dir():
            rows = _folder(p)
        elif p.suffix.lower() in RASTER_SUFFIXES:
            rows = [([str(p.resolve())], None, None)]
        elif p.suffix.lower() in VECTOR_SUFFIXES:
            rows = _tile_index(p)
        else:
            rows = _list_file(p)
        if not rows:
            raise LczError(f"{param('INPUTS')}: '{p}' holds no raster")
        out += rows
    return out


# -- rasters -> tasks -------------------------------------------------------------------------


@dataclass
class _CrsGrid:
    """The one output grid of a CRS: its first raster's cell origin and size."""

    x0: float
    y0: float
    cell_x: float
    cell_y: float


def _box_in(box: tuple, crs_wkt: str, tile: str = "") -> tuple:
    """A tile box (xmin, ymin, xmax, ymax, wkt, polygon wkt) in the raster's CRS.

    In another CRS, the polygon (its edges densified to 64 points a side) is reprojected
    into the raster's and its bounding box taken there: the box of the index's CRS,
    reprojected, would be larger (a UTM rectangle is a rotated quad in EPSG:4326).

    Raises:
        LczError: the polygon cannot be reprojected into the raster's CRS.
    """
    from osgeo import ogr, osr

    x0, y0, x1, y1, wkt, polygon = box
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    src.ImportFromWkt(wkt)
    dst.ImportFromWkt(crs_wkt)
    if src.IsSame(dst):
        return x0, y0, x1, y1
    for srs in (src, dst):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    geom = ogr.CreateGeometryFromWkt(polygon)
    geom.Segmentize(max(x1 - x0, y1 - y0) / 64.0 or 1.0)
    try:
        failed = geom.Transform(osr.CoordinateTransformation(src, dst)) != 0
    except RuntimeError:  # osgeo exceptions enabled
        failed = True
    if failed:
        raise LczError(
            f"{param('INPUTS')}: tile '{tile}' of the tile index cannot be reprojected into "
            "its raster's CRS"
        )
    e = geom.GetEnvelope()  # (xmin, xmax, ymin, ymax)
    return e[0], e[2], e[1], e[3]


def _offset_on(grid: _CrsGrid, head: RasterHeader, stride: int) -> tuple[int, int]:
    """Pixels (cols, rows) from the raster's corner to its first window on the CRS grid.

    Raises:
        LczError: the raster's pixel size differs from the grid's, or its pixels are
            offset from the grid's by a fraction of a pixel.
    """
    gt = head.geotransform
    if abs(gt[1] * stride - grid.cell_x) > 1e-6 or abs(gt[5] * stride - grid.cell_y) > 1e-6:
        raise LczError(
            f"{param('INPUTS')}: '{Path(head.path).name}' has {abs(gt[1]):g} m pixels, unlike "
            "the first raster in its CRS; resample it to the same pixel size"
        )
    offsets = []
    for origin, corner, px in ((grid.x0, gt[0], gt[1]), (grid.y0, gt[3], gt[5])):
        first = corner + (WINDOW // 2 - stride / 2.0) * px  # its own first cell's edge
        k = (origin - first) / px
        if abs(k - round(k)) > 1e-6:
            raise LczError(
                f"{param('INPUTS')}: the pixels of '{Path(head.path).name}' are offset by "
                f"{abs(k - round(k)) * abs(px):g} m from those of the first raster in its "
                "CRS; warp it onto the same 10 m pixel grid (gdalwarp -tap)"
            )
        offsets.append(int(round(k)) % stride)
    return offsets[0], offsets[1]


def _cell_span(lo: float, hi: float, origin: float, cell: float, n: int) -> tuple[int, int]:
    """Cells [c0, c1) of an axis whose centres lie in [lo, hi] (``cell`` may be < 0)."""
    a, b = (lo - origin) / cell - 0.5, (hi - origin) / cell - 0.5
    a, b = min(a, b), max(a, b)
    return max(0, math.ceil(a - 1e-9)), min(n, math.floor(b + 1e-9) + 1)


def _window(c0, c1, n_px, halo, stride) -> tuple[int, int, int]:
    """(first pixel, pixels, first cell kept) along one axis for cells [c0, c1)."""
    h0 = min(halo, c0)
    x0 = (c0 - h0) * stride
    x1 = min(n_px, (c1 + halo - 1) * stride + WINDOW)
    if x1 - x0 < WINDOW:  # trailing cells only: start earlier, still on a cell
        x0 = max(0, (x1 - WINDOW) // stride * stride)
    return x0, x1 - x0, c0 - x0 // stride


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "tile"


def _raster_roles(files: list[str], sensor: str) -> tuple[str | None, str | None]:
    """(Sentinel-2, Sentinel-1) of one input line for a model of ``sensor``."""
    if sensor == Sensor.FUSION:
        if len(files) != 2:
            raise LczError(
                f"{param('INPUTS')}: a fusion model needs two rasters per line (S2,S1); "
                f"got {', '.join(files)}"
            )
        return files[0], files[1]
    if len(files) != 1:
        raise LczError(f"{param('INPUTS')}: one raster per line for a {sensor} model; got {files}")
    return (files[0], None) if sensor == Sensor.SEN2 else (None, files[0])


@dataclass(frozen=True)
class TilePlan:
    """How rasters are cut into tasks: the stride, the filter's halo and the tile size."""

    stride: int
    halo: int  # output cells of context each side (the post-filter's)
    tile_size: int  # output cells per tile side; 0: one task per raster (or tile box)


def _raster_tasks(head, roles, box, base, plan: TilePlan, grid: _CrsGrid) -> list[TaskSpec]:
    """The tasks of one raster (or of one tile box of it)."""
    s = plan.stride
    p, q = _offset_on(grid, head, s)
    gt = head.geotransform
    w, h = head.width - p, head.height - q
    if w < WINDOW or h < WINDOW:
        raise LczError(
            f"{param('INPUTS')}: '{head.path}' is smaller than one {WINDOW} x {WINDOW} window"
        )
    shifted = (gt[0] + p * gt[1], gt[1], 0.0, gt[3] + q * gt[5], 0.0, gt[5])
    g = output_grid(w, h, shifted, s)
    whole = output_grid(head.width, head.height, gt, s)
    col_base = int(round((g.geotransform[0] - grid.x0) / grid.cell_x))
    row_base = int(round((g.geotransform[3] - grid.y0) / grid.cell_y))
    c0, c1, r0, r1 = 0, g.cols, 0, g.rows
    if box is not None:
        x0, y0, x1, y1 = _box_in(box, head.crs, base)
        c0, c1 = _cell_span(x0, x1, g.geotransform[0], g.geotransform[1], g.cols)
        r0, r1 = _cell_span(y0, y1, g.geotransform[3], g.geotransform[5], g.rows)
        if c1 <= c0 or r1 <= r0:
            raise LczError(f"{param('INPUTS')}: tile '{base}' holds no cell of '{head.path}'")
    step = plan.tile_size or max(c1 - c0, r1 - r0)
    tiles = [(i, j, a, min(c1, a + step), b, min(r1, b + step))
             for i, b in enumerate(range(r0, r1, step))
             for j, a in enumerate(range(c0, c1, step))]  # fmt: skip
    out = []
    for i, j, a0, a1, b0, b1 in tiles:
        wx, ww, kc = _window(a0, a1, w, plan.halo, s)
        wy, wh, kr = _window(b0, b1, h, plan.halo, s)
        window = (wx + p, wy + q, ww, wh)
        if window == (0, 0, head.width, head.height):
            window = None
        sub = output_grid(ww, wh, gt, s)
        crop = (kc, kr, a1 - a0, b1 - b0)
        if crop == (0, 0, sub.cols, sub.rows):
            crop = None
        name = base if len(tiles) == 1 else f"{base}_r{i:03d}_c{j:03d}"
        cells = (col_base + a0, row_base + b0, a1 - a0, b1 - b0)
        out.append(TaskSpec(name, *roles, window, crop, cells, head.crs,
                            whole.valid_rows * whole.valid_cols))  # fmt: skip
    return out


def plan_tasks(inputs, sensor: str, plan: TilePlan) -> list[TaskSpec]:
    """The tasks of a run, in input order, with unique names.

    Args:
        inputs: LIST file(s), FOLDER(s), tile index(es) or rasters (``read_inputs``).
        sensor: the model's sensor (``sen2``, ``sen1``, ``fusion``).
        plan: the stride, halo and tile size.

    Returns:
        One ``TaskSpec`` per raster, tile box or tile.

    Raises:
        LczError: a missing or unreadable raster, rasters of one CRS whose grids cannot
            be aligned, a tile box outside its raster.
    """
    grids: dict[str, _CrsGrid] = {}
    tasks, seen = [], {}
    for files, box, tile_name in read_inputs(inputs):
        roles = _raster_roles(files, sensor)
        head = read_header(roles[0] or roles[1])
        for other in filter(None, roles[1:] if roles[0] else ()):
            read_header(other)  # exists and is a raster
        gt = head.geotransform
        if head.crs not in grids:
            off = WINDOW // 2 - plan.stride / 2.0
            grids[head.crs] = _CrsGrid(gt[0] + off * gt[1], gt[3] + off * gt[5],
                                       gt[1] * plan.stride, gt[5] * plan.stride)  # fmt: skip
        base = _safe_name(tile_name or Path(head.path).stem)
        for t in _raster_tasks(head, roles, box, base, plan, grids[head.crs]):
            n = seen.get(t.name, 0)
            seen[t.name] = n + 1
            tasks.append(t if n == 0 else _renamed(t, f"{t.name}_{n + 1}"))
    return tasks


def _renamed(task: TaskSpec, name: str) -> TaskSpec:
    from dataclasses import replace

    return replace(task, name=name)


def halo_for(filter_name: str, stride: int, pixel_m: float) -> int:
    """Output cells each tile reads beyond its own for the post-filter ``filter_name``."""
    return halo_cells(filter_name, stride * pixel_m)
