"""Visual products of rasters by blocks (lcz_qgis.products.render, `lcz render`)."""

from __future__ import annotations

import helpers
import numpy as np
import pytest
from osgeo import gdal

from lcz_qgis.cli import main
from lcz_qgis.common.bands import SEN1_CHANNELS, SEN2_BANDS
from lcz_qgis.common.errors import LczError
from lcz_qgis.products import indices
from lcz_qgis.products import render as render_mod
from lcz_qgis.products.render import render

gdal.UseExceptions()
GT = (600000.0, 10.0, 0.0, 5300000.0, 0.0, -10.0)


def write_raster(path, arr, names=None, nodata=-9999.0, epsg=32632):
    """(rows, cols, bands) float32 GeoTIFF (``helpers.write_raster`` on this file's grid)."""
    return helpers.write_raster(path, arr, GT, epsg, nodata, names=names)


@pytest.fixture(scope="module")
def s2_raster(tmp_path_factory):
    d = tmp_path_factory.mktemp("render")
    rng = np.random.default_rng(0)
    x = (rng.random((45, 37, 10)) * 0.4).astype(np.float32)
    x[3, 4, [2, 6]] = 0.0  # B4 + B8 == 0 -> NDVI nodata
    x[5, 6, [6, 8]] = 0.0  # B8 + B11 == 0 -> NDBI nodata
    x[7, 8, [1, 8]] = 0.0  # B3 + B11 == 0 -> MNDWI nodata
    x[9, 9, 2] = -9999.0  # nodata in B4
    x[10, 11, 6] = np.nan  # NaN in B8
    x[0:2, :, :] = -9999.0  # a nodata strip in every band
    write_raster(d / "s2.tif", x)  # no band descriptions: So2Sat order from the count
    return d / "s2.tif", x


def expected_nd(x, a, b):
    va, vb = x[..., SEN2_BANDS.index(a)].astype(np.float64), x[..., SEN2_BANDS.index(b)]
    ok = np.isfinite(va) & np.isfinite(vb) & (va != -9999) & (vb != -9999) & (va + vb != 0)
    out = np.full(va.shape, -9999.0, np.float32)
    out[ok] = ((va[ok] - vb[ok]) / (va[ok] + vb[ok])).astype(np.float32)
    return out


@pytest.mark.parametrize(
    "product,a,b",
    [("ndvi", "B8", "B4"), ("ndbi", "B11", "B8"), ("ndwi", "B3", "B8"), ("mndwi", "B3", "B11")],
)
def test_index_products_match_formula_by_blocks(s2_raster, tmp_path, product, a, b):
    src, x = s2_raster
    out = tmp_path / f"{product}.tif"
    r = render(src, product, out, block_rows=7)  # 45 rows -> 7 blocks
    assert r.blocks == 7 and r.band_source.startswith("So2Sat order")
    ds = gdal.Open(str(out))
    y = ds.GetRasterBand(1).ReadAsArray()
    assert ds.GetRasterBand(1).GetNoDataValue() == -9999.0
    assert ds.GetGeoTransform() == GT and "32632" in ds.GetProjection()
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, expected_nd(x, a, b), rtol=1e-6)
    assert (y[:2] == -9999.0).all() and y[9, 9] == (-9999.0 if "B4" in (a, b) else y[9, 9])
    assert y[10, 11] == (-9999.0 if "B8" in (a, b) else y[10, 11])
    qml = out.with_suffix(".qml").read_text()
    assert 'type="singlebandpseudocolor"' in qml
    assert r.valid_pixels == int((y != -9999.0).sum())


def test_ndvi_known_pixels(s2_raster, tmp_path):
    src, x = s2_raster
    render(src, "ndvi", tmp_path / "n.tif")
    y = gdal.Open(str(tmp_path / "n.tif")).ReadAsArray()
    b8, b4 = float(x[20, 20, 6]), float(x[20, 20, 2])
    assert y[20, 20] == pytest.approx((b8 - b4) / (b8 + b4), rel=1e-6)
    assert y[3, 4] == -9999.0  # 0 / 0
    assert (y[2:] != -9999.0).sum() == y[2:].size - 3  # only (3,4), (9,9), (10,11) are nodata


