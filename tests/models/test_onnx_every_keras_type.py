"""The Keras model types the plugin trains, beyond the MLP and Sen2LCZ-Net of
test_onnx_engine.py: ResNet50 (Sentinel-2), early fusion (ResNet50 on S1+S2) and late
fusion (two branches). Each file carries its ONNX graph and gives, on ONNX Runtime and on
TensorFlow, the same classes and probabilities within 1e-5 (issue 23). Untrained
networks: the agreement does not depend on the weights."""

from __future__ import annotations

import numpy as np
import pytest

from lcz_qgis.common.enums import Framework
from lcz_qgis.models.modelfile import load_model, new_manifest, save_keras_model

TYPES = {
    "resnet50": ("sen2", 10),
    "fusion": ("fusion", 18),
    "fusion_late": ("fusion", 18),
}


def _network(kind: str, channels: int):
    from lcz_qgis.models import fusion, resnet50

    if kind == "resnet50":
        return resnet50.build((32, 32, channels))
    return fusion.build((32, 32, channels), variant="early" if kind == "fusion" else "late")


@pytest.mark.parametrize("kind", list(TYPES))
def test_each_keras_type_runs_the_same_on_both_engines(kind, tmp_path):
    keras = pytest.importorskip("keras")
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    keras.utils.set_random_seed(5)
    sensor, channels = TYPES[kind]
    net = _network(kind, channels)
    manifest = new_manifest(kind, Framework.KERAS, sensor, list(range(channels)))
    path = save_keras_model(tmp_path / f"{kind}.lczmodel", net, manifest)
    onnx, tf = (load_model(path, runtime=r) for r in ("onnx", "tensorflow"))
    assert (onnx.runtime, tf.runtime) == ("onnx", "keras")
    assert onnx.manifest["onnx"]["agreement"]["max_abs_diff"] <= 1e-5
    x = np.random.default_rng(1).uniform(0.0, 0.4, (12, 32, 32, channels)).astype(np.float32)
    p, q = onnx.predict_proba(x), tf.predict_proba(x)
    assert p.shape == (12, 17) and np.max(np.abs(p - q)) <= 1e-5
    assert np.array_equal(p.argmax(1), q.argmax(1))
