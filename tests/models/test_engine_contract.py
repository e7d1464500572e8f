"""The engine contract: the same patches through every installed engine (a random forest
trained on the sample data, a tiny Keras MLP) give (N, 17) probabilities summing to 1,
the same probabilities whatever the batch (after padding to a fixed batch where the
engine says it is not batch invariant), and ``LczModel`` applies the calibration
temperature identically for every engine. The registry imports no framework until a
model of it is loaded, and the model file filter lists what the engines read.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lcz_qgis.common.enums import Framework
from lcz_qgis.common.errors import LczError
from lcz_qgis.models.calibration import apply_temperature, calibration_entry
from lcz_qgis.models.engines import engine_class, installed
from lcz_qgis.models.model import LczModel
from lcz_qgis.models.modelfile import load_model, model_file_filter, new_manifest

N = 37  # not a multiple of any batch size below: every run ends with a partial batch


def _patches(n: int = N, seed: int = 5) -> np.ndarray:
    """Sentinel-2 patches in So2Sat scale (reflectance 0-0.5)."""
    return np.random.default_rng(seed).uniform(0.0, 0.5, (n, 32, 32, 10)).astype(np.float32)


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    pytest.importorskip("tensorflow")
    import tensorflow as tf

    from lcz_qgis.models import mlp
    from lcz_qgis.models.modelfile import save_keras_model

    tf.keras.utils.set_random_seed(3)
    net = mlp.build((32, 32, 10), 17, variant="diy")
    steps = [{"type": "standardize", "mean": [0.2] * 10, "std": [0.1] * 10}]
    manifest = new_manifest("mlp_diy", Framework.KERAS, "sen2", list(range(10)),
                            preprocessing=steps)  # fmt: skip
    return save_keras_model(tmp_path_factory.mktemp("keras") / "mlp.lczmodel", net, manifest)


@pytest.fixture(params=[Framework.SKLEARN, Framework.KERAS], ids=str)
def model(request) -> LczModel:
    if request.param == Framework.SKLEARN:
        pytest.importorskip("sklearn")
        return load_model(request.getfixturevalue("rf_model"))
    return load_model(request.getfixturevalue("keras_file"))


def test_every_engine_gives_17_probabilities_summing_to_one(model):
    p = model.predict_proba(_patches())
    assert p.shape == (N, 17) and p.dtype == np.float32
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert model.predict_proba(_patches(0)).shape == (0, 17)
    codes = model.predict(_patches())
    np.testing.assert_array_equal(codes, np.argmax(p, axis=1) + 1)


def test_probabilities_do_not_depend_on_the_batch_after_padding(model):
    x = _patches()
    fixed = model.fixed_batch(8)
    assert (fixed is model) == model.batch_invariant
    whole = fixed.predict_proba(x, batch_size=256)
    for batch_size in (1, 5, 8, 64):
        np.testing.assert_array_equal(fixed.predict_proba(x, batch_size=batch_size), whole)
    # the same patches at the same places in other company: alone, or with other patches
    np.testing.assert_array_equal(fixed.predict_proba(x[:3]), whole[:3])
    other = np.concatenate([x[:11], _patches(N - 11, seed=6)])
    np.testing.assert_array_equal(fixed.predict_proba(other)[:11], whole[:11])
    # padding changes no probability beyond float noise
    np.testing.assert_allclose(model.predict_proba(x, batch_size=7), whole, atol=1e-5)


def test_lczmodel_applies_the_temperature_the_same_for_every_engine(model):
    x = _patches()
    raw = model.predict_proba(x)
    assert model.temperature is None
    manifest = {**model.manifest, "calibration": calibration_entry(2.5, "held-out.h5", 100)}
    calibrated = LczModel(manifest, model.engine, model.path)
    assert calibrated.temperature == 2.5
    p = calibrated.predict_proba(x)
    np.testing.assert_array_equal(p, apply_temperature(raw, 2.5))
    np.testing.assert_array_equal(calibrated.predict_proba(x, calibrated=False), raw)
    np.testing.assert_array_equal(calibrated.predict(x), model.predict(x))
    assert np.max(p) < np.max(raw) or np.allclose(raw.max(axis=1), 1.0)


def test_every_installed_engine_declares_the_contract():
    assert {Framework.SKLEARN, Framework.KERAS} <= set(installed())
    for framework in installed():
        engine = engine_class(framework)
        assert engine.framework == framework
        assert isinstance(engine.batch_invariant, bool) and engine.member_bytes > 0
        assert engine.member and engine.label and engine.imports
        for method in ("load", "dumps", "predict", "prepare", "configure", "input_shape"):
            assert hasattr(engine, method), (framework, method)


def test_the_model_file_filter_lists_what_the_engines_read():
    text = model_file_filter()
    assert text == "LCZ models (*.lczmodel *.keras *.h5 *.hdf5)"
    assert model_file_filter("LCZ or Keras model").startswith("LCZ or Keras model (*.lczmodel ")


def test_an_unknown_framework_is_refused_by_name():
    with pytest.raises(LczError, match=r"'m.lczmodel': unknown framework 'pytorch'"):
        engine_class("pytorch", "'m.lczmodel'")


def test_the_registry_and_the_builders_import_no_framework_until_used():
    code = (
        "import sys\n"
        "from lcz_qgis.models import fusion, sen2lcznet, so2sat_resnet20\n"
        "from lcz_qgis.models.engines import engine_class, installed\n"
        "from lcz_qgis.models.modelfile import model_file_filter\n"
        "from lcz_qgis.commands import classify, evaluate\n"
        "model_file_filter(); [engine_class(f) for f in installed()]\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn', 'skops') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
