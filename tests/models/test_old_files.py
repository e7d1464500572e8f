"""Old model files keep working: files written by the previous release's stack (Keras 2.15,
scikit-learn 1.2 / skops 0.10; tests/data/old_files/README.md) load on the current one and
give the probabilities they gave then (within 1e-5); the conversions they need
(``engines.keras``, ``sklearn_compat``) are exact, and a forest that cannot be converted
names the real cause, never "damaged".
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import lcz_qgis
from lcz_qgis.common.errors import LczError
from lcz_qgis.models import preprocessing, safety, sklearn_compat

OLD = Path(__file__).resolve().parents[1] / "data" / "old_files"
EXPECTED = np.load(OLD / "expected.npz")
PROBES = EXPECTED["probes"]
FILES = {
    "mlp": "mlp_keras2.lczmodel",
    "rf": "rf_sklearn12.lczmodel",
    "notebook": "notebook_keras2.keras",
    "legacy": "legacy_keras2.h5",
}


def test_the_old_files_were_written_by_the_previous_stack():
    versions = json.loads(str(EXPECTED["versions"]))
    assert versions["keras"].startswith("2.") and versions["scikit-learn"].startswith("1.2")
    assert sum(p.stat().st_size for p in OLD.iterdir()) < 1 << 20
    # the expected probabilities tell the probes apart (a wrong model would show)
    for key in FILES:
        p = EXPECTED[key]
        assert p.shape == (len(PROBES), 17) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
        assert np.ptp(p, axis=0).max() > 0.01, key


def _inputs(model) -> np.ndarray:
    return PROBES[..., model.bands] if model.manifest.get("preprocessing") else PROBES


@pytest.mark.parametrize("key", ["rf", "mlp", "notebook", "legacy"])
def test_old_files_give_the_probabilities_they_gave(key):
    if key != "rf":
        pytest.importorskip("tensorflow")
    model = lcz_qgis.load_model(OLD / FILES[key])
    got = model.predict_proba(_inputs(model) if key in ("rf", "mlp") else PROBES)
    np.testing.assert_allclose(got, EXPECTED[key], atol=1e-5, err_msg=FILES[key])


def test_the_old_forest_loads_without_scikit_learns_unpickle_warning():
    """scikit-learn warns "Trying to unpickle estimator ... Use at your own risk" when a
    newer version reads an older forest's attributes; the plugin converted the forest and
    uses no pickle, so that line must not reach a user's log (Debian 13: 1.4 reads 1.2)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = lcz_qgis.load_model(OLD / FILES["rf"])
        got = model.predict_proba(_inputs(model))
    np.testing.assert_allclose(got, EXPECTED["rf"], atol=1e-5)


# -- Keras: the conversion itself (engines.keras) ----------------------------------------------


def _keras_zip(payload: bytes, where: str, tmp_path: Path):
    from lcz_qgis.models.engines import keras as keras_compat

    z = zipfile.ZipFile(io.BytesIO(payload))
    config = safety.parse_keras_config(z.read("config.json"), where)
    model = keras_compat.model_from_config(config)
    weights = tmp_path / "model.weights.h5"
    weights.write_bytes(z.read("model.weights.h5"))
    model.load_weights(str(weights))
    return model


@pytest.mark.tf
def test_keras2_configs_build_under_keras_compat(tmp_path):
    pytest.importorskip("tensorflow")
    import h5py

    from lcz_qgis.models.engines import keras as keras_compat

    net = _keras_zip((OLD / FILES["notebook"]).read_bytes(), "notebook", tmp_path)
    np.testing.assert_allclose(net(PROBES, training=False), EXPECTED["notebook"], atol=1e-5)
    with zipfile.ZipFile(OLD / FILES["mlp"]) as z:
        manifest = json.loads(z.read("manifest.json"))
        net = _keras_zip(z.read("model.keras"), "mlp", tmp_path)
    x = preprocessing.apply(PROBES[..., manifest["bands"]], manifest["preprocessing"])
    np.testing.assert_allclose(net(x, training=False), EXPECTED["mlp"], atol=1e-5)
    with h5py.File(OLD / FILES["legacy"], "r") as f:
        config = safety.parse_keras_config(f.attrs["model_config"], "legacy")
        net = keras_compat.model_from_legacy_h5(config, f["model_weights"])
    assert net.get_layer("rgbn").__class__ is keras_compat.project_layers()["lcz>ChannelSlice"]
    np.testing.assert_allclose(net(PROBES, training=False), EXPECTED["legacy"], atol=1e-5)


