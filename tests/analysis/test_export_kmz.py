"""lcz export-map --format kmz: the KMZ read back as Google Earth reads it: doc.kml parsed
with xml.etree (nothing from the file run), the LatLonBox checked against the map's bounds
transformed to degrees with OSR, the overlay PNG read with matplotlib and each pixel's
colour checked against the legend colour of the map's class under its centre."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

import matplotlib.image as mpimg
import numpy as np
import pytest
from helpers import SHARED, write_raster
from osgeo import osr

from lcz_qgis.analysis import kmz
from lcz_qgis.analysis.export import export_map
from lcz_qgis.cli import main
from lcz_qgis.common.errors import LczError
from lcz_qgis.common.feedback import Feedback
from lcz_qgis.common.legend import LCZ_CLASSES

GT = (690000.0, 100.0, 0.0, 5340000.0, 0.0, -100.0)  # EPSG:32632, 100 m
H, W = 40, 50
NS = {"k": "http://www.opengis.net/kml/2.2"}
SHANGHAI = SHARED / "real" / "lcz_maps" / "w2w" / "Shanghai.tif"
# code 0-17 -> RGBA 0-1 as the legend says (0: transparent)
RGBA = np.array([(0, 0, 0, 0)] + [(*[int(c.color[i : i + 2], 16) for i in (1, 3, 5)], 255)
                                  for c in LCZ_CLASSES]) / 255  # fmt: skip


def _codes(seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(1, 18, (H, W))
    codes[5:8, 10:14] = 0
    return codes


def _read_kmz(path):
    """(doc.kml root, overlay RGBA, legend RGBA, member names)."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        root = ET.fromstring(zf.read("doc.kml"))
        ground = root.find("k:Document/k:GroundOverlay", NS)
        screen = root.find("k:Document/k:ScreenOverlay", NS)
        overlay = mpimg.imread(io.BytesIO(zf.read(ground.find("k:Icon/k:href", NS).text)))
        legend = mpimg.imread(io.BytesIO(zf.read(screen.find("k:Icon/k:href", NS).text)))
    box = {side: float(ground.find(f"k:LatLonBox/k:{side}", NS).text)
           for side in ("north", "south", "east", "west")}  # fmt: skip
    return box, overlay, legend, names


def _transform(src_wkt_or_epsg, dst_epsg):
    src, dst = osr.SpatialReference(), osr.SpatialReference()
    if isinstance(src_wkt_or_epsg, int):
        src.ImportFromEPSG(src_wkt_or_epsg)
    else:
        src.ImportFromWkt(src_wkt_or_epsg)
    dst.ImportFromEPSG(dst_epsg)
    for s in (src, dst):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return osr.CoordinateTransformation(src, dst)


def _bounds_in_degrees(gt, width, height, epsg):
    """The map's bounds in degrees: its edges, densified, transformed with OSR."""
    t = np.linspace(0, 1, 101)
    x0, x1, y1, y0 = gt[0], gt[0] + width * gt[1], gt[3], gt[3] + height * gt[5]
    xs = np.concatenate(
        [x0 + (x1 - x0) * t, x0 + (x1 - x0) * t, np.full(101, x0), np.full(101, x1)]
    )
    ys = np.concatenate(
        [np.full(101, y0), np.full(101, y1), y0 + (y1 - y0) * t, y0 + (y1 - y0) * t]
    )
    pts = np.array(_transform(epsg, 4326).TransformPoints(np.c_[xs, ys]))
    return pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()


def _expected_codes(codes, gt, epsg, box, shape):
    """The map's code under each overlay pixel's centre (OSR, 0 off the map)."""
    rows, cols = np.indices(shape)
    lon = box["west"] + (cols.ravel() + 0.5) * (box["east"] - box["west"]) / shape[1]
    lat = box["north"] - (rows.ravel() + 0.5) * (box["north"] - box["south"]) / shape[0]
    pts = np.array(_transform(4326, epsg).TransformPoints(np.c_[lon, lat]))
    c = np.floor((pts[:, 0] - gt[0]) / gt[1]).astype(int)
    r = np.floor((pts[:, 1] - gt[3]) / gt[5]).astype(int)
    on = (c >= 0) & (c < codes.shape[1]) & (r >= 0) & (r < codes.shape[0])
    out = np.zeros(lon.size, int)
    out[on] = codes[r[on], c[on]]
    return out.reshape(shape)


