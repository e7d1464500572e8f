"""Writing a small vector layer (zones with their parameters, stations with their LCZ)
as a GeoPackage: one layer, given fields, one feature per row. The caller stages the
path (``common.atomic``); nothing here makes a temporary."""

from __future__ import annotations

import csv
import io
import math

from ..common.errors import require
from ..raster.io import osr

# field kinds: the OGR types they become
INTEGER, INTEGER64, REAL, STRING = "integer", "integer64", "real", "string"


def _ogr():
    """GDAL's ``ogr`` module, raising exceptions."""
    o = require("osgeo.ogr", "GDAL", "Writing a vector layer")
    o.UseExceptions()
    return o


def _ogr_type(ogr, kind) -> int:
    """The OGR field type of a kind (an OGR type code is kept)."""
    if isinstance(kind, int):
        return kind
    return {INTEGER: ogr.OFTInteger, INTEGER64: ogr.OFTInteger64, REAL: ogr.OFTReal}.get(
        kind, ogr.OFTString
    )


def write_features(path, layer_name: str, crs_wkt: str, geometry: str, fields, rows) -> None:
    """A GeoPackage at ``path`` with one layer.

    Args:
        path: the file to create (the caller's temporary).
        layer_name: the layer's name.
        crs_wkt: its CRS ("" for none).
        geometry: "point" or "multipolygon" (polygons are made multi).
        fields: (name, kind) pairs, in order (a kind of this module or an OGR type).
        rows: (wkb or None, {field: value}) per feature; None values stay NULL.
    """
    ogr = _ogr()
    srs = None
    if crs_wkt:
        srs = osr().SpatialReference()
        srs.ImportFromWkt(crs_wkt)
    gtype = ogr.wkbPoint if geometry == "point" else ogr.wkbMultiPolygon
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    try:
        lyr = ds.CreateLayer(layer_name, srs, gtype, ["GEOMETRY_NAME=geom"])
        for name, kind in fields:
            lyr.CreateField(ogr.FieldDefn(name, _ogr_type(ogr, kind)))
        defn = lyr.GetLayerDefn()
        lyr.StartTransaction()
        for wkb, values in rows:
            feat = ogr.Feature(defn)
            if wkb:
                geom = ogr.CreateGeometryFromWkb(wkb)
                feat.SetGeometry(geom if geometry == "point" else ogr.ForceToMultiPolygon(geom))
            for name, value in values.items():
                if value is not None:
                    feat.SetField(name, value)
            lyr.CreateFeature(feat)
        lyr.CommitTransaction()
    finally:
        ds = None


def point_wkb(x: float, y: float) -> bytes | None:
    """A point's WKB (None for a point without finite coordinates)."""
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    ogr = _ogr()
    pt = ogr.Geometry(ogr.wkbPoint)
    pt.AddPoint_2D(float(x), float(y))
    return bytes(pt.ExportToIsoWkb())


def csv_text(names: list[str], rows: list[dict]) -> str:
    """A CSV table of ``rows`` with the columns ``names``: floats with 10 significant
    digits, None empty."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        values = [row.get(n) for n in names]
        writer.writerow(["" if v is None else f"{v:.10g}" if isinstance(v, float) else v
                         for v in values])  # fmt: skip
    return buf.getvalue()
