"""WUDAPT KMZ files where GDAL has no LIBKML driver (Debian's GDAL 3.13 and later: Debian
dropped libkml): the KML document inside the zip is read with GDAL's KML driver
(``raster.io.kmz_document``), with the same folders, classes and polygons as LIBKML
reads, and a rendered map or an overlay inside a class folder is still told apart.
GDAL's LIBKML driver is deregistered for each test (``helpers.without_libkml``)."""

from __future__ import annotations

import zipfile

import pytest
from helpers import SCENE_AREAS, epsg_wkt, without_libkml, write_wudapt_kml
from test_real_melbourne import (
    COUNTS,
    KMZ,
    MELBOURNE,
    OVERLAY_IN_FOLDER_KML,
    OVERLAY_ONLY_KML,
    PARIS,
    Recorder,
    _real,
)

from lcz_qgis.common.errors import LczError
from lcz_qgis.common.legend import lcz_class
from lcz_qgis.raster.io import has_libkml, kmz_document, open_vector
from lcz_qgis.training_areas.read import read_training_areas


@pytest.fixture()
def no_libkml():
    with without_libkml():
        assert not has_libkml()
        yield


def _kmz(path, members: dict) -> str:
    with zipfile.ZipFile(path, "w") as z:
        for name, text in members.items():
            z.writestr(name, text)
    return str(path)


def test_with_libkml_a_kmz_opens_as_it_is(tmp_path):
    if not has_libkml():
        pytest.skip("this GDAL has no LIBKML driver")
    write_wudapt_kml(tmp_path / "t.kmz", kmz=True)
    assert kmz_document(tmp_path / "t.kmz") is None
    assert open_vector(tmp_path / "t.kmz").GetDriver().GetName() == "LIBKML"


def test_the_document_is_doc_kml_else_the_first_kml(tmp_path, no_libkml):
    kml = "<kml/>"
    a = _kmz(tmp_path / "a.kmz", {"files/x.png": b"", "other.kml": kml, "doc.kml": kml})
    assert kmz_document(a) == f"/vsizip/{tmp_path}/a.kmz/doc.kml"
    b = _kmz(tmp_path / "b.kmz", {"files/x.png": b"", "sub/one.kml": kml, "two.kml": kml})
    assert kmz_document(b) == f"/vsizip/{tmp_path}/b.kmz/sub/one.kml"
    assert kmz_document(_kmz(tmp_path / "c.kmz", {"x.png": b""})) is None  # OGR says why
    (tmp_path / "d.kmz").write_text("not a zip")
    assert kmz_document(tmp_path / "d.kmz") is None
    assert kmz_document(tmp_path / "e.kml") is None


def test_the_generated_template_gives_the_same_areas_either_way(tmp_path):
    names = write_wudapt_kml(tmp_path / "t.kmz", kmz=True)
    wkt = epsg_wkt(32632)
    with_libkml = read_training_areas(tmp_path / "t.kmz", wkt)
    with without_libkml():
        assert open_vector(tmp_path / "t.kmz").GetDriver().GetName() == "KML"
        without = read_training_areas(tmp_path / "t.kmz", wkt)
    assert len(without) == len(with_libkml) > 0 and len(names) == len(SCENE_AREAS)
    for a, b in zip(with_libkml, without):
        assert (a.code, a.layer) == (b.code, b.layer)
        assert a.geometry.SymDifference(b.geometry).Area() < 1e-6 * a.geometry.Area()


def test_the_real_melbourne_kmz_gives_its_101_polygons_without_libkml(shared_dir):
    kmz = _real(shared_dir, f"{MELBOURNE}/{KMZ}")
    wkt = epsg_wkt(32755)
    reference = read_training_areas(kmz, wkt)
    fb = Recorder()
    with without_libkml():
        areas = read_training_areas(kmz, wkt, feedback=fb)
    assert len(areas) == 101
    counts: dict = {}
    for a in areas:
        counts[lcz_class(a.code).letter] = counts.get(lcz_class(a.code).letter, 0) + 1
    assert counts == COUNTS
    assert [(a.code, a.layer) for a in areas] == [(a.code, a.layer) for a in reference]
    for a, b in zip(reference, areas):
        assert a.geometry.SymDifference(b.geometry).Area() < 1e-6 * a.geometry.Area(), b.where()
    # the region-of-interest placemark outside the class folders: the same one warning
    assert len(fb.warnings) == 1 and "1 placemark(s) are ignored" in fb.warnings[0]


def test_the_real_paris_kmz_is_still_a_rendered_map_without_libkml(shared_dir, no_libkml):
    with pytest.raises(LczError, match=r"'Paris.kmz' is a rendered map .*GroundOverlay"):
        read_training_areas(_real(shared_dir, PARIS), epsg_wkt(4326), feedback=Recorder())


def test_an_overlay_in_a_class_folder_is_named_as_skipped_without_libkml(tmp_path, no_libkml):
    """GDAL's KML driver does not show a GroundOverlay at all: the warning comes from
    the KML text, naming the image."""
    fb = Recorder()
    kmz = _kmz(tmp_path / "a.kmz", {"doc.kml": OVERLAY_IN_FOLDER_KML})
    areas = read_training_areas(kmz, epsg_wkt(4326), feedback=fb)
    assert [(a.code, a.geometry.GetEnvelope()) for a in areas] == [(3, (2.3, 2.31, 48.8, 48.81))]
    assert any("1 image overlay(s) (KML GroundOverlay" in w and "image 'lcz_map.png'" in w
               for w in fb.warnings), fb.warnings  # fmt: skip


def test_a_kml_holding_only_an_overlay_is_a_rendered_map_with_the_kml_driver(tmp_path, no_libkml):
    """GDAL's KML driver gives such a file no layer at all (LIBKML gives the overlay)."""
    kml = tmp_path / "overlay.kml"
    kml.write_text(OVERLAY_ONLY_KML)
    assert open_vector(kml).GetLayerCount() == 0
    with pytest.raises(LczError, match=r"'overlay.kml' is a rendered map .*'lcz_map.png'"):
        read_training_areas(kml, epsg_wkt(4326), feedback=Recorder())
