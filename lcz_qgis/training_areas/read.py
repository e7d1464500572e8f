"""Training areas in: expert-digitised polygons of known LCZ (WUDAPT / LCZ Generator).

Two kinds of input, both read with OGR (``raster.io.open_vector``):

* **Any polygon vector** (GeoPackage, shapefile, GeoJSON, ...) with an LCZ field: codes
  1-17, the older WUDAPT codes 101-107 (= LCZ A-G = 11-17, ``legend.normalize_codes``) or
  the letters A-G, as numbers or text ("3", "LCZ 3", "lcz_b"). The field is given
  (``field``) or found among ``FIELD_NAMES`` (case-insensitive).
* **A WUDAPT training-area template** (KML, or KMZ: a zip holding ``doc.kml``) with one
  Folder per class, named ``1``-``10``, ``A``-``G``, ``11``-``17`` or ``101``-``107``
  ("LCZ 1", "LCZ A" too). OGR's KML drivers show each Folder as a layer; the class is
  the folder's name, unless the placemarks carry an LCZ field. Image overlays
  (GroundOverlay) are skipped with a warning; a file giving no area that holds one is
  refused as a rendered map (``_refuse_rendered_map``), not training areas.

Polygons in any CRS are reprojected to the raster's CRS (a layer without one, or with
GeoPackage's "Undefined ... SRS", is taken as in the raster's CRS, with a warning);
multi-part polygons stay one training area; 3-D coordinates are flattened to 2-D; curves
are linearised; invalid rings are repaired (``MakeValid``). Other geometries in a layer
of polygons (points, lines) and single unusable features (coordinates that are not
finite or beyond ``MAX_COORDINATE``, a geometry OGR cannot repair or reproject) are
skipped, each named in a warning; when no polygon is left the file is refused. A code
that is not exactly one LCZ (``parse_lcz_code``: "3/4", "2,5", "3.5") refuses the file,
naming the features. A file OGR cannot read (a damaged shapefile, a VRT whose source is
missing, a KMZ that would inflate beyond ``MAX_KML_BYTES``) is refused as one
``LczError`` naming the file, layer and feature (``_ogr_failures``). Each area gets an
``id``: its position in reading order, from 1 (unique across a KML's folders); ``fid``
and ``layer`` say where it came from.
"""

from __future__ import annotations

import contextlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.errors import LczError, first_line, param
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES, lcz_class

# fields that may hold the class, in the order they are tried (case-insensitive)
FIELD_NAMES = ("lcz", "lcz_class", "lcz_code", "lczclass", "lcz_type", "class", "class_id",
               "classid", "code")  # fmt: skip
