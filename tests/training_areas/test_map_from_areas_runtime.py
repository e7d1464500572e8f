"""map-from-areas --runtime (issue 23): the fine-tuned models' held-out predictions and
the final map run on the chosen engine (the log names it); a run's map and confidence
are the same (confidence within 1e-5) as its final model gives on the other engine, for
a small Keras MLP; an engine the run cannot give is refused in one line before any
work."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import rasterio

from lcz_qgis.cli import main
from lcz_qgis.common.errors import LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.training_areas.workflow import MapRequest, map_from_training_areas

# what the log names as the final map's engine for each runtime
LABELS = {"onnx": "on ONNX Runtime", "tensorflow": "on Keras"}


@pytest.fixture(scope="module")
def init_mlp(tmp_path_factory):
    """A Sentinel-2 MLP trained one epoch on generated patches."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("onnxruntime")
    from lcz_qgis.sample_data import write_so2sat_file
    from lcz_qgis.training import train_keras

    d = tmp_path_factory.mktemp("init")
    write_so2sat_file(d / "init.h5", 340, seed=5)
    train_keras(d / "init.h5", d / "init.lczmodel", "mlp", "sen2", list(range(10)), epochs=1,
                batch_size=32, max_samples=160, seed=1)  # fmt: skip
    return d / "init.lczmodel"


def _args(city, out, *extra) -> list[str]:
    return ["map-from-areas", "--areas", str(city / "areas.gpkg"), "--sentinel2",
            str(city / "scene_s2.tif"), "--output", str(out / "lcz.tif"), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def both(city, init_mlp, tmp_path_factory):
    """A fine-tuning run with each runtime: runtime -> (its folder, its log)."""
    runs = {}
    for runtime in LABELS:
        out = tmp_path_factory.mktemp(runtime)
        fb = RecordingFeedback()
        req = MapRequest(
            areas=str(city / "areas.gpkg"), sentinel2=str(city / "scene_s2.tif"),
            output=str(out / "lcz.tif"), model_type="finetune", init_model=str(init_mlp),
            n_splits=2, epochs=1, seed=4, confidence=str(out / "conf.tif"),
            model_output=str(out / "city.lczmodel"), runtime=runtime,
        )  # fmt: skip
        map_from_training_areas(req, fb)
        runs[runtime] = (out, fb.messages)
    return runs


def _read(path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


@pytest.mark.tf
def test_the_splits_and_the_map_run_on_the_chosen_engine(both):
    for runtime, (_, log) in both.items():
        label = LABELS[runtime]
        assert [m for m in log if m.startswith("split ")] == [
            f"split {i}: held-out patches predicted {label}" for i in range(2)
        ], runtime
        assert f"the map: mlp model {label}" in log, runtime


@pytest.mark.tf
def test_the_map_is_the_same_on_the_other_engine(both, city):
    """Each run's map and confidence are those of its final model on either engine, and
    the two runs (one seed) fine-tune the same weights, so their maps are the same."""
    from lcz_qgis.classify.pipeline import classify_raster
    from lcz_qgis.models.modelfile import load_model

    for runtime, (out, _) in both.items():
        m = _read(out / "lcz.tif")
        assert (m > 0).sum() > 100
        for engine in LABELS:
            model = load_model(out / "city.lczmodel", runtime=engine)
            ref = classify_raster(model, out / f"{engine}.tif", city / "scene_s2.tif",
                                  confidence=out / f"{engine}_conf.tif",
                                  resolution=100.0)  # fmt: skip
            np.testing.assert_array_equal(m, _read(ref.output), err_msg=f"{runtime} {engine}")
            conf = _read(out / "conf.tif") - _read(out / f"{engine}_conf.tif")
            assert np.max(np.abs(conf)) <= 1e-5, (runtime, engine)
    maps = [_read(out / "lcz.tif") for out, _ in both.values()]
    np.testing.assert_array_equal(maps[0], maps[1])


def test_the_log_names_the_engine(city, tmp_path, capfd):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    code = main(_args(city, tmp_path, "--splits", "2", "--trees", "5", "--runtime", "onnx"))
    assert code == 0
    assert "the map: rf model on ONNX Runtime" in capfd.readouterr().err


def test_an_onnx_runtime_without_its_converter_is_refused_before_any_work(city, tmp_path,
                                                                          monkeypatch):  # fmt: skip
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    req = MapRequest(areas=str(city / "areas.gpkg"), sentinel2=str(city / "scene_s2.tif"),
                     output=str(tmp_path / "lcz.tif"), n_splits=2, trees=5, runtime="onnx")  # fmt: skip
    with pytest.raises(LczError, match="runtime onnx .*needs the Python package 'skl2onnx'"):
        map_from_training_areas(req)
    assert os.listdir(tmp_path) == []


def test_an_unknown_runtime_is_refused_in_one_line(city, tmp_path, capsys):
    req = MapRequest(areas=str(city / "areas.gpkg"), sentinel2=str(city / "scene_s2.tif"),
                     output=str(tmp_path / "lcz.tif"), runtime="gpu")  # fmt: skip
    with pytest.raises(
        LczError, match="runtime.* must be one of auto, onnx, tensorflow; got 'gpu'"
    ):
        map_from_training_areas(req)
    with pytest.raises(SystemExit) as info:  # argparse refuses it: its choices
        main(_args(city, tmp_path, "--runtime", "gpu"))
    assert info.value.code == 2
    assert "--runtime" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []
