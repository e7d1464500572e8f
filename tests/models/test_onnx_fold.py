"""A Keras export whose batch-size reshapes tf2onnx left unfolded still gets its graph
(onnx_export.fold_batch_reshapes). CI found ResNet-20, ResNet50 and early-fusion files
written without a graph after long test sequences: tf2onnx's optimizers had left the
``Shape -> ... -> Reshape`` chain of Keras 3's Flatten in the graph, and the safety check
refuses ``Shape``. Here the optimizers are switched off to make that graph on purpose."""

from __future__ import annotations

import numpy as np
import pytest

from lcz_qgis.common.enums import Framework
from lcz_qgis.models import onnx_safety
from lcz_qgis.models.modelfile import load_model, new_manifest, save_keras_model
from lcz_qgis.models.onnx_export import fold_batch_reshapes

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _ops(graph: bytes) -> set[str]:
    return {n.op_type for n in onnx.load_from_string(graph).graph.node}


def _run(graph: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _flatten_by_shape(tail: list[int]) -> bytes:
    """x (N, 2, 2, 3) -> Reshape to [batch of x, *tail] computed from Shape -> Softmax."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Unsqueeze", ["batch", "axes"], ["batch1"]),
        helper.make_node("Concat", ["batch1", "tail"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Softmax", ["flat"], ["y"], axis=-1),
    ]
    inits = [
        numpy_helper.from_array(np.array(0, np.int64), "zero"),
        numpy_helper.from_array(np.array([0], np.int64), "axes"),
        numpy_helper.from_array(np.array(tail, np.int64), "tail"),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def test_the_shape_chain_becomes_a_constant_shape():
    raw = _flatten_by_shape([12])
    folded = fold_batch_reshapes(raw)
    assert {"Shape", "Gather", "Concat"} <= _ops(raw)
    assert _ops(folded) == {"Reshape", "Softmax"}  # the chain and its constants are gone
    [shape] = [t for t in onnx.load_from_string(folded).graph.initializer]
    assert onnx.numpy_helper.to_array(shape).tolist() == [-1, 12]
    for n in (1, 5):  # the batch axis stays free
        x = np.random.default_rng(n).normal(size=(n, 2, 2, 3)).astype(np.float32)
        assert np.array_equal(_run(folded, x), _run(raw, x))
        assert _run(folded, x).shape == (n, 12)


def test_a_graph_without_shape_operators_is_kept_byte_for_byte():
    raw = _flatten_by_shape([12])
    folded = fold_batch_reshapes(raw)
    assert fold_batch_reshapes(folded) == folded


def test_a_reshape_with_another_unknown_dimension_is_left_alone():
    raw = _flatten_by_shape([2, -1])  # the second dimension is inferred at run time
    folded = fold_batch_reshapes(raw)
    assert "Shape" in _ops(folded)
    x = np.ones((3, 2, 2, 3), np.float32)
    assert np.array_equal(_run(folded, x), _run(raw, x))


@pytest.mark.tf
def test_resnet20_gets_its_graph_when_tf2onnx_leaves_the_chain(tmp_path, monkeypatch):
    keras = pytest.importorskip("keras")
    optimizer = pytest.importorskip("tf2onnx.optimizer")
    from lcz_qgis.models import so2sat_resnet20

    monkeypatch.setattr(optimizer, "_get_optimizers", lambda: {})  # the chain stays
    keras.utils.set_random_seed(2)
    net = so2sat_resnet20.build()
    manifest = new_manifest("so2sat_resnet20", Framework.KERAS, "sen2", list(range(10)))
    path = save_keras_model(tmp_path / "rn20.lczmodel", net, manifest)
    model = load_model(path, runtime="onnx")
    assert "agreement" in model.manifest["onnx"], model.manifest["onnx"]
    import zipfile

    with zipfile.ZipFile(path) as z:
        ops = _ops(z.read(onnx_safety.MEMBER))
    assert "Shape" not in ops and ops <= onnx_safety.ONNX_OPS
    x = np.random.default_rng(3).uniform(0.0, 0.4, (6, 32, 32, 10)).astype(np.float32)
    tf_model = load_model(path, runtime="tensorflow")
    assert np.max(np.abs(model.predict_proba(x) - tf_model.predict_proba(x))) <= 1e-5
