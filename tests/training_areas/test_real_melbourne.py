"""Real WUDAPT training areas (Melbourne, ``../shared/real/lcz_training_areas``) and a
real rendered-map KMZ (Paris) through the training-area reader and the CLI.

The two Melbourne files were digitised in Google Earth from the WUDAPT template: one
parent Folder (named after the file) holding the 17 class folders ``1``-``10``,
``A``-``G``, of which 9 hold polygons and 8 are empty, plus one placemark (the region of
interest) in the parent folder, outside the class folders. Both hold the same 101
polygons. (The README of ``../shared/real`` says "10 classes, 7 empty"; the files hold 9
classes and 8 empty folders, as counted here from the KML itself.)
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from collections import Counter

import pytest
from helpers import REPO, epsg_wkt

from lcz_qgis.common.errors import LczError
from lcz_qgis.common.feedback import Feedback
from lcz_qgis.common.legend import lcz_class
from lcz_qgis.raster.io import has_libkml
from lcz_qgis.training_areas.read import read_training_areas

MELBOURNE = "real/lcz_training_areas/melbourne"
KMZ = "[Melbourne][2016][JamesBennie].kmz"
KML = "[Melbourne][2019][JamesBennie].kml"
PARIS = "real/lcz_maps/paris_wudapt/Paris.kmz"
# the polygons per class, as in the files (letters for A-G)
COUNTS = {"1": 3, "3": 5, "6": 15, "8": 15, "9": 13, "A": 13, "B": 13, "D": 13, "G": 11}
EMPTY = {"2", "4", "5", "7", "10", "C", "E", "F"}
# KML written for the overlay checks: a GroundOverlay alone (a rendered map), and one
# beside a polygon (0.01 degrees square) in the class folder 3
_OVERLAY = (
    "<GroundOverlay><name>lcz</name><Icon><href>lcz_map.png</href></Icon><LatLonBox>"
    "<north>49.3</north><south>48.4</south><east>3.1</east><west>1.5</west></LatLonBox>"
    "</GroundOverlay>"
)
_KML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2">'
OVERLAY_ONLY_KML = f"{_KML_HEAD}{_OVERLAY}</kml>\n"
OVERLAY_IN_FOLDER_KML = (
    f"{_KML_HEAD}<Document><Folder><name>3</name><Placemark><name>a</name><Polygon>"
    "<outerBoundaryIs><LinearRing><coordinates>2.3,48.8 2.31,48.8 2.31,48.81 2.3,48.81 "
    "2.3,48.8</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>"
    f"{_OVERLAY}</Folder></Document></kml>\n"
)


class Recorder(Feedback):
    """Keeps the warnings."""

    def __init__(self):
        super().__init__()
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)


def _real(shared_dir, rel):
    path = shared_dir / rel
    if not path.exists():
        pytest.skip(f"the real file {rel} is not in ../shared")
    return path


@pytest.fixture(scope="module", params=[KMZ, KML])
def melbourne(request, shared_dir):
    """(path, areas in EPSG:4326, warnings) of each Melbourne file."""
    path = _real(shared_dir, f"{MELBOURNE}/{request.param}")
    fb = Recorder()
    return path, read_training_areas(path, epsg_wkt(4326), feedback=fb), fb.warnings


def test_melbourne_gives_101_polygons_in_9_classes_with_the_per_class_counts(melbourne):
    path, areas, _ = melbourne
    assert "[" in path.name and "]" in path.name  # read by its real name, brackets and all
    assert len(areas) == 101
    counts = Counter(lcz_class(a.code).letter for a in areas)
    assert dict(counts) == COUNTS
    # the class comes from the folder, one level below the document's folder
    assert all(a.layer == lcz_class(a.code).letter for a in areas)
    assert [a.id for a in areas] == list(range(1, 102))


def test_melbourne_placemark_outside_the_class_folders_is_ignored_with_one_warning(melbourne):
    path, areas, warnings = melbourne
    # the one placemark in the parent folder (the region of interest) is named, not used;
    # the 8 empty class folders give no warning
    assert len(warnings) == 1, warnings
    assert re.search(
        r"KML folder '\[Melbourne\]\[\d+\]\[JamesBennie\]' is not an LCZ class", warnings[0]
    )
    assert "1 placemark(s) are ignored" in warnings[0]
    assert not EMPTY & {a.layer for a in areas}


def test_melbourne_polygons_are_2d_valid_and_in_melbourne(melbourne):
    _, areas, _ = melbourne
    for a in areas:
        assert a.geometry.GetCoordinateDimension() == 2  # the z of Google Earth is dropped
        assert a.geometry.IsValid()
        xmin, xmax, ymin, ymax = a.geometry.GetEnvelope()
        assert 144.0 < xmin < xmax < 146.0 and -38.6 < ymin < ymax < -37.4, a.where()


def test_melbourne_kmz_and_kml_hold_the_same_polygons(shared_dir):
    utm55s = epsg_wkt(32755)  # and reprojected to the UTM zone of Melbourne
    kmz = read_training_areas(_real(shared_dir, f"{MELBOURNE}/{KMZ}"), utm55s)
    kml = read_training_areas(_real(shared_dir, f"{MELBOURNE}/{KML}"), utm55s)
    assert [(a.code, a.layer, a.fid) for a in kmz] == [(a.code, a.layer, a.fid) for a in kml]
    for a, b in zip(kmz, kml):
        assert a.geometry.Area() > 1000.0  # square metres: reprojected, not degrees
        assert a.geometry.SymDifference(b.geometry).Area() < 1e-6 * a.geometry.Area(), a.where()


def test_melbourne_kmz_over_a_raster_elsewhere_is_one_clear_line(shared_dir, sample_dir, tmp_path):
    """The sample raster (EPSG:32632, not Melbourne) shares no pixel with the areas."""
    kmz = _real(shared_dir, f"{MELBOURNE}/{KMZ}")
    out = tmp_path / "patches.h5"
    r = subprocess.run(
        [sys.executable, "-m", "lcz_qgis", "training-patches", "--areas", str(kmz),
         "--sentinel2", str(sample_dir / "scene_s2.tif"), "--output", str(out)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith("lcz training-patches: error:"), r.stderr
    assert "no 32 x 32 window" in errors[0]
    assert "101 training area(s) lie outside the raster" in r.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary


def test_paris_kmz_is_refused_as_a_rendered_map(shared_dir):
    kmz = _real(shared_dir, PARIS)
    with zipfile.ZipFile(kmz) as z:  # the file is what the message says: an overlay image
        assert any(n.endswith(".png") for n in z.namelist())
    with pytest.raises(LczError) as e:
        read_training_areas(kmz, epsg_wkt(4326), feedback=Recorder())
    msg = str(e.value)
    assert "'Paris.kmz' is a rendered map" in msg and "GroundOverlay" in msg
    assert "LCZ_Paris_Paris_GuillaumeDumas_MF_20161001_[F]M3_GE.png" in msg
    assert "not training areas" in msg and "\n" not in msg


def test_paris_kmz_in_the_cli_is_one_line(shared_dir, sample_dir, tmp_path):
    kmz = _real(shared_dir, PARIS)
    r = subprocess.run(
        [sys.executable, "-m", "lcz_qgis", "training-patches", "--areas", str(kmz),
         "--sentinel2", str(sample_dir / "scene_s2.tif"), "--output", str(tmp_path / "p.h5")],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("lcz training-patches: error:") and "is a rendered map" in last
    assert list(tmp_path.iterdir()) == []


def test_a_kml_groundoverlay_beside_no_folder_is_refused_too(tmp_path):
    """The same check on a plain KML (no KMZ), written here: a GroundOverlay only."""
    kml = tmp_path / "overlay.kml"
    kml.write_text(OVERLAY_ONLY_KML)
    with pytest.raises(LczError, match=r"'overlay.kml' is a rendered map .*'lcz_map.png'"):
        read_training_areas(kml, epsg_wkt(4326), feedback=Recorder())


def test_a_groundoverlay_in_a_class_folder_is_skipped_not_a_training_area(tmp_path):
    """An overlay image beside the polygons of a class folder is no polygon of that class
    (OGR's LIBKML driver gives it its LatLonBox as a polygon: 1.6 x 0.9 degrees)."""
    kml = tmp_path / "areas.kml"
    kml.write_text(OVERLAY_IN_FOLDER_KML)
    fb = Recorder()
    areas = read_training_areas(kml, epsg_wkt(4326), feedback=fb)
    assert [(a.code, a.geometry.GetEnvelope()) for a in areas] == [(3, (2.3, 2.31, 48.8, 48.81))]
    # LIBKML shows the overlay as feature 2 of folder '3'; GDAL's KML driver shows nothing
    # and the warning names the image from the text (test_kmz_without_libkml.py)
    where = "feature 2 of '3'" if has_libkml() else "image 'lcz_map.png'"
    assert any("1 image overlay(s) (KML GroundOverlay" in w and where in w
               for w in fb.warnings), fb.warnings  # fmt: skip
