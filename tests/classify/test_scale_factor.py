"""SCALE takes a factor as well as auto/reflectance/dn (issue 24, finding 1): reflectance
x 1000 read with 0.001 maps like the reflectance itself, and 'auto' on such a raster warns,
naming 0.001, instead of dividing by 10000 silently. Every command taking SCALE shares one
declaration (commands.params.scale_param) and one core rule (classify.inputs.detect_scale)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import write_raster

from lcz_qgis.classify.inputs import implausible_reflectance, parse_scale
from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.cli import main as lcz_main
from lcz_qgis.commands import all_commands
from lcz_qgis.common.errors import LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.models.modelfile import load_model
from lcz_qgis.raster.io import read_lcz_map

EXT = (690000 + 640, 5340000 - 2560, 690000 + 2560, 5340000 - 640)


def test_parse_scale_takes_codes_and_factors():
    assert (
        parse_scale("auto") == "auto" and parse_scale("DN") == "dn" and parse_scale(None) == "auto"
    )
    assert parse_scale("0.001") == parse_scale(0.001) == 0.001 and parse_scale("1") == 1.0
    for bad in ("bogus", "0", "-0.001", "2", "nan", True):
        with pytest.raises(LczError, match=r"(?i)scale.*0\.001 for reflectance x 1000"):
            parse_scale(bad)


def test_every_scale_command_shares_one_declaration():
    takers = {
        c.name: c.param("SCALE") for c in all_commands() if "SCALE" in {p.key for p in c.params}
    }
    assert {
        "classify",
        "classify-dates",
        "classify-many",
        "training-patches",
        "map-from-areas",
    } <= set(takers)
    for name, p in takers.items():
        assert p.kind == "enum_or_number" and p.codes[:3] == ["auto", "reflectance", "dn"], name
        assert "0.001" in p.codes and p.default == "auto", name


def test_plausibility_names_the_likely_factor():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.02, 0.06, (2000, 10))  # reflectance 0-1, vegetation: NIR 0.3-0.5
    x[:, 6] = rng.uniform(0.3, 0.5, 2000)
    assert implausible_reflectance(x, list(range(10)), 1.0) == (None, "")
    likely, why = implausible_reflectance(x * 1000, list(range(10)), 1e-4)
    assert likely == pytest.approx(1e-3) and "near-infrared (B8) reflectance of 0.04" in why
    likely, _ = implausible_reflectance(x * 10000, list(range(10)), 1.0)
    assert likely == pytest.approx(1e-4)
    dark = np.full((500, 10), 30.0)  # no vegetation: the 99th percentile decides
    assert implausible_reflectance(dark, list(range(10)), 1e-4)[0] == pytest.approx(1e-2)


@pytest.fixture(scope="module")
def x1000(sample_dir, tmp_path_factory):
    """The sample scene as reflectance x 1000 (uint16, nodata 0)."""
    import rasterio

    with rasterio.open(sample_dir / "scene_s2.tif") as ds:
        src = np.moveaxis(ds.read(), 0, -1)
        gt = ds.transform.to_gdal()
    arr = np.where(src == -9999, 0, np.maximum(np.rint(src * 1000), 1)).astype(np.uint16)
    from osgeo import gdal

    path = tmp_path_factory.mktemp("x1000") / "x1000.tif"
    return write_raster(path, arr, gt=gt, nodata=0, gtype=gdal.GDT_UInt16)


def test_factor_maps_reflectance_x_1000_like_reflectance(rf_model, sample_dir, x1000, tmp_path):
    rf = load_model(rf_model)
    classify_raster(rf, tmp_path / "ref.tif", sentinel2=sample_dir / "scene_s2.tif", extent=EXT)
    fb = RecordingFeedback()
    res = classify_raster(
        rf, tmp_path / "f.tif", sentinel2=x1000, scale="0.001", extent=EXT, feedback=fb
    )
    assert res.scale_factor == pytest.approx(1e-3) and not fb.warnings
    a, b = read_lcz_map(tmp_path / "ref.tif")[0], read_lcz_map(tmp_path / "f.tif")[0]
    assert (a > 0).sum() > 100 and (a == b).mean() > 0.97


def test_auto_on_reflectance_x_1000_warns_naming_0_001(rf_model, x1000, tmp_path):
    fb = RecordingFeedback()
    res = classify_raster(
        load_model(rf_model), tmp_path / "a.tif", sentinel2=x1000, extent=EXT, feedback=fb
    )
    assert res.scale_factor == pytest.approx(1e-4)  # auto keeps its rule, but says so loudly
    (w,) = fb.warnings
    assert "does not look like DN" in w and "reflectance x 1000" in w and "to 0.001" in w


def test_cli_takes_a_factor_and_refuses_nonsense(rf_model, x1000, tmp_path, capsys):
    out = tmp_path / "cli.tif"
    base = ["classify", "--model", str(rf_model), "--sentinel2", str(x1000), "--extent",
            ",".join(map(str, EXT))]  # fmt: skip
    assert lcz_main([*base, "--output", str(out), "--scale", "0.001"]) == 0
    assert out.is_file() and "0.001" not in capsys.readouterr().err
    code = lcz_main([*base, "--output", str(tmp_path / "bad.tif"), "--scale", "thousand"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--scale 'thousand'" in err[0]
    assert not (tmp_path / "bad.tif").exists()


@pytest.mark.qgis
def test_processing_takes_the_index_the_code_and_a_factor(run_alg, rf_model, x1000, tmp_path):
    ext = f"{EXT[0]},{EXT[2]},{EXT[1]},{EXT[3]} [EPSG:32632]"
    maps = {}
    for value in (3, "0.001", 0.001, "auto"):
        out = tmp_path / f"p{len(maps)}.tif"
        run_alg("lcz:classifyraster", {"MODEL": str(rf_model), "SENTINEL2": str(x1000),
                                 "EXTENT": ext, "SCALE": value, "OUTPUT": str(out)})  # fmt: skip
        maps[value] = read_lcz_map(out)[0]
    assert (maps[3] == maps["0.001"]).all() and (maps[0.001] == maps[3]).all()
    assert (maps["auto"] != maps[3]).any()  # auto divides by 10000: another map
