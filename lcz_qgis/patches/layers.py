"""So2Sat patches as georeferenced rasters and outlines (``lcz:loadpatches`` / ``lcz patches``).

Selection
    An index list with ranges ("0-9,15,20-25"), or N patches per LCZ class (seeded), or
    every patch when neither is given. At most ``MAX_PATCHES`` (5000) per run.

Placement
    * With a So2Sat geolocation file (``*_geo.h5``, see ``so2sat.geo``) every patch lies
      at its true place in its UTM zone. By default one GeoTIFF mosaic per group of
      patches sharing a UTM zone and a 10 m grid (in practice: per city), nodata between
      patches; groups more than 200 km apart go to separate mosaics. Mosaics are tiled,
      compressed and sparse (empty tiles are not stored). Optionally one file per patch.
      Rows whose transform is impossible are skipped with a warning.
    * Without one, patches are laid out on a grid with 80 m gaps, in EPSG:3857
      (Web Mercator) from (0, 0) at "Null Island" south-eastwards: 10 m pixels, and at
      the equator Web Mercator's scale error is below 0.003 % over the grid, so map
      distances are metres. With a per-class selection each grid row is one class.

Outlines (GeoPackage)
    One polygon per patch with patch_index, lcz, lcz_letter, lcz_name, city, epsg,
    ul_x, ul_y (the exact corner in the patch's own CRS) and raster (file name). When all
    patches share one CRS the layer is in it (exact squares). When they span several UTM
    zones the layer is in EPSG:4326 and each square is densified to 8 points per side
    before reprojection, so its outline is exact to well below a centimetre. The style
    (categorized by LCZ colour, labelled '#index LCZ x') is stored as the layer's default
    style in the GeoPackage (``layer_styles``) and as a ``.qml`` sidecar.

Only the selected rows are read (``So2SatFile.read``: sorted runs), tile row by tile row,
so the work and memory depend on the selection, not on the file size.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.atomic import (
    StagedOutputs,
    atomic_output,
    check_distinct_paths,
    check_output_path,
    hold_interrupt,
    quiet_close,
    same_file,
)
from ..common.bands import PATCH_SIZE, sensor_channels
from ..common.enums import Sensor
from ..common.errors import LczError, check_seed, keys_as_params, param
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES, lcz_class

MAX_PATCHES = 5000
PATCH = PATCH_SIZE
NODATA = -9999.0
GRID_EPSG = 3857
GRID_GAP_PX = 8
TILE = 64
SPLIT_DISTANCE_M = 200_000.0
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
LAYER_NAME = "patches"
# Channels of the quick-look style of the patch rasters (1-based band numbers).
DISPLAY_BANDS = {Sensor.SEN2: (3, 2, 1), Sensor.SEN1: (6, 5, 6)}  # B4,B3,B2 / VV,VH,VV


# -- selection ---------------------------------------------------------------------------
def parse_indices(spec, n: int) -> np.ndarray:
    """Sorted unique 0-based patch indices from "0-9,15,20-25" (or a list of ints)."""
    if spec is None:
        return np.zeros(0, dtype=np.int64)
    if isinstance(spec, (list, tuple, np.ndarray)):
        vals = [int(v) for v in spec]
    else:
        vals = []
        for part in re.split(r"[,;\s]+", str(spec).strip()):
            if not part:
                continue
            m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
            if m:
                a, b = int(m.group(1)), int(m.group(2))
                if b < a:
                    raise LczError(f"index range '{part}' runs backwards; write it as {b}-{a}")
                if b - a >= 10 * MAX_PATCHES:
                    raise LczError(
                        f"index range '{part}' selects {b - a + 1} patches; at most "
                        f"{MAX_PATCHES} can be loaded in one run"
                    )
                vals.extend(range(a, b + 1))
            elif re.fullmatch(r"\d+", part):
                vals.append(int(part))
            else:
                raise LczError(
                    f"'{part}' is not a patch index or range; write indices like '0-9,15,20-25' "
                    "(0-based, ranges inclusive)"
                )
    idx = np.unique(np.asarray(vals, dtype=np.int64))
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        raise LczError(
            f"patch indices {bad[:5].tolist()} are out of range: the file has {n} patches "
            f"(indices 0-{n - 1})"
        )
    return idx


def select_per_class(labels: np.ndarray, per_class: int, seed: int, feedback: Feedback):
    """``per_class`` random patches of each LCZ class (all of a smaller class, with a
    warning). Returns (sorted indices, {code: indices})."""
    rng = np.random.default_rng(seed)
    chosen: dict[int, np.ndarray] = {}
    short = []
    for code in range(1, N_CLASSES + 1):
        members = np.flatnonzero(labels == code)
        if members.size <= per_class:
            take = members
            if members.size < per_class:
                short.append(f"LCZ {lcz_class(code).letter} has {members.size}")
        else:
            take = np.sort(rng.choice(members, size=per_class, replace=False))
        if take.size:
            chosen[code] = take
    if short:
        feedback.warning(
            f"{len(short)} class(es) have fewer than the {per_class} patches asked for, "
            f"all of them were taken: {'; '.join(short)}"
        )
    allidx = np.sort(np.concatenate(list(chosen.values()))) if chosen else np.zeros(0, np.int64)
    return allidx.astype(np.int64), chosen


def _limit_message(n: int, what: str) -> str:
    return (
        f"{what} {n} patches, more than the {MAX_PATCHES} that can be loaded in one run; "
        f"select patches with {param('INDICES')} (e.g. '0-99,250,300-310', 0-based) or "
        f"{param('PER_CLASS')} "
        "(e.g. 5 = five random patches of each LCZ class)"
    )


# -- placement ---------------------------------------------------------------------------
@dataclass
class Placement:
    """Where each selected patch goes (arrays aligned with ``indices``)."""

    indices: np.ndarray
    epsg: np.ndarray
    ul_x: np.ndarray
    ul_y: np.ndarray
    pixel: np.ndarray
    city: list
    group: np.ndarray  # mosaic group id per patch
    group_names: list  # file-name part per group


def _crs_wkt(epsg: int) -> str:
    from ..raster.io import osr

    s = osr().SpatialReference()
    try:
        s.ImportFromEPSG(int(epsg))
    except RuntimeError:
        raise LczError(f"EPSG:{epsg} is not a coordinate reference system GDAL knows") from None
    return s.ExportToWkt()


def _phase(v: np.ndarray, px: np.ndarray) -> np.ndarray:
    """Sub-pixel phase of coordinates in thousandths of a pixel (0..999)."""
    return np.rint((v / px - np.floor(v / px)) * 1000).astype(np.int64) % 1000


def _split_far(x: np.ndarray, y: np.ndarray, members: np.ndarray) -> list[np.ndarray]:
    """Split a set of patches where they are more than SPLIT_DISTANCE_M apart (x, then y)."""
    out = []
    order = members[np.argsort(x[members], kind="stable")]
    gaps = np.flatnonzero(np.diff(x[order]) > SPLIT_DISTANCE_M) + 1
    for part in np.split(order, gaps):
        o2 = part[np.argsort(-y[part], kind="stable")]
        gaps2 = np.flatnonzero(np.diff(-y[o2]) > SPLIT_DISTANCE_M) + 1
        out.extend(np.sort(p) for p in np.split(o2, gaps2))
    return out


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", s).strip("_")


def place_geo(locs, feedback: Feedback) -> tuple[Placement, list]:
    """Placement of the usable rows of a ``PatchLocations``; returns (placement, skipped)."""
    skipped = [(int(i), r) for i, r, ok in zip(locs.indices, locs.reasons, locs.ok) if not ok]
    if skipped:
        shown = "; ".join(f"row {i}: {r}" for i, r in skipped[:5])
        more = f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""
        feedback.warning(
            f"{len(skipped)} patch(es) skipped: their geolocation is impossible: {shown}{more}"
        )
    keep = np.flatnonzero(locs.ok)
    idx = locs.indices[keep]
    epsg, x, y, px = locs.epsg[keep], locs.ul_x[keep], locs.ul_y[keep], locs.pixel[keep]
    city = [locs.city[k] for k in keep] if locs.city is not None else [""] * idx.size
    keys = {}
    for k in range(idx.size):
        key = (
            int(epsg[k]),
            round(float(px[k]), 6),
            int(_phase(x[k : k + 1], px[k : k + 1])[0]),
            int(_phase(y[k : k + 1], px[k : k + 1])[0]),
            city[k],
        )
        keys.setdefault(key, []).append(k)
    group = np.zeros(idx.size, dtype=np.int64)
    names_raw = []
    for key, members in sorted(keys.items(), key=lambda kv: (kv[0][0], kv[0][4], kv[1][0])):
        for part in _split_far(x, y, np.asarray(members)):
            group[part] = len(names_raw)
            names_raw.append((key[0], key[4]))
    # file-name part: [city_]EPSGxxxxx, numbered when one name would repeat
    base = [(_safe(c) + "_" if c else "") + f"EPSG{e}" for e, c in names_raw]
    names = []
    for b in base:
        if base.count(b) > 1:
            names.append(f"{b}_{sum(1 for n in names if n.startswith(b + '_')) + 1}")
        else:
            names.append(b)
    return Placement(idx, epsg, x, y, px, city, group, names), skipped


def place_grid(indices: np.ndarray, rows_of: list[np.ndarray] | None = None) -> Placement:
    """A grid in EPSG:3857 from (0, 0): row-major, or one row per list in ``rows_of``."""
    cell = (PATCH + GRID_GAP_PX) * 10.0
    if rows_of is None:
        ncol = max(1, int(np.ceil(np.sqrt(indices.size))))
        pos = np.arange(indices.size)
        r, c = pos // ncol, pos % ncol
        order = indices
    else:
        order = np.concatenate(rows_of) if rows_of else np.zeros(0, np.int64)
        r = np.concatenate([np.full(len(g), i) for i, g in enumerate(rows_of)]) if rows_of else []
        c = np.concatenate([np.arange(len(g)) for g in rows_of]) if rows_of else []
    n = len(order)
    return Placement(
        indices=np.asarray(order, dtype=np.int64),
        epsg=np.full(n, GRID_EPSG, dtype=np.int64),
        ul_x=np.asarray(c, dtype=np.float64) * cell,
        ul_y=-np.asarray(r, dtype=np.float64) * cell,
        pixel=np.full(n, 10.0),
        city=[""] * n,
        group=np.zeros(n, dtype=np.int64),
        group_names=["grid"],
    )


# -- raster writing ----------------------------------------------------------------------
class _PatchSource:
    """Reads selected patches on demand and keeps a small sample for the display stretch."""

    def __init__(self, so2sat, sensor: str, display_channels):
        self.f, self.sensor = so2sat, sensor
        self.display = [b - 1 for b in display_channels]
        self.sample: list[np.ndarray] = []
        self.nonfinite: set[int] = set()  # indices of patches holding NaN or inf

    def read(self, indices: np.ndarray) -> dict[int, np.ndarray]:
        if len(indices) == 0:
            return {}
        order = np.sort(np.asarray(indices, dtype=np.int64))
        arr = self.f.read(self.sensor, order)
        bad = ~np.isfinite(arr).reshape(len(order), -1).all(axis=1)
        self.nonfinite.update(int(i) for i in order[bad])
        self.sample.append(arr[:, ::4, ::4][..., self.display].reshape(-1, len(self.display)))
        return {int(i): arr[k] for k, i in enumerate(order)}

    def limits(self) -> list[tuple[float, float]]:
        if not self.sample:
            return [(0.0, 1.0)] * len(self.display)
        s = np.concatenate(self.sample).astype(np.float64)
        out = []
        for k in range(s.shape[1]):
            v = s[:, k][np.isfinite(s[:, k])]
            lo, hi = np.percentile(v, (2, 98)) if v.size else (0.0, 1.0)
            out.append((float(lo), float(hi if hi > lo else lo + 1e-6)))
        return out


def _create(path, width, height, count, gt, wkt, names, options):
    """A float32 GeoTIFF of ``count`` patch bands named ``names``, nodata ``NODATA``."""
    from ..raster.io import create_geotiff

    return create_geotiff(path, width, height, count, "float32", gt, wkt, NODATA, options, names)


def _write_mosaic(path, src: _PatchSource, order, cols, rows, gt, wkt, names, feedback):
    """Patches ``order`` (in stacking order) at pixel offsets (cols, rows), tile by tile,
    into ``path`` (a temporary file of the run's ``StagedOutputs``)."""
    count = len(names)
    width, height = int(cols.max()) + PATCH, int(rows.max()) + PATCH
    r0, r1 = rows // TILE, (rows + PATCH - 1) // TILE
    c0, c1 = cols // TILE, (cols + PATCH - 1) // TILE
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
                ye, xe = min(th, py0 + PATCH), min(tw, px0 + PATCH)
                tile[:, ys:ye, xs:xe] = np.moveaxis(
                    patch[ys - py0 : ye - py0, xs - px0 : xe - px0], -1, 0
                )
            ds.write(tile, window=Window(x0, y0, tw, th))
        feedback.progress(100.0 * (step + 1) / len(tile_rows))


def _count_overlaps(cols: np.ndarray, rows: np.ndarray) -> int:
    cells: dict[tuple[int, int], list[int]] = {}
    for k, (c, r) in enumerate(zip(cols // PATCH, rows // PATCH)):
        cells.setdefault((int(c), int(r)), []).append(k)
    hit = set()
    for k in range(cols.size):
        cc, rr = int(cols[k] // PATCH), int(rows[k] // PATCH)
        for dc in (-1, 0, 1):
            for dr in (-1, 0, 1):
                for j in cells.get((cc + dc, rr + dr), ()):
                    if j != k and abs(cols[j] - cols[k]) < PATCH and abs(rows[j] - rows[k]) < PATCH:
                        hit.add(k)
    return len(hit)


# -- outlines ----------------------------------------------------------------------------
def _ogr():
    from ..common.errors import require

    o = require("osgeo.ogr", "GDAL", "Writing the patch outlines")
    o.UseExceptions()
    return o


def write_patch_outlines(path, placement: Placement, labels, rasters: list[str]) -> Path:
    """GeoPackage with one polygon per placed patch, styled by LCZ (default style + .qml)."""
    from ..raster.io import write_qml

    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise LczError(
            f"the patch outlines are written as a GeoPackage: '{path}' must end in .gpkg"
        )
    with atomic_output(path) as tmp:
        qml = _write_outlines(tmp, placement, labels, rasters)
    write_qml(path, qml)
    return path


def _write_outlines(path, placement: Placement, labels, rasters: list[str]) -> str:
    """Write the outlines GeoPackage at ``path`` (no temporary file); returns its style."""
    from ..raster.io import osr
    from ..styling.styles import qml_patch_polygons

    ogr = _ogr()
    o = osr()
    zones = sorted(set(int(e) for e in placement.epsg))
    target = o.SpatialReference()
    target.ImportFromEPSG(zones[0] if len(zones) == 1 else 4326)
    target.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    transforms = {}
    if len(zones) > 1:
        for e in zones:
            s = o.SpatialReference()
            s.ImportFromEPSG(e)
            s.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
            transforms[e] = o.CoordinateTransformation(s, target)
    qml = qml_patch_polygons()
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    try:
        lyr = ds.CreateLayer(LAYER_NAME, target, ogr.wkbPolygon, ["GEOMETRY_NAME=geom"])
        _create_fields(
            ogr,
            lyr,
            (
                ("patch_index", ogr.OFTInteger64, 0),
                ("lcz", ogr.OFTInteger, 0),
                ("lcz_letter", ogr.OFTString, 2),
                ("lcz_name", ogr.OFTString, 40),
                ("city", ogr.OFTString, 60),
                ("epsg", ogr.OFTInteger, 0),
                ("ul_x", ogr.OFTReal, 0),
                ("ul_y", ogr.OFTReal, 0),
                ("raster", ogr.OFTString, 0),
            ),
        )
        defn = lyr.GetLayerDefn()
        lyr.StartTransaction()
        for k, idx in enumerate(placement.indices):
            x, y, px = placement.ul_x[k], placement.ul_y[k], placement.pixel[k]
            s = PATCH * px
            ring = ogr.Geometry(ogr.wkbLinearRing)
            for vx, vy in ((x, y), (x + s, y), (x + s, y - s), (x, y - s), (x, y)):
                ring.AddPoint_2D(float(vx), float(vy))
            poly = ogr.Geometry(ogr.wkbPolygon)
            poly.AddGeometry(ring)
            if transforms:
                poly.Segmentize(s / 8.0)
                poly.Transform(transforms[int(placement.epsg[k])])
            feat = ogr.Feature(defn)
            feat.SetGeometry(poly)
            feat.SetField("patch_index", int(idx))
            code = int(labels[k]) if labels is not None else 0
            if code:
                c = lcz_class(code)
                feat.SetField("lcz", code)
                feat.SetField("lcz_letter", c.letter)
                feat.SetField("lcz_name", c.name)
            if placement.city[k]:
                feat.SetField("city", placement.city[k])
            feat.SetField("epsg", int(placement.epsg[k]))
            feat.SetField("ul_x", float(x))
            feat.SetField("ul_y", float(y))
            feat.SetField("raster", rasters[k])
            lyr.CreateFeature(feat)
        lyr.CommitTransaction()
        _store_default_style(ogr, ds, LAYER_NAME, "geom", qml)
    finally:
        ds = None
    return qml


def _create_fields(ogr, lyr, fields, subtypes=None, defaults=None) -> None:
    """Create ``fields`` ((name, OGR type, width; 0 = none) each) on the layer, with the
    given field subtypes and default values ({name: value})."""
    for name, kind, width in fields:
        fd = ogr.FieldDefn(name, kind)
        if width:
            fd.SetWidth(width)
        if subtypes and name in subtypes:
            fd.SetSubType(subtypes[name])
        if defaults and name in defaults:
            fd.SetDefault(defaults[name])
        lyr.CreateField(fd)


def _store_default_style(ogr, ds, table: str, geom_col: str, qml: str) -> None:
    """The QGIS ``layer_styles`` table (as QGIS creates it), with ``qml`` as default."""
    lyr = ds.CreateLayer("layer_styles", None, ogr.wkbNone)
    _create_fields(
        ogr,
        lyr,
        (
            ("f_table_catalog", ogr.OFTString, 256),
            ("f_table_schema", ogr.OFTString, 256),
            ("f_table_name", ogr.OFTString, 256),
            ("f_geometry_column", ogr.OFTString, 256),
            ("styleName", ogr.OFTString, 30),
            ("styleQML", ogr.OFTString, 0),
            ("styleSLD", ogr.OFTString, 0),
            ("useAsDefault", ogr.OFTInteger, 0),
            ("description", ogr.OFTString, 0),
            ("owner", ogr.OFTString, 30),
            ("ui", ogr.OFTString, 30),
            ("update_time", ogr.OFTDateTime, 0),
        ),
        subtypes={"useAsDefault": ogr.OFSTBoolean},
        defaults={"update_time": "CURRENT_TIMESTAMP"},
    )
    f = ogr.Feature(lyr.GetLayerDefn())
    for k, v in (
        ("f_table_catalog", ""),
        ("f_table_schema", ""),
        ("f_table_name", table),
        ("f_geometry_column", geom_col),
        ("styleName", "LCZ patches"),
        ("styleQML", qml),
        ("styleSLD", ""),
        ("useAsDefault", 1),
        ("description", "LCZ colours, labelled with patch index and class (lcz_qgis)"),
        ("owner", ""),
        ("ui", ""),
    ):
        f.SetField(k, v)
    f.SetField("update_time", *time.gmtime()[:6], 100)
    lyr.CreateFeature(f)


# -- the algorithm -----------------------------------------------------------------------
@dataclass
class LoadPatchesResult:
    """What a patches run wrote: the rasters, the outline layer and the patches placed."""

    rasters: list = field(default_factory=list)
    patches_layer: Path | None = None
    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    skipped: list = field(default_factory=list)  # [(row, reason)]
    layout: str = "grid"  # "geo" or "grid"
    crs: list = field(default_factory=list)  # EPSG codes of the rasters
    overlapping: int = 0
    bytes_read: int = 0
    file_size: int = 0
    seconds: float = 0.0

    @property
    def n_placed(self) -> int:
        """The number of patches written."""
        return int(self.indices.size)


def _check_folder(folder) -> tuple[Path, bool]:
    """The output folder and whether it exists; nothing is created here."""
    folder = Path(folder)
    if folder.exists():
        if not folder.is_dir():
            raise LczError(f"output folder '{folder}' is a file, not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise LczError(f"cannot write to the output folder '{folder}'")
        return folder, True
    if not folder.parent.is_dir():
        raise LczError(f"output folder '{folder}': its parent folder does not exist")
    if not os.access(folder.parent, os.W_OK | os.X_OK):
        raise LczError(f"cannot create the output folder '{folder}': its parent is read-only")
    return folder, False


def _check_targets(inputs: dict, targets: dict) -> None:
    """Before anything is written: no output is a folder, an input or another output."""
    for label, paths in targets.items():
        for p in paths:
            if p.is_dir():
                raise LczError(
                    f"{keys_as_params(label)} '{p}' is a folder, not a file: remove or rename "
                    "it, or choose "
                    "another output"
                )
    check_distinct_paths(inputs, targets)


def load_patches(
    input_path,
    output_folder,
    geo=None,
    sensor: str = Sensor.SEN2,
    indices=None,
    per_class: int = 0,
    seed: int = 0,
    output_patches=None,
    per_patch_files: bool = False,
    feedback: Feedback | None = None,
) -> LoadPatchesResult:
    """Write the selected patches as georeferenced GeoTIFFs (and their outlines).

    Steps: check the request, select and place the patches, plan the files and space,
    write the rasters (per zone/grid group or patch) and outlines, swap in. All or nothing
    (``common.atomic``): a failed or cancelled run leaves an earlier run's files as they
    were and creates no output folder.

    Args:
        input_path: So2Sat HDF5 file.
        output_folder: Folder of the rasters (created when missing).
        geo: So2Sat geolocation file (``*_geo.h5``); None for the grid layout.
        sensor: ``sen2`` or ``sen1``.
        indices: Patch indices ("0-9,15,20-25", 0-based, or a list); None or "" for all.
        per_class: Random patches per LCZ class (0: off), drawn with ``seed``.
        seed: Seed of the per-class selection.
        output_patches: GeoPackage of the patch outlines; None for none.
        per_patch_files: One GeoTIFF per patch instead of mosaics.
        feedback: Progress, messages and cancel.

    Returns:
        A ``LoadPatchesResult``.

    Raises:
        LczError: bad input, a selection too large or empty; ``DiskFull`` on a full disk.
    """
    from ..raster.io import gdal_writes
    from ..so2sat.file import So2SatFile

    feedback = feedback or Feedback()
    t0 = time.monotonic()
    req = _check_request(
        input_path, output_folder, geo, sensor, indices, per_class, seed, output_patches
    )
    staging = StagedOutputs()
    created = False  # the output folder, by this run
    try:
        with So2SatFile(input_path, require=()) as f:
            f.check_sensor(sensor)
            geo_file = _open_geo(geo, f)
            sel, rows_of = _select_patches(f, req, feedback)
            placement, skipped = _place_patches(sel, rows_of, geo_file, feedback)
            labels = f.labels(placement.indices) if f.has_labels else None
            paths, targets = _plan_files(input_path, req, sensor, placement, per_patch_files)
            names = list(sensor_channels(sensor))
            src = _PatchSource(f, sensor, DISPLAY_BANDS[sensor])
            raster_of = [""] * placement.indices.size
            result = _new_result(geo_file, skipped, paths, per_patch_files, placement)
            _plan_space(staging, paths, targets, placement.indices.size, len(names))
            created = _make_folder(req)
            with gdal_writes():  # GDAL's write failures raised, a full disk as ENOSPC
                fb = feedback.scaled(0, 90)
                if per_patch_files:
                    _write_patch_files(paths, src, placement, names, raster_of, staging, fb)
                else:
                    _write_mosaics(paths, src, placement, names, raster_of, staging, result, fb)
                _write_raster_styles(staging, paths, sensor, src)
                result.patches_layer = _write_outline_layer(
                    staging, req.outlines, placement, labels, raster_of, feedback
                )
            result.bytes_read, result.file_size = f.bytes_read, f.file_size
        _warn_nonfinite(src.nonfinite, placement.indices.size, sensor, feedback)
        _swap_in(staging, result, t0, feedback)
    except BaseException as exc:
        _discard_run(exc, staging, req.folder if created else None, feedback)
        raise
    return result


@dataclass
class _Request:
    """A checked ``load_patches`` request."""

    outlines: Path | None  # the outlines GeoPackage
    spec: object  # the index spec, None for none
    per_class: int
    seed: int
    folder: Path
    folder_exists: bool
    inputs: dict  # input paths by parameter name


def _check_request(input_path, output_folder, geo, sensor, indices, per_class, seed, outlines):
    """Check the options and every output path before anything is written or created.

    Args:
        input_path: The So2Sat file.
        output_folder: The output folder (it may be missing).
        geo: The geolocation file, or None.
        sensor: ``sen2`` or ``sen1``.
        indices: The index spec as given.
        per_class: Patches per class as given (None or 0: off).
        seed: The seed as given.
        outlines: The outlines GeoPackage path, or None.

    Returns:
        The checked ``_Request``.

    Raises:
        LczError: an unknown sensor, outlines not a .gpkg, both or a negative selection,
            an output path that cannot be written or is an input.
    """
    if sensor not in (Sensor.SEN2, Sensor.SEN1):
        raise LczError(f"sensor must be sen2 or sen1, not '{sensor}'")
    path = Path(outlines) if outlines else None
    if path is not None and path.suffix.lower() != ".gpkg":
        raise LczError(
            f"the patch outlines are written as a GeoPackage: '{outlines}' must end in .gpkg"
        )
    spec = (
        None if indices is None or (isinstance(indices, str) and not indices.strip()) else indices
    )
    per_class = int(per_class or 0)
    if spec is not None and per_class > 0:
        raise LczError(f"give either {param('INDICES')} or {param('PER_CLASS')}, not both")
    if per_class < 0:
        raise LczError(
            f"{param('PER_CLASS')} must be 0 (off) or a positive number of patches per class"
        )
    seed = check_seed(seed)
    folder, folder_exists = _check_folder(output_folder)
    inputs = {param("INPUT", "input_path"): input_path, "GEO": geo}
    if path is not None:
        if folder_exists or not same_file(path.parent, folder):
            check_output_path(path)  # (its folder may be the output folder still to create)
        check_distinct_paths(inputs, {"OUTPUT_PATCHES": path})
    return _Request(path, spec, per_class, seed, folder, folder_exists, inputs)


def _open_geo(geo, f):
    """Open the geolocation file, which must have one row per patch of ``f``.

    Args:
        geo: The geolocation file path, or None.
        f: The open ``So2SatFile``.

    Returns:
        The ``So2SatGeo``, or None without a geolocation file.

    Raises:
        LczError: the two files differ in length.
    """
    from ..so2sat.geo import So2SatGeo

    geo_file = So2SatGeo(geo) if geo else None
    if geo_file is not None and geo_file.n != f.n:
        raise LczError(
            f"the geolocation file '{geo_file.path.name}' has {geo_file.n} rows but "
            f"'{f.path.name}' has {f.n} patches: they must be the same length (pair "
            "training.h5 with training_geo.h5, testing.h5 with testing_geo.h5, ...)"
        )
    return geo_file


def _select_patches(f, req: _Request, feedback: Feedback):
    """The selected patch indices: per class, from an index spec, or all of them.

    Args:
        f: The open ``So2SatFile``.
        req: The checked request (its index spec, patches per class and seed).
        feedback: Messages.

    Returns:
        (sorted indices, one index array per class for a per-class grid or None).

    Raises:
        LczError: no labels for a per-class selection, too many or no patches.
    """
    spec, per_class = req.spec, req.per_class
    rows_of = None
    if per_class > 0:
        if not f.has_labels:
            raise LczError(f"'{f.path.name}' has no labels, so {param('PER_CLASS')} cannot be used")
        if per_class * N_CLASSES > MAX_PATCHES:
            raise LczError(
                _limit_message(per_class * N_CLASSES, f"{param('PER_CLASS')} would select up to")
            )
        sel, by_class = select_per_class(f.labels(), per_class, req.seed, feedback)
        rows_of = [by_class[c] for c in sorted(by_class)]
    elif spec is not None:
        sel = parse_indices(spec, f.n)
        if sel.size > MAX_PATCHES:
            raise LczError(_limit_message(sel.size, f"{param('INDICES')} selects"))
    else:
        if f.n > MAX_PATCHES:
            raise LczError(_limit_message(f.n, f"'{f.path.name}' has"))
        sel = np.arange(f.n, dtype=np.int64)
    if sel.size == 0:
        raise LczError("no patches selected")
    feedback.info(f"{sel.size} patch(es) selected from '{f.path.name}' ({f.n} in the file)")
    return sel, rows_of


def _place_patches(sel, rows_of, geo_file, feedback: Feedback) -> tuple[Placement, list]:
    """Place the selected patches: at their geolocation, or on the grid.

    Args:
        sel: The selected indices.
        rows_of: Index arrays, one grid row each (per-class selection), or None.
        geo_file: The ``So2SatGeo``, or None for the grid.
        feedback: Messages.

    Returns:
        (placement, skipped [(row, reason)]).

    Raises:
        LczError: no selected patch has a usable geolocation.
    """
    if geo_file is None:
        return place_grid(sel, rows_of), []
    locs = geo_file.locations(sel)
    feedback.info(f"geolocation: {geo_file.layout} layout ({geo_file.path.name})")
    placement, skipped = place_geo(locs, feedback)
    if placement.indices.size == 0:
        raise LczError("none of the selected patches has a usable geolocation")
    return placement, skipped


def _plan_files(input_path, req: _Request, sensor: str, placement: Placement, per_patch: bool):
    """The raster paths (one per patch or per mosaic group), checked with all outputs.

    Args:
        input_path: The So2Sat file (its stem names the rasters).
        req: The checked request (output folder, outlines, inputs).
        sensor: ``sen2`` or ``sen1``.
        placement: Where the patches go.
        per_patch: One file per patch instead of one per group.

    Returns:
        (raster paths, {label: [paths]} of every output, style sidecars included).

    Raises:
        LczError: an output is a folder, an input or another output.
    """
    stem = _safe(Path(input_path).stem) or "patches"
    if per_patch:
        paths = [req.folder / f"{stem}_{sensor}_{int(i):06d}.tif" for i in placement.indices]
    else:
        paths = [req.folder / f"{stem}_{sensor}_{g}.tif" for g in placement.group_names]
    targets = {"raster": paths, "raster style": [_qml(p) for p in paths]}
    if req.outlines is not None:
        targets |= {
            "OUTPUT_PATCHES": [req.outlines],
            "OUTPUT_PATCHES style": [_qml(req.outlines)],
        }
    _check_targets(req.inputs, targets)
    return paths, targets


def _new_result(geo_file, skipped, paths, per_patch: bool, placement) -> LoadPatchesResult:
    """The run's result as far as known before writing.

    Args:
        geo_file: The ``So2SatGeo``, or None (grid layout).
        skipped: Rows skipped for an impossible geolocation.
        paths: The raster paths.
        per_patch: One file per patch (listed in index order).
        placement: Where the patches go.

    Returns:
        A ``LoadPatchesResult`` without the reading statistics and outlines.
    """
    return LoadPatchesResult(
        rasters=sorted(paths) if per_patch else paths,  # (in index order)
        indices=placement.indices,
        skipped=skipped,
        layout="geo" if geo_file is not None else "grid",
        crs=sorted(set(int(e) for e in placement.epsg)),
    )


def _plan_space(staging: StagedOutputs, paths, targets: dict, n: int, count: int) -> None:
    """Announce the rasters' size and remove stale partial files of the targets.

    Args:
        staging: The run's staged outputs.
        paths: The raster paths.
        targets: Every output path by label.
        n: The number of placed patches.
        count: Bands per patch.
    """
    # about (compressed): every patch's pixels as float32
    staging.expect(paths[0], n * PATCH * PATCH * count * 4)
    staging.clean_stale(*(t for group in targets.values() for t in group))


def _make_folder(req: _Request) -> bool:
    """Create the output folder when it is missing (after every check).

    Args:
        req: The checked request.

    Returns:
        Whether this run created the folder (it is removed again if the run fails).
    """
    if req.folder_exists:
        return False
    req.folder.mkdir()
    return True


def _write_raster_styles(staging: StagedOutputs, paths, sensor: str, src) -> None:
    """Write the rasters' quick-look style (.qml), stretched on the patches read.

    Args:
        staging: The run's staged outputs.
        paths: The raster paths.
        sensor: ``sen2`` or ``sen1``.
        src: The patch reader (its sample gives the stretch).
    """
    from ..styling.styles import qml_multiband

    qml = qml_multiband(*DISPLAY_BANDS[sensor], src.limits())
    for p in paths:
        staging.write_text(_qml(p), qml)


def _write_outline_layer(staging, outlines, placement, labels, raster_of, feedback):
    """Write the outlines GeoPackage and its .qml to temporary files (when asked for).

    Args:
        staging: The run's staged outputs.
        outlines: The GeoPackage path; None for no outlines.
        placement: Where the patches went.
        labels: LCZ code per placed patch, or None.
        raster_of: The raster file name of each placed patch.
        feedback: Messages.

    Returns:
        ``outlines`` (None when not asked for).
    """
    from ..styling.styles import qml_patch_polygons

    if outlines is None:
        return None
    feedback.info("writing the patch outlines")
    _write_outlines(staging.temp(outlines), placement, labels, raster_of)
    staging.write_text(_qml(outlines), qml_patch_polygons())
    return outlines


def _swap_in(staging: StagedOutputs, result: LoadPatchesResult, t0: float, feedback) -> None:
    """Rename every staged output into place, the last step of a run.

    A cancel before it leaves no output; once started it is not interrupted.

    Args:
        staging: The run's staged outputs.
        result: The run's result (its duration is set).
        t0: ``time.monotonic()`` at the start of the run.
        feedback: Progress and cancel.
    """
    feedback.check_cancelled()
    with hold_interrupt(feedback):
        staging.commit()  # the last step: a cancel before it leaves no output
        feedback.progress(100)
        result.seconds = time.monotonic() - t0


def _discard_run(exc: BaseException, staging: StagedOutputs, created, feedback) -> None:
    """Undo a failed or cancelled run: remove its temporary files and created folder.

    Args:
        exc: The exception that ended the run.
        staging: The run's staged outputs.
        created: The output folder when this run created it, else None.
        feedback: Messages.

    Raises:
        DiskFull: ``exc`` came from a full disk (raised instead of it, in one line).
    """
    full = staging.disk_full(exc)  # (before the temporary files go)
    # the failed frames still hold open GDAL datasets: release them before removing
    # the temporary files (Windows refuses to delete an open file)
    with quiet_close():
        traceback.clear_frames(exc.__traceback__)
        left = staging.discard()  # earlier files stay as they were
    if left:
        feedback.warning(f"could not remove temporary files: {', '.join(map(str, left))}")
    if created is not None:
        with contextlib.suppress(OSError):
            created.rmdir()  # (only when empty)
    if full is not None:
        raise full from None


def _qml(path: Path) -> Path:
    return path.with_suffix(".qml")


def _warn_nonfinite(bad: set[int], n: int, sensor: str, feedback: Feedback) -> None:
    if not bad:
        return
    shown = ", ".join(str(i) for i in sorted(bad)[:10]) + (", ..." if len(bad) > 10 else "")
    feedback.warning(
        f"{len(bad)} of {n} patch(es) hold NaN or infinite {sensor} values (indices {shown}); "
        "they were written as they are (not as nodata), so those pixels may look empty or "
        "distort statistics"
    )


def _write_mosaics(paths, src, placement, names, raster_of, staging, result, fb):
    ngroups = len(placement.group_names)
    wkts: dict[int, str] = {}
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
            result.overlapping += overl
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


def _write_patch_files(paths, src, placement, names, raster_of, staging, fb):
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
            ds = _create(tmp, PATCH, PATCH, len(names), gt, wkts[epsg], names, PATCH_TIFF_OPTIONS)
            with closing_raster(ds):
                ds.write(np.moveaxis(data[idx], -1, 0).astype(np.float32, copy=False))
            raster_of[k] = paths[k].name
        fb.progress(100.0 * min(n, b0 + batch) / n)
