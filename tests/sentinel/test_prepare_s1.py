"""Sentinel-1 preparation: dB/linear detection, Lee filter, warp onto a Sentinel-2 grid."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import REF_ORIGIN, make_s1_pair, write_raster

from lcz_qgis.common.errors import Cancelled, LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.raster.io import gdal
from lcz_qgis.sentinel import prepare_s1 as ps1
from lcz_qgis.sentinel.speckle import lee_filter


@pytest.fixture()
def reference(tmp_path):
    arr = np.full((96, 100, 2), 0.1, np.float32)
    return write_raster(tmp_path / "ref_s2.tif", arr, (REF_ORIGIN[0], 10, 0, REF_ORIGIN[1], 0, -10))


def test_lee_filter_smooths_flat_areas_keeps_edges():
    rng = np.random.default_rng(0)
    flat = rng.gamma(4.4, 1 / 4.4, (80, 80)) * 0.1  # GRD-like speckle, ENL 4.4
    out = lee_filter(flat, 5)
    assert out.dtype == np.float32
    assert out.std() < 0.6 * flat.std()
    assert out.mean() == pytest.approx(flat.mean(), rel=0.05)
    # a strong step edge between two bright/dark halves stays sharp
    step = np.where(np.arange(80)[None, :] < 40, 0.01, 1.0) * np.ones((80, 1))
    e = lee_filter(step, 7)
    assert e[:, :37].max() < 0.02 and e[:, 43:].min() > 0.99
    # NaN (nodata) stays NaN and does not leak into neighbours
    flat[10, 10] = np.nan
    o = lee_filter(flat, 5)
    assert np.isnan(o[10, 10]) and np.isfinite(o[10, 11])
    with pytest.raises(LczError, match="odd"):
        lee_filter(flat, 4)


def test_detect_db():
    rng = np.random.default_rng(1)
    lin = rng.exponential(0.05, 1000)
    assert not ps1.detect_db(lin)
    assert ps1.detect_db(10 * np.log10(lin))


def test_prepare_s1_db_onto_s2_grid(tmp_path, reference, monkeypatch):
    s1 = make_s1_pair(tmp_path, db=True)
    out = tmp_path / "s1.tif"
    fb = RecordingFeedback()
    monkeypatch.setattr(ps1, "ROWS_PER_BLOCK", 16)  # several blocks, halo in use
    res = ps1.prepare_sentinel1(s1["VV"], s1["VH"], reference, out, feedback=fb)
    assert res.scales == {"VH": "db", "VV": "db"}
    g = gdal()
    ds, ref = g.Open(str(out)), g.Open(str(reference))
    assert (ds.RasterXSize, ds.RasterYSize) == (ref.RasterXSize, ref.RasterYSize)
    assert ds.GetGeoTransform() == ref.GetGeoTransform()
    assert [ds.GetRasterBand(i).GetDescription() for i in (1, 2)] == [
        "VH_intensity",
        "VV_intensity",
    ]
    vh, vv = ds.ReadAsArray()
    assert ds.GetRasterBand(1).GetNoDataValue() == ps1.NODATA
    # linear power; the bright half of VV averages near 0.3, dark near 0.02 (away from edge).
    # Input x = 690000-35 + 20 * col: the bright half starts at col 30 (x=690565)
    dark, bright = vv[30:90, 5:45], vv[30:90, 62:95]
    assert (dark > 0).all() and (bright > 0).all()
    assert np.median(bright) == pytest.approx(0.3, rel=0.35)
    assert np.median(dark) == pytest.approx(0.02, rel=0.35)
    assert np.median(vh[30:90, 62:95]) == pytest.approx(0.06, rel=0.35)
    # streamed by blocks == filtering the whole warped image at once
    warped = g.Warp(
        "",
        str(s1["VV"]),
        format="VRT",
        dstSRS=ref.GetProjection(),
        outputBounds=(REF_ORIGIN[0], REF_ORIGIN[1] - 960, REF_ORIGIN[0] + 1000, REF_ORIGIN[1]),
        width=100,
        height=96,
        resampleAlg="bilinear",
        srcNodata=float("nan"),
        dstNodata=float("nan"),
        outputType=g.GDT_Float32,
    ).ReadAsArray()
    whole = lee_filter(np.power(10.0, warped.astype(np.float64) / 10.0), ps1.DEFAULT_WINDOW)
    ok = np.isfinite(whole)
    np.testing.assert_allclose(vv[ok], whole[ok], rtol=1e-5)
    # the input's nodata corner (upper-left, before the S1 grid starts too) is nodata
    assert (vv[~ok] == ps1.NODATA).all() and (~ok).sum() > 0
    assert fb.percents[-1] == 100


def test_prepare_s1_linear_declared_and_errors(tmp_path, reference):
    s1 = make_s1_pair(tmp_path, db=False, nodata_corner=False)
    out = tmp_path / "lin.tif"
    res = ps1.prepare_sentinel1(s1["VV"], s1["VH"], reference, out, input_scale="linear", window=7)
    assert res.scales["VV"] == "linear"
    vh, vv = gdal().Open(str(out)).ReadAsArray()
    assert np.median(vv[30:90, 62:95]) == pytest.approx(0.3, rel=0.35)
    # no overlap
    far = write_raster(
        tmp_path / "far.tif", np.ones((40, 40), np.float32), (100000, 20, 0, 200000, 0, -20)
    )
    with pytest.raises(LczError, match="do not overlap"):
        ps1.prepare_sentinel1(far, far, reference, tmp_path / "x.tif")
    nocrs = write_raster(
        tmp_path / "nocrs.tif", np.ones((40, 40), np.float32), (0, 1, 0, 0, 0, -1), epsg=None
    )
    with pytest.raises(LczError, match="no coordinate reference"):
        ps1.prepare_sentinel1(nocrs, nocrs, reference, tmp_path / "x.tif")
    with pytest.raises(Cancelled):
        ps1.prepare_sentinel1(
            s1["VV"], s1["VH"], reference, tmp_path / "x.tif", feedback=RecordingFeedback(0)
        )
    assert not list(tmp_path.glob("*x.*"))


def test_cli_prepare_s1(tmp_path, reference):
    from lcz_qgis.cli import main

    s1 = make_s1_pair(tmp_path, db=True)
    out = tmp_path / "cli_s1.tif"
    args = ["prepare-s1", "--vv", str(s1["VV"]), "--vh", str(s1["VH"]), "--reference",
            str(reference), "--output", str(out), "--window", "7"]  # fmt: skip
    assert main(args) == 0
    ds = gdal().Open(str(out))
    assert ds.RasterCount == 2 and ds.GetMetadataItem("LCZ_LEE_WINDOW") == "7"
    assert main(args[:-2] + ["--window", "4"]) == 2


# -- unusable or suspicious inputs ------------------------------------------------------------


def _s1_gt(res=20.0):
    return (REF_ORIGIN[0] - 40, res, 0, REF_ORIGIN[1] + 40, 0, -res)


@pytest.mark.parametrize("fill, nodata", [(np.nan, None), (-9999.0, -9999.0)])
def test_input_without_valid_pixels_is_an_error(tmp_path, reference, fill, nodata):
    s1 = make_s1_pair(tmp_path, db=False)
    empty = write_raster(
        tmp_path / "empty_vv.tif", np.full((60, 60), fill, np.float32), _s1_gt(), nodata=nodata
    )
    out = tmp_path / "s1.tif"
    out.write_bytes(b"previous output")
    with pytest.raises(LczError, match=r"VV raster 'empty_vv.tif' has no valid pixel"):
        ps1.prepare_sentinel1(empty, s1["VH"], reference, out)
    assert out.read_bytes() == b"previous output"


def test_input_covering_little_of_the_grid_gives_a_warning(tmp_path, reference):
    s1 = make_s1_pair(tmp_path, db=False)
    x = np.full((60, 60), np.nan, np.float32)
    x[:10, :10] = 0.1  # about 200 x 160 m of the 1000 x 960 m grid
    part = write_raster(tmp_path / "part_vv.tif", x, _s1_gt())
    fb = RecordingFeedback()
    ps1.prepare_sentinel1(part, s1["VH"], reference, tmp_path / "s1.tif", feedback=fb)
    assert [w for w in fb.warnings if "part_vv.tif" in w and "% of the Sentinel-2 grid" in w]


def test_declared_scale_contradicting_the_values_gives_a_warning(tmp_path, reference):
    lin = make_s1_pair(tmp_path, db=False)
    fb = RecordingFeedback()
    res = ps1.prepare_sentinel1(
        lin["VV"], lin["VH"], reference, tmp_path / "a.tif", input_scale="db", feedback=fb
    )
    assert res.scales == {"VH": "db", "VV": "db"}  # the user's choice is kept
    assert any(
        "VV" in w and "declared 'db'" in w and "looks like linear" in w and "values 0.0" in w
        for w in fb.warnings
    )
    (tmp_path / "db").mkdir()
    db = make_s1_pair(tmp_path / "db", db=True)  # dB: every value negative
    fb = RecordingFeedback()
    with pytest.raises(LczError, match="no valid pixel"):
        ps1.prepare_sentinel1(
            db["VV"], db["VH"], reference, tmp_path / "b.tif", input_scale="linear", feedback=fb
        )
    assert any("declared 'linear'" in w and "looks like dB" in w for w in fb.warnings)


def test_multiband_input_warns_which_band_is_used(tmp_path, reference):
    s1 = make_s1_pair(tmp_path, db=False)
    stack = np.full((60, 60, 3), 0.1, np.float32)
    vv = write_raster(tmp_path / "stack.tif", stack, _s1_gt())
    fb = RecordingFeedback()
    ps1.prepare_sentinel1(vv, s1["VH"], reference, tmp_path / "s1.tif", feedback=fb)
    assert any("stack.tif' has 3 bands: using band 1" in w for w in fb.warnings)


def test_reference_in_degrees_is_an_error(tmp_path):
    s1 = make_s1_pair(tmp_path, db=False)
    ref = write_raster(
        tmp_path / "ref4326.tif",
        np.full((96, 100), 0.1, np.float32),
        (11.5, 0.0001, 0, 48.2, 0, -0.0001),
        epsg=4326,
    )
    with pytest.raises(LczError, match=r"geographic coordinates \(EPSG:4326\).*prepare-s2"):
        ps1.prepare_sentinel1(s1["VV"], s1["VH"], ref, tmp_path / "s1.tif")


def test_cli_prepare_s1_options_have_help_with_defaults():
    import argparse

    from lcz_qgis.cli.spec_cli import add_command_arguments
    from lcz_qgis.commands.prepare_s1 import COMMAND

    p = argparse.ArgumentParser()
    add_command_arguments(p, COMMAND)
    for a in p._actions:
        assert a.help, a.option_strings
        if a.default not in (None, "", True, False, argparse.SUPPRESS):
            assert "default" in a.help, a.option_strings
    text = " ".join(p.format_help().split())
    assert "(default: auto)" in text and "(default: 5)" in text and "(default: 4.4" in text


def test_output_that_is_an_input_is_refused_and_the_input_kept(reference, tmp_path):
    s1 = make_s1_pair(tmp_path)
    for name, target in (("REFERENCE", reference), ("VV", s1["VV"])):
        before = open(target, "rb").read()
        with pytest.raises(LczError, match=f"is the input {name.lower()}"):
            ps1.prepare_sentinel1(s1["VV"], s1["VH"], reference, target)
        assert open(target, "rb").read() == before