def test_upgrade_config_renames_keras2_model_modules_only():
    from lcz_qgis.models.engines import keras as keras_compat

    with zipfile.ZipFile(OLD / FILES["mlp"]) as z:
        inner = zipfile.ZipFile(io.BytesIO(z.read("model.keras")))
        config = safety.parse_keras_config(inner.read("config.json"), "mlp")
    assert config["module"] == "keras.src.engine.functional"
    new = keras_compat.upgrade_config(config)
    assert new["module"] == "keras.src.models.functional"
    assert new["config"]["input_layers"] == ["patch", 0, 0]
    assert config["module"] == "keras.src.engine.functional"  # a copy: the input is kept
    safety.check_keras_config(new, "upgraded")  # still within the allow-list
    layers = [la["class_name"] for la in new["config"]["layers"]]
    assert layers == [la["class_name"] for la in config["config"]["layers"]]
    bn = {"class_name": "BatchNormalization", "config": {"axis": [3], "name": "bn"}}
    assert keras_compat.upgrade_config(bn)["config"] == {"axis": 3, "name": "bn"}


# -- scikit-learn: the tree arrays (sklearn_compat) ----------------------------------------

_OLD_FIELDS = [
    ("left_child", "<i8"),
    ("right_child", "<i8"),
    ("feature", "<i8"),
    ("threshold", "<f8"),
    ("impurity", "<f8"),
    ("n_node_samples", "<i8"),
    ("weighted_n_node_samples", "<f8"),
]
_NEW = np.dtype(_OLD_FIELDS + [("missing_go_to_left", "u1")])


def _old_nodes() -> np.ndarray:
    nodes = np.zeros(3, np.dtype(_OLD_FIELDS))
    nodes["left_child"] = [1, -1, -1]
    nodes["right_child"] = [2, -1, -1]
    nodes["feature"] = [4, -2, -2]
    nodes["threshold"] = [0.25, -2, -2]
    nodes["n_node_samples"] = [10, 4, 6]
    return nodes


def test_node_arrays_of_scikit_learn_1_2_gain_missing_go_to_left():
    old = _old_nodes()
    new = sklearn_compat.upgrade_node_array(old, _NEW)
    assert new.dtype == _NEW
    for name, _ in _OLD_FIELDS:
        np.testing.assert_array_equal(new[name], old[name])
    assert not new["missing_go_to_left"].any()  # NaN goes right, as in 1.2
    assert sklearn_compat.upgrade_node_array(new, _NEW) is new
    strange = np.dtype(_OLD_FIELDS + [("something_new", "u1")])
    with pytest.raises(ValueError, match="no field something_new"):
        sklearn_compat.upgrade_node_array(old, strange)


def test_class_counts_become_fractions_and_fractions_stay():
    counts = np.array([[[3.0, 1.0, 0.0]], [[0.0, 0.0, 0.0]], [[0.5, 1.5, 2.0]]])
    got = sklearn_compat.fraction_values(counts)
    np.testing.assert_allclose(got[:, 0], [[0.75, 0.25, 0], [0, 0, 0], [0.125, 0.375, 0.5]])
    assert sklearn_compat.fraction_values(got) is got


def _skops_member(path: Path) -> tuple[dict, bytes]:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("manifest.json")), z.read("model.skops")


def _node_arrays(payload: bytes) -> list[np.ndarray]:
    z = zipfile.ZipFile(io.BytesIO(payload))
    names = [n for n in z.namelist() if n.endswith(".npy")]
    arrays = [np.load(io.BytesIO(z.read(n)), allow_pickle=False) for n in names]
    return [a for a in arrays if a.dtype.names and "left_child" in a.dtype.names]