def test_kmz_overlay_box_colours_and_legend_from_a_utm_map(tmp_path):
    codes = _codes()
    path = write_raster(tmp_path / "map.tif", codes.astype(np.uint8), gtype="uint8", gt=GT,
                        nodata=0)  # fmt: skip
    res = export_map(path, tmp_path / "map.kmz", "kmz")
    box, overlay, legend, names = _read_kmz(tmp_path / "map.kmz")
    assert names[0] == "doc.kml" and len(names) == 3
    w, s, e, n = _bounds_in_degrees(GT, W, H, 32632)
    assert (box["west"], box["south"], box["east"], box["north"]) == pytest.approx(
        (w, s, e, n), abs=1e-7)  # fmt: skip
    assert overlay.shape[2] == 4 and res["width"] == overlay.shape[1]
    # about the map's 100 m cells in degrees
    assert (e - w) / overlay.shape[1] == pytest.approx(100 / 111_320, rel=0.05)
    expected = _expected_codes(codes, GT, 32632, box, overlay.shape[:2])
    np.testing.assert_allclose(overlay, RGBA[expected], atol=1 / 255)  # every pixel
    assert (overlay[..., 3] == 0).sum() == (expected == 0).sum() > 0  # nodata transparent
    assert set(np.unique(expected)) - {0} == set(range(1, 18)) == set(res["classes"])
    assert legend.shape[0] > 200 and legend.shape[2] in (3, 4)
    assert res["crs"] == "EPSG:4326" and res["note"] == ""


def test_a_map_in_degrees_keeps_its_grid(tmp_path):
    codes = _codes(1)
    gt = (11.5, 0.001, 0.0, 48.2, 0.0, -0.001)
    path = write_raster(tmp_path / "deg.tif", codes.astype(np.uint8), gtype="uint8", gt=gt,
                        epsg=4326, nodata=0)  # fmt: skip
    export_map(path, tmp_path / "deg.kmz", "kmz")
    box, overlay, _, _ = _read_kmz(tmp_path / "deg.kmz")
    assert (box["west"], box["north"], box["east"], box["south"]) == pytest.approx(
        (11.5, 48.2, 11.55, 48.16), abs=1e-9)  # fmt: skip
    assert overlay.shape[:2] == (H, W)
    np.testing.assert_allclose(overlay, RGBA[codes], atol=1 / 255)


def test_a_map_too_large_for_google_earth_is_downsampled_with_a_note(tmp_path, monkeypatch):
    class Log(Feedback):
        lines: list[str] = []

        def info(self, message):
            self.lines.append(message)

    codes = _codes(2)
    path = write_raster(tmp_path / "map.tif", codes.astype(np.uint8), gtype="uint8", gt=GT,
                        nodata=0)  # fmt: skip
    monkeypatch.setattr(kmz, "MAX_SIDE", 16)
    res = export_map(path, tmp_path / "small.kmz", "kmz", feedback=Log())
    box, overlay, _, _ = _read_kmz(tmp_path / "small.kmz")
    assert max(overlay.shape[:2]) == 16 and "downsampled to" in res["note"]
    assert any("Google Earth shows at most about 16" in line for line in Log.lines)
    w, s, e, n = _bounds_in_degrees(GT, W, H, 32632)  # the same box, coarser pixels
    assert (box["west"], box["north"]) == pytest.approx((w, n), abs=1e-7)
    expected = _expected_codes(codes, GT, 32632, box, overlay.shape[:2])
    np.testing.assert_allclose(overlay, RGBA[expected], atol=1 / 255)


def test_refusals_leave_an_earlier_kmz_as_it_was(tmp_path):
    codes = _codes()
    path = write_raster(tmp_path / "map.tif", codes.astype(np.uint8), gtype="uint8", gt=GT,
                        nodata=0)  # fmt: skip
    out = tmp_path / "map.kmz"
    export_map(path, out, "kmz")
    before = out.read_bytes()
    empty = write_raster(tmp_path / "empty.tif", np.zeros((H, W), np.uint8), gtype="uint8",
                         gt=GT, nodata=0)  # fmt: skip
    with pytest.raises(LczError, match="holds no LCZ cell"):
        export_map(empty, out, "kmz")
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.tif", "map.kmz", "map.tif"]
    with pytest.raises(LczError, match="give a .kmz name"):
        export_map(path, tmp_path / "map.kml", "kmz")


def test_cli_writes_the_kmz(tmp_path, capsys):
    codes = _codes()
    path = write_raster(tmp_path / "map.tif", codes.astype(np.uint8), gtype="uint8", gt=GT,
                        nodata=0)  # fmt: skip
    out = tmp_path / "m.kmz"
    assert main(["export-map", "--map", str(path), "--format", "kmz", "--output", str(out)]) == 0
    assert "kmz: " in capsys.readouterr().out and zipfile.is_zipfile(out)


@pytest.mark.skipif(not SHANGHAI.exists(), reason="real maps not in ../shared/real")
def test_real_map_shanghai_wudapt_codes(tmp_path):
    import rasterio

    with rasterio.open(SHANGHAI) as ds:
        raw, gt, wkt = ds.read(1), ds.transform.to_gdal(), ds.crs.to_wkt()
    codes = np.where((raw >= 101) & (raw <= 107), raw - 90, raw)
    codes = np.where((codes >= 1) & (codes <= 17), codes, 0).astype(int)
    res = export_map(SHANGHAI, tmp_path / "sh.kmz", "kmz")
    box, overlay, _, _ = _read_kmz(tmp_path / "sh.kmz")
    epsg = int(osr.SpatialReference(wkt).GetAuthorityCode(None))
    w, s, e, n = _bounds_in_degrees(gt, raw.shape[1], raw.shape[0], epsg)
    assert (box["west"], box["south"], box["east"], box["north"]) == pytest.approx(
        (w, s, e, n), abs=1e-6)  # fmt: skip
    expected = _expected_codes(codes, gt, epsg, box, overlay.shape[:2])
    np.testing.assert_allclose(overlay, RGBA[expected], atol=1 / 255)
    assert 17 in res["classes"]  # water, stored as 107


def test_processing_run_kmz(tmp_path, run_alg):
    codes = _codes()
    path = write_raster(tmp_path / "map.tif", codes.astype(np.uint8), gtype="uint8", gt=GT,
                        nodata=0)  # fmt: skip
    out = tmp_path / "p.kmz"
    res = run_alg("lcz:exportmap", {"MAP": str(path), "FORMAT": "kmz", "OUTPUT": str(out)})
    assert res["OUTPUT"] == str(out)
    box, overlay, _, _ = _read_kmz(out)
    np.testing.assert_allclose(
        overlay, RGBA[_expected_codes(codes, GT, 32632, box, overlay.shape[:2])], atol=1 / 255
    )


def test_processing_loads_a_geotiff_export_but_not_the_kmz(tmp_path, qgis_app):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    path = write_raster(tmp_path / "map.tif", _codes().astype(np.uint8), gtype="uint8", gt=GT,
                        nodata=0)  # fmt: skip
    for fmt, out in (("umep", tmp_path / "u.tif"), ("kmz", tmp_path / "k.kmz")):
        context = QgsProcessingContext()
        context.setProject(QgsProject.instance())
        processing.run("lcz:exportmap", {"MAP": str(path), "FORMAT": fmt, "OUTPUT": str(out)},
                       context=context, feedback=QgsProcessingFeedback())  # fmt: skip
        loads = context.layersToLoadOnCompletion()
        if fmt == "umep":
            assert list(loads) == [str(out)] and loads[str(out)].name == "LCZ map for UMEP"
        else:
            assert not loads and zipfile.is_zipfile(out)
