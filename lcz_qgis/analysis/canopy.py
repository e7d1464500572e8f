"""``canopy_parameters``: the Stewart & Oke (2012) properties of each LCZ cell, as a
multi-band raster on the map's grid and, on request, their area-weighted means per zone.

Each band is one property of ``canopy_table`` (its description names it and its unit),
each cell the ``min``, ``max`` or ``mean`` (midpoint) of its class's published range;
nodata (NaN) where the map has no LCZ or the paper gives no such value. On request the
raster is on a coarser grid of ``cells`` x ``cells`` map cells (a model's or WRF's grid),
each coarse cell the mean of its map cells that have a value (the edge cells cover what
is left). The map is read by strips, so memory is flat in its size. Zones count cells by their centres (as
``lcz zonal-stats``) and each zone's value is the mean of its cells' values weighted by
their ground area, over the cells that have one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..common.atomic import check_distinct_paths, staged_outputs
from ..common.errors import LczError, param
from ..common.feedback import Feedback
from ..raster.io import closing_raster, create_geotiff, gdal_writes
from ..styling.styles import RampStop, qml_pseudocolor
from .canopy_table import STATISTICS, load_table, parameter_lut
from .feature_output import INTEGER, INTEGER64, REAL, write_features
from .read_map import LczMap, iter_strips, open_lcz_map
from .zonal_stats import count_zone
from .zones import read_zones

ZONE_LAYER = "zones_parameters"
MAX_CELLS = 1000  # AGGREGATE: coarse cells of up to 1000 x 1000 map cells


def _check_request(output, statistic, zones, zones_output) -> None:
    """A GeoTIFF output, a known statistic, zones and their output given together."""
    if Path(str(output)).suffix.lower() not in (".tif", ".tiff"):
        raise LczError(f"{param('OUTPUT')}: the parameters are a GeoTIFF; give a .tif name")
    if statistic not in STATISTICS:
        raise LczError(f"{param('STATISTIC')} '{statistic}': give one of {', '.join(STATISTICS)}")
    if bool(zones) != bool(zones_output):
        raise LczError(f"{param('ZONES')} and {param('ZONES_OUTPUT')} go together: give both")
    if zones_output and Path(str(zones_output)).suffix.lower() != ".gpkg":
        raise LczError(f"{param('ZONES_OUTPUT')}: the zone layer is a GeoPackage; give .gpkg")


def parameter_qml() -> str:
    """The style of band 1 (sky view factor 0-1): dark in deep canyons, light in the open."""
    return qml_pseudocolor([
        RampStop(0.0, "#3f007d", "0 enclosed"),
        RampStop(0.5, "#807dba", "0.5"),
        RampStop(1.0, "#fcfbfd", "1 open sky"),
    ])  # fmt: skip


def write_parameter_raster(
    lcz_map: LczMap, path, lut: np.ndarray, feedback, cells: int = 1
) -> np.ndarray:
    """Write one band per property (``lut``: (18, P)) into ``path``, on the map's grid or
    on a grid of ``cells`` x ``cells`` map cells (``coarse_rows``); returns the cells per
    code 0-17."""
    _, props = load_table()
    info = lcz_map.info
    counts = np.zeros(18, np.int64)
    x0, dx, rx, y0, ry, dy = info.geotransform
    width, height = -(-info.width // cells), -(-info.height // cells)
    made = create_geotiff(path, width, height, len(props), "float32",
                          (x0, dx * cells, rx * cells, y0, ry * cells, dy * cells),
                          info.crs_wkt, nodata=float("nan"),
                          descriptions=[p.description for p in props])  # fmt: skip
    with gdal_writes(), closing_raster(made) as ds:
        ds.units = tuple(p.unit for p in props)
        for row, block in coarse_rows(iter_strips(lcz_map), lut, cells, counts):
            feedback.check_cancelled()
            ds.write(block, window=((row, row + block.shape[1]), (0, width)))
            feedback.progress(80.0 * min(1.0, (row + block.shape[1]) * cells / info.height))
    return counts


def coarse_rows(strips, lut: np.ndarray, cells: int, counts: np.ndarray):
    """Yield ``(row, values)`` of the parameter raster from the map's ``strips``
    (``(row0, codes)``, top to bottom): ``values`` (P, rows, columns) of the coarse rows
    the strips complete, each coarse cell the mean of its ``cells`` x ``cells`` map
    cells' finite values (NaN where none); ``cells`` 1 gives the map's cells as they
    are. Adds each strip's cells per code to ``counts``."""
    acc = None  # (sum, count) of the coarse row being filled
    filled = -1
    for row0, codes in strips:
        counts += np.bincount(codes.ravel(), minlength=18)
        values = np.moveaxis(lut[codes], -1, 0)  # (P, rows, width)
        if cells == 1:
            yield row0, values
            continue
        pad = -codes.shape[1] % cells
        values = np.pad(values, ((0, 0), (0, 0), (0, pad)), constant_values=np.nan)
        for r in range(codes.shape[0]):
            coarse = (row0 + r) // cells
            if coarse != filled:
                if acc is not None:
                    yield filled, _mean_row(*acc)
                acc, filled = None, coarse
            line = values[:, r].reshape(values.shape[0], -1, cells)
            ok = np.isfinite(line)
            part = (np.where(ok, line, 0.0).sum(-1), ok.sum(-1))
            acc = part if acc is None else (acc[0] + part[0], acc[1] + part[1])
    if acc is not None:
        yield filled, _mean_row(*acc)


