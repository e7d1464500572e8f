"""ONNX graphs in model files: every file written gets one (a random forest through
skl2onnx, a Keras MLP and a small Sen2LCZ-Net through Keras's export), ONNX Runtime
gives the framework's probabilities within 1e-5 (calibrated too), the manifest records
the agreement, ``load_model(runtime=...)`` picks the engine, and a process where
TensorFlow, Keras and scikit-learn cannot be imported predicts the same probabilities.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from importlib import metadata

import numpy as np
import pytest

from lcz_qgis.common.enums import Framework
from lcz_qgis.common.errors import LczError
from lcz_qgis.models import onnx_export
from lcz_qgis.models.calibration import calibration_entry
from lcz_qgis.models.model import LczModel
from lcz_qgis.models.modelfile import (
    load_model,
    new_manifest,
    save_keras_model,
    save_sklearn_model,
    save_with_manifest,
)

pytest.importorskip("onnxruntime")
FOREST_CODES = [2, 5, 9, 14, 17]


def _windows(n: int = 37, seed: int = 11) -> np.ndarray:
    """Sentinel-2 windows in So2Sat scale, other than the export's probes."""
    return np.random.default_rng(seed).uniform(0.0, 0.8, (n, 32, 32, 10)).astype(np.float32)


def _members(path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return z.namelist()


def _manifest(path) -> dict:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("manifest.json"))


def _forest(tmp_path_factory, name="forest"):
    """A 20-tree forest on the plugin's patch features that knows five LCZ codes."""
    pytest.importorskip("skl2onnx")
    from sklearn.ensemble import RandomForestClassifier

    from lcz_qgis.models import preprocessing

    steps = [{"type": "patch_features", "band_names": ["B2", "B3", "B4", "B5", "B6", "B7",
              "B8", "B8A", "B11", "B12"], "set": "stats"}]  # fmt: skip
    x = preprocessing.apply(_windows(300, seed=1), steps)
    y = np.random.default_rng(2).choice(FOREST_CODES, len(x))
    est = RandomForestClassifier(20, random_state=0, max_depth=8).fit(x, y)
    manifest = new_manifest("rf", Framework.SKLEARN, "sen2", list(range(10)), preprocessing=steps)
    return save_sklearn_model(tmp_path_factory.mktemp("onnx") / f"{name}.lczmodel", est, manifest)


def _keras(tmp_path_factory, kind: str):
    """A tiny MLP or a small Sen2LCZ-Net (depth 5, 4 base filters), standardised."""
    pytest.importorskip("tf2onnx")
    keras = pytest.importorskip("keras")
    if int(keras.__version__.split(".")[0]) < 3:
        pytest.skip("Keras's ONNX export needs Keras 3")
    from lcz_qgis.models import mlp, sen2lcznet

    keras.utils.set_random_seed(3)
    if kind == "mlp":
        net = mlp.build((32, 32, 10), 17, variant="diy")
    else:
        net = sen2lcznet.build((32, 32, 10), depth=5, base_filters=4)
    steps = [{"type": "standardize", "mean": [0.2] * 10, "std": [0.1] * 10}]
    manifest = new_manifest(kind, Framework.KERAS, "sen2", list(range(10)), preprocessing=steps)
    return save_keras_model(tmp_path_factory.mktemp("onnx") / f"{kind}.lczmodel", net, manifest)


@pytest.fixture(scope="module")
def forest_file(tmp_path_factory):
    return _forest(tmp_path_factory)


@pytest.fixture(scope="module")
def mlp_file(tmp_path_factory):
    return _keras(tmp_path_factory, "mlp")


@pytest.fixture(scope="module")
def cnn_file(tmp_path_factory):
    return _keras(tmp_path_factory, "cnn")


KINDS = ["forest_file", "mlp_file", "cnn_file"]


@pytest.fixture(params=KINDS)
def model_file(request):
    return request.getfixturevalue(request.param)


