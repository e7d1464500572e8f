"""``canopy_parameters``: the Stewart & Oke (2012) properties of each LCZ cell, as a
multi-band raster on the map's grid and, on request, their area-weighted means per zone.

Each band is one property of ``canopy_table`` (its description names it and its unit),
each cell the ``min``, ``max`` or ``mean`` (midpoint) of its class's published range;
nodata (NaN) where the map has no LCZ or the paper gives no such value. The map is read
by strips, so memory is flat in its size. Zones count cells by their centres (as
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


def write_parameter_raster(lcz_map: LczMap, path, lut: np.ndarray, feedback) -> np.ndarray:
    """Write one band per property (``lut``: (18, P)) on the map's grid into ``path``;
    returns the cells per code 0-17."""
    _, props = load_table()
    info = lcz_map.info
    counts = np.zeros(18, np.int64)
    made = create_geotiff(path, info.width, info.height, len(props), "float32",
                          info.geotransform, info.crs_wkt, nodata=float("nan"),
                          descriptions=[p.description for p in props])  # fmt: skip
    with gdal_writes(), closing_raster(made) as ds:
        ds.units = tuple(p.unit for p in props)
        for row0, codes in iter_strips(lcz_map):
            feedback.check_cancelled()
            block = np.moveaxis(lut[codes], -1, 0)
            ds.write(block, window=((row0, row0 + codes.shape[0]), (0, info.width)))
            counts += np.bincount(codes.ravel(), minlength=18)
            feedback.progress(80.0 * (row0 + codes.shape[0]) / info.height)
    return counts


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
                      zones_output=None, feedback: Feedback | None = None) -> dict:  # fmt: skip
    """Stewart & Oke (2012) urban canopy parameters of an LCZ map.

    Args:
        map_path: any LCZ map (``read_map``).
        output: the float32 GeoTIFF to write, one band per property (``.qml`` beside it).
        statistic: "min", "max" or "mean" (midpoint) of each published range.
        zones, zones_output: a polygon layer and the GeoPackage of its area-weighted means.
        feedback: progress and cancel.

    Returns:
        {"output", "zones_output", "bands": the band descriptions, "classes": the LCZ
        codes present, "zones": the zone rows (dicts) or None}.

    Raises:
        LczError: bad input (named), an output that is an input, a map without LCZ cells.
    """
    feedback = feedback or Feedback()
    _check_request(output, statistic, zones, zones_output)
    check_distinct_paths({"MAP": map_path, "ZONES": zones},
                         {"OUTPUT": output, "ZONES_OUTPUT": zones_output})  # fmt: skip
    lut = parameter_lut(statistic)
    _, props = load_table()
    with open_lcz_map(map_path) as lcz_map:
        layer = read_zones(zones, lcz_map.info.crs_wkt) if zones else None
        with staged_outputs(feedback) as st:
            counts = write_parameter_raster(lcz_map, st.temp(output), lut, feedback)
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