def test_the_old_forest_gets_the_node_layout_of_scikit_learn_1_3(monkeypatch):
    """The conversion scikit-learn 1.3 and later need, on the old forest: the converted
    file passes the safety check again, holds the new layout, stored as skops stores it."""
    manifest, payload = _skops_member(OLD / FILES["rf"])
    assert all(a.dtype == np.dtype(_OLD_FIELDS) for a in _node_arrays(payload))
    monkeypatch.setattr(sklearn_compat, "current_node_dtype", lambda: _NEW)
    new = sklearn_compat.upgrade_skops(payload, "'rf'", "1.2.1")
    safety.check_skops(new, "'rf'")
    nodes = _node_arrays(new)
    assert len(nodes) == manifest["training"]["n_trees"] == 4
    assert all(a.dtype == _NEW for a in nodes)
    for old, converted in zip(_node_arrays(payload), nodes):
        np.testing.assert_array_equal(converted["threshold"], old["threshold"])
    z = zipfile.ZipFile(io.BytesIO(new))
    assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
    assert sorted(z.namelist()) == sorted(zipfile.ZipFile(io.BytesIO(payload)).namelist())


@pytest.mark.filterwarnings("ignore:Trying to unpickle estimator")  # skops.loads here
def test_the_converted_old_forest_predicts_what_it_predicted(monkeypatch):
    """Class counts become fractions (scikit-learn 1.4 no longer normalises them when
    predicting); the installed scikit-learn then gives the recorded probabilities. Here
    the conversion is forced where the installed version does not need it."""
    import skops.io as sio

    manifest, payload = _skops_member(OLD / FILES["rf"])
    monkeypatch.setattr(sklearn_compat, "_stores_fractions", lambda: True)
    new = sklearn_compat.upgrade_skops(payload, "'rf'", "1.2.1")
    assert new is not payload
    est = sio.loads(new, trusted=safety.check_skops(new, "'rf'"))
    sklearn_compat.upgrade_estimator(est)
    assert all(np.allclose(t.tree_.value.sum(axis=-1), 1) for t in est.estimators_)
    x = preprocessing.apply(PROBES[..., manifest["bands"]], manifest["preprocessing"])
    got = np.zeros((len(x), 17))
    got[:, est.classes_.astype(int) - 1] = est.predict_proba(x)
    np.testing.assert_allclose(got, EXPECTED["rf"], atol=1e-5)


def test_a_forest_of_another_scikit_learn_is_never_called_damaged():
    exc = ValueError("node array from the pickle has an incompatible dtype:\n- expected: ...")
    msg = str(sklearn_compat.load_failure(exc, "'rf.lczmodel'", "0.24.2"))
    assert msg.startswith("'rf.lczmodel' was written with scikit-learn 0.24.2")
    assert "damaged" not in msg.replace("not damaged", "") and "\n" not in msg
    assert "incompatible dtype)" in msg
    import sklearn

    same = str(sklearn_compat.load_failure(exc, "'rf.lczmodel'", sklearn.__version__))
    assert "is damaged" in same
    with pytest.raises(LczError, match="written with scikit-learn 1.2.1.*not damaged"):
        raise sklearn_compat._version_error("'rf.lczmodel'", "1.2.1", "no field x")


@pytest.mark.filterwarnings("ignore:Trying to unpickle estimator")  # skops.loads here
def test_added_estimator_parameters_get_their_defaults():
    import skops.io as sio

    _, payload = _skops_member(OLD / FILES["rf"])
    payload = sklearn_compat.upgrade_skops(payload, "'rf'", "1.2.1")
    est = sio.loads(payload, trusted=safety.check_skops(payload, "'rf'"))
    del est.estimators_[0].max_depth
    del est.n_jobs
    added = sklearn_compat.upgrade_estimator(est)
    assert {"DecisionTreeClassifier.max_depth", "RandomForestClassifier.n_jobs"} <= set(added)
    assert est.estimators_[0].max_depth is None and est.n_jobs is None
    assert sklearn_compat.upgrade_estimator(est) == []
