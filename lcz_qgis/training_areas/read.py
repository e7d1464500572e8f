"""Training areas in: expert-digitised polygons of known LCZ (WUDAPT / LCZ Generator).

Two kinds of input, both read with OGR (``raster.io.open_vector``):

* **Any polygon vector** (GeoPackage, shapefile, GeoJSON, ...) with an LCZ field: codes
  1-17, the older WUDAPT codes 101-107 (= LCZ A-G = 11-17, ``legend.normalize_codes``) or
  the letters A-G, as numbers or text ("3", "LCZ 3", "lcz_b"). The field is given
  (``field``) or found among ``FIELD_NAMES`` (case-insensitive).
* **A WUDAPT training-area template** (KML, or KMZ: a zip holding ``doc.kml``) with one
  Folder per class, named ``1``-``10``, ``A``-``G``, ``11``-``17`` or ``101``-``107``
  ("LCZ 1", "LCZ A" too). OGR's KML drivers show each Folder as a layer; the class is
  the folder's name, unless the placemarks carry an LCZ field.

Polygons in any CRS are reprojected to the raster's CRS; multi-part polygons stay one
training area; 3-D coordinates are flattened to 2-D; curves are linearised; invalid
rings are repaired (``MakeValid``); other geometries in a layer of polygons (points,
lines) are skipped with a warning. Each area gets an ``id``: its position in reading
order, from 1 (unique across a KML's folders); ``fid`` and ``layer`` say where it came
from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..common.errors import LczError, param
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES, lcz_class

# fields that may hold the class, in the order they are tried (case-insensitive)
FIELD_NAMES = ("lcz", "lcz_class", "lcz_code", "lczclass", "lcz_type", "class", "class_id",
               "classid", "code")  # fmt: skip
KML_SUFFIXES = (".kml", ".kmz")
LETTERS = "ABCDEFG"  # LCZ A-G = 11-17
_CODE_TEXT = re.compile(r"^(?:lcz[\s_\-]*)?([0-9]{1,3}|[a-g])(?:\.0+)?(?:\b|_|\s|$)", re.I)


@dataclass
class TrainingArea:
    """One training-area polygon.

    Attributes:
        id: its number, 1.. in reading order (unique in the input).
        code: the LCZ code 1-17.
        geometry: an OGR polygon or multi-polygon (2-D) in the raster's CRS.
        fid: the feature id in its layer.
        layer: the layer it came from (a KML Folder's name).
    """

    id: int
    code: int
    geometry: object
    fid: int = -1
    layer: str = ""

    def where(self) -> str:
        """How messages name the area: ``polygon 12 (LCZ 4, feature 11 of 'areas')``."""
        return f"polygon {self.id} (LCZ {lcz_class(self.code).letter}, feature {self.fid} of '{self.layer}')"


def parse_lcz_code(value) -> int | None:
    """The LCZ code (1-17) of a field value or folder name, None when it is none.

    Accepts 1-17, 101-107 (LCZ A-G), the letters A-G, integral floats (``3.0``) and
    texts such as "3", "LCZ 3", "lcz_A", "A - dense trees".
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if value != value or float(value) != int(value):
            return None
        n = int(value)
    else:
        m = _CODE_TEXT.match(str(value).strip())
        if not m:
            return None
        tok = m.group(1)
        if not tok.isdigit():
            return N_CLASSES - len(LETTERS) + 1 + LETTERS.index(tok.upper())
        n = int(tok)
    if 1 <= n <= N_CLASSES:
        return n
    if 101 <= n <= 107:
        return n - 90
    return None


def _ogr():
    from osgeo import ogr

    ogr.UseExceptions()
    return ogr


def _open(path):
    from ..raster.io import open_vector

    p = Path(str(path).split("|")[0])
    if not p.exists():
        raise LczError(f"{param('AREAS')}: training areas '{p}' do not exist")
    try:
        ds = open_vector(p)
    except RuntimeError as exc:
        raise LczError(f"{param('AREAS')}: cannot open '{p.name}' as a vector: {exc}") from None
    if ds is None or ds.GetLayerCount() == 0:
        raise LczError(f"{param('AREAS')}: '{p.name}' holds no vector layer")
    return ds, p


def detect_field(layer, field: str | None) -> str | None:
    """The name of the layer's LCZ field: ``field`` (case-insensitive), else the first of
    ``FIELD_NAMES`` it has; None when it has none.

    Raises:
        LczError: ``field`` was given and the layer has no such field.
    """
    defn = layer.GetLayerDefn()
    names = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    lower = {n.lower(): n for n in names}
    if field:
        if field.lower() not in lower:
            raise LczError(
                f"{param('FIELD')}: layer '{layer.GetName()}' has no field '{field}' "
                f"(fields: {', '.join(names) or 'none'})"
            )
        return lower[field.lower()]
    return next((lower[n] for n in FIELD_NAMES if n in lower), None)


def _transform(layer, crs_wkt: str):
    from ..raster.io import osr

    o = osr()
    srs = layer.GetSpatialRef()
    if srs is None or not crs_wkt:
        return None
    dst = o.SpatialReference()
    dst.ImportFromWkt(crs_wkt)
    dst.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    if srs.IsSame(dst):
        return None
    srs = srs.Clone()
    srs.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    return o.CoordinateTransformation(srs, dst)


def _polygons(g):
    """The polygons in an OGR geometry (itself, or those in a multi-part or collection)."""
    ogr = _ogr()
    flat = ogr.GT_Flatten(g.GetGeometryType())
    if flat == ogr.wkbPolygon:
        yield g
    elif flat in (ogr.wkbMultiPolygon, ogr.wkbGeometryCollection):
        for i in range(g.GetGeometryCount()):
            yield from _polygons(g.GetGeometryRef(i))


def _join(polys):
    ogr = _ogr()
    if len(polys) == 1:
        return polys[0].Clone()
    out = ogr.Geometry(ogr.wkbMultiPolygon)
    for p in polys:
        out.AddGeometry(p)
    return out


def polygon_part(geom):
    """The polygonal part of an OGR geometry as a 2-D polygon or multi-polygon, None
    when it has none: curves linearised, collections searched, invalid rings repaired
    (``MakeValid``)."""
    if geom is None or geom.IsEmpty():
        return None
    g = geom.Clone()
    if g.HasCurveGeometry():
        g = g.GetLinearGeometry()
    g.FlattenTo2D()
    polys = [p for p in _polygons(g) if not p.IsEmpty()]
    if not polys:
        return None
    out = _join(polys)
    if not out.IsValid():
        fixed = out.MakeValid()
        fixed.FlattenTo2D()
        polys = [p for p in _polygons(fixed) if not p.IsEmpty()]
        out = _join(polys) if polys else None
    return out


def _class_source(layer, field, is_kml, feedback) -> tuple[str | None, int | None]:
    """(the LCZ field, the folder's class) of a layer; (None, None): a KML folder that
    is no class (ignored, with a warning when it holds features)."""
    if not is_kml or field:
        fname = detect_field(layer, field)
        if fname is None:
            _no_field(layer)
        return fname, None
    code = parse_lcz_code(layer.GetName())
    if code is not None:
        return None, code
    fname = detect_field(layer, None)
    if fname is None and layer.GetFeatureCount() > 0:
        feedback.warning(
            f"KML folder '{layer.GetName()}' is not an LCZ class (name the folders 1-10, "
            f"A-G): its {layer.GetFeatureCount()} placemark(s) are ignored"
        )
    return fname, None


def _read_layer(layer, field, crs_wkt, is_kml, out, feedback) -> bool:
    """Append the layer's areas to ``out["areas"]``; collect skipped geometries and bad
    codes. False: the layer gives no class (a KML folder that is no class)."""
    name = layer.GetName()
    fname, folder_code = _class_source(layer, field, is_kml, feedback)
    if fname is None and folder_code is None:
        return False
    ct = _transform(layer, crs_wkt)
    if layer.GetSpatialRef() is None and layer.GetFeatureCount():
        feedback.warning(
            f"layer '{name}' has no CRS: its coordinates are taken as the raster's CRS"
        )
    areas = out["areas"]
    layer.ResetReading()
    for feat in layer:
        geom = polygon_part(feat.GetGeometryRef())
        if geom is None:
            out["skipped"].append((name, feat.GetFID()))
            continue
        code = folder_code
        if fname is not None:
            raw = feat.GetField(fname)
            code = parse_lcz_code(raw)
            if code is None:
                out["bad"].append((name, feat.GetFID(), raw))
                continue
        if ct is not None:
            geom.Transform(ct)
        areas.append(TrainingArea(len(areas) + 1, code, geom, feat.GetFID(), name))
    layer.ResetReading()
    return True


def read_training_areas(path, crs_wkt: str, field: str | None = None,
                        feedback: Feedback | None = None) -> list[TrainingArea]:  # fmt: skip
    """Read training-area polygons and their LCZ classes, in the raster's CRS.

    Args:
        path: a polygon vector file (GeoPackage, shapefile, GeoJSON, ...) or a WUDAPT
            template KML/KMZ with one Folder per class (module docstring).
        crs_wkt: the raster's CRS (WKT); the polygons are reprojected to it.
        field: the LCZ field; None: the first of ``FIELD_NAMES`` the layer has (and,
            for a KML, the folder names).
        feedback: warnings (skipped geometries).

    Returns:
        The areas, ``id`` 1.. in reading order.

    Raises:
        LczError: no LCZ field (nor class folders), a code outside 1-17 / 101-107 / A-G,
            an empty layer, or no polygon at all.
    """
    feedback = feedback or Feedback()
    ds, p = _open(path)
    is_kml = p.suffix.lower() in KML_SUFFIXES or ds.GetDriver().GetName() in ("KML", "LIBKML")
    layers = _layers(ds, str(path), is_kml, feedback)
    out: dict = {"areas": [], "skipped": [], "bad": []}
    used = [lyr.GetName() for lyr in layers if _read_layer(lyr, field, crs_wkt, is_kml, out,
                                                           feedback)]  # fmt: skip
    areas, skipped = out["areas"], out["skipped"]
    _check_read(p, ds, areas, skipped, out["bad"], used, is_kml)
    if skipped:
        where = ", ".join(f"feature {fid} of '{lyr}'" for lyr, fid in skipped[:5])
        feedback.warning(
            f"{len(skipped)} feature(s) of '{p.name}' are not polygons and were skipped "
            f"({where}{', ...' if len(skipped) > 5 else ''})"
        )
    return areas


def _layers(ds, path: str, is_kml: bool, feedback) -> list:
    """The layers to read: every KML folder; else the one named in ``path|layername=X``,
    or the first layer with geometries (a warning names the others)."""
    ogr = _ogr()
    all_layers = [ds.GetLayer(i) for i in range(ds.GetLayerCount())]
    if is_kml:
        return all_layers
    m = re.search(r"\|layername=([^|]+)", path)
    if m:
        layer = ds.GetLayerByName(m.group(1))
        if layer is None:
            raise LczError(f"{param('AREAS')}: '{path}' has no layer '{m.group(1)}'")
        chosen = [layer]
    else:
        chosen = [lyr for lyr in all_layers if lyr.GetGeomType() != ogr.wkbNone][:1] or all_layers[
            :1
        ]
        others = [lyr.GetName() for lyr in all_layers
                  if lyr.GetGeomType() != ogr.wkbNone and lyr.GetName() != chosen[0].GetName()]  # fmt: skip
        if others:
            feedback.warning(
                f"'{Path(path).name}' has several layers: reading '{chosen[0].GetName()}' only "
                f"(not {', '.join(others)}); name one as '<file>|layername=<layer>'"
            )
    flat = ogr.GT_Flatten(chosen[0].GetGeomType())
    if flat not in (ogr.wkbUnknown, ogr.wkbPolygon, ogr.wkbMultiPolygon, ogr.wkbGeometryCollection,
                    ogr.wkbCurvePolygon, ogr.wkbMultiSurface):  # fmt: skip
        raise LczError(
            f"{param('AREAS')}: layer '{chosen[0].GetName()}' holds "
            f"{ogr.GeometryTypeToName(chosen[0].GetGeomType()).lower()} geometries, not "
            "polygons; training areas are polygons"
        )
    return chosen


def _no_field(layer) -> None:
    defn = layer.GetLayerDefn()
    names = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    raise LczError(
        f"layer '{layer.GetName()}' has no LCZ field (looked for {', '.join(FIELD_NAMES)}; "
        f"it has {', '.join(names) or 'no field'}): name the field holding the class "
        f"with {param('FIELD')}"
    )


def _check_read(p: Path, ds, areas, skipped, bad, used, is_kml) -> None:
    """Refuse bad codes, a KML without class folders, no polygon at all."""
    if bad:
        where = "; ".join(f"feature {fid} of '{lyr}': {raw!r}" for lyr, fid, raw in bad[:5])
        raise LczError(
            f"{len(bad)} training area(s) of '{p.name}' have no valid LCZ code ({where}"
            f"{'; ...' if len(bad) > 5 else ''}); use 1-17, 101-107 or the letters A-G"
        )
    if is_kml and not used:
        names = [ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())]
        raise LczError(
            f"'{p.name}' has no class folders (found {', '.join(map(repr, names))}): the "
            "WUDAPT template holds one Folder per LCZ, named 1-10, A-G (or 11-17, 101-107)"
        )
    if not areas:
        what = "holds no feature" if not skipped else "holds no polygon (only points or lines)"
        raise LczError(f"{param('AREAS')}: '{p.name}' {what}; give polygons of known LCZ")
