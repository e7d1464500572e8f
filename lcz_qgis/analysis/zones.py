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


def _overlap(a, b) -> bool:
    """Whether two polygons share more than a boundary (an intersection with an area);
    True when GEOS cannot tell (invalid geometries): the caller then keeps them apart."""
    try:
        inter = a.Intersection(b)
    except RuntimeError:
        return True
    return inter is None or inter.GetArea() > 0.0


def _overlapping_pairs(zones: list[Zone]) -> dict[int, set[int]]:
    """For each zone index, the zones it overlaps (bounding boxes swept along x, then
    ``_overlap`` on the candidates)."""
    from osgeo import ogr

    ogr.UseExceptions()
    geoms = {k: ogr.CreateGeometryFromJson(json.dumps(z.map_shape))
             for k, z in enumerate(zones) if z.map_shape}  # fmt: skip
    pairs: dict[int, set[int]] = {k: set() for k in geoms}
    active: list[int] = []
    for k in sorted(geoms, key=lambda i: zones[i].bounds[0]):
        xmin, _, ymin, ymax = zones[k].bounds
        active = [j for j in active if zones[j].bounds[1] > xmin]
        for j in active:
            if zones[j].bounds[2] < ymax and zones[j].bounds[3] > ymin:
                if _overlap(geoms[j], geoms[k]):
                    pairs[j].add(k)
                    pairs[k].add(j)
        active.append(k)
    return pairs


def overlap_layers(zones: list[Zone]) -> list[list[int]]:
    """The indices of the zones with a shape, grouped so that no two zones of a group
    overlap (greedily, in layer order): a partition (districts, a grid) is one group.

    Zones that only touch share a group: GDAL's rasterizer gives a cell whose centre lies
    on a shared border to one side only, as it does when each zone is burnt alone.
    """
    pairs = _overlapping_pairs(zones)
    layer_of: dict[int, int] = {}
    layers: list[list[int]] = []
    for k in sorted(pairs):
        taken = {layer_of[j] for j in pairs[k] if j in layer_of}
        n = next(i for i in range(len(layers) + 1) if i not in taken)
        if n == len(layers):
            layers.append([])
        layers[n].append(k)
        layer_of[k] = n
    return layers
