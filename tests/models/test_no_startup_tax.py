"""No start-up tax: ``lcz classify`` with a model file that has an ONNX graph (an MLP; a
random forest on the onnx runtime) imports neither TensorFlow, Keras nor scikit-learn
(``-X importtime`` lists every module the run imported). The forest engine gives
scikit-learn's own probabilities, in any batch, on any number of threads."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO, write_raster

from lcz_qgis.common.enums import Framework
from lcz_qgis.models.engines.sklearn import SklearnEngine
from lcz_qgis.models.modelfile import load_model, new_manifest, save_keras_model, save_sklearn_model

S2 = ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"]
HEAVY = ("tensorflow", "keras", "sklearn", "skops", "tf2onnx", "skl2onnx")


def _windows(n, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 0.4, (n, 32, 32, 10)).astype(np.float32)


@pytest.fixture(scope="module")
def forest(tmp_path_factory):
    pytest.importorskip("skl2onnx")
    from sklearn.ensemble import RandomForestClassifier

    from lcz_qgis.models import preprocessing

    steps = [{"type": "patch_features", "band_names": S2, "set": "stats"}]
    x = preprocessing.apply(_windows(300, seed=1), steps)
    y = np.random.default_rng(2).choice([2, 5, 8, 11, 14], len(x))
    est = RandomForestClassifier(20, random_state=0, max_depth=8, n_jobs=-1).fit(x, y)
    manifest = new_manifest("rf", Framework.SKLEARN, "sen2", list(range(10)), preprocessing=steps)
    return save_sklearn_model(tmp_path_factory.mktemp("tax") / "rf.lczmodel", est, manifest)


@pytest.fixture(scope="module")
def voting_forest(tmp_path_factory):
    """A fully grown forest (every leaf one class, as the plugin trains them) of an even
    number of trees on random labels: many windows tie between two classes."""
    pytest.importorskip("skl2onnx")
    from sklearn.ensemble import RandomForestClassifier

    from lcz_qgis.models import preprocessing

    steps = [{"type": "patch_features", "band_names": S2, "set": "stats"}]
    x = preprocessing.apply(_windows(300, seed=1), steps)
    y = np.random.default_rng(2).choice([2, 5, 8, 11, 14], len(x))
    est = RandomForestClassifier(20, random_state=0, n_jobs=-1).fit(x, y)
    manifest = new_manifest("rf", Framework.SKLEARN, "sen2", list(range(10)), preprocessing=steps)
    return save_sklearn_model(tmp_path_factory.mktemp("tax") / "votes.lczmodel", est, manifest)


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    pytest.importorskip("tf2onnx")
    keras = pytest.importorskip("keras")
    if int(keras.__version__.split(".")[0]) < 3:
        pytest.skip("Keras's ONNX export needs Keras 3")
    from lcz_qgis.models import mlp as mlp_module

    keras.utils.set_random_seed(3)
    net = mlp_module.build((32, 32, 10), 17, variant="diy")
    steps = [{"type": "standardize", "mean": [0.2] * 10, "std": [0.1] * 10}]
    manifest = new_manifest("mlp", Framework.KERAS, "sen2", list(range(10)), preprocessing=steps)
    return save_keras_model(tmp_path_factory.mktemp("tax") / "mlp.lczmodel", net, manifest)


def _imported(importtime_log: str) -> set[str]:
    """The top-level packages a ``-X importtime`` log shows imported."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[-1].strip()
            names.add(name.split(".")[0])
    return names


# a network with a graph runs on ONNX Runtime by default, as does a forest of whole votes;
# another forest only when asked (on scikit-learn where it is installed: its exact ties,
# modelfile._use_onnx)
@pytest.mark.parametrize(
    "kind, runtime", [("mlp", "auto"), ("voting_forest", "auto"), ("forest", "onnx")]
)
def test_classify_with_an_onnx_graph_imports_no_tensorflow_keras_or_sklearn(
    kind, runtime, request, tmp_path
):
    model = request.getfixturevalue(kind)
    assert load_model(model, runtime=runtime).runtime == Framework.ONNX
    dn = np.random.default_rng(4).integers(200, 4000, (80, 80, 10)).astype(np.uint16)
    raster = write_raster(tmp_path / "s2.tif", dn, gtype="uint16")
    out = tmp_path / "map.tif"
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lcz_qgis", "classify", "--model", str(model),
         "--sentinel2", str(raster), "--runtime", runtime, "--output", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    imported = _imported(run.stderr)
    assert {"lcz_qgis", "onnxruntime", "numpy"} <= imported  # the log is read right
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
    import rasterio

    with rasterio.open(out) as ds:
        codes = ds.read(1)
    assert set(np.unique(codes)) - {0} and set(np.unique(codes)) <= set(range(18))