KML_SUFFIXES = (".kml", ".kmz")
LETTERS = "ABCDEFG"  # LCZ A-G = 11-17
# a text code: an optional "LCZ" prefix, one code (a number, ".0" allowed, or a letter),
# then nothing or a name after a separator ("A - dense trees", "LCZ 3 compact mid-rise")
_CODE_TEXT = re.compile(r"^(?:lcz[\s_\-]*)?([0-9]{1,3}|[a-g])(?:\.0+)?(?:[\s_\-:(]+(.*))?$", re.I)
# the name after a code: letters and word separators only, no other code in it
_NAME_TEXT = re.compile(r"^[^\W\d_]+(?:[\s_\-'()/&,]+[^\W\d_]+)*[\s)]*$")
_CODE_WORD = re.compile(r"^(?:[a-g]|lcz)$", re.I)
# coordinates beyond this (in the layer's or the raster's units) are no place on Earth
MAX_COORDINATE = 1e8
# a KMZ member (doc.kml) inflating beyond this, or more than KML_RATIO times, is refused
MAX_KML_BYTES = 256 * 2**20
KML_RATIO = 200
# what OGR's GeoPackage driver reads for a layer written without a CRS (srs_id 0, -1)
UNDEFINED_SRS = ("Undefined geographic SRS", "Undefined Cartesian SRS")
# a KML GroundOverlay (an image on the ground: a rendered map) and its image's href
_GROUND_OVERLAY = re.compile(rb"<(?:\w+:)?GroundOverlay\b.*?<(?:\w+:)?href>([^<]*)<", re.S)


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
    """The LCZ code (1-17) of a field value or folder name, None when it is not exactly
    one LCZ code.

    Accepts 1-17, 101-107 (LCZ A-G), the letters A-G, integral floats (``3.0``) and
    texts such as "3", " 3 ", "LCZ 3", "lcz_A", "A - dense trees" (one code, then at
    most a name). Refused (None): a fraction ("3.5", 3.7), mixed or several codes
    ("3/4", "2,5", "A+B", "3 or A"), a code glued to more ("g.5", "3a").
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
        if not m or not _only_a_name(m.group(2)):
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


def _only_a_name(rest: str | None) -> bool:
    """Whether the text after a code is nothing or a class name (words without digits,
    none of them a code letter or "LCZ")."""
    if not rest:
        return True
    if not _NAME_TEXT.match(rest):
        return False
    return not any(_CODE_WORD.match(w) for w in re.split(r"[\s_\-'()/&,]+", rest) if w)


def _ogr():
    from osgeo import ogr

    ogr.UseExceptions()
    return ogr


def _open(path):
    """The OGR dataset of ``path`` (``file|layername=X`` allowed) and the file's Path;
    a named pipe, a device or a zip bomb is refused before OGR opens it."""
    from ..common.input_files import check_input_file
    from ..raster.io import open_vector

    p = Path(str(path).split("|")[0])
    check_input_file(p, f"{param('AREAS')}: training areas", folder_ok=True)
    if p.suffix.lower() == ".kmz":
        _check_kmz(p)
    try:
        ds = open_vector(p)
    except RuntimeError as exc:
        raise LczError(
            f"{param('AREAS')}: cannot open '{p.name}' as a vector: {first_line(exc)}"
        ) from None
    if ds is None or ds.GetLayerCount() == 0:
        if p.suffix.lower() in KML_SUFFIXES:  # GDAL's KML driver shows an overlay as nothing
            _refuse_rendered_map(p)
        raise LczError(f"{param('AREAS')}: '{p.name}' holds no vector layer")
    return ds, p


def _check_kmz(p: Path) -> None:
    """Refuse a KMZ whose members declare more than ``MAX_KML_BYTES`` in all, or inflate
    more than ``KML_RATIO`` times (a zip bomb), before OGR inflates them (it reads no more
    than a member declares). A KMZ that is no zip is left to OGR."""
    try:
        with zipfile.ZipFile(p) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError):
        return
    total = 0
    for info in infos:
        size, packed = int(info.file_size), max(int(info.compress_size), 1)
        total += size
        if total > MAX_KML_BYTES or (size > 2**20 and size > KML_RATIO * packed):
            raise LczError(
                f"{param('AREAS')}: '{p.name}': member '{info.filename[:80]}' inflates to "
                f"{size / 2**20:.0f} MB from {packed / 2**20:.1f} MB; a KMZ of training areas "
                f"holds far less (at most {MAX_KML_BYTES >> 20} MB, {KML_RATIO}:1): refusing it"
            )


@contextlib.contextmanager
def _ogr_failures(p: Path):
    """Turn what OGR raises while a file is read (a VRT whose source is missing, a layer
    it cannot describe) into one LczError naming the file."""
    try:
        yield
    except RuntimeError as exc:
        raise LczError(
            f"{param('AREAS')}: cannot read the training areas '{p.name}' "
            f"({first_line(exc, 'OGR gives no reason')})"
        ) from None


def _features(layer, p: Path):
    """The layer's features, in order; a read failure (a damaged or cut-short file)
    raises LczError naming the file, the layer and the last feature read."""
    layer.ResetReading()
    last = None
    while True:
        try:
            feat = layer.GetNextFeature()
        except RuntimeError as exc:
            after = f"after feature {last}" if last is not None else "at its first feature"
            raise LczError(
                f"{param('AREAS')}: cannot read '{p.name}': layer '{layer.GetName()}' fails "
                f"{after} ({first_line(exc, 'OGR gives no reason')}); the file is damaged "
                "or incomplete (a shapefile needs its .shp, .shx and .dbf whole)"
            ) from None
        if feat is None:
            return
        last = feat.GetFID()
        yield feat


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


def layer_srs(layer):
    """The layer's CRS; None when it has none: no CRS, GeoPackage's "Undefined
    geographic/Cartesian SRS" (a layer saved without one) or a local engineering CRS."""
    srs = layer.GetSpatialRef()
    if srs is None or srs.GetName() in UNDEFINED_SRS or srs.IsLocal():
        return None
    return srs


def _transform(layer, crs_wkt: str):
    """The transformation from the layer's CRS to ``crs_wkt``, None when none is needed.

    Raises:
        LczError: the layer's CRS cannot be transformed to the raster's.
    """
    from ..raster.io import osr

    o = osr()
    srs = layer_srs(layer)
    if srs is None or not crs_wkt:
        return None
    dst = o.SpatialReference()
    dst.ImportFromWkt(crs_wkt)
    dst.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    if srs.IsSame(dst):
        return None
    srs = srs.Clone()
    srs.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    try:
        ct = o.CoordinateTransformation(srs, dst)
    except RuntimeError as exc:
        ct, why = None, first_line(exc)
    else:
        why = "no transformation"
    if ct is None:
        raise LczError(
            f"{param('AREAS')}: layer '{layer.GetName()}' is in {srs.GetName()!r}, which cannot "
            f"be reprojected to the raster's CRS ({why})"
        )
    return ct