def _mean_row(total: np.ndarray, n: np.ndarray) -> np.ndarray:
    """One coarse row (P, 1, columns): ``total / n``, NaN where ``n`` is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)[:, None, :].astype(np.float32)


def area_weighted(area_m2: np.ndarray, lut: np.ndarray) -> list[float | None]:
    """Per property: the mean of the values of codes 1-17 weighted by ``area_m2`` (per
    code 0-17), over the codes that have a value (None where none)."""
    out = []
    for j in range(lut.shape[1]):
        values = lut[1:, j].astype(np.float64)
        ok = np.isfinite(values) & (area_m2[1:] > 0)
        total = area_m2[1:][ok].sum()
        out.append(float((area_m2[1:][ok] * values[ok]).sum() / total) if total else None)
    return out


def _zone_rows(layer, lcz_map: LczMap, lut: np.ndarray, feedback):
    """(fields, rows) of the zone layer: ``zone_fid``, the zone's own fields, ``lcz_cells``
    and one area-weighted mean per property."""
    _, props = load_table()
    ours = ["zone_fid", "lcz_cells", *(p.key for p in props)]
    own = [(n, t) for n, t in layer.fields if n.lower() not in {*ours, "fid"}]
    fields = [("zone_fid", INTEGER64), *own, ("lcz_cells", INTEGER)]
    fields += [(p.key, REAL) for p in props]
    rows = []
    for k, zone in enumerate(layer.zones):
        feedback.check_cancelled()
        counts = count_zone(zone, lcz_map)
        values = {"zone_fid": zone.fid, **{n: zone.attributes.get(n) for n, _ in own}}
        values["lcz_cells"] = int(counts.cells[1:].sum())
        values.update(zip((p.key for p in props), area_weighted(counts.area_m2, lut)))
        rows.append((zone.wkb or None, values))
        feedback.progress(80.0 + 15.0 * (k + 1) / len(layer.zones))
    return fields, rows


def canopy_parameters(map_path, output, statistic: str = "mean", zones=None,
                      zones_output=None, feedback: Feedback | None = None,
                      cells: int = 1) -> dict:  # fmt: skip
    """Stewart & Oke (2012) urban canopy parameters of an LCZ map.

    Args:
        map_path: any LCZ map (``read_map``).
        output: the float32 GeoTIFF to write, one band per property (``.qml`` beside it).
        statistic: "min", "max" or "mean" (midpoint) of each published range.
        zones, zones_output: a polygon layer and the GeoPackage of its area-weighted means.
        feedback: progress and cancel.
        cells: the raster on a grid of ``cells`` x ``cells`` map cells (1: the map's).

    Returns:
        {"output", "zones_output", "bands": the band descriptions, "classes": the LCZ
        codes present, "zones": the zone rows (dicts) or None}.

    Raises:
        LczError: bad input (named), an output that is an input, a map without LCZ cells.
    """
    feedback = feedback or Feedback()
    _check_request(output, statistic, zones, zones_output)
    if not 1 <= int(cells) <= MAX_CELLS:
        raise LczError(f"{param('AGGREGATE')} {cells}: give a whole number from 1 to {MAX_CELLS}")
    check_distinct_paths({"MAP": map_path, "ZONES": zones},
                         {"OUTPUT": output, "ZONES_OUTPUT": zones_output})  # fmt: skip
    lut = parameter_lut(statistic)
    _, props = load_table()
    with open_lcz_map(map_path) as lcz_map:
        layer = read_zones(zones, lcz_map.info.crs_wkt) if zones else None
        with staged_outputs(feedback) as st:
            counts = write_parameter_raster(lcz_map, st.temp(output), lut, feedback, int(cells))
            if counts[1:].sum() == 0:
                raise LczError(f"the LCZ map '{map_path}' holds no LCZ cell")
            st.write_text(Path(output).with_suffix(".qml"), parameter_qml())
            rows = None
            if layer is not None:
                fields, rows = _zone_rows(layer, lcz_map, lut, feedback)
                write_features(st.temp(zones_output), ZONE_LAYER, layer.crs_wkt,
                               "multipolygon", fields, rows)  # fmt: skip
    classes = [int(c) for c in np.flatnonzero(counts[1:]) + 1]
    return {"output": str(output), "zones_output": zones_output and str(zones_output),
            "bands": [p.description for p in props], "classes": classes,
            "zones": [values for _, values in rows] if rows is not None else None}  # fmt: skip
