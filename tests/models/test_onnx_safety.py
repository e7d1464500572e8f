"""Safety of the ONNX graphs in model files (models/onnx_safety.py): a graph is read by
the plugin's own protobuf reader and refused before ONNX Runtime sees its bytes when it
uses an operator of another domain or outside the allow-list, keeps data in an external
file, defines functions, holds subgraphs, is too large, or takes or gives other inputs
and outputs than its manifest says. A hand-built graph that passes predicts exactly
what its numpy formula gives.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from lcz_qgis.common.enums import Framework
from lcz_qgis.common.errors import LczError
from lcz_qgis.models import onnx_safety
from lcz_qgis.models.engines import onnx as onnx_engine
from lcz_qgis.models.modelfile import load_model, new_manifest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

W = np.random.default_rng(0).normal(0, 0.01, (32 * 32 * 10, 17)).astype(np.float32)


def _graph(nodes=None, inputs=None, outputs=None, initializers=None, opsets=None, **model):
    """A valid graph: patch (N,32,32,10) -> Flatten -> MatMul W -> Softmax -> probs,
    with any part replaced."""
    if nodes is None:
        nodes = [helper.make_node("Flatten", ["patch"], ["flat"]),
                 helper.make_node("MatMul", ["flat", "W"], ["logits"]),
                 helper.make_node("Softmax", ["logits"], ["probs"])]  # fmt: skip
    inputs = inputs or [helper.make_tensor_value_info("patch", TensorProto.FLOAT,
                                                      ["N", 32, 32, 10])]  # fmt: skip
    outputs = outputs or [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 17])]
    if initializers is None:
        initializers = [numpy_helper.from_array(W, "W")]
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    opsets = opsets or [helper.make_opsetid("", 17)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8, **model)


ENTRY = {"member": "model.onnx", "input": "patch", "input_shape": [32, 32, 10],
         "outputs": ["probs"], "output": "probs", "output_codes": list(range(1, 18))}  # fmt: skip


def _file(path, model, entry=None):
    """An .lczmodel with the graph ``model`` (a ModelProto or bytes) and ``entry``."""
    manifest = new_manifest("mlp", Framework.KERAS, "sen2", list(range(10)))
    manifest.update(model_member="model.keras", onnx=dict(entry or ENTRY))
    payload = model if isinstance(model, bytes) else model.SerializeToString()
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("manifest.json", json.dumps(manifest))
        z.writestr("model.keras", b"never read on the onnx runtime")
        z.writestr("model.onnx", payload)
    return path


@pytest.fixture()
def no_runtime(monkeypatch):
    """ONNX Runtime must never get the bytes of a refused graph."""

    def refuse(*args, **kwargs):
        raise AssertionError("ONNX Runtime was given a graph the safety check must refuse")

    monkeypatch.setattr(onnx_engine, "_session", refuse)


def _refused(tmp_path, model, entry=None) -> str:
    with pytest.raises(LczError) as info:
        load_model(_file(tmp_path / "m.lczmodel", model, entry), runtime="onnx")
    msg = str(info.value)
    assert msg.startswith("'m.lczmodel'"), msg
    return msg


def test_a_valid_hand_built_graph_predicts_its_formula(tmp_path):
    model = load_model(_file(tmp_path / "ok.lczmodel", _graph()))
    assert model.runtime == Framework.ONNX and model.framework == Framework.KERAS
    x = np.random.default_rng(1).uniform(0, 0.5, (9, 32, 32, 10)).astype(np.float32)
    logits = x.reshape(9, -1).astype(np.float64) @ W
    want = np.exp(logits - logits.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(x), want, atol=1e-6)


def test_an_operator_of_a_custom_domain_is_refused(tmp_path, no_runtime):
    nodes = [helper.make_node("Flatten", ["patch"], ["flat"]),
             helper.make_node("Evil", ["flat"], ["probs"], domain="com.evil")]  # fmt: skip
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.evil", 1)]
    msg = _refused(tmp_path, _graph(nodes, initializers=[], opsets=opsets))
    assert "imports operators of the domain 'com.evil'" in msg
    # the same node without the domain's opset import
    msg = _refused(tmp_path, _graph(nodes, initializers=[]))
    assert "uses the operator 'Evil' of the domain 'com.evil'" in msg


def test_an_operator_outside_the_allow_list_is_refused(tmp_path, no_runtime):
    nodes = [helper.make_node("Flatten", ["patch"], ["flat"]),
             helper.make_node("Einsum", ["flat", "W"], ["logits"], equation="ij,jk->ik"),
             helper.make_node("Softmax", ["logits"], ["probs"])]  # fmt: skip
    msg = _refused(tmp_path, _graph(nodes))
    assert "uses the operator 'Einsum', which no model of the plugin uses" in msg


def test_external_data_is_refused_before_any_file_is_opened(tmp_path, no_runtime):
    fifo = tmp_path / "weights.bin"
    import os

    os.mkfifo(fifo)  # opening it would block: the check must never open it
    w = numpy_helper.from_array(W, "W")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value=str(fifo))
    msg = _refused(tmp_path, _graph(initializers=[w]))
    assert "external_data location" in msg
    # an external data_location alone is refused too
    w.ClearField("external_data")
    assert "keeps a tensor's data in an external file" in _refused(
        tmp_path, _graph(initializers=[w])
    )


def test_functions_and_subgraphs_are_refused(tmp_path, no_runtime):
    model = _graph()
    f = helper.make_function("custom", "Twice", ["x"], ["y"],
                             [helper.make_node("Add", ["x", "x"], ["y"])],
                             [helper.make_opsetid("", 17)])  # fmt: skip
    model.functions.append(f)
    assert "model-local functions" in _refused(tmp_path, model)
    then = helper.make_graph([helper.make_node("Identity", ["flat"], ["o"])], "then", [],
                             [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)])  # fmt: skip
    nodes = [helper.make_node("If", ["cond"], ["probs"], then_branch=then, else_branch=then)]
    assert "holds a subgraph" in _refused(tmp_path, _graph(nodes, initializers=[]))


def test_huge_graphs_are_refused(tmp_path, no_runtime, monkeypatch):
    nodes = [helper.make_node("Identity", ["patch"], ["a0"])]
    nodes += [helper.make_node("Identity", [f"a{i}"], [f"a{i + 1}"]) for i in range(10_001)]
    msg = _refused(tmp_path, _graph(nodes, initializers=[]))
    assert f"has {len(nodes)} nodes (over {onnx_safety.MAX_NODES})" in msg
    # a tensor declaring 4 GB without holding it
    big = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 10])
    assert "holds a tensor of 4096 MB (over 512 MB)" in _refused(
        tmp_path, _graph(initializers=[big])
    )
    monkeypatch.setattr(onnx_safety, "MAX_GRAPH_BYTES", 1000)
    assert "bytes (over 1000 bytes)" in _refused(tmp_path, _graph())


def test_inputs_and_outputs_must_match_the_manifest(tmp_path, no_runtime):
    nine = [helper.make_tensor_value_info("patch", TensorProto.FLOAT, ["N", 32, 32, 9])]
    msg = _refused(tmp_path, _graph(inputs=nine))
    assert "takes inputs of shape (N, 32, 32, 9), its manifest says (N, 32, 32, 10)" in msg
    fixed = [helper.make_tensor_value_info("patch", TensorProto.FLOAT, [1, 32, 32, 10])]
    assert "takes inputs of shape (1, 32, 32, 10)" in _refused(tmp_path, _graph(inputs=fixed))
    renamed = {**ENTRY, "input": "x"}
    assert "takes the inputs [patch], its manifest says ['x']" in _refused(
        tmp_path, _graph(), renamed
    )
    sixteen = [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 16])]
    msg = _refused(tmp_path, _graph(outputs=sixteen))
    assert "outputs probabilities of shape (N, 16), its manifest says (N, 17)" in msg
    assert "has the outputs ['probs'], its manifest says ['p']" in _refused(
        tmp_path, _graph(), {**ENTRY, "outputs": ["p"], "output": "p"}
    )
    ints = [helper.make_tensor_value_info("probs", TensorProto.INT64, ["N", 17])]
    assert "'probs', which is not a float tensor" in _refused(tmp_path, _graph(outputs=ints))


def test_damaged_or_unknown_bytes_and_bad_entries_are_refused(tmp_path, no_runtime):
    good = _graph().SerializeToString()
    assert "its ONNX graph is damaged (it is cut off)" in _refused(tmp_path, good[:-5000])
    # field 99 of the model: a part the ONNX format does not define
    assert "does not read (field 99 of a model)" in _refused(tmp_path, good + b"\x9a\x06\x00")
    msg = _refused(tmp_path, _graph(), {**ENTRY, "output_codes": [0, 1]})
    assert "'onnx' entry has output codes [0, 1], not distinct LCZ codes 1..17" in msg
    msg = _refused(tmp_path, _graph(), {**ENTRY, "member": "../evil.onnx"})
    assert "names the member '../evil.onnx'" in msg
    for votes in ("200", 0, -3, 2.5, True):  # a forest's tree count, or nothing
        msg = _refused(tmp_path, _graph(), {**ENTRY, "votes": votes})
        assert f"has votes {votes}, not a tree count" in msg, msg


def _attribute_parts(payload: bytes, runs: bool) -> dict:
    """The attribute ``payload`` read by the safety reader, with or without its run
    skipping, as {field: number of items} (a run is one item)."""
    saved = onnx_safety._ATTRIBUTE_RUNS
    try:
        if not runs:
            onnx_safety._ATTRIBUTE_RUNS = frozenset()
        part = onnx_safety._part(memoryview(payload), "attribute", "'m.lczmodel'")
    finally:
        onnx_safety._ATTRIBUTE_RUNS = saved
    return {name: len(values) for name, values in part.items()}


def test_long_attribute_tables_are_skipped_a_run_at_a_time_with_the_same_checks():
    """A forest's node tables (repeated ints, floats, texts with one key per element)
    are skipped by runs; the fields around them and every refusal stay as before."""
    rng = np.random.default_rng(3)
    ints = [int(v) for v in rng.integers(-(1 << 40), 1 << 40, 500)] + [0, 1, 127, 128, -1]
    texts = [b"BRANCH_LEQ", b"LEAF", b"", b"x" * 127, b"y" * 300, b"LEAF"]
    for attribute in (helper.make_attribute("nodes_featureids", ints),
                      helper.make_attribute("nodes_values", rng.normal(size=700).tolist()),
                      helper.make_attribute("nodes_modes", texts)):  # fmt: skip
        attribute.ClearField("type")  # the table is the last field
        payload = attribute.SerializeToString()
        fast, slow = _attribute_parts(payload, True), _attribute_parts(payload, False)
        assert set(fast) == set(slow) and len(fast) == 2, (fast, slow)
        table = next(k for k in fast if k != "name")
        # the ints and floats come as one run; the texts as runs split by the 300-byte one
        assert fast[table] == {"strings": 3}.get(table, 1), (table, fast)
        assert slow[table] == len(attribute.ints or attribute.floats or attribute.strings)
        # a cut-off last element is left to the field-by-field reader, which refuses it
        for cut in (1, 3):
            with pytest.raises(onnx_safety._Damaged, match="cut off"):
                _attribute_parts(payload[:-cut], True)
    # a refused field after a long table is still refused (field 6: a subgraph)
    table = helper.make_attribute("nodes_truenodeids", list(range(1000))).SerializeToString()
    with pytest.raises(LczError, match="holds a subgraph"):
        _attribute_parts(table + b"\x32\x00", True)
    # a tensor between two runs of the same table is still read and checked
    tensor = numpy_helper.from_array(np.zeros(3, np.float32), "t")
    tensor.data_location = TensorProto.EXTERNAL
    ints_run = helper.make_attribute("a", [5, 6, 7]).SerializeToString()[3:]  # past the name
    payload = b"\x0a\x01a" + ints_run + b"\x2a" + bytes([len(tensor.SerializeToString())])
    payload += tensor.SerializeToString() + ints_run
    part = onnx_safety._part(memoryview(payload), "attribute", "'m.lczmodel'")
    assert len(part["t"]) == 1 and part["t"][0]["data_location"] == [TensorProto.EXTERNAL]
