"""Sentinel-2 preparation: a generated SAFE-like L2A product -> So2Sat 10-band stack at 10 m."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import ESA, MTD, ORIGIN, band_file, dn_of, make_safe, s2_driver, write_s2_band

from lcz_qgis.common.errors import Cancelled, LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.raster.io import gdal, osr
from lcz_qgis.sentinel.prepare_s2 import NODATA, find_product, prepare_sentinel2


def _read(path):
    ds = gdal().Open(str(path))
    return ds, ds.ReadAsArray()


@pytest.fixture(scope="module")
def safe(tmp_path_factory) -> Path:
    return make_safe(tmp_path_factory.mktemp("s2"))


def test_find_product_reads_bands_and_offsets(safe):
    p = find_product(safe)
    assert p.level == "L2A" and p.baseline == "05.09"
    assert p.quantification == 10000
    assert p.offsets["B02"] == -1000 and p.offsets["B12"] == -1000
    assert p.files["B02"].endswith(f"B02_10m.{s2_driver()[1]}")
    assert p.files["B8A"].endswith(f"B8A_20m.{s2_driver()[1]}")
    assert "SCL" in p.files
    # the MTD file itself and a zip of the product work too
    assert find_product(safe / "MTD_MSIL2A.xml").files == p.files
    zpath = safe.parent / "product.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for f in safe.rglob("*"):
            if f.is_file():
                z.write(f, f.relative_to(safe.parent))
    pz = find_product(zpath)
    assert pz.offsets["B04"] == -1000 and pz.files["B11"].startswith("/vsizip/")


def test_prepare_values_grid_nodata_and_clouds(safe, tmp_path):
    out = tmp_path / "s2.tif"
    fb = RecordingFeedback()
    res = prepare_sentinel2(safe, out, feedback=fb)
    ds, arr = _read(out)
    assert arr.shape == (10, 128, 128) and ds.GetRasterBand(1).DataType == gdal().GDT_Float32
    assert ds.GetGeoTransform() == (ORIGIN[0], 10.0, 0.0, ORIGIN[1], 0.0, -10.0)
    assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(10)][:3] == ["B2", "B3", "B4"]
    assert ds.GetRasterBand(10).GetDescription() == "B12"
    assert ds.GetRasterBand(1).GetNoDataValue() == NODATA
    assert ds.GetRasterBand(1).GetBlockSize() == [256, 256]
    # ZSTD (fast to decode while classifying) where this GDAL has it, no predictor
    zstd = "ZSTD" in gdal().GetDriverByName("GTiff").GetMetadataItem("DMD_CREATIONOPTIONLIST")
    structure = ds.GetMetadata("IMAGE_STRUCTURE")
    assert structure["COMPRESSION"] == ("ZSTD" if zstd else "DEFLATE")
    assert "PREDICTOR" not in structure
    # 10 m band B2 (So2Sat band 1): reflectance = (DN - 1000) / 10000 pixel for pixel
    dn = dn_of("B02", 128).astype(np.float64)
    r, c = 100, 30
    assert arr[0, r, c] == pytest.approx((dn[r, c] - 1000) / 10000, abs=1e-6)
    # 20 m band B11 (So2Sat band 9): inside a constant 4x4 block of 20 m pixels the
    # bilinear 10 m value equals the block's value; the output is on the 10 m grid
    dn20 = dn_of("B11", 128).astype(np.float64)
    r20, c20 = 49, 57  # a 20 m pixel inside its 4x4 block (rows 48-51, cols 56-59)
    assert arr[8, 2 * r20, 2 * c20] == pytest.approx((dn20[r20, c20] - 1000) / 10000, abs=1e-5)
    assert arr[8, 2 * r20 + 1, 2 * c20 + 1] == pytest.approx(
        (dn20[r20, c20] - 1000) / 10000, abs=1e-5
    )
    # a 20 m block edge is interpolated between the neighbouring blocks' values
    e = arr[8, 2 * 52 - 1, 2 * c20]  # last 10 m row of block rows 48-51 (edge to 52-55)
    lo, hi = sorted(((dn20[51, c20] - 1000) / 1e4, (dn20[52, c20] - 1000) / 1e4))
    assert lo - 1e-6 <= e <= hi + 1e-6
    # DN 0 corner -> nodata in all bands
    assert (arr[:, :8, :16] == NODATA).all()
    # SCL cloud (9) and shadow (3) -> nodata; clear pixels keep values
    assert (arr[:, 40:56, 40:56] == NODATA).all()
    assert (arr[:, 60:68, 80:88] == NODATA).all()
    assert (arr[:, 70:80, 100:110] != NODATA).all()
    assert res.cloud_masked and 0 < res.nodata_fraction < 0.1
    assert fb.percents[-1] == 100


def test_prepare_without_cloud_mask_keeps_cloudy_pixels(safe, tmp_path):
    out = tmp_path / "s2.tif"
    prepare_sentinel2(safe, out, cloud_mask=False)
    _, arr = _read(out)
    assert (arr[:, 40:56, 40:56] != NODATA).all()


def test_prepare_clip_to_extent_and_polygon(safe, tmp_path):
    g = gdal()
    out = tmp_path / "clip.tif"
    ext = (ORIGIN[0] + 200, ORIGIN[1] - 900, ORIGIN[0] + 805, ORIGIN[1] - 300)
    prepare_sentinel2(safe, out, extent=ext)
    ds, arr = _read(out)
    gt = ds.GetGeoTransform()
    assert gt[0] == ORIGIN[0] + 200 and gt[3] == ORIGIN[1] - 300
    assert ds.RasterXSize == 61 and ds.RasterYSize == 60  # snapped outwards to 10 m
    dn = dn_of("B02", 128).astype(np.float64)
    assert arr[0, 5, 5] == pytest.approx((dn[35, 25] - 1000) / 1e4, abs=1e-6)
    # polygon in EPSG:4326: pixels outside the triangle are nodata
    o = osr()
    utm = o.SpatialReference()
    utm.ImportFromEPSG(32632)
    wgs = o.SpatialReference()
    wgs.ImportFromEPSG(4326)
    wgs.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    utm.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    ct = o.CoordinateTransformation(utm, wgs)
    tri = [(ORIGIN[0] + 100, ORIGIN[1] - 100), (ORIGIN[0] + 1100, ORIGIN[1] - 100),
           (ORIGIN[0] + 100, ORIGIN[1] - 1100)]  # fmt: skip
    ll = [ct.TransformPoint(x, y)[:2] for x, y in tri]
    gj = tmp_path / "tri.geojson"
    ring = [list(p) for p in ll + [ll[0]]]
    gj.write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
        f'"geometry":{{"type":"Polygon","coordinates":[{ring}]}}}}]}}'
    )
    out2 = tmp_path / "poly.tif"
    prepare_sentinel2(safe, out2, mask=gj)
    ds2, a2 = _read(out2)
    assert abs(ds2.GetGeoTransform()[0] - (ORIGIN[0] + 100)) <= 10
    assert 95 <= ds2.RasterXSize <= 102
    assert a2[0, 10, 10] != NODATA  # near the right angle: inside
    assert a2[0, -5, -5] == NODATA  # opposite corner: outside the triangle
    assert g.Open(str(out2)).GetRasterBand(1).GetNoDataValue() == NODATA


def test_prepare_bad_input(tmp_path, safe):
    with pytest.raises(LczError, match="does not exist"):
        prepare_sentinel2(tmp_path / "nope.SAFE", tmp_path / "o.tif")
    only = list((safe / "GRANULE").rglob("*B02_10m.*"))
    with pytest.raises(LczError, match="lacks band"):
        prepare_sentinel2(only, tmp_path / "o.tif")
    with pytest.raises(LczError, match="do not overlap"):
        prepare_sentinel2(safe, tmp_path / "o.tif", extent=(0, 0, 100, 100))
    assert not list(tmp_path.glob("o*"))


def test_prepare_band_files_and_cancel(safe, tmp_path):
    files = [f for f in (safe / "GRANULE").rglob("*") if f.is_file()]
    out = tmp_path / "files.tif"
    prepare_sentinel2(files, out)  # the MTD file is found above the band files
    _, arr = _read(out)
    dn = dn_of("B02", 128).astype(np.float64)
    assert arr[0, 64, 64] == pytest.approx((dn[64, 64] - 1000) / 1e4, abs=1e-6)
    out2 = tmp_path / "cancel.tif"
    with pytest.raises(Cancelled):
        prepare_sentinel2(safe, out2, feedback=RecordingFeedback(cancel_at=30))
    assert not out2.exists() and not list(tmp_path.glob(".cancel*"))


def test_cli_prepare_s2(safe, tmp_path, capsys):
    from lcz_qgis.cli import main

    out = tmp_path / "cli.tif"
    assert main(["prepare-s2", "--input", str(safe), "--output", str(out), "--no-cloud-mask"]) == 0
    assert "160" not in capsys.readouterr().err
    _, arr = _read(out)
    assert arr.shape == (10, 128, 128) and (arr[:, 40:56, 40:56] != NODATA).all()
    assert main(["prepare-s2", "--input", str(tmp_path / "x.SAFE"), "--output", str(out)]) == 2


# -- inconsistent or suspicious inputs --------------------------------------------------------


def _set_mtd(safe: Path, offsets: str, baseline: str = "05.09", quant: str = "10000") -> None:
    text = MTD.format(offsets=offsets).replace(">05.09<", f">{baseline}<")
    (safe / "MTD_MSIL2A.xml").write_text(text.replace(">10000<", f">{quant}<"))


def _offsets(value: str = "-1000", empty_band: int | None = None) -> str:
    return "\n".join(
        f'<BOA_ADD_OFFSET band_id="{i}">{"" if i == empty_band else value}</BOA_ADD_OFFSET>'
        for i in range(len(ESA))
    )


def test_band_from_another_tile_is_an_error(tmp_path):
    safe = make_safe(tmp_path, size10=64)
    far = (ORIGIN[0] + 100000.0, ORIGIN[1])
    write_s2_band(band_file(safe, "B11"), dn_of("B11", 64), 20.0, origin=far)
    with pytest.raises(LczError, match=r"band B11 .* does not overlap the 10 m grid of B02"):
        prepare_sentinel2(safe, tmp_path / "o.tif")
    assert not list(tmp_path.glob("*o.*"))


def test_band_covering_part_of_the_grid_is_named_in_a_warning(tmp_path):
    safe = make_safe(tmp_path, size10=64)
    half = (ORIGIN[0] + 320.0, ORIGIN[1])  # half of the 640 m wide grid
    write_s2_band(band_file(safe, "B11"), dn_of("B11", 64), 20.0, origin=half)
    fb = RecordingFeedback()
    prepare_sentinel2(safe, tmp_path / "o.tif", feedback=fb)
    assert any("band B11" in w and "covers only 50%" in w for w in fb.warnings)
    _, arr = _read(tmp_path / "o.tif")
    assert (arr[:, 20:38, :30] == NODATA).all() and (arr[:, 20:38, 34:] != NODATA).all()


def test_band_files_in_degrees_are_an_error(tmp_path):
    safe = make_safe(tmp_path, size10=64)
    for f in (safe / "GRANULE").rglob("*m.*"):
        res = 0.0001 if "_10m." in f.name else 0.0002
        n = 64 if res == 0.0001 else 32
        write_s2_band(f, np.full((n, n), 2000, np.uint16), res, origin=(11.5, 48.2), epsg=4326)
    with pytest.raises(LczError, match=r"geographic coordinates \(EPSG:4326.*UTM"):
        prepare_sentinel2(safe, tmp_path / "o.tif")


def test_offsets_missing_from_a_baseline_4_product_default_to_minus_1000(tmp_path):
    safe = make_safe(tmp_path, size10=64)
    _set_mtd(safe, offsets="")
    fb = RecordingFeedback()
    prepare_sentinel2(safe, tmp_path / "o.tif", feedback=fb)
    _, arr = _read(tmp_path / "o.tif")
    dn = dn_of("B02", 64).astype(np.float64)
    assert arr[0, 30, 20] == pytest.approx((dn[30, 20] - 1000) / 1e4, abs=1e-6)
    assert any("05.09" in w and "-1000" in w and "B02" in w for w in fb.warnings)
    # an older baseline has no offset: 0, and nothing to warn about
    _set_mtd(safe, offsets="", baseline="02.14")
    fb = RecordingFeedback()
    prepare_sentinel2(safe, tmp_path / "old.tif", feedback=fb)
    _, arr = _read(tmp_path / "old.tif")
    assert arr[0, 30, 20] == pytest.approx(dn[30, 20] / 1e4, abs=1e-6)
    assert not fb.warnings


def test_empty_offset_element_is_filled_in_with_a_warning(tmp_path):
    safe = make_safe(tmp_path, size10=64)
    _set_mtd(safe, offsets=_offsets(empty_band=1))  # band_id 1 = B02
    fb = RecordingFeedback()
    prepare_sentinel2(safe, tmp_path / "o.tif", feedback=fb)
    _, arr = _read(tmp_path / "o.tif")
    dn = dn_of("B02", 64).astype(np.float64)
    assert arr[0, 30, 20] == pytest.approx((dn[30, 20] - 1000) / 1e4, abs=1e-6)
    assert any("empty for B02" in w and "-1000" in w for w in fb.warnings)


@pytest.mark.parametrize("quant", ["0", "-10000", "ten"])
def test_bad_quantification_value_is_an_error(tmp_path, quant):
    safe = make_safe(tmp_path, size10=64)
    _set_mtd(safe, offsets=_offsets(), quant=quant)
    with pytest.raises(LczError, match=f"BOA_QUANTIFICATION_VALUE '?{quant}"):
        prepare_sentinel2(safe, tmp_path / "o.tif")
    assert not (tmp_path / "o.tif").exists()


def test_cli_prepare_s2_options_have_help_with_defaults():
    import argparse

    from lcz_qgis.cli.spec_cli import add_command_arguments
    from lcz_qgis.commands.prepare_s2 import COMMAND

    p = argparse.ArgumentParser()
    add_command_arguments(p, COMMAND)
    for a in p._actions:
        assert a.help, a.option_strings
        if a.default not in (None, "", True, False, argparse.SUPPRESS):
            assert "default" in a.help, a.option_strings
    assert "(default: bilinear)" in p.format_help()


def test_output_that_is_a_band_file_is_refused_and_the_band_kept(tmp_path):
    safe = make_safe(tmp_path / "p", size10=64)
    band = Path(find_product(safe).files["B03"])
    before = band.read_bytes()
    with pytest.raises(LczError, match="is the input band B03"):
        prepare_sentinel2(safe, band)
    assert band.read_bytes() == before
