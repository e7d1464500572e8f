"""The patch outline layer (GeoPackage).

One polygon per patch with patch_index, lcz, lcz_letter, lcz_name, city, epsg,
ul_x, ul_y (the exact corner in the patch's own CRS) and raster (file name). When all
patches share one CRS the layer is in it (exact squares). When they span several UTM
zones the layer is in EPSG:4326 and each square is densified to 8 points per side
before reprojection, so its outline is exact to well below a centimetre. The style
(categorized by LCZ colour, labelled '#index LCZ x') is stored as the layer's default
style in the GeoPackage (``layer_styles``) and as a ``.qml`` sidecar.
"""

from __future__ import annotations

import time

from ..common.bands import PATCH_SIZE
from ..common.legend import lcz_class
from .placement import Placement

LAYER_NAME = "patches"


def _ogr():
    """GDAL's ``ogr`` module, raising exceptions."""
    from ..common.errors import require

    o = require("osgeo.ogr", "GDAL", "Writing the patch outlines")
    o.UseExceptions()
    return o


def write_outlines(path, placement: Placement, labels, rasters: list[str]) -> str:
    """Write the outlines GeoPackage at ``path`` (no temporary file: ``load`` stages it
    with the rasters and writes the .qml sidecar); returns its style."""
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
            s = PATCH_SIZE * px
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
