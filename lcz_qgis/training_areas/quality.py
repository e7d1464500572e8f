"""Quality checks of training areas before training, and the "suspicious" layer.

Each check gives one warning (through the feedback) naming every polygon it concerns,
and one row per polygon and reason in the suspicious-training-areas layer
(``write_suspicious_layer``: polygon_id, lcz, reason, ...). Before any pixel is read
(``check_training_areas``):

* **huge**: a polygon of ``HUGE_M2`` (300,000 m²) or more is replaced by a
  ``HUGE_BUFFER_M`` (300 m) buffer around its centroid, as the LCZ Generator does
  (Demuzere et al. 2021), so one large area does not swamp its class; the buffer
  (about 282,700 m², 28 grid points) is what is sampled.
* **outside**: a polygon that does not meet the raster's extent.
* **overlap**: polygons of different classes whose intersection is larger than
  ``OVERLAP_M2`` (1 m²; edges that only touch do not count). Grid points in both are
  left out (``grid``).
* **tiny**: a polygon inside the raster's extent holding no 100 m grid point
  (``grid.points_in``), so no 32 x 32 window is centred inside it: it gives no patch.

After the windows are read (``window_suspects``): **few per class** (a class with fewer
than ``MIN_POLYGONS`` (3) polygons that gave patches), **partly or wholly outside** (windows
that leave the raster) and **on nodata** (windows holding a nodata, NaN or out-of-range
pixel), with the counts. Areas are measured in the raster's CRS (metres).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.errors import LczError, first_line
from ..common.feedback import Feedback
from ..common.legend import lcz_class
from .grid import points_in

MIN_POLYGONS = 3
HUGE_M2 = 300_000.0
HUGE_BUFFER_M = 300.0
OVERLAP_M2 = 1.0
LISTED = 30  # polygons a warning names at most
LAYER_NAME = "suspicious_training_areas"
# each check in a few words, for the labels (the full reason is in the attribute table)
SHORT_REASONS = {"huge": "too large", "few": "too few polygons", "outside": "outside raster",
                 "tiny": "too small", "overlap": "overlaps a class", "edge": "at raster edge",
                 "nodata": "on nodata"}  # fmt: skip
LABEL_EXPRESSION = (
    "concat('#', \"polygon_id\", ' LCZ ', \"lcz_letter\", ': ', CASE "
    + " ".join(f"WHEN \"check\" = '{k}' THEN '{v}'" for k, v in SHORT_REASONS.items())
    + ' ELSE "check" END)'
)


@dataclass
class Suspect:
    """One reason to doubt one training area (a row of the suspicious layer).

    Attributes:
        polygon_id: the area's ``id``.
        code: its LCZ code.
        check: which check: huge, few, outside, tiny, overlap, edge or nodata.
        reason: why, in words.
        geometry: its polygon as read (before a huge one is replaced), raster CRS.
        fid, layer: where it came from.
    """

    polygon_id: int
    code: int
    check: str
    reason: str
    geometry: object
    fid: int = -1
    layer: str = ""


@dataclass
class QualityReport:
    """What the checks found.

    Attributes:
        areas: the areas to sample (huge ones replaced by their 300 m buffer).
        suspects: one entry per polygon and reason.
        replaced: ids of the huge areas replaced.
    """

    areas: list
    suspects: list = field(default_factory=list)
    replaced: list = field(default_factory=list)


def _suspect(area, check: str, reason: str) -> Suspect:
    return Suspect(area.id, area.code, check, reason, area.geometry, area.fid, area.layer)


def _warn(feedback: Feedback, found: list, text: str) -> None:
    """One warning: ``text`` then the polygons of ``found`` ((area, detail) pairs)."""
    if not found:
        return
    names = "; ".join(f"{a.where()}{': ' + d if d else ''}" for a, d in found[:LISTED])
    more = f"; and {len(found) - LISTED} more" if len(found) > LISTED else ""
    feedback.warning(f"{text}: {names}{more} (see the suspicious training areas layer)")


def _replace_huge(areas, feedback) -> tuple[list, list, list]:
    out, suspects, found = [], [], []
    for a in areas:
        m2 = a.geometry.GetArea()
        if m2 < HUGE_M2:
            out.append(a)
            continue
        buf = a.geometry.Centroid().Buffer(HUGE_BUFFER_M, 30)
        out.append(dataclasses.replace(a, geometry=buf))
        reason = (
            f"huge: {m2:,.0f} m² (>= {HUGE_M2:,.0f} m²), replaced by a {HUGE_BUFFER_M:g} m "
            "buffer around its centroid"
        )
        suspects.append(_suspect(a, "huge", reason))
        found.append((a, f"{m2:,.0f} m²"))
    _warn(
        feedback,
        found,
        f"{len(found)} training area(s) of {HUGE_M2:,.0f} m² or more are replaced by a "
        f"{HUGE_BUFFER_M:g} m buffer around their centroid, as the LCZ Generator does",
    )
    return out, suspects, [a.id for a, _ in found]


def _few_per_class(areas, gave: set, feedback) -> list[Suspect]:
    """Suspects of the classes with fewer than ``MIN_POLYGONS`` polygons among those that
    gave patches (ids in ``gave``): a polygon outside the raster, on nodata or too small
    for a grid point does not count."""
    drawn = Counter(a.code for a in areas)
    counts = Counter(a.code for a in areas if a.id in gave)
    few = {c: counts.get(c, 0) for c in drawn if counts.get(c, 0) < MIN_POLYGONS}
    if few:
        classes = ", ".join(
            f"LCZ {lcz_class(c).letter} ({n} of {drawn[c]} polygon{'s' if drawn[c] > 1 else ''})"
            for c, n in sorted(few.items())
        )
        feedback.warning(
            f"class(es) with fewer than {MIN_POLYGONS} training areas that gave patches: "
            f"{classes}; a model learns little of them and a split by polygon cannot test "
            "them: digitise more polygons of these classes (see the suspicious training "
            "areas layer)"
        )
    return [
        _suspect(a, "few", f"LCZ {lcz_class(a.code).letter} has only {few[a.code]} polygon(s) "
                 f"that gave patches (fewer than {MIN_POLYGONS})")
        for a in areas if a.code in few
    ]  # fmt: skip


def _footprint(info):
    from osgeo import ogr

    x0, y0, x1, y1 = info.bounds()
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)):
        ring.AddPoint_2D(x, y)
    poly = ogr.Geometry(ogr.wkbPolygon)
    poly.AddGeometry(ring)
    return poly


def _outside_and_tiny(areas, info, feedback) -> list[Suspect]:
    foot = _footprint(info)
    outside, tiny = [], []
    for a in areas:
        if not a.geometry.Intersects(foot):
            outside.append((a, ""))
        elif points_in(a.geometry)[0].size == 0:
            tiny.append((a, f"{a.geometry.GetArea():,.0f} m²"))
    _warn(feedback, outside, f"{len(outside)} training area(s) lie outside the raster")
    _warn(
        feedback,
        tiny,
        f"{len(tiny)} training area(s) are too small: they hold no point of the 100 m grid, "
        "so no 32 x 32 window is centred inside them and they give no patch",
    )
    return [_suspect(a, "outside", "outside the raster") for a, _ in outside] + [
        _suspect(a, "tiny", f"tiny: {d}, holds no 100 m grid point (no patch)") for a, d in tiny
    ]


def _overlaps(areas, feedback) -> list[Suspect]:
    """Pairs of areas of different classes that overlap (envelopes first)."""
    if len(areas) < 2:
        return []
    env = np.array([a.geometry.GetEnvelope() for a in areas])  # x0, x1, y0, y1
    hits: dict[int, list] = {}
    for i, a in enumerate(areas):
        j = np.flatnonzero(
            (env[i + 1 :, 0] <= env[i, 1]) & (env[i + 1 :, 1] >= env[i, 0])
            & (env[i + 1 :, 2] <= env[i, 3]) & (env[i + 1 :, 3] >= env[i, 2])
        ) + i + 1  # fmt: skip
        for k in j:
            b = areas[k]
            if b.code == a.code or not a.geometry.Intersects(b.geometry):
                continue
            m2 = a.geometry.Intersection(b.geometry).GetArea()
            if m2 > OVERLAP_M2:
                hits.setdefault(i, []).append((b, m2))
                hits.setdefault(int(k), []).append((a, m2))
    found = [
        (areas[i], ", ".join(f"polygon {b.id}" for b, _ in v)) for i, v in sorted(hits.items())
    ]
    _warn(
        feedback,
        found,
        f"{len(found)} training area(s) overlap areas of another class; grid points in both "
        "are left out",
    )
    return [
        _suspect(areas[i], "overlap", "; ".join(
            f"overlaps polygon {b.id} (LCZ {lcz_class(b.code).letter}) by {m2:,.0f} m²"
            for b, m2 in v))
        for i, v in sorted(hits.items())
    ]  # fmt: skip


def check_training_areas(areas, info, feedback: Feedback | None = None) -> QualityReport:
    """The checks made before any pixel is read (module docstring).

    Args:
        areas: ``read.TrainingArea``s in the raster's CRS (not modified).
        info: the raster's ``raster.io.RasterInfo``.
        feedback: receives one warning per check that finds something.

    Returns:
        A ``QualityReport``: the areas to sample (huge ones replaced) and the suspects.
    """
    feedback = feedback or Feedback()
    used, suspects, replaced = _replace_huge(areas, feedback)
    suspects += _outside_and_tiny(used, info, feedback)
    suspects += _overlaps(used, feedback)
    return QualityReport(used, suspects, replaced)


def window_suspects(report: QualityReport, points, nodata: dict,
                    feedback: Feedback | None = None) -> list:  # fmt: skip
    """Suspects found when the windows are read: windows leaving the raster, windows on
    nodata (areas already found outside the raster are not named again).

    Args:
        report: the checks' report (``check_training_areas``), whose areas were sampled.
        points: their ``grid.GridPoints``.
        nodata: area id -> windows skipped for nodata.
        feedback: receives one warning per finding.

    Returns:
        ``Suspect``s (one per area and reason).
    """
    feedback = feedback or Feedback()
    out, part, on_nd = [], [], []
    known = {s.polygon_id for s in report.suspects if s.check == "outside"}
    for a in report.areas:
        if a.id in known:
            continue
        n = points.per_polygon.get(a.id, 0)
        k = points.outside.get(a.id, 0)
        if n and k:
            what = "outside the raster" if k == n else "partly outside the raster"
            part.append((a, f"{k} of {n} windows"))
            out.append(_suspect(a, "edge", f"{what}: {k} of its {n} windows leave the raster"))
        d = nodata.get(a.id, 0)
        if d:
            tried = n - k
            what = "on nodata" if d >= tried else "partly on nodata"
            on_nd.append((a, f"{d} of {tried} windows"))
            out.append(_suspect(a, "nodata", f"{what}: {d} of its {tried} windows hold nodata"))
    _warn(feedback, part, f"{len(part)} training area(s) have windows leaving the raster "
          "(skipped)")  # fmt: skip
    _warn(feedback, on_nd, f"{len(on_nd)} training area(s) have windows holding nodata "
          "(skipped)")  # fmt: skip
    gave = {a.id for a in report.areas
            if points.per_polygon.get(a.id, 0) - points.outside.get(a.id, 0) - nodata.get(a.id, 0) > 0}  # fmt: skip
    return out + _few_per_class(report.areas, gave, feedback)


def suspicious_qml() -> str:
    """The suspicious layer's style: magenta dashed, hatched polygons that stand out on an
    LCZ map, labelled '#id LCZ x: short reason' (``styles.qml_suspicious_polygons``)."""
    from ..styling.styles import qml_suspicious_polygons

    return qml_suspicious_polygons(LABEL_EXPRESSION)


def write_suspicious_layer(path, suspects: list, crs_wkt: str) -> Path:
    """Write the suspicious training areas as a GeoPackage at ``path`` (no temporary:
    the caller stages it), one row per polygon and reason: polygon_id, lcz, lcz_letter,
    lcz_name, reason, fid, layer; multi-polygons in the raster's CRS.

    Returns:
        ``path``.
    """
    from osgeo import ogr

    from ..raster.io import osr

    ogr.UseExceptions()
    o = osr()
    srs = o.SpatialReference()
    srs.ImportFromWkt(crs_wkt)
    try:
        _write_suspects(ogr, ogr.GetDriverByName("GPKG").CreateDataSource(str(path)), srs,
                        suspects)  # fmt: skip
    except RuntimeError as exc:
        raise _write_error(path, exc) from None
    return Path(path)


def _write_error(path, exc: RuntimeError) -> LczError:
    """What OGR's failure writing the layer at ``path`` means: ``DiskFull`` when the
    disk is (almost) full (OGR often says nothing then), else one line naming it."""
    from ..common.atomic import LOW_SPACE, DiskFull, free_bytes, is_disk_full, output_name

    free = free_bytes(path)
    if is_disk_full(exc) or (free is not None and free < LOW_SPACE):
        return DiskFull(output_name(path), Path(path).stat().st_size if Path(path).is_file() else 0,
                        more_than=True)  # fmt: skip
    return LczError(f"cannot write the suspicious training areas {output_name(path)} "
                    f"({first_line(exc, 'OGR gives no reason')})")  # fmt: skip


def _write_suspects(ogr, ds, srs, suspects: list) -> None:
    """The suspicious-areas layer of ``write_suspicious_layer`` in the new dataset ``ds``."""
    try:
        lyr = ds.CreateLayer(LAYER_NAME, srs, ogr.wkbMultiPolygon, ["GEOMETRY_NAME=geom"])
        for name, kind in (("polygon_id", ogr.OFTInteger64), ("lcz", ogr.OFTInteger),
                           ("lcz_letter", ogr.OFTString), ("lcz_name", ogr.OFTString),
                           ("check", ogr.OFTString), ("reason", ogr.OFTString), ("fid_in_input", ogr.OFTInteger64),
                           ("layer", ogr.OFTString)):  # fmt: skip
            lyr.CreateField(ogr.FieldDefn(name, kind))
        defn = lyr.GetLayerDefn()
        lyr.StartTransaction()
        for s in suspects:
            f = ogr.Feature(defn)
            f.SetGeometry(ogr.ForceToMultiPolygon(s.geometry.Clone()))
            c = lcz_class(s.code)
            for k, v in (("polygon_id", s.polygon_id), ("lcz", s.code), ("lcz_letter", c.letter),
                         ("lcz_name", c.name), ("check", s.check), ("reason", s.reason), ("fid_in_input", s.fid),
                         ("layer", s.layer)):  # fmt: skip
                f.SetField(k, v)
            lyr.CreateFeature(f)
        lyr.CommitTransaction()
        ds.FlushCache()  # GDAL < 3.8 reports a failed write here, not when ds is closed
    finally:
        ds = None