def test_every_model_file_carries_a_graph_run_by_onnx_runtime(model_file):
    assert _members(model_file) == ["manifest.json", _manifest(model_file)["model_member"],
                                    "model.onnx"]  # fmt: skip
    model = load_model(model_file)
    # auto: ONNX Runtime, but this depth-limited forest (leaves of several classes, no
    # whole votes) stays on scikit-learn where it is installed (its exact ties;
    # modelfile._use_onnx; whole votes: test_no_startup_tax)
    forest = _manifest(model_file)["framework"] == Framework.SKLEARN
    assert "votes" not in _manifest(model_file)["onnx"] or not forest
    assert model.runtime == (Framework.SKLEARN if forest else Framework.ONNX)
    assert load_model(model_file, runtime="onnx").runtime == Framework.ONNX
    assert model.framework == _manifest(model_file)["framework"]
    assert load_model(model_file, runtime="tensorflow").runtime == model.framework


def test_onnx_and_the_framework_give_the_same_probabilities(model_file):
    ours = load_model(model_file, runtime="onnx")
    theirs = load_model(model_file, runtime="tensorflow")
    x = _windows()
    p, q = ours.predict_proba(x), theirs.predict_proba(x)
    assert p.shape == (37, 17) and p.dtype == np.float32
    assert np.max(np.abs(p - q)) <= 1e-5
    assert np.array_equal(ours.predict(x), theirs.predict(x))
    # the calibration temperature is applied the same way on both paths
    manifest = {**ours.manifest, "calibration": calibration_entry(2.5, "val.h5", 10)}
    pc = LczModel(manifest, ours.engine).predict_proba(x)
    qc = LczModel(manifest, theirs.engine).predict_proba(x)
    assert np.max(np.abs(pc - qc)) <= 1e-5 and np.max(np.abs(pc - p)) > 1e-3


def test_the_manifest_records_the_agreement_and_versions(model_file):
    entry = _manifest(model_file)["onnx"]
    agreement = entry["agreement"]
    assert agreement["probes"] == onnx_export.PROBES
    assert 0 <= agreement["max_abs_diff"] <= 1e-5 and agreement["argmax_agreement"] == 1.0
    versions = entry["versions"]
    for dist in ("onnx", "onnxruntime"):
        assert versions[dist] == metadata.version(dist)
    converter = "skl2onnx" if "forest" in model_file.name else "tf2onnx"
    assert versions[converter] == metadata.version(converter)
    assert converter in entry["converter"]
    assert entry["opset"]["ai.onnx"] == onnx_export.OPSET


def test_the_forest_graph_gives_its_classes_scattered_to_the_lcz_codes(forest_file):
    entry = _manifest(forest_file)["onnx"]
    assert entry["output_codes"] == FOREST_CODES and entry["input_shape"] == [
        load_model(forest_file, runtime="tensorflow").network.n_features_in_
    ]
    p = load_model(forest_file).predict_proba(_windows())
    others = [c - 1 for c in range(1, 18) if c not in FOREST_CODES]
    assert np.all(p[:, others] == 0) and np.allclose(p.sum(axis=1), 1, atol=1e-6)
    assert set(np.unique(np.argmax(p, 1) + 1)) <= set(FOREST_CODES)


def test_onnx_runtime_pads_to_a_fixed_batch_with_quiet_threads(model_file):
    model = load_model(model_file, runtime="onnx")
    x = _windows()
    # a forest's trees are summed in another order in another batch: float noise only
    assert not model.batch_invariant
    whole = model.predict_proba(x, batch_size=64)
    np.testing.assert_allclose(model.predict_proba(x, batch_size=1), whole, atol=1e-6)
    fixed = model.fixed_batch(8)
    padded = fixed.predict_proba(x)
    assert np.array_equal(padded, fixed.predict_proba(x, batch_size=5))
    assert np.array_equal(padded[:3], fixed.predict_proba(x[:3]))
    from lcz_qgis.models.engines.onnx import usable_cores

    options = model.engine.network.get_session_options()
    assert options.intra_op_num_threads == usable_cores()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    model.configure(1, deterministic=True)
    options = model.engine.network.get_session_options()
    assert options.intra_op_num_threads == 1 and options.use_deterministic_compute
    np.testing.assert_allclose(model.predict_proba(x, batch_size=64), whole, atol=1e-6)


def test_the_network_of_an_onnx_run_model_is_loaded_from_its_file_on_first_use(model_file):
    model = load_model(model_file)
    assert model._framework_loaded is None
    kind = type(load_model(model_file, runtime="tensorflow").network)
    assert isinstance(model.network, kind)


