"""ClassifyOptions: one request object, its checks in one place, the keyword API on top."""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers import BrightnessModel, write_raster

from lcz_qgis.classify.multidate import classify_dates, classify_fused
from lcz_qgis.classify.options import MAX_DATES, ClassifyOptions
from lcz_qgis.classify.pipeline import classify, classify_raster
from lcz_qgis.common.errors import LczError
from lcz_qgis.raster.io import gdal


@pytest.fixture()
def s2(tmp_path):
    rng = np.random.default_rng(1)
    arr = rng.uniform(0.02, 0.3, (96, 96, 10)).astype(np.float32)
    return write_raster(tmp_path / "s2.tif", arr)


def _pixels(path):
    return gdal().Open(str(path)).ReadAsArray()


def test_the_keyword_api_and_the_options_object_write_the_same_map(s2, tmp_path):
    by_keywords = classify_raster(
        BrightnessModel(), tmp_path / "a.tif", sentinel2=s2, stride=8, filter="majority",
        confidence=tmp_path / "a_conf.tif", confidence_format="byte",
    )  # fmt: skip
    request = ClassifyOptions(
        tmp_path / "b.tif", s2, stride=8, filter="Majority", confidence=tmp_path / "b_conf.tif",
        confidence_format="byte",
    )  # fmt: skip
    by_options = classify(BrightnessModel(), request)
    assert by_keywords.counts == by_options.counts and by_options.valid_cells > 0
    for name in ("", "_conf"):
        a, b = _pixels(tmp_path / f"a{name}.tif"), _pixels(tmp_path / f"b{name}.tif")
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"sentinel2": None}, "give sentinel2 and/or sentinel1"),
        ({"sentinel2": "missing.tif"}, "sentinel2 raster 'missing.tif' does not exist"),
        ({"filter": "median"}, "unknown filter 'median'"),
        ({"confidence_format": "int16"}, "unknown output format 'int16'"),
        ({"batch_size": 0}, "batch size must be at least 1; got 0"),
        ({"agreement": "agree.tif"}, "agreement and date_count apply to several dates"),
        ({"output": "map.png"}, "give it a .tif name"),
    ],
)
def test_check_refuses_a_bad_request_before_anything_is_written(s2, tmp_path, changes, message):
    os.chdir(tmp_path)
    request = ClassifyOptions("map.tif", s2)
    bad = ClassifyOptions(**{**{"output": "map.tif", "sentinel2": s2}, **changes})
    assert request.check().filter == "none"
    with pytest.raises(LczError, match=message):
        bad.check()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s2.tif"]


def test_check_refuses_a_named_pipe_as_input(tmp_path):
    fifo = tmp_path / "pipe.tif"
    os.mkfifo(fifo)
    with pytest.raises(LczError, match="sentinel1 raster .*pipe.tif' is a named pipe"):
        ClassifyOptions(tmp_path / "m.tif", sentinel1=fifo).check()


def test_a_checked_request_is_not_checked_again(s2, tmp_path):
    request = ClassifyOptions(tmp_path / "m.tif", s2, filter="GAUSSIAN")
    checked = request.check()
    assert checked.filter == "gaussian" and checked.check() is checked
    s2.unlink()  # a fresh check would now refuse the request; the checked one passes
    assert checked.check() is checked
    with pytest.raises(LczError, match="does not exist"):
        request.check()


def test_model_file_is_never_an_output(s2, tmp_path):
    model_file = tmp_path / "model.tif"
    with pytest.raises(LczError, match="is the input model"):
        ClassifyOptions(model_file, s2).check(model_file)


def test_multidate_requests_need_a_first_date_and_at_most_254_dates(s2, tmp_path):
    with pytest.raises(LczError, match="give the first date as sentinel2"):
        ClassifyOptions(tmp_path / "m.tif", dates=(s2,)).check()
    with pytest.raises(LczError, match=f"at most {MAX_DATES} dates; got {MAX_DATES + 1}"):
        ClassifyOptions(tmp_path / "m.tif", s2, dates=[s2] * MAX_DATES).check()
    one_date = ClassifyOptions(tmp_path / "m.tif", s2, dates=["", None])
    assert one_date.multidate and one_date.dates == () and one_date.request().n_dates == 1
    assert ClassifyOptions(tmp_path / "m.tif", s2).request().n_dates == 1


def test_each_entry_point_takes_its_own_kind_of_request(s2, tmp_path):
    with pytest.raises(TypeError, match="'dates'"):
        classify_raster(BrightnessModel(), tmp_path / "m.tif", sentinel2=s2, dates=[s2])
    with pytest.raises(TypeError, match="'sentinel1'"):
        classify_dates(BrightnessModel(), tmp_path / "m.tif", s2, sentinel1=s2)
    with pytest.raises(ValueError, match="classify_fused"):
        classify(BrightnessModel(), ClassifyOptions(tmp_path / "m.tif", s2, dates=()))
    with pytest.raises(ValueError, match="pipeline.classify"):
        classify_fused(BrightnessModel(), ClassifyOptions(tmp_path / "m.tif", s2))
    assert not list(tmp_path.glob("m*"))
