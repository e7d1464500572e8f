"""Writing the zone statistics: a GeoPackage layer (the zones' attributes and geometry in
their own CRS, then the statistics fields), its style and an optional CSV table."""

from __future__ import annotations

import csv
import io

from ..common.errors import require
from .zone_fields import INTEGER, REAL, stat_fields
from .zones import ZoneLayer

LAYER_NAME = "zones_lcz"


def _ogr():
    """GDAL's ``ogr`` module, raising exceptions."""
    o = require("osgeo.ogr", "GDAL", "Writing the zone statistics")
    o.UseExceptions()
    return o


def _field_types(ogr) -> dict:
    """OGR field types of the ``zone_fields`` kinds."""
    return {INTEGER: ogr.OFTInteger, REAL: ogr.OFTReal}


def _own_fields(zones: ZoneLayer) -> list[tuple[str, int]]:
    """The zone layer's fields that keep their name (those not named like a statistic)."""
    taken = {name.lower() for name, _ in stat_fields()} | {"fid", "zone_fid"}
    return [(n, t) for n, t in zones.fields if n.lower() not in taken]


def write_zone_layer(path, zones: ZoneLayer, rows: list[dict]) -> None:
    """A GeoPackage at ``path`` (no temporary file: the caller stages it) with one
    feature per zone: ``zone_fid``, the zone's own fields, then the statistics."""
    from ..raster.io import osr

    ogr = _ogr()
    srs = None
    if zones.crs_wkt:
        srs = osr().SpatialReference()
        srs.ImportFromWkt(zones.crs_wkt)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    try:
        lyr = ds.CreateLayer(LAYER_NAME, srs, ogr.wkbMultiPolygon, ["GEOMETRY_NAME=geom"])
        own = _own_fields(zones)
        types = _field_types(ogr)
        lyr.CreateField(ogr.FieldDefn("zone_fid", ogr.OFTInteger64))
        for name, kind in own:
            lyr.CreateField(ogr.FieldDefn(name, kind))
        for name, kind in stat_fields():
            lyr.CreateField(ogr.FieldDefn(name, types.get(kind, ogr.OFTString)))
        defn = lyr.GetLayerDefn()
        index = {name: defn.GetFieldIndex(name) for name in
                 ["zone_fid", *(n for n, _ in own), *(n for n, _ in stat_fields())]}  # fmt: skip
        lyr.StartTransaction()
        for zone, row in zip(zones.zones, rows):
            feat = ogr.Feature(defn)
            if zone.wkb:
                feat.SetGeometry(ogr.ForceToMultiPolygon(ogr.CreateGeometryFromWkb(zone.wkb)))
            feat.SetField(index["zone_fid"], zone.fid)  # by index: no lookup by name per value
            for name, _ in own:
                feat.SetField(index[name], zone.attributes.get(name))
            for name, value in row.items():
                if value is not None:
                    feat.SetField(index[name], value)
            lyr.CreateFeature(feat)
        lyr.CommitTransaction()
    finally:
        ds = None


def table_text(zones: ZoneLayer, rows: list[dict]) -> str:
    """The CSV table: one row per zone, ``zone_fid``, its own fields, the statistics
    (empty where undefined)."""
    own = [name for name, _ in _own_fields(zones)]
    header = ["zone_fid", *own, *(name for name, _ in stat_fields())]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for zone, row in zip(zones.zones, rows):
        values = [zone.fid, *(zone.attributes.get(n) for n in own)]
        values += [_cell(row[name]) for name, _ in stat_fields()]
        writer.writerow(["" if v is None else v for v in values])
    return buf.getvalue()


def _cell(value):
    """A CSV cell: floats with 10 significant digits, None empty."""
    if isinstance(value, float):
        return f"{value:.10g}"
    return value
