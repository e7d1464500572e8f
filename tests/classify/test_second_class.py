"""SECOND_CLASS and MARGIN of classify: the runner-up class and the gap between the two
highest probabilities, recomputed here from the probabilities output."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import write_raster

from lcz_qgis.classify.outputs import runner_up
from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.cli import main as lcz_main
from lcz_qgis.models.modelfile import LczModel, load_model, new_manifest
from lcz_qgis.raster.io import gdal

STRIDE = 16


def read(path):
    ds = gdal().Open(str(path))
    return ds, ds.ReadAsArray()


def ranked(p):
    """Classes (1-based) by probability high to low, ties to the lower code: (17, H, W)."""
    return np.argsort(-p, axis=0, kind="stable") + 1


@pytest.fixture(scope="module")
def rf(rf_model):
    return load_model(rf_model)


def _run(rf, s2, folder, **options):
    paths = {n: folder / f"{n}.tif" for n in ("probabilities", "second_class", "margin")}
    classify_raster(rf, folder / "map.tif", sentinel2=s2, stride=STRIDE, **paths, **options)
    return {n: read(p)[1] for n, p in {**paths, "map": folder / "map.tif"}.items()}


def test_second_class_and_margin_follow_the_probabilities(rf, sample_dir, tmp_path):
    out = _run(rf, sample_dir / "scene_s2.tif", tmp_path)
    p, codes, second, margin = out["probabilities"], out["map"], out["second_class"], out["margin"]
    valid = codes > 0
    order = ranked(p)
    np.testing.assert_array_equal(codes[valid], order[0][valid])
    np.testing.assert_array_equal(second, np.where(valid, order[1], 0))
    top = np.sort(p, axis=0)
    np.testing.assert_allclose(margin[valid], (top[-1] - top[-2])[valid], atol=1e-7)
    assert (margin[~valid] == -1).all() and (second[~valid] == 0).all()
    assert valid.sum() > 500 and (second[valid] != codes[valid]).all()
    assert 0 <= margin[valid].min() and margin[valid].max() <= 1
    assert np.ptp(margin[valid]) > 0.5  # a real spread of margins
    tied = valid & (margin == 0)  # the forest's votes tie at some cells: lower code first
    assert tied.any() and (codes[tied] < second[tied]).all()
    assert len(np.unique(second[valid])) > 3


def test_styles_and_category_names(rf, sample_dir, tmp_path):
    _run(rf, sample_dir / "scene_s2.tif", tmp_path, confidence_format="byte")
    qml = (tmp_path / "second_class.qml").read_text()
    assert qml == (tmp_path / "map.qml").read_text()  # the LCZ legend, like the map
    assert 'type="paletted"' in qml and "Compact high-rise" in qml and "Water" in qml
    ds, _ = read(tmp_path / "second_class.tif")
    band = ds.GetRasterBand(1)
    assert band.GetNoDataValue() == 0 and band.GetColorTable() is not None
    assert "Compact high-rise" in band.GetCategoryNames()[1]
    margin_qml = (tmp_path / "margin.qml").read_text()
    assert "singlebandpseudocolor" in margin_qml and 'maximumValue="100"' in margin_qml


def test_byte_margin_is_the_rounded_percent(rf, sample_dir, tmp_path):
    (tmp_path / "f").mkdir(), (tmp_path / "b").mkdir()
    flt = _run(rf, sample_dir / "scene_s2.tif", tmp_path / "f")
    byte = _run(rf, sample_dir / "scene_s2.tif", tmp_path / "b", confidence_format="byte")
    valid = flt["map"] > 0
    assert byte["margin"].dtype == np.uint8
    expect = np.where(valid, np.rint(np.clip(flt["margin"], 0, 1) * 100), 255)
    np.testing.assert_array_equal(byte["margin"], expect)
    np.testing.assert_array_equal(byte["second_class"], flt["second_class"])


def test_gaussian_filter_defines_them_on_the_filtered_probabilities(rf, sample_dir, tmp_path):
    (tmp_path / "n").mkdir(), (tmp_path / "g").mkdir()
    plain = _run(rf, sample_dir / "scene_s2.tif", tmp_path / "n")
    out = _run(rf, sample_dir / "scene_s2.tif", tmp_path / "g", filter="gaussian")
    p, valid = out["probabilities"], out["map"] > 0
    order = ranked(p)
    np.testing.assert_array_equal(out["second_class"], np.where(valid, order[1], 0))
    top = np.sort(p, axis=0)
    np.testing.assert_allclose(out["margin"][valid], (top[-1] - top[-2])[valid], atol=1e-6)
    assert (out["second_class"] != plain["second_class"]).any()  # not the unfiltered ones


def test_majority_filter_second_class_is_the_best_other_than_the_map(rf, sample_dir, tmp_path):
    out = _run(rf, sample_dir / "scene_s2.tif", tmp_path, filter="majority")
    p, codes = out["probabilities"], out["map"]
    valid = codes > 0
    changed = valid & (codes != ranked(p)[0])
    assert changed.any()  # the majority changed some cells' class
    others = np.where(np.arange(1, 18)[:, None, None] == codes[None], -np.inf, p)
    np.testing.assert_array_equal(out["second_class"], np.where(valid, ranked(others)[0], 0))
    top = np.sort(p, axis=0)
    np.testing.assert_allclose(out["margin"][valid], (top[-1] - top[-2])[valid], atol=1e-7)


class TiedModel(LczModel):
    """Probability 0.3 for LCZ 9 and 4, 0.4 / 15 for the others: a tie for first place."""

    def __init__(self):
        super().__init__(new_manifest("test", "none", "sen2", list(range(10))))

    def _predict(self, x, batch_size):
        p = np.full((len(x), 17), 0.4 / 15, np.float32)
        p[:, [3, 8]] = 0.3
        return p


def test_ties_go_to_the_lower_code(tmp_path):
    s2 = write_raster(tmp_path / "s2.tif", np.full((64, 64, 10), 0.1, np.float32))
    classify_raster(TiedModel(), tmp_path / "m.tif", sentinel2=s2, stride=STRIDE,
                    second_class=tmp_path / "s.tif", margin=tmp_path / "g.tif")  # fmt: skip
    codes, second, margin = (read(tmp_path / n)[1] for n in ("m.tif", "s.tif", "g.tif"))
    valid = codes > 0
    assert valid.sum() == 9 and (codes[valid] == 4).all() and (second[valid] == 9).all()
    assert (margin[valid] == 0).all()
    # runner_up on its own: all equal -> 1 then 2; the map's class is never the second
    p = np.full((1, 2, 17), 1 / 17, np.float32)
    s, m = runner_up(p, np.array([[1, 5]], np.uint8), np.ones((1, 2), bool))
    assert s.tolist() == [[2, 1]] and (m == 0).all()


def test_cli_takes_one_value_per_input(rf_model, sample_dir, tmp_path, capsys):
    s2 = str(sample_dir / "scene_s2.tif")
    argv = ["classify", "--model", str(rf_model), "--sentinel2", s2, s2, "--stride", "16",
            "--output", str(tmp_path / "a.tif"), str(tmp_path / "b.tif"),
            "--second-class", str(tmp_path / "sa.tif"), str(tmp_path / "sb.tif"),
            "--margin", str(tmp_path / "ma.tif"), str(tmp_path / "mb.tif")]  # fmt: skip
    assert lcz_main(argv) == 0
    np.testing.assert_array_equal(read(tmp_path / "sa.tif")[1], read(tmp_path / "sb.tif")[1])
    assert (read(tmp_path / "ma.tif")[1] > 0).any()
    code = lcz_main(argv[: argv.index("--margin") + 2])
    assert code != 0  # --margin has 1 value but --output has 2
    assert "--margin has 1 values but --output has 2" in capsys.readouterr().err


@pytest.mark.qgis
def test_processing_writes_and_loads_them_styled(qgis_app, sample_dir, rf_model, tmp_path):
    from helpers import run_and_load

    paths = {k: tmp_path / f"{k.lower()}.tif" for k in ("OUTPUT", "SECOND_CLASS", "MARGIN")}
    res, layers = run_and_load(
        "lcz:classifyraster",
        {"MODEL": str(rf_model), "SENTINEL2": str(sample_dir / "scene_s2.tif"), "STRIDE": 16,
         "CONFIDENCE_FORMAT": "byte"} | {k: str(p) for k, p in paths.items()},
    )  # fmt: skip
    assert {k: res[k] for k in paths} == {k: str(p) for k, p in paths.items()}
    # named after the output, the model file and the input (issue 24: runs told apart)
    assert layers["second_class.tif"].name() == "LCZ second class \u2013 rf \u2013 scene_s2"
    assert layers["margin.tif"].name() == "LCZ margin \u2013 rf \u2013 scene_s2"
    second = layers["second_class.tif"].renderer()
    assert second.type() == "paletted" and len(second.classes()) == 17
    margin = layers["margin.tif"].renderer()
    assert margin.type() == "singlebandpseudocolor"
    items = margin.shader().rasterShaderFunction().colorRampItemList()
    assert (items[0].value, items[-1].value) == (0.0, 100.0)
    codes, sc = read(paths["OUTPUT"])[1], read(paths["SECOND_CLASS"])[1]
    assert ((sc > 0) == (codes > 0)).all() and (sc[codes > 0] != codes[codes > 0]).all()
