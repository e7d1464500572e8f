"""Zone layers (districts, a grid): polygons read with OGR, each also in the map's CRS.

A zone keeps its attributes and its geometry in the layer's own CRS (the output layer is
in that CRS); ``map_shape`` is the same polygon reprojected to the map's CRS, where the
cells are counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..common.errors import LczError, first_line
from ..common.input_files import check_input_file
from ..raster.io import open_vector, osr

POLYGON_TYPES = ("POLYGON", "MULTIPOLYGON", "CURVEPOLYGON", "MULTISURFACE")


@dataclass
class Zone:
    """One polygon of a zone layer.

    Attributes:
        fid: its feature id in the layer.
        attributes: its fields, by name.
        wkb: its geometry in the layer's CRS (WKB).
        map_shape: the polygon in the map's CRS (a GeoJSON-like dict), or None when empty.
        bounds: (xmin, xmax, ymin, ymax) of ``map_shape`` (OGR's envelope order).
    """

    fid: int
    attributes: dict
    wkb: bytes
    map_shape: dict | None
    bounds: tuple[float, float, float, float] | None


@dataclass
class ZoneLayer:
    """A zone layer read whole (its polygons are small next to the map).

    Attributes:
        zones: the polygons, in layer order.
        fields: (name, OGR field type) of each attribute.
        crs_wkt: the layer's CRS ("" when it has none: taken as the map's).
        name: the layer's name.
    """

    zones: list[Zone]
    fields: list[tuple[str, int]]
    crs_wkt: str
    name: str


def _transform(layer, map_wkt: str):
    """The OGR transform from the layer's CRS to the map's (None when the same or none)."""
    o = osr()
    srs = layer.GetSpatialRef()
    dst = o.SpatialReference()
    dst.ImportFromWkt(map_wkt)
    dst.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    if srs is None or srs.IsSame(dst):
        return None
    srs = srs.Clone()
    srs.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    return o.CoordinateTransformation(srs, dst)


def _zone(feature, ct) -> Zone:
    """A ``Zone`` from an OGR feature, refusing geometries that are not polygons."""
    geom = feature.GetGeometryRef()
    attrs = {feature.GetFieldDefnRef(i).GetName(): feature.GetField(i)
             for i in range(feature.GetFieldCount())}  # fmt: skip
    if geom is None or geom.IsEmpty():
        return Zone(feature.GetFID(), attrs, b"", None, None)
    kind = geom.GetGeometryName().upper()
    if kind not in POLYGON_TYPES:
        raise LczError(
            f"zone {feature.GetFID()} is a {kind.lower()}: the zones must be polygons "
            "(districts, a grid)"
        )
    wkb = bytes(geom.ExportToIsoWkb())
    shape = geom.Clone()
    if ct is not None:
        shape.Transform(ct)
    return Zone(feature.GetFID(), attrs, wkb, json.loads(shape.ExportToJson()),
                shape.GetEnvelope())  # fmt: skip


def read_zones(path, map_wkt: str, what: str = "zones") -> ZoneLayer:
    """Every polygon of the first layer of ``path``, with its shape in ``map_wkt``.

    Raises:
        LczError: not a vector file OGR reads, no layer, or a zone that is not a polygon
            or cannot be reprojected.
    """
    p = check_input_file(path, what)
    try:
        ds = open_vector(p)
    except RuntimeError as exc:
        raise LczError(f"cannot open the {what} '{p}': {first_line(exc)}") from None
    if ds is None or ds.GetLayerCount() == 0:
        raise LczError(f"the {what} '{p}' holds no vector layer")
    layer = ds.GetLayer(0)
    defn = layer.GetLayerDefn()
    fields = [(defn.GetFieldDefn(i).GetName(), defn.GetFieldDefn(i).GetType())
              for i in range(defn.GetFieldCount())]  # fmt: skip
    srs = layer.GetSpatialRef()
    try:
        ct = _transform(layer, map_wkt)
        zones = [_zone(f, ct) for f in layer]
    except RuntimeError as exc:
        raise LczError(f"cannot read the {what} '{p}': {first_line(exc)}") from None
    if not zones:
        raise LczError(f"the {what} '{p}' holds no feature")
    return ZoneLayer(zones, fields, srs.ExportToWkt() if srs else "", layer.GetName())
