"""Hostile training-area files: each crafted here, each read to one clear result.

The reader (``training_areas.read``) turns every OGR failure into an ``LczError`` naming
the file, layer and feature; a single unusable feature among usable ones is skipped with
a warning naming it; a label that is not exactly one LCZ code refuses the file, naming
the features and their values; a named pipe or a zip bomb is refused before OGR reads it.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import threading
import time
import zipfile

import pytest
from helpers import osr, write_wudapt_kml
from osgeo import ogr

from lcz_qgis.common.errors import LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.training_areas import read_training_areas
from lcz_qgis.training_areas.read import MAX_KML_BYTES, parse_lcz_code

ogr.UseExceptions()
SQUARE = [(691000, 5338000), (691300, 5338000), (691300, 5338300), (691000, 5338300)]
OTHER = [(692000, 5338000), (692300, 5338000), (692300, 5338300), (692000, 5338300)]


def _utm(epsg=32632):
    srs = osr().SpatialReference()
    srs.ImportFromEPSG(epsg)
    srs.SetAxisMappingStrategy(osr().OAMS_TRADITIONAL_GIS_ORDER)
    return srs


WKT = _utm().ExportToWkt()


def _polygon(points):
    """A polygon of ``points`` (closed here), built point by point: WKT cannot say inf."""
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in [*points, points[0]]:
        ring.AddPoint_2D(float(x), float(y))
    g = ogr.Geometry(ogr.wkbPolygon)
    g.AddGeometry(ring)
    return g


def _write(path, rings, values=None, srs="utm", driver="GPKG", kind=ogr.OFTString):
    """A polygon layer 'x' with an 'lcz' field; ``srs`` "utm", None or an osr object."""
    srs = _utm() if srs == "utm" else srs
    ds = ogr.GetDriverByName(driver).CreateDataSource(str(path))
    options = ["SPATIAL_INDEX=NO"] if driver == "GPKG" else []  # blobs edited by sqlite3
    lyr = ds.CreateLayer("x", srs, ogr.wkbPolygon, options)
    lyr.CreateField(ogr.FieldDefn("lcz", kind))
    for i, ring in enumerate(rings):
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetGeometry(_polygon(ring))
        f.SetField("lcz", (values or ["3"] * len(rings))[i])
        lyr.CreateFeature(f)
    ds = None
    return path


def _corners(areas):
    return [tuple(round(v) for v in a.geometry.GetEnvelope()) for a in areas]


# -- no CRS ----------------------------------------------------------------------------------


@pytest.mark.parametrize("srs_id", [0, -1])  # Undefined geographic / Cartesian SRS
def test_a_geopackage_without_crs_reads_as_a_shapefile_without_prj(tmp_path, srs_id):
    shp = _write(tmp_path / "a.shp", [SQUARE, OTHER], srs=None, driver="ESRI Shapefile")
    gpkg = _write(tmp_path / "a.gpkg", [SQUARE, OTHER], srs=None)
    with sqlite3.connect(gpkg) as db:  # as a layer saved "without CRS" in QGIS/ogr2ogr
        db.execute("UPDATE gpkg_geometry_columns SET srs_id = ?", (srs_id,))
        db.execute("UPDATE gpkg_contents SET srs_id = ?", (srs_id,))
    got = {}
    for name, path in (("shp", shp), ("gpkg", gpkg)):
        fb = RecordingFeedback()
        got[name] = read_training_areas(path, WKT, feedback=fb)
        assert any("has no CRS" in w and "raster's CRS" in w for w in fb.warnings), fb.warnings
    assert (
        _corners(got["gpkg"])
        == _corners(got["shp"])
        == [
            (691000, 691300, 5338000, 5338300),
            (692000, 692300, 5338000, 5338300),
        ]
    )


# -- coordinates that are no place ------------------------------------------------------------


PLACEHOLDER = 7777777.0  # replaced in the GeoPackage's geometry blobs (OGR writes no inf)


def _with_coordinate(path, value: float):
    """Replace ``PLACEHOLDER`` by ``value`` in every geometry blob of the GeoPackage."""
    old, new = struct.pack("<d", PLACEHOLDER), struct.pack("<d", value)
    with sqlite3.connect(path) as db:
        for fid, blob in db.execute("SELECT fid, geom FROM x").fetchall():
            db.execute("UPDATE x SET geom = ? WHERE fid = ?", (blob.replace(old, new), fid))
    return path


@pytest.mark.parametrize("bad", [float("inf"), -float("inf"), float("nan"), 1e300, -1e300])
def test_a_feature_with_unusable_coordinates_is_skipped_by_name(tmp_path, bad):
    ring = [(691000, 5338000), (PLACEHOLDER, 5338000), (691300, 5338300)]
    path = _with_coordinate(_write(tmp_path / "a.gpkg", [SQUARE, ring, OTHER]), bad)
    fb = RecordingFeedback()
    areas = read_training_areas(path, WKT, feedback=fb)
    assert _corners(areas) == [
        (691000, 691300, 5338000, 5338300),
        (692000, 692300, 5338000, 5338300),
    ]
    assert [a.fid for a in areas] == [1, 3]
    (warning,) = [w for w in fb.warnings if "unusable" in w]
    assert "feature 2 of 'x'" in warning
    assert ("beyond 1e+08" if abs(bad) == 1e300 else "not finite") in warning


def test_huge_coordinates_in_wgs84_are_skipped_before_reprojection(tmp_path):
    g4326 = _utm(4326)
    ok = [(9.0, 48.0), (9.01, 48.0), (9.01, 48.01), (9.0, 48.01)]
    path = _write(tmp_path / "a.gpkg", [ok, [(9, 48), (1e300, 48), (9.1, 1e300)]], srs=g4326)
    fb = RecordingFeedback()
    areas = read_training_areas(path, WKT, feedback=fb)
    assert len(areas) == 1 and areas[0].fid == 1
    assert any("feature 2 of 'x'" in w and "beyond" in w for w in fb.warnings), fb.warnings


def test_a_file_of_only_unusable_features_is_refused_naming_them(tmp_path):
    path = _write(tmp_path / "a.gpkg", [[(691000, 5338000), (1e300, 5338000), (691300, 1e300)]])
    with pytest.raises(LczError, match=r"'a.gpkg' holds no usable polygon \(feature 1 of 'x': "
                                       r"coordinates beyond"):  # fmt: skip
        read_training_areas(path, WKT)


# -- files OGR cannot read --------------------------------------------------------------------


def test_a_cut_short_shapefile_is_refused_naming_the_file_and_feature(tmp_path):
    path = _write(tmp_path / "cut.shp", [SQUARE] * 20, driver="ESRI Shapefile")
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(LczError) as e:
        read_training_areas(path, WKT)
    msg = str(e.value)
    assert "cannot read 'cut.shp'" in msg and "layer 'cut' fails after feature" in msg, msg
    assert "\n" not in msg


def test_a_vrt_whose_source_is_missing_is_refused_naming_it(tmp_path):
    vrt = tmp_path / "areas.vrt"
    vrt.write_text(
        '<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>'
        f"{tmp_path / 'gone.shp'}</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>"
    )
    with pytest.raises(LczError, match=r"cannot read the training areas 'areas.vrt' \(.*gone.shp"):
        read_training_areas(vrt, WKT)


def _returns_within(fn, seconds):
    """Run ``fn`` in a thread: (finished in time, its exception)."""
    out = {}

    def target():
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            out["exc"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    return not t.is_alive(), out.get("exc")


def test_a_named_pipe_is_refused_at_once(tmp_path):
    from lcz_qgis.training_areas import training_area_patches

    fifo = tmp_path / "areas.gpkg"
    os.mkfifo(fifo)
    done, exc = _returns_within(lambda: read_training_areas(fifo, WKT), 20)
    assert done, "reading a named pipe hangs"
    assert isinstance(exc, LczError) and "is a named pipe" in str(exc), exc
    done, exc = _returns_within(
        lambda: training_area_patches(fifo, tmp_path / "none.tif", tmp_path / "o.h5"), 20
    )
    assert done and isinstance(exc, LczError) and "is a named pipe" in str(exc), exc
    assert sorted(p.name for p in tmp_path.iterdir()) == ["areas.gpkg"]


def test_a_kmz_bomb_is_refused_before_it_is_inflated(tmp_path):
    good = tmp_path / "good.kmz"
    write_wudapt_kml(good, kmz=True)
    bomb = tmp_path / "bomb.kmz"
    with zipfile.ZipFile(good) as z:
        doc = z.read("doc.kml")
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        # a valid KML followed by 64 MiB of blanks: a 64 KB member inflating ~1000:1
        z.writestr("doc.kml", doc + b" " * (64 * 2**20))
    assert bomb.stat().st_size < 2**20
    t0 = time.monotonic()
    with pytest.raises(LczError, match=r"'bomb.kmz': member 'doc.kml' inflates to 64 MB"):
        read_training_areas(bomb, WKT)
    assert time.monotonic() - t0 < 2
    assert MAX_KML_BYTES >= 64 * 2**20  # refused for its ratio, not its size
    assert len(read_training_areas(good, WKT)) > 10  # a real KMZ still reads


# -- labels that are not exactly one LCZ code --------------------------------------------------


@pytest.mark.parametrize("label", ["3.5", "3/4", "2,5", "A+B", "g.5", "3 or A", "3a", "3 - 4"])
def test_a_label_that_is_not_one_code_is_refused_naming_the_polygon(tmp_path, label):
    path = _write(tmp_path / "a.gpkg", [SQUARE, OTHER], values=["3", label])
    with pytest.raises(LczError) as e:
        read_training_areas(path, WKT)
    msg = str(e.value)
    assert f"feature 2 of 'x': {label!r}" in msg and "exactly one code" in msg, msg
    assert parse_lcz_code(label) is None


@pytest.mark.parametrize(
    "label, code",
    [("3", 3), (" 3 ", 3), ("LCZ 3", 3), ("lcz_a", 11), ("A - dense trees", 11), ("3.0", 3),
     ("101", 11), ("LCZ 10 - heavy industry", 10), ("E - bare rock or paved", 15), ("g", 17)],
)  # fmt: skip
def test_one_code_with_a_prefix_or_a_name_is_read(tmp_path, label, code):
    path = _write(tmp_path / "a.gpkg", [SQUARE], values=[label])
    assert [a.code for a in read_training_areas(path, WKT)] == [code]


def test_numbers_that_are_not_whole_codes_are_refused(tmp_path):
    path = _write(tmp_path / "a.gpkg", [SQUARE, OTHER], values=[3.0, 3.7], kind=ogr.OFTReal)
    with pytest.raises(LczError, match=r"feature 2 of 'x': 3.7"):
        read_training_areas(path, WKT)
