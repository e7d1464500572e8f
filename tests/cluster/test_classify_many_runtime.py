"""classify-many --runtime (issue 23): the client resolves the engine once and every
worker loads the model on it (each task's record names the engine its worker ran);
ONNX Runtime and TensorFlow workers give the same maps for a small Keras MLP; --runtime
onnx with a model file that has no ONNX graph is one line, before any cluster starts."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import rasterio

import lcz_qgis.cluster.run as run
from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.cli import main
from lcz_qgis.cluster.tasks import record_path, tile_path
from lcz_qgis.models.modelfile import load_model, save_sklearn_model

# the engine each runtime must give a Keras model, as the records name it
ENGINES = {"onnx": "onnx", "tensorflow": "keras"}


@pytest.fixture(scope="module")
def mlp(sample_dir, tmp_path_factory):
    """A small Keras MLP (one epoch on the sample patches) with its ONNX graph."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("onnxruntime")
    from lcz_qgis.training import train_keras

    out = tmp_path_factory.mktemp("mlp") / "mlp.lczmodel"
    train_keras(sample_dir / "train.h5", out, "mlp", "sen2", list(range(10)), epochs=1,
                batch_size=32, max_samples=160, seed=1)  # fmt: skip
    return out


def _map(path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def _run(four, model, out, runtime, cluster) -> int:
    return main(["classify-many", "--inputs", str(four["nw"].parent / "list.txt"),
                 "--model", str(model), "--output-folder", str(out), "--scheduler", cluster,
                 "--runtime", runtime])  # fmt: skip


def test_onnx_and_tensorflow_workers_give_the_same_maps(cluster, four, mlp, tmp_path):
    outs = {rt: tmp_path / rt for rt in ENGINES}
    for runtime, out in outs.items():
        assert _run(four, mlp, out, runtime, cluster) == 0, runtime
        report = json.loads((out / "run_report.json").read_text())
        assert report["runtime"] == runtime and report["done"] == len(four)
        for name in four:
            rec = json.loads(record_path(out, name).read_text())
            assert rec["engine"] == ENGINES[runtime], (runtime, name)
        assert {t["engine"] for t in report["tasks"]} == {ENGINES[runtime]}
    for name, raster in four.items():
        got = {rt: _map(tile_path(out, name)) for rt, out in outs.items()}
        assert (got["onnx"] > 0).sum() > 100, name  # a map, not all nodata
        np.testing.assert_array_equal(got["onnx"], got["tensorflow"], err_msg=name)
        # and each is the map lcz classify makes with that runtime in this process
        for rt in outs:
            ref = classify_raster(load_model(mlp, runtime=rt), tmp_path / f"{rt}_{name}.tif",
                                  raster)  # fmt: skip
            np.testing.assert_array_equal(got[rt], _map(ref.output), err_msg=f"{rt} {name}")


def test_a_changed_runtime_redoes_the_tiles(cluster, four, mlp, tmp_path):
    out = tmp_path / "out"
    assert _run(four, mlp, out, "tensorflow", cluster) == 0
    assert _run(four, mlp, out, "tensorflow", cluster) == 0
    assert json.loads((out / "run_report.json").read_text())["skipped"] == len(four)
    # auto runs the graph here (onnxruntime is installed): another engine, tiles redone
    assert _run(four, mlp, out, "auto", cluster) == 0
    report = json.loads((out / "run_report.json").read_text())
    assert (report["runtime"], report["done"], report["skipped"]) == ("onnx", len(four), 0)


def _graphless_forest(rf_model, dst, monkeypatch):
    """``rf_model`` written again where skl2onnx is missing: a file without an ONNX graph,
    as an older plugin wrote it."""
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    model = load_model(rf_model, runtime="tensorflow")
    save_sklearn_model(dst, model.network, model.manifest)
    monkeypatch.delitem(sys.modules, "skl2onnx")
    return dst


def test_runtime_onnx_without_a_graph_is_one_line_before_any_cluster(
    four, rf_model, tmp_path, capsys, monkeypatch
):
    old = _graphless_forest(rf_model, tmp_path / "old.lczmodel", monkeypatch)

    def refuse(*args, **kwargs):
        raise AssertionError("a Dask client was started")

    monkeypatch.setattr(run, "start_client", refuse)
    out = tmp_path / "out"
    code = _run(four, old, out, "onnx", "local")
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "'old.lczmodel' has no ONNX graph; `lcz upgrade-model` adds one" in err
    assert "Traceback" not in err
    assert not (out / "tiles").exists() and not (out / ".lcz-work").exists()
    # the tensorflow runtime (here: scikit-learn, the forest's own framework) runs it
    assert run.check_model(old, "tensorflow") == ("sen2", "tensorflow")
