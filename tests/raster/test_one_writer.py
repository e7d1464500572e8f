"""One QML skeleton and one GeoTIFF creation function (raster/io.create_geotiff)."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from lcz_qgis.common.legend import qml_paletted
from lcz_qgis.raster.io import GTIFF_OPTIONS, create_geotiff, gdal
from lcz_qgis.styling.qml import QML_DOCTYPE, raster_style, vector_style
from lcz_qgis.styling.styles import qml_for_product, qml_patch_polygons

GT = (500000.0, 10.0, 0.0, 5000000.0, 0.0, -10.0)


def _wkt():
    from lcz_qgis.raster.io import osr

    srs = osr().SpatialReference()
    srs.ImportFromEPSG(32632)
    return srs.ExportToWkt()


def test_every_style_shares_the_document_around_its_renderer():
    """Raster and vector styles open and close the same way; each is well-formed XML."""
    styles = {
        "lcz map": qml_paletted(),
        "ndvi": qml_for_product("ndvi"),
        "true colour": qml_for_product("truecolor"),
        "outlines": qml_patch_polygons(),
    }
    for name, qml in styles.items():
        assert qml.startswith(QML_DOCTYPE + '\n<qgis version="3.22"'), name
        assert qml.count("\n  <blendMode>0</blendMode>\n") == 1, name
        assert qml.endswith("\n</qgis>\n"), name
        root = ET.fromstring(qml.split("\n", 1)[1])
        assert root.tag == "qgis" and root.find("blendMode").text == "0", name
    outlines = ET.fromstring(styles["outlines"].split("\n", 1)[1])
    assert outlines.get("labelsEnabled") == "1"
    assert outlines.find("renderer-v2").get("attr") == "lcz"
    assert outlines.find("labeling").get("type") == "simple"
    assert outlines.find("layerOpacity").text == "1"
    ramp = ET.fromstring(styles["ndvi"].split("\n", 1)[1])
    assert ramp.find("pipe/rasterrenderer").get("type") == "singlebandpseudocolor"


def test_vector_style_without_labels_does_not_enable_them():
    qml = vector_style('  <renderer-v2 type="singleSymbol"/>')
    root = ET.fromstring(qml.split("\n", 1)[1])
    assert root.get("labelsEnabled") is None and root.find("labeling") is None
    assert root.find("renderer-v2").get("type") == "singleSymbol"
    raster = ET.fromstring(raster_style('    <rasterrenderer type="x"/>').split("\n", 1)[1])
    assert raster.find("pipe/rasterrenderer").get("type") == "x"


def test_create_geotiff_uses_the_options_it_is_given(tmp_path):
    """Default options: tiled DEFLATE; explicit options are used as given (none: plain)."""
    g = gdal()
    wkt = _wkt()
    default = tmp_path / "default.tif"
    ds = create_geotiff(default, 300, 260, 2, g.GDT_Float32, GT, wkt, -1.0, None, ["a", "b"])
    ds.write(np.ones((260, 300), np.float32), 1)
    ds.close()
    plain = tmp_path / "plain.tif"
    ds = create_geotiff(plain, 300, 260, 1, "uint8", GT, wkt, options=[])
    ds.close()
    lzw = tmp_path / "lzw.tif"
    ds = create_geotiff(lzw, 300, 260, 1, g.GDT_Byte, GT, "", 0, ["COMPRESS=LZW"])
    ds.close()

    d = g.Open(str(default))
    assert d.GetMetadata("IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
    assert d.GetRasterBand(1).GetBlockSize() == [256, 256]  # TILED=YES
    assert d.GetGeoTransform() == GT and "32632" in d.GetProjection()
    assert [d.GetRasterBand(i + 1).GetNoDataValue() for i in range(2)] == [-1.0, -1.0]
    assert [d.GetRasterBand(i + 1).GetDescription() for i in range(2)] == ["a", "b"]
    p = g.Open(str(plain))
    assert "COMPRESSION" not in p.GetMetadata("IMAGE_STRUCTURE")
    assert p.GetRasterBand(1).GetBlockSize()[0] == 300  # strips, not tiles
    assert p.GetRasterBand(1).GetNoDataValue() is None
    z = g.Open(str(lzw))
    assert z.GetMetadata("IMAGE_STRUCTURE")["COMPRESSION"] == "LZW"
    assert z.GetProjection() == "" and z.GetRasterBand(1).GetNoDataValue() == 0
    assert "TILED=YES" in GTIFF_OPTIONS


def test_create_geotiff_refuses_a_description_per_band_mismatch(tmp_path):
    with pytest.raises(ValueError, match="2 band descriptions for 3 bands"):
        create_geotiff(tmp_path / "x.tif", 4, 4, 3, gdal().GDT_Byte, GT, "", descriptions="ab")
    assert not (tmp_path / "x.tif").exists()
