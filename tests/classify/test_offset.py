"""OFFSET (issue 24, "Scale"): reflectance = (value + offset) x factor, e.g. Sentinel-2 L2A
DN from processing baseline 04.00 exported raw (BOA_ADD_OFFSET -1000) and classified with
``--scale 0.0001 --offset -1000``. Such a raster maps, probability for probability, like
the reflectance itself; its nodata stays nodata; the plausibility warning judges the
values after the offset; an offset without a stated factor, NaN or inf is refused in one
line, in the core, the CLI and Processing."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from helpers import write_raster

from lcz_qgis.classify.inputs import parse_offset
from lcz_qgis.classify.multidate import classify_dates
from lcz_qgis.classify.options import ClassifyOptions
from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.cli import main as lcz_main
from lcz_qgis.common.errors import LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.models.modelfile import load_model

HOLE = (slice(200, 290), slice(100, 190))  # rows, cols of a nodata block (both rasters)
HOLE_CELLS = (slice(21, 25), slice(11, 15))  # output cells whose windows lie in it


def _pair(scene, folder, factor_of_raw=1e4, offset=1000):
    """The scene as raw values ``rint(reflectance x factor_of_raw) + offset`` (uint16,
    nodata 0) and as the reflectance those values stand for with ``--scale
    1/factor_of_raw`` (float32 computed as the classifier does, nodata -9999); both with
    the same nodata pixels (the scene's and ``HOLE``)."""
    with rasterio.open(scene) as ds:
        src = np.moveaxis(ds.read(), 0, -1)
        gt = ds.transform.to_gdal()
    nodata = src == -9999
    nodata[HOLE] = True
    d = np.maximum(np.rint(src * factor_of_raw), 0)
    raw = np.where(nodata, 0, d + offset).astype(np.uint16)
    ref = np.where(nodata, -9999, d.astype(np.float32) * np.float32(1 / factor_of_raw))
    from osgeo import gdal

    raw_path = write_raster(folder / "raw.tif", raw, gt=gt, nodata=0, gtype=gdal.GDT_UInt16)
    ref_path = write_raster(folder / "ref.tif", ref.astype(np.float32), gt=gt, nodata=-9999)
    return raw_path, ref_path


@pytest.fixture(scope="module")
def pair(sample_dir, tmp_path_factory):
    """(raw DN + 1000 raster, its reflectance raster) of the sample scene."""
    return _pair(sample_dir / "scene_s2.tif", tmp_path_factory.mktemp("offset"))


@pytest.fixture(scope="module")
def reference(rf_model, pair, tmp_path_factory):
    """The reflectance raster's map and probabilities (SCALE reflectance)."""
    d = tmp_path_factory.mktemp("offset_ref")
    classify_raster(load_model(rf_model), d / "map.tif", sentinel2=pair[1],
                    scale="reflectance", probabilities=d / "p.tif")  # fmt: skip
    return _read(d / "map.tif"), _read(d / "p.tif")


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read()


def test_parse_offset_takes_finite_numbers_with_a_stated_factor():
    assert parse_offset(-1000, "0.0001") == parse_offset("-1000", "dn") == -1000.0
    assert parse_offset(0, "auto") == parse_offset(None, "reflectance") == parse_offset("") == 0
    assert parse_offset(-0.1, 1.0) == -0.1  # values in reflectance units: the factor 1
    for bad in ("nan", float("inf"), "-inf", "thousand", True):
        with pytest.raises(LczError, match=r"offset.*is not a finite number"):
            parse_offset(bad, "dn")
    for scale in ("auto", "reflectance", None):
        with pytest.raises(LczError, match=r"offset -1000 needs a stated factor.*scale"):
            parse_offset(-1000, scale)


def test_offset_and_factor_map_like_the_reflectance(rf_model, pair, reference, tmp_path):
    rf = load_model(rf_model)
    for scale in ("0.0001", "dn"):
        fb = RecordingFeedback()
        res = classify_raster(rf, tmp_path / f"{scale}.tif", sentinel2=pair[0], scale=scale,
                              offset=-1000, probabilities=tmp_path / f"{scale}_p.tif",
                              feedback=fb)  # fmt: skip
        assert res.scale_factor == pytest.approx(1e-4) and not fb.warnings, scale
        lcz, proba = _read(tmp_path / f"{scale}.tif"), _read(tmp_path / f"{scale}_p.tif")
        assert np.array_equal(lcz, reference[0]), scale
        assert np.array_equal(proba, reference[1]), scale  # every probability, bit for bit
    assert (lcz > 0).sum() > 1000
    # nodata stays nodata: the windows on the nodata block are not classified, although
    # nodata 0 + offset -1000 would be a value like any other
    assert (lcz[0][HOLE_CELLS] == 0).all()
    # without the offset the same raster maps otherwise (the offset is applied)
    res = classify_raster(rf, tmp_path / "no.tif", sentinel2=pair[0], scale="0.0001")
    assert not np.array_equal(_read(res.output), reference[0])


def test_the_plausibility_warning_judges_the_values_after_the_offset(
    rf_model, sample_dir, tmp_path
):
    # reflectance x 1000 stored with +1000: read with 0.0001 and -1000 it is ten times
    # too dark (the raw values x 0.0001 alone would look plausible)
    raw, _ = _pair(sample_dir / "scene_s2.tif", tmp_path, factor_of_raw=1e3)
    fb = RecordingFeedback()
    classify_raster(load_model(rf_model), tmp_path / "m.tif", sentinel2=raw, scale="0.0001",
                    offset=-1000, feedback=fb)  # fmt: skip
    (w,) = fb.warnings
    assert "values + offset -1000" in w and "set scale to 0.001" in w


def test_an_offset_without_a_stated_factor_is_refused_before_any_output(rf_model, pair, tmp_path):
    rf = load_model(rf_model)
    for scale, offset, what in (("auto", -1000, "needs a stated factor"),
                                ("reflectance", 5, "needs a stated factor"),
                                ("dn", float("nan"), "not a finite number")):  # fmt: skip
        with pytest.raises(LczError, match=what):
            classify_raster(rf, tmp_path / "x.tif", sentinel2=pair[0], scale=scale,
                            offset=offset)  # fmt: skip
        with pytest.raises(LczError, match=what):
            ClassifyOptions(tmp_path / "y.tif", pair[0], scale=scale, offset=offset).check()
    assert not list(tmp_path.iterdir())


def test_classify_dates_applies_the_offset_to_every_date(rf_model, pair, reference, tmp_path):
    rf = load_model(rf_model)
    res = classify_dates(rf, tmp_path / "raw.tif", pair[0], dates=[pair[0]], scale="0.0001",
                         offset=-1000)  # fmt: skip
    ref = classify_dates(rf, tmp_path / "ref.tif", pair[1], dates=[pair[1]],
                         scale="reflectance")  # fmt: skip
    assert np.array_equal(_read(res.output), _read(ref.output))
    assert np.array_equal(_read(res.output), reference[0])  # two equal dates: one date's map


def test_cli_offset(rf_model, pair, reference, tmp_path, capsys):
    for name in ("classify", "classify-dates", "classify-many", "training-patches"):
        with pytest.raises(SystemExit):
            lcz_main([name, "--help"])
        assert "--offset NUMBER" in capsys.readouterr().out, name
    base = ["classify", "--model", str(rf_model), "--sentinel2", str(pair[0])]
    out = tmp_path / "cli.tif"
    assert lcz_main([*base, "--output", str(out), "--scale", "0.0001", "--offset", "-1000"]) == 0
    assert np.array_equal(_read(out), reference[0])
    capsys.readouterr()
    refused = (
        (["--offset", "-1000"], "--offset -1000 needs a stated factor: set --scale to dn"),
        (["--scale", "dn", "--offset", "nan"], "--offset nan is not a finite"),
        (["--scale", "dn", "--offset", "inf"], "--offset inf is not a finite"),
    )
    for extra, what in refused:
        bad = tmp_path / "bad.tif"
        assert lcz_main([*base, "--output", str(bad), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and what in err[0], err
        assert not bad.exists()


@pytest.mark.qgis
def test_processing_takes_the_offset(run_alg, rf_model, pair, reference, tmp_path):
    from qgis.core import QgsProcessingException

    out = tmp_path / "q.tif"
    given = {"MODEL": str(rf_model), "SENTINEL2": str(pair[0]), "OFFSET": -1000}
    run_alg("lcz:classifyraster", {**given, "SCALE": "0.0001", "OUTPUT": str(out)})
    assert np.array_equal(_read(out), reference[0])
    with pytest.raises(QgsProcessingException) as err:  # SCALE auto
        run_alg("lcz:classifyraster", {**given, "OUTPUT": str(tmp_path / "r.tif")})
    message = str(err.value)
    assert "needs a stated factor" in message and "Offset added before" in message
    assert "\n" not in message.strip() and not (tmp_path / "r.tif").exists()