def test_rvi_and_s1_falsecolor(tmp_path):
    rng = np.random.default_rng(1)
    x = (rng.random((20, 30, 8)) * 0.2).astype(np.float32)
    x[0, 0, 4], x[0, 0, 5] = 0.01, 0.1  # VH -20 dB, VV -10 dB
    x[1, 1, 4:6] = 0.0  # VV + VH == 0
    x[2, 2, 5] = -9999.0
    src = write_raster(tmp_path / "s1.tif", x, names=list(SEN1_CHANNELS))
    r = render(src, "rvi", tmp_path / "rvi.tif", block_rows=6)
    assert r.band_source == "band descriptions"
    y = gdal.Open(str(tmp_path / "rvi.tif")).ReadAsArray()
    assert y[0, 0] == pytest.approx(4 * 0.01 / 0.11, rel=1e-6)
    assert y[1, 1] == -9999.0 and y[2, 2] == -9999.0 and np.isfinite(y).all()
    np.testing.assert_allclose(y[5], 4 * x[5, :, 4] / (x[5, :, 5] + x[5, :, 4]), rtol=1e-6)

    render(src, "s1falsecolor", tmp_path / "fc.tif", block_rows=6)
    ds = gdal.Open(str(tmp_path / "fc.tif"))
    assert ds.RasterCount == 4 and ds.GetRasterBand(1).DataType == gdal.GDT_Byte
    assert ds.GetRasterBand(4).GetColorInterpretation() == gdal.GCI_AlphaBand
    rgba = np.moveaxis(ds.ReadAsArray(), 0, -1)
    assert rgba[0, 0].tolist() == [153, 113, 170, 255]  # 15/25, 12/27, 10/15 of 255
    assert rgba[2, 2, 3] == 0 and rgba[1, 1, 3] == 255  # nodata transparent; 0 intensity valid
    np.testing.assert_array_equal(rgba[3:, :, :3], indices.s1_falsecolor(x[3:]))
    assert 'alphaBand="4"' in (tmp_path / "fc.qml").read_text()


def test_truecolor_stretch_from_decimated_read_and_sparse_first_pass(
    s2_raster, tmp_path, monkeypatch
):
    src, x = s2_raster
    r = render(src, "truecolor", tmp_path / "tc.tif", block_rows=10)
    ok = np.isfinite(x[..., :3]).all(-1) & (x[..., :3] != -9999).all(-1)
    lims = [np.percentile(x[..., b][ok], (2, 98)) for b in (2, 1, 0)]
    np.testing.assert_allclose(r.limits, lims, rtol=1e-5)
    rgba = np.moveaxis(gdal.Open(str(tmp_path / "tc.tif")).ReadAsArray(), 0, -1)
    np.testing.assert_array_equal(rgba[..., :3][ok], indices.truecolor(x, limits=r.limits)[ok])
    assert (rgba[..., 3] == np.where(ok, 255, 0)).all()
    # a raster larger than the sample: decimated read; too few valid pixels: first pass
    monkeypatch.setattr(render_mod, "SAMPLE_MAX", 16)
    r2 = render(src, "truecolor", tmp_path / "tc2.tif")
    assert r2.extra["stretch"] == "first pass by blocks"
    np.testing.assert_allclose(r2.limits, lims, atol=0.02)  # from a 256-pixel sample
    monkeypatch.setattr(render_mod, "MIN_SAMPLE_PIXELS", 10)
    r3 = render(src, "truecolor", tmp_path / "tc3.tif")
    assert r3.extra["stretch"].endswith("decimated read")
    np.testing.assert_allclose(r3.limits, lims, atol=0.02)