def test_runtime_choices(tmp_path, forest_file, monkeypatch):
    with pytest.raises(LczError, match="runtime.*'gpu'; use one of auto, onnx, tensorflow"):
        load_model(forest_file, runtime="gpu")
    # a file written where a converter is missing: no graph, a note, the framework runs it
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    est = load_model(forest_file, runtime="tensorflow")
    old = save_sklearn_model(tmp_path / "old.lczmodel", est.network, est.manifest)
    assert "model.onnx" not in _members(old)
    assert "skl2onnx not installed" in _manifest(old)["onnx"]["note"]
    assert load_model(old).runtime == Framework.SKLEARN
    with pytest.raises(LczError, match="'old.lczmodel' has no ONNX graph; `lcz upgrade-model`"):
        load_model(old, runtime="onnx")
    # writing it again where the converter is adds the graph
    monkeypatch.delitem(sys.modules, "skl2onnx")
    new = save_with_manifest(tmp_path / "new.lczmodel", load_model(old), load_model(old).manifest)
    assert "model.onnx" in _members(new)
    assert load_model(new, runtime="onnx").runtime == Framework.ONNX


def test_a_file_whose_graph_member_is_gone_runs_on_its_framework_under_auto(tmp_path, forest_file):
    cut = tmp_path / "cut.lczmodel"
    with zipfile.ZipFile(forest_file) as src, zipfile.ZipFile(cut, "w") as dst:
        for name in ("manifest.json", "model.skops"):
            dst.writestr(src.getinfo(name), src.read(name))
    assert load_model(cut).runtime == Framework.SKLEARN
    with pytest.raises(LczError, match="'cut.lczmodel' is damaged: cannot read 'model.onnx'"):
        load_model(cut, runtime="onnx")


def test_rewriting_a_file_keeps_its_graph_byte_for_byte(tmp_path, forest_file):
    model = load_model(forest_file)
    manifest = {**model.manifest, "calibration": calibration_entry(1.5, "val.h5", 10)}
    out = save_with_manifest(tmp_path / "calibrated.lczmodel", model, manifest)
    with zipfile.ZipFile(forest_file) as a, zipfile.ZipFile(out) as b:
        assert a.read("model.onnx") == b.read("model.onnx")
        assert a.read("model.skops") == b.read("model.skops")
    assert _manifest(out)["onnx"] == model.manifest["onnx"]
    assert load_model(out).temperature == 1.5


BLOCKED = """
import sys
for name in ("tensorflow", "keras", "sklearn", "skops", "tf2onnx", "skl2onnx"):
    sys.modules[name] = None
import numpy as np
from lcz_qgis.models.modelfile import load_model
x = np.load(sys.argv[1])
for i, path in enumerate(sys.argv[2:]):
    model = load_model(path)
    assert model.runtime == "onnx", model.runtime
    np.save(f"{sys.argv[1]}.{i}.npy", model.predict_proba(x))
blocked = [m for m in ("tensorflow", "keras", "sklearn") if sys.modules.get(m) is not None]
assert not blocked, blocked
for path in sys.argv[2:4]:
    try:
        load_model(path).network
    except Exception as exc:
        print("framework:", type(exc).__name__, exc)
"""


def test_onnx_models_predict_where_tensorflow_keras_and_sklearn_cannot_be_imported(
    tmp_path, request
):
    files = [request.getfixturevalue(k) for k in KINDS]
    x = _windows(19, seed=4)
    np.save(tmp_path / "x.npy", x)
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(BLOCKED), str(tmp_path / "x.npy"),
         *map(str, files)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    # the framework itself is missing there: a clear error, not a crash
    lines = run.stdout.splitlines()
    assert len(lines) == 2 and all(
        line.startswith("framework: MissingDependency") for line in lines
    )
    assert "'scikit-learn'" in lines[0] and "'keras'" in lines[1]
    for i, path in enumerate(files):
        want = load_model(path, runtime="tensorflow").predict_proba(x)
        got = np.load(tmp_path / f"x.npy.{i}.npy")
        assert np.max(np.abs(got - want)) <= 1e-5
        assert np.array_equal(got, load_model(path, runtime="onnx").predict_proba(x))