def coordinate_problem(geom) -> str | None:
    """Why the polygons of ``geom`` are no place on Earth (coordinates that are not
    finite, or beyond ``MAX_COORDINATE``), None when their coordinates are usable."""
    for poly in _polygons(geom):
        for i in range(poly.GetGeometryCount()):
            xy = np.asarray(poly.GetGeometryRef(i).GetPoints() or [], np.float64)
            if not np.isfinite(xy).all():
                return "coordinates that are not finite (inf or NaN)"
            if xy.size and np.abs(xy).max() > MAX_COORDINATE:
                return f"coordinates beyond {MAX_COORDINATE:.0e}"
    return None


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
    (``MakeValid``).

    Raises:
        LczError: coordinates that are no place (``coordinate_problem``: the reason).
        RuntimeError: OGR (GEOS) cannot handle the geometry.
    """
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
    why = coordinate_problem(out)
    if why:  # GEOS (MakeValid) fails on them
        raise LczError(why)
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


def _is_overlay(feat) -> bool:
    """Whether a KML feature is an image overlay (LIBKML gives a GroundOverlay its
    LatLonBox as a polygon and its image in the ``icon`` field)."""
    i = feat.GetFieldIndex("icon")
    return i >= 0 and feat.IsFieldSetAndNotNull(i) and bool(feat.GetFieldAsString(i).strip())


def _feature_geometry(feat, ct) -> tuple[object | None, str | None]:
    """(the feature's polygonal part in the raster's CRS, None), (None, None) when it has
    no polygon, or (None, why it is unusable): coordinates that are no place, or a
    geometry OGR cannot repair or reproject."""
    try:
        geom = polygon_part(feat.GetGeometryRef())
        if geom is None:
            return None, None
        if ct is not None:
            geom.Transform(ct)
            why = coordinate_problem(geom)
            if why:
                return None, f"{why} once reprojected"
    except LczError as exc:
        return None, str(exc)
    except RuntimeError as exc:
        return None, f"OGR cannot use its geometry: {first_line(exc, 'no reason given')}"
    return geom, None


def _read_layer(layer, field, crs_wkt, is_kml, out, feedback, p: Path) -> bool:
    """Append the layer's areas to ``out["areas"]``; collect skipped geometries (not
    polygons: ``skipped``; unusable: ``broken``) and bad codes. False: the layer gives no
    class (a KML folder that is no class)."""
    name = layer.GetName()
    fname, folder_code = _class_source(layer, field, is_kml, feedback)
    if fname is None and folder_code is None:
        return False
    ct = _transform(layer, crs_wkt)
    if layer_srs(layer) is None and layer.GetFeatureCount():
        feedback.warning(
            f"layer '{name}' has no CRS: its coordinates are taken as the raster's CRS"
        )
    areas = out["areas"]
    for feat in _features(layer, p):
        if is_kml and _is_overlay(feat):
            out["overlays"].append((name, feat.GetFID()))
            continue
        geom, why = _feature_geometry(feat, ct)
        if why is not None:
            out["broken"].append((name, feat.GetFID(), why))
            continue
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
        feedback: warnings (skipped geometries, unusable features, no CRS).

    Returns:
        The areas, ``id`` 1.. in reading order.

    Raises:
        LczError: not a regular file, no LCZ field (nor class folders), a code that is
            not exactly one LCZ, an empty layer, no usable polygon at all, or a file OGR
            cannot read (naming the file, layer and feature).
    """
    feedback = feedback or Feedback()
    ds, p = _open(path)
    out: dict = {"areas": [], "skipped": [], "broken": [], "bad": [], "overlays": []}
    with _ogr_failures(p):
        is_kml = p.suffix.lower() in KML_SUFFIXES or ds.GetDriver().GetName() in ("KML", "LIBKML")
        if is_kml and ds.GetDriver().GetName() == "KML":  # it shows no overlay: the text does
            out["overlay_images"] = _overlay_images(p)
        layers = _layers(ds, str(path), is_kml, feedback)
        used = [lyr.GetName() for lyr in layers
                if _read_layer(lyr, field, crs_wkt, is_kml, out, feedback, p)]  # fmt: skip
        _check_read(p, ds, out, used, is_kml)
    _warn_skipped(p, out, feedback)
    return out["areas"]


def _where(rows, n: int = 5) -> str:
    """The first ``n`` (layer, fid[, why]) rows as "feature 3 of 'x': why; ..."."""
    parts = [f"feature {r[1]} of '{r[0]}'" + (f": {r[2]}" if len(r) > 2 else "") for r in rows[:n]]
    return "; ".join(parts) + ("; ..." if len(rows) > n else "")


def _warn_skipped(p: Path, out: dict, feedback) -> None:
    """One warning per kind of skipped feature, naming the first five."""
    skipped, broken, overlays = out["skipped"], out["broken"], out["overlays"]
    # LIBKML shows overlays as features; GDAL's KML driver does not, the KML text does
    images = out.get("overlay_images", [])
    n, where = len(overlays), _where(overlays)
    if images and not overlays:
        n = len(images)
        where = "; ".join(f"image '{i}'" for i in images[:5]) + ("; ..." if n > 5 else "")
    if n:
        feedback.warning(
            f"{n} image overlay(s) (KML GroundOverlay: a picture on the ground, no polygon) "
            f"of '{p.name}' are no training areas and were skipped ({where})"
        )
    if skipped:
        feedback.warning(
            f"{len(skipped)} feature(s) of '{p.name}' are not polygons and were skipped "
            f"({_where(skipped)})"
        )
    if broken:
        feedback.warning(
            f"{len(broken)} feature(s) of '{p.name}' have unusable geometries and were "
            f"skipped ({_where(broken)}); fix them to use them"
        )


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


def _check_read(p: Path, ds, out: dict, used, is_kml) -> None:
    """Refuse bad codes, a KML without class folders, no usable polygon at all."""
    bad, areas = out["bad"], out["areas"]
    if bad:
        where = "; ".join(f"feature {fid} of '{lyr}': {raw!r}" for lyr, fid, raw in bad[:5])
        raise LczError(
            f"{len(bad)} training area(s) of '{p.name}' have no valid LCZ code ({where}"
            f"{'; ...' if len(bad) > 5 else ''}); give each polygon exactly one code: 1-17, "
            "101-107 or a letter A-G (a mixed label such as '3/4' is no class)"
        )
    if is_kml and not areas:
        _refuse_rendered_map(p)
    if is_kml and not used:
        names = [ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())]
        raise LczError(
            f"'{p.name}' has no class folders (found {', '.join(map(repr, names))}): the "
            "WUDAPT template holds one Folder per LCZ, named 1-10, A-G (or 11-17, 101-107)"
        )
    if not areas:
        if out["broken"]:
            what = f"holds no usable polygon ({_where(out['broken'])})"
        elif out["skipped"]:
            what = "holds no polygon (only points or lines)"
        else:
            what = "holds no feature"
        raise LczError(f"{param('AREAS')}: '{p.name}' {what}; give polygons of known LCZ")


def _kml_texts(p: Path):
    """The KML documents of a .kml or .kmz file, as bytes (at most ``MAX_KML_BYTES``
    each; a KMZ's members were checked by ``_check_kmz``)."""
    if p.suffix.lower() != ".kmz":
        with open(p, "rb") as f:
            yield f.read(MAX_KML_BYTES)
        return
    with contextlib.suppress(zipfile.BadZipFile, OSError), zipfile.ZipFile(p) as z:
        for info in z.infolist():
            if info.filename.lower().endswith(".kml"):
                with z.open(info) as f:
                    yield f.read(MAX_KML_BYTES)


def _overlay_images(p: Path) -> list[str]:
    """The image of each GroundOverlay in a KML/KMZ's documents, in order."""
    return [m.group(1).decode("utf-8", "replace").strip()[:120] or "an image"
            for text in _kml_texts(p) for m in _GROUND_OVERLAY.finditer(text)]  # fmt: skip


def _refuse_rendered_map(p: Path) -> None:
    """Refuse a KML/KMZ that gives no training area because it is a rendered map: a
    GroundOverlay (an image draped over the ground, as the WUDAPT portal's LCZ map KMZ
    files are), naming its image."""
    images = _overlay_images(p)
    if images:
        raise LczError(
            f"{param('AREAS')}: '{p.name}' is a rendered map (a KML GroundOverlay showing "
            f"the image '{images[0]}'), not training areas: give the WUDAPT training-area "
            "template (KML/KMZ with one folder of polygons per class) or polygons with "
            "an LCZ field; a rendered LCZ map is a raster (load its image, or the GeoTIFF, "
            "as the map)"
        )