def test_truecolor_stretch_from_evenly_spaced_strips(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    x = (rng.random((400, 64, 10)) * np.linspace(0.1, 0.5, 400)[:, None, None]).astype(np.float32)
    src = tmp_path / "tall.tif"
    ds = gdal.GetDriverByName("GTiff").Create(
        str(src), 64, 400, 10, gdal.GDT_Float32, ["TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16"]
    )
    ds.SetGeoTransform(GT)
    ds.WriteArray(np.moveaxis(x, -1, 0))
    ds = None
    monkeypatch.setattr(render_mod, "SAMPLE_MAX", 64)
    monkeypatch.setattr(render_mod, "MIN_SAMPLE_PIXELS", 100)
    r = render(src, "truecolor", tmp_path / "tc.tif")
    # step 7 (400 / 64): 9 columns; 8 strips of 16 rows, every 2nd row: 64 rows
    assert r.extra["stretch"] == "9 x 64 pixels, decimated read"
    full = [np.percentile(x[..., b], (2, 98)) for b in (2, 1, 0)]
    np.testing.assert_allclose(r.limits, full, atol=0.03)


def test_band_mapping_and_missing_bands(tmp_path):
    rng = np.random.default_rng(2)
    x = (rng.random((12, 12, 4)) * 0.3).astype(np.float32)  # B2, B3, B4, B8
    src = write_raster(tmp_path / "four.tif", x, names=["a", "b", "c", "d"])
    expect = (x[..., 3] - x[..., 2]) / (x[..., 3] + x[..., 2])
    for spec in ("B4=3,B8=4", "B2,B3,B4,B8", "b8=4; b4=3"):
        render(src, "ndvi", tmp_path / "n.tif", bands=spec)
        np.testing.assert_allclose(
            gdal.Open(str(tmp_path / "n.tif")).ReadAsArray(), expect, rtol=1e-6
        )
    with pytest.raises(LczError, match=r"ndvi needs bands B8, B4.*Missing: B8, B4"):
        render(src, "ndvi", tmp_path / "n.tif")
    with pytest.raises(LczError, match="bands does not name B8"):
        render(src, "ndvi", tmp_path / "n.tif", bands="B4=3")
    with pytest.raises(LczError, match="the raster has bands 1-4"):
        render(src, "ndvi", tmp_path / "n.tif", bands="B4=3,B8=5")
    s2 = write_raster(tmp_path / "s2.tif", np.zeros((4, 4, 10), np.float32))
    with pytest.raises(LczError, match="rvi needs bands VH, VV.*Sentinel-2.*Missing: VH, VV"):
        render(s2, "rvi", tmp_path / "r.tif")
    with pytest.raises(LczError, match="unknown product"):
        render(s2, "evi", tmp_path / "r.tif")
    with pytest.raises(LczError, match="does not exist"):
        render(s2, "ndvi", tmp_path / "nofolder" / "r.tif")
    assert not (tmp_path / "r.tif").exists()


def test_block_size_bounds_memory_for_a_full_tile():
    for n_in, block_h in ((2, 256), (3, 1024), (3, 1)):
        rows = render_mod._block_rows(10980, n_in, block_h)
        assert rows % 16 == 0 and rows >= 16
        assert rows * 10980 * (n_in * 4 + 48) <= render_mod.BLOCK_BUDGET_BYTES
    assert render_mod._block_rows(5000, 2, 256) == 256  # aligned to the input's tiles


def test_output_tiles_are_one_strip_high(s2_raster, tmp_path, monkeypatch):
    src, x = s2_raster
    monkeypatch.setattr(render_mod, "BLOCK_BUDGET_BYTES", 37 * 16 * 56)  # 16-row strips
    r = render(src, "ndvi", tmp_path / "n.tif")
    assert r.blocks == 3
    ds = gdal.Open(str(tmp_path / "n.tif"))
    band = ds.GetRasterBand(1)
    assert band.GetBlockSize() == [48, 16]
    np.testing.assert_allclose(band.ReadAsArray(), expected_nd(x, "B8", "B4"), rtol=1e-6)


def test_cancel_leaves_nothing(s2_raster, tmp_path):
    from lcz_qgis.common.errors import Cancelled
    from lcz_qgis.common.feedback import RecordingFeedback

    src, _ = s2_raster
    with pytest.raises(Cancelled):
        render(
            src, "ndvi", tmp_path / "c.tif", block_rows=5, feedback=RecordingFeedback(cancel_at=30)
        )
    assert list(tmp_path.iterdir()) == []


def test_cli_render(s2_raster, tmp_path, capsys):
    src, _ = s2_raster
    assert (
        main(
            [
                "render",
                "--input",
                str(src),
                "--product",
                "ndwi",
                "--output",
                str(tmp_path / "w.tif"),
            ]
        )
        == 0
    )
    assert (tmp_path / "w.tif").exists() and (tmp_path / "w.qml").exists()
    assert (
        main(
            ["render", "--input", str(src), "--product", "rvi", "--output", str(tmp_path / "x.tif")]
        )
        == 2
    )
    assert "Missing: VH, VV" in capsys.readouterr().err


def test_output_may_overwrite_neither_the_input_nor_its_style(s2_raster, tmp_path):
    import shutil

    src = tmp_path / "in.tif"
    shutil.copy(s2_raster[0], src)
    style = tmp_path / "in.qml"
    style.write_text("<qgis>my own style</qgis>")
    before = src.read_bytes()
    with pytest.raises(LczError, match="is the input input"):
        render(src, "ndvi", src)
    with pytest.raises(LczError, match="style of output .* is the input style of input"):
        render(src, "ndvi", tmp_path / "in.tiff")  # would write in.qml over the user's style
    with pytest.raises(LczError, match="give it a .tif name"):
        render(src, "ndvi", tmp_path / "out.qml")
    assert src.read_bytes() == before and style.read_text() == "<qgis>my own style</qgis>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.qml", "in.tif"]