def test_the_forest_engine_gives_the_same_probabilities_in_any_batch_and_threads(forest):
    from lcz_qgis.models import preprocessing

    model = load_model(forest, runtime="tensorflow")
    engine = model.engine
    assert isinstance(engine, SklearnEngine)
    x = preprocessing.apply(_windows(SklearnEngine.SERIAL_ROWS + 10, seed=5),
                            model.manifest["preprocessing"])  # fmt: skip
    model.configure(3)
    whole = engine.predict(x, batch_size=7)  # one call, on 3 threads
    small = engine.predict(x[:256], batch_size=256)  # a few hundred windows: one thread
    assert np.array_equal(small, whole[:256])  # the same probabilities either way
    assert np.allclose(whole.sum(axis=1), 1.0) and whole.shape == (len(x), 17)
    assert set(np.nonzero(whole.sum(axis=0))[0] + 1) <= {2, 5, 8, 11, 14}  # its codes


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_forest_proba_is_scikit_learns_predict_proba_on_one_job(forest, threads):
    from lcz_qgis.models import preprocessing
    from lcz_qgis.models.engines.sklearn import forest_proba

    model = load_model(forest, runtime="tensorflow")
    est = model.engine.network
    x = preprocessing.apply(_windows(203, seed=6), model.manifest["preprocessing"])
    est.n_jobs = 1
    want = est.predict_proba(x)
    got = forest_proba(est, x, threads)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    assert np.array_equal(forest_proba(est, x[:1], threads), want[:1])
    assert forest_proba(est, x[:0], threads).shape == (0, len(est.classes_))
    bad = x[:3].copy()
    bad[1, 0] = np.nan  # what scikit-learn does with NaN: refuse it (1.2), or route it (1.4)
    try:
        want_bad = est.predict_proba(bad)
    except ValueError:
        with pytest.raises(ValueError, match="NaN"):
            forest_proba(est, bad, threads)
    else:
        assert np.array_equal(forest_proba(est, bad, threads), want_bad)
    tree = est.estimators_[0]  # a lone tree: its own predict_proba
    assert np.array_equal(forest_proba(tree, x, threads), tree.predict_proba(x))


def test_a_forest_of_whole_votes_runs_on_onnx_runtime_with_scikit_learns_numbers(
    voting_forest, forest
):
    """Its graph's entry records the votes; ``auto`` runs it on ONNX Runtime, whose
    rounded votes equal scikit-learn's probabilities bit for bit, ties included, in any
    batch. A depth-limited forest (leaves of several classes) stays on scikit-learn."""
    from lcz_qgis.models import preprocessing

    auto, framework = load_model(voting_forest), load_model(voting_forest, runtime="tensorflow")
    assert auto.manifest["onnx"]["votes"] == 20
    assert auto.runtime == Framework.ONNX and framework.runtime == Framework.SKLEARN
    assert auto.batch_invariant
    x = preprocessing.apply(_windows(600, seed=7), auto.manifest["preprocessing"])
    want = framework.engine.predict(x, batch_size=600)
    for batch in (600, 256, 7):
        got = auto.engine.predict(x, batch_size=batch)
        assert np.array_equal(got, want), batch
    top2 = np.sort(want, axis=1)[:, -2:]
    assert (top2[:, 0] == top2[:, 1]).sum() > 20  # ties, broken the same way
    assert np.array_equal(np.argmax(auto.engine.predict(x, 600), 1), np.argmax(want, 1))
    limited = load_model(forest)
    assert "votes" not in limited.manifest["onnx"] and limited.runtime == Framework.SKLEARN


def test_runtime_framework_says_what_load_model_runs(voting_forest, forest, mlp):
    """What a Dask worker imports to warm up: the engine ``load_model`` picks, read from
    the manifest alone."""
    from lcz_qgis.models.modelfile import runtime_framework

    for path in (voting_forest, forest, mlp):
        for runtime in ("auto", "onnx", "tensorflow"):
            assert runtime_framework(path, runtime) == load_model(path, runtime=runtime).runtime
    assert runtime_framework(voting_forest) == Framework.ONNX
    assert runtime_framework(forest) == Framework.SKLEARN
