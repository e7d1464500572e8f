"""Model files never run code (docs/security.md): crafted skops and Keras files, zip
bombs, and forests or manifests that do not fit are clear LczErrors, and the payloads'
marker file is never created; the project's own and the published models still load.

Every crafted file is built here in tmp_path from a real model; each payload would
create ``tmp_path / "pwned"`` if it ran.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import time
import uuid
import zipfile
import zlib

import numpy as np
import pytest

import lcz_qgis
from lcz_qgis.common.errors import LczError
from lcz_qgis.models import safety
from lcz_qgis.models.modelfile import load_model, new_manifest, save_keras_model


@pytest.fixture(scope="module")
def small_rf(tmp_path_factory):
    """A random forest trained by the project's own training code (Sentinel-2 bands
    B3, B4, B5, B8A)."""
    from lcz_qgis.sample_data import write_so2sat_file
    from lcz_qgis.training.train import train_model

    d = tmp_path_factory.mktemp("security")
    write_so2sat_file(d / "train.h5", 400, seed=1)
    out = d / "rf.lczmodel"
    train_model(
        d / "train.h5", out, model_type="rf", sensor="sen2", bands="2,3,4,8", max_samples=200
    )
    return out


@pytest.fixture()
def marker(tmp_path):
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "a payload in the model file ran"


def _error(path, api=load_model) -> str:
    with pytest.raises(LczError) as info:
        api(path)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def _parts(path):
    with zipfile.ZipFile(path) as z:
        manifest = json.loads(z.read("manifest.json"))
        member = manifest["model_member"]
        return manifest, member, z.read(member)


def _lczmodel(path, manifest, member, payload):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest))
        # as the project writes them: a .keras member is stored
        kind = zipfile.ZIP_STORED if member.endswith(".keras") else zipfile.ZIP_DEFLATED
        z.writestr(member, payload, compress_type=kind)
    return path


# -- skops ----------------------------------------------------------------------------
def _nodes(state):
    """Every node dict of a skops schema."""
    if isinstance(state, dict):
        if "__loader__" in state:
            yield state
        for v in state.values():
            yield from _nodes(v)
    elif isinstance(state, list):
        for v in state:
            yield from _nodes(v)


def _edit_skops(small_rf, dst, edit):
    """Copy ``small_rf`` to ``dst`` with its skops schema edited in place by ``edit``."""
    manifest, member, payload = _parts(small_rf)
    src = zipfile.ZipFile(io.BytesIO(payload))
    schema = json.loads(src.read("schema.json"))
    edit(schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            data = json.dumps(schema) if info.filename == "schema.json" else src.read(info)
            z.writestr(info, data)
    return _lczmodel(dst, manifest, member, out.getvalue())


def _class_weight(schema) -> dict:
    """The forest's class_weight dict node (int keys: its key types are TypeNodes)."""
    for node in _nodes(schema):
        keys = node.get("key_types", {}).get("content") or [{}]
        if node["__loader__"] == "DictNode" and keys[0].get("__class__") == "int":
            return node
    raise AssertionError("no class_weight in the schema")


def _key_type_payload(type_name, code):
    """An edit making the first class_weight key ``code`` and its key type ``type_name``:
    skops builds the key as ``type(key)``, so builtins.exec runs the code at load."""
    module, cls = type_name.rsplit(".", 1)

    def edit(schema):
        node = _class_weight(schema)
        first = next(iter(node["content"]))
        node["content"] = {code if k == first else k: v for k, v in node["content"].items()}
        node["key_types"]["content"][0] = {
            "__class__": cls,
            "__module__": module,
            "__loader__": "TypeNode",
        }

    return edit


@pytest.mark.parametrize("loud", [False, True], ids=["quiet", "loud"])
def test_skops_exec_dict_key_is_refused(small_rf, tmp_path, marker, loud):
    # quiet: the payload leaves a working model (class_weight is only used in fit)
    code = f"open({str(marker)!r}, 'w').close()" + ("; raise SystemExit" if loud else "")
    bad = _edit_skops(
        small_rf, tmp_path / "exec.lczmodel", _key_type_payload("builtins.exec", code)
    )
    msg = _error(bad)
    assert msg.startswith("'exec.lczmodel': the scikit-learn model holds types")
    assert "builtins.exec" in msg and "refused" in msg
    assert "builtins.exec" in _error(bad, lcz_qgis.load_model)


def _value_node(node_state):
    """An edit putting ``node_state`` as the value of the forest's ``n_jobs``."""

    def edit(schema):
        schema["content"]["content"]["n_jobs"] = node_state

    return edit


_JSON = {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode", "is_json": True}


def _tuple(*values):
    items = [dict(_JSON, content=json.dumps(v)) for v in values]
    return {
        "__class__": "tuple",
        "__module__": "builtins",
        "__loader__": "TupleNode",
        "content": items,
    }


def _function(module, name):
    return {"__class__": name, "__module__": module, "__loader__": "FunctionNode"}


def _disallowed(marker):
    touch = f"touch {marker}"
    return {
        "builtins.eval": _key_type_payload("builtins.eval", f"open({str(marker)!r}, 'w')"),
        "builtins.getattr": _key_type_payload("builtins.getattr", "x"),
        "builtins.__import__": _key_type_payload("builtins.__import__", "os"),
        "operator.attrgetter": _value_node(
            {
                "__class__": "attrgetter",
                "__module__": "operator",
                "__loader__": "OperatorFuncNode",
                "attrs": _tuple("system"),
            }
        ),
        "functools.partial": _value_node(
            {
                "__class__": "partial",
                "__module__": "functools",
                "__loader__": "PartialNode",
                "content": {
                    "func": _function("posix", "system"),
                    "args": _tuple(touch),
                    "kwds": {
                        "__class__": "dict",
                        "__module__": "builtins",
                        "__loader__": "DictNode",
                        "content": {},
                        "key_types": _tuple(),
                    },
                    "namespace": _tuple(),
                },
            }
        ),
        "posix.system": _value_node(_function("posix", "system")),
        "subprocess.Popen": _value_node(
            {"__class__": "Popen", "__module__": "subprocess", "__loader__": "ObjectNode"}
        ),
    }


@pytest.mark.parametrize(
    "type_name",
    [
        "builtins.eval",
        "builtins.getattr",
        "builtins.__import__",
        "operator.attrgetter",
        "functools.partial",
        "posix.system",
        "subprocess.Popen",
    ],
)
def test_skops_disallowed_types_are_refused_by_name(small_rf, tmp_path, marker, type_name):
    bad = _edit_skops(small_rf, tmp_path / "bad.lczmodel", _disallowed(marker)[type_name])
    msg = _error(bad)
    assert type_name in msg and "refused" in msg


def test_skops_cannot_import_a_module_before_the_check(small_rf, tmp_path, marker, monkeypatch):
    """skops' SGD loss loader imports the module it names while building its tree, before
    its own audit (get_untrusted_types included): the schema is checked first."""
    name = f"lcz_evil_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Loss: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sgd = {
        "__class__": "Loss",
        "__module__": name,
        "__loader__": "SGDNode",
        "__reduce__": {"args": _tuple()},
        "content": _tuple(),
    }
    bad = _edit_skops(small_rf, tmp_path / "sgd.lczmodel", _value_node(sgd))
    msg = _error(bad)
    assert f"{name}.Loss" in msg and "loader SGDNode" in msg
    assert name not in sys.modules


def test_skops_allow_list_is_exact():
    everything = set().union(*safety.SKOPS_TYPES.values())
    assert all(not t.endswith(".") and "*" not in t for t in everything)
    for danger in (
        "builtins.exec",
        "builtins.eval",
        "builtins.getattr",
        "builtins.__import__",
        "builtins.open",
        "functools.partial",
        "operator.attrgetter",
        "posix.system",
    ):
        assert danger not in everything
    assert not {
        "FunctionNode",
        "PartialNode",
        "OperatorFuncNode",
        "MethodNode",
        "SGDNode",
        "ReduceNode",
    } & set(safety.SKOPS_TYPES)


def test_the_project_forest_holds_only_allowed_types(small_rf):
    _, _, payload = _parts(small_rf)
    types = safety.check_skops(payload, "rf")
    assert "sklearn.ensemble._forest.RandomForestClassifier" in types
    assert "sklearn.tree._tree.Tree" in types


# -- forests and manifests that do not fit ---------------------------------------------
def _forest(small_rf, tmp_path, labels, classes=None):
    """A forest on the small model's features with ``labels``, in a copy of its manifest
    (``classes`` declared when given)."""
    from sklearn.ensemble import RandomForestClassifier

    from lcz_qgis.models.modelfile import save_sklearn_model

    manifest, _, _ = _parts(small_rf)
    if classes is not None:
        manifest["classes"] = classes
    n = load_model(small_rf).network.n_features_in_
    rng = np.random.default_rng(0)
    y = np.repeat(np.asarray(labels), 3)
    est = RandomForestClassifier(n_estimators=3, random_state=0).fit(
        rng.normal(size=(y.size, n)), y
    )
    return save_sklearn_model(tmp_path / "forest.lczmodel", est, manifest), est


def test_forest_with_classes_2_to_18_is_refused(small_rf, tmp_path):
    path, _ = _forest(small_rf, tmp_path, range(2, 19))
    msg = _error(path)
    assert "predicts classes 2..18 but its manifest declares 1..17" in msg
    assert "18 are not LCZ codes" in msg


def test_forest_on_undeclared_0_based_labels_is_refused(small_rf, tmp_path):
    path, _ = _forest(small_rf, tmp_path, range(17))
    msg = _error(path)
    assert "predicts classes 0..16 but its manifest declares 1..17" in msg and "0-based" in msg


def test_forest_on_declared_0_based_labels_maps_them_to_codes(small_rf, tmp_path):
    from lcz_qgis.models import preprocessing

    path, est = _forest(small_rf, tmp_path, range(17), classes=list(range(17)))
    model = load_model(path)
    x = np.random.default_rng(1).uniform(0, 0.4, (20, 32, 32, 4)).astype(np.float32)
    want = est.predict(preprocessing.apply(x, model.manifest["preprocessing"])) + 1
    np.testing.assert_array_equal(model.predict(x), want)


def test_forest_on_a_subset_of_codes_loads(small_rf, tmp_path):
    path, _ = _forest(small_rf, tmp_path, [2, 5, 14])
    p = load_model(path).predict_proba(np.zeros((1, 32, 32, 4), np.float32))
    assert np.all(p[:, [0, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16]] == 0)


@pytest.mark.parametrize("edit", ["past-the-end", "loop"])
def test_forest_whose_tree_nodes_point_out_of_range_is_refused(small_rf, tmp_path, edit):
    """scikit-learn walks tree nodes in C without bound checks: a child index past the
    end reads outside memory, one pointing back never ends."""
    from sklearn.tree._tree import Tree

    from lcz_qgis.models.modelfile import save_sklearn_model

    manifest, _, _ = _parts(small_rf)
    est = load_model(small_rf).network
    old = est.estimators_[0].tree_
    state = old.__getstate__()
    nodes = state["nodes"].copy()
    nodes["left_child"][0] = old.node_count if edit == "past-the-end" else 0
    tree = Tree(old.n_features, np.asarray(old.n_classes), old.n_outputs)
    tree.__setstate__(dict(state, nodes=nodes))
    est.estimators_[0].tree_ = tree
    path = save_sklearn_model(tmp_path / "tree.lczmodel", est, manifest)
    assert "is damaged: tree 0 has nodes out of range" in _error(path)


@pytest.mark.parametrize(
    "key, values, expected",
    [
        ("mean", [float("nan"), 0, 0, 0], "a non-finite number (nan) in 'mean'"),
        ("std", [1, float("inf"), 1, 1], "a non-finite number (inf) in 'std'"),
        ("std", [1, -1.0, 1, 1], "a negative standard deviation (-1.0) in 'std'"),
    ],
)
def test_manifest_with_non_finite_preprocessing_is_damaged(
    small_rf, tmp_path, key, values, expected
):
    manifest, member, payload = _parts(small_rf)
    step = {"type": "standardize", "mean": [0.0] * 4, "std": [1.0] * 4}
    step[key] = values
    manifest["preprocessing"] = [step, *manifest["preprocessing"]]
    msg = _error(_lczmodel(tmp_path / "nan.lczmodel", manifest, member, payload))
    assert msg.startswith("'nan.lczmodel' has a damaged or edited manifest: preprocessing step 1")
    assert expected in msg


def test_manifest_classes_must_be_lcz_codes(small_rf, tmp_path):
    manifest, member, payload = _parts(small_rf)
    manifest["classes"] = list(range(2, 19))
    msg = _error(_lczmodel(tmp_path / "cls.lczmodel", manifest, member, payload))
    assert "damaged or edited manifest: 'classes'" in msg


# -- zip bombs ------------------------------------------------------------------------
def _raw_zip(path, entries):
    """A zip written by hand: ``entries`` of (name, stored bytes, method, crc, declared
    uncompressed size), so a member can declare any size."""
    out, central = bytearray(), bytearray()
    for name, data, method, crc, size in entries:
        n, offset = name.encode(), len(out)
        out += struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size, len(n), 0
        )
        out += n + data
        central += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                method,
                0,
                0x21,
                crc,
                len(data),
                size,
                len(n),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + n
        )
    start = len(out)
    out += central + struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), start, 0
    )
    path.write_bytes(bytes(out))
    return path


def _zeros_deflated(mib: int) -> bytes:
    """Raw deflate of ``mib`` MiB of zeros, made in milliseconds (about 1 KB per MiB)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(1 << 20)
    first = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    return first + again * (mib - 1) + c.flush()


def _manifest_entry(manifest):
    text = json.dumps(manifest).encode()
    return ("manifest.json", text, 0, zlib.crc32(text), len(text))


def test_zip_bomb_model_member_fails_at_once(small_rf, tmp_path):
    manifest, member, _ = _parts(small_rf)
    bomb = _zeros_deflated(2048)  # 2 MB inflating to 2 GiB
    path = _raw_zip(
        tmp_path / "bomb.lczmodel", [_manifest_entry(manifest), (member, bomb, 8, 0, 2 << 30)]
    )
    assert path.stat().st_size < 3 * 2**20
    start = time.perf_counter()
    msg = _error(path)
    assert time.perf_counter() - start < 1.0
    assert "member 'model.skops' inflates 10" in msg and "(2 MB to 2048 MB)" in msg


def test_zip_bomb_with_a_lying_header_reads_no_more_than_declared(small_rf, tmp_path):
    manifest, member, _ = _parts(small_rf)
    bomb = _zeros_deflated(2048)
    # declares 100 kB (within every cap, ratio 0.05): the reader stops there
    path = _raw_zip(
        tmp_path / "liar.lczmodel", [_manifest_entry(manifest), (member, bomb, 8, 0, 100_000)]
    )
    start = time.perf_counter()
    msg = _error(path)
    assert time.perf_counter() - start < 1.0
    assert msg.startswith("'liar.lczmodel' is damaged: cannot read 'model.skops'")


def test_zip_bomb_at_a_ratio_no_model_has(small_rf, tmp_path):
    manifest, member, _ = _parts(small_rf)
    bomb = _zeros_deflated(512)  # within the size cap, but 1000:1
    path = _raw_zip(
        tmp_path / "ratio.lczmodel", [_manifest_entry(manifest), (member, bomb, 8, 0, 512 << 20)]
    )
    msg = _error(path)
    assert "inflates 1" in msg and "zip bomb" in msg


def test_skops_with_a_compressed_member_is_refused_before_skops_reads_it(small_rf, tmp_path):
    """skops reads its members whole: zipfile then inflates a member as far as its data
    goes, whatever the header declares (here 2 GiB behind a header of a few kB)."""
    manifest, member, payload = _parts(small_rf)
    src = zipfile.ZipFile(io.BytesIO(payload))
    entries = []
    for info in src.infolist():
        data = src.read(info)
        entries.append((info.filename, data, 0, zlib.crc32(data), len(data)))
    name, data = entries[0][0], entries[0][1]
    assert name.endswith(".npy")
    # declares its real size and the CRC of that many zeros, then inflates to 2 GiB
    entries[0] = (name, _zeros_deflated(2048), 8, zlib.crc32(bytes(len(data))), len(data))
    inner = _raw_zip(tmp_path / "inner.skops", entries)
    path = _lczmodel(tmp_path / "lie.lczmodel", manifest, member, inner.read_bytes())
    start = time.perf_counter()
    msg = _error(path)
    assert time.perf_counter() - start < 1.0
    assert f"the skops model's member '{name}' is compressed" in msg


def test_zip_bomb_manifest_fails_at_once(tmp_path):
    path = _raw_zip(
        tmp_path / "m.lczmodel", [("manifest.json", _zeros_deflated(64), 8, 0, 64 << 20)]
    )
    start = time.perf_counter()
    msg = _error(path)
    assert time.perf_counter() - start < 1.0
    assert "'manifest.json' declares 64 MB uncompressed, over the 1 MB" in msg


# -- Keras configs as plain JSON (no TensorFlow needed) ---------------------------------------
def _k3_tensor(shape, layer, node=0, tensor=0):
    return {
        "class_name": "__keras_tensor__",
        "config": {"shape": shape, "dtype": "float32", "keras_history": [layer, node, tensor]},
    }


def _k3_layer(module, cls, name, config, *calls, registered=None):
    """A layer as Keras 3 writes it in a functional config: its DTypePolicy, and one
    ``{"args": [...], "kwargs": {}}`` node per call."""
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}
    return {
        "module": module,
        "class_name": cls,
        "config": {"name": name, "trainable": True, "dtype": {**policy, "registered_name": None}}
        | config,
        "registered_name": registered,
        "name": name,
        "inbound_nodes": [{"args": [args], "kwargs": {}} for args in calls],
    }


def _k3_config() -> dict:
    """What Keras 3.15 writes (``config.json``) for patch -> the plugin's ChannelSlice ->
    Conv2D -> pooling -> Concatenate of the pooled features with themselves -> Dense."""
    patch = {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {"batch_shape": [None, 32, 32, 10], "dtype": "float32", "name": "patch"},
        "registered_name": None,
        "name": "patch",
        "inbound_nodes": [],
    }
    glorot = {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {}}
    layers = [
        patch,
        _k3_layer(
            "lcz_qgis.models.fusion", "ChannelSlice", "s", {"start": 0, "stop": 4},
            _k3_tensor([None, 32, 32, 10], "patch"), registered="lcz>ChannelSlice",
        ),
        _k3_layer(
            "keras.layers", "Conv2D", "c",
            {"filters": 2, "kernel_size": [3, 3], "activation": "relu",
             "kernel_initializer": {**glorot, "registered_name": None}},
            _k3_tensor([None, 32, 32, 4], "s"),
        ),
        _k3_layer("keras.layers", "GlobalAveragePooling2D", "g", {},
                  _k3_tensor([None, 30, 30, 2], "c")),
        _k3_layer("keras.layers", "Concatenate", "cat", {"axis": -1},
                  [_k3_tensor([None, 2], "g"), _k3_tensor([None, 2], "g")]),
        _k3_layer("keras.layers", "Dense", "dense", {"units": 17, "activation": "softmax"},
                  _k3_tensor([None, 4], "cat")),
    ]  # fmt: skip
    return {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {
            "name": "net",
            "trainable": True,
            "layers": layers,
            "input_layers": ["patch", 0, 0],
            "output_layers": ["dense", 0, 0],
        },
        "registered_name": "Functional",
        "build_config": {"input_shape": [None, 32, 32, 10]},
    }


def _k2_config() -> dict:
    """The same network as Keras 2 wrote it: ``[[[layer, node, tensor, {kwargs}]]]`` nodes."""
    config = _k3_config()
    config["module"] = "keras.src.engine.functional"
    for layer in config["config"]["layers"]:
        layer["config"]["dtype"] = "float32"
        layer["inbound_nodes"] = [
            [[t["config"]["keras_history"] + [{}] for t in _flat(node["args"])]]
            for node in layer["inbound_nodes"]
        ]
        layer["inbound_nodes"] = [n[0] for n in layer["inbound_nodes"]]
    config["config"]["input_layers"] = [["patch", 0, 0]]
    config["config"]["output_layers"] = [["dense", 0, 0]]
    return config


def _flat(items):
    out = []
    for item in items:
        out.extend(_flat(item) if isinstance(item, list) else [item])
    return out


def _layer(config, name):
    return [la for la in config["config"]["layers"] if la["name"] == name][0]


def _history(name, value):
    def edit(config):
        _layer(config, name)["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = value

    return edit


def _tensor_config(key, value):
    def edit(config):
        _layer(config, "c")["inbound_nodes"][0]["args"][0]["config"][key] = value

    return edit


def _set(path, value):
    def edit(config):
        target = config
        for key in path[:-1]:
            target = _layer(config, key) if key in ("c", "dense", "s") else target[key]
        target[path[-1]] = value

    return edit


def test_keras3_and_keras2_configs_of_the_same_net_pass_the_check():
    for config in (_k3_config(), _k2_config()):
        assert safety.parse_keras_config(json.dumps(config), "net")["class_name"] == "Functional"
    # Sequential: its layers are called in order, without inbound_nodes
    layers = [
        {k: v for k, v in la.items() if k != "inbound_nodes"}
        for la in _k3_config()["config"]["layers"]
    ]
    seq = {"module": "keras", "class_name": "Sequential", "registered_name": None,
           "config": {"name": "seq", "layers": layers}}  # fmt: skip
    safety.parse_keras_config(json.dumps(seq), "seq")


_K3_CRAFTED = {
    "unknown-layer": (_history("c", ["nope", 0, 0]), "layer 'nope', which it lacks"),
    "call-not-made": (_history("c", ["s", 1, 0]), "takes call 1 of layer 's', not made"),
    "output-not-there": (_history("c", ["s", 0, 1]), "takes output 1 of layer 's'"),
    "index-as-text": (_history("c", ["s", "0", 0]), "takes call 0 of layer 's'"),
    "negative-index": (_history("c", ["s", -1, 0]), "takes call -1 of layer 's'"),
    "short-history": (_history("c", ["s", 0]), "without its layer, node and tensor"),
    "loop": (_history("c", ["dense", 0, 0]), "has a layer call loop"),
    "self-loop": (_history("c", ["c", 0, 0]), "has a layer call loop"),
    "extra-tensor-entry": (_tensor_config("module", "os"), "entries Keras does not write"),
    "object-dtype": (_tensor_config("dtype", "object"), "Keras tensor of dtype object"),
    "shape-text": (_tensor_config("shape", ["x"]), "shape is not a list of sizes"),
    "sparse-text": (_tensor_config("sparse", "yes"), "sparse/ragged is not true/false"),
    "tensor-in-a-layer-config": (
        _set(["c", "config", "kernel_initializer"], _k3_tensor([2], "s")),
        "holds a Keras tensor outside its model's layer calls",
    ),
    "node-extra-key": (
        _set(["c", "inbound_nodes", 0, "code"], "x"),
        "a layer call with entries Keras does not write",
    ),
    "kwargs-object": (
        _set(["c", "inbound_nodes", 0, "kwargs", "mask"], {"class_name": "Dense", "config": {}}),
        "calls its layer with an argument Keras does not write",
    ),
    "input-unknown": (_set(["config", "input_layers"], ["nope", 0, 0]), "'nope', which it lacks"),
    "output-call-not-made": (
        _set(["config", "output_layers"], ["dense", 3, 0]),
        "takes call 3 of layer 'dense'",
    ),
    "policy-module": (
        _set(["c", "config", "dtype", "module"], "os"),
        "names module 'os', which is not Keras",
    ),
    "policy-class": (
        _set(["c", "config", "dtype", "class_name"], "function"),
        "is not a Keras class the plugin allows",
    ),
    "model-module": (
        _set(["module"], "evil.models.functional"),
        "names module 'evil.models.functional'",
    ),
    "lambda": (_set(["c", "class_name"], "Lambda"), "is Python code"),
}


@pytest.mark.parametrize("edit, expected", _K3_CRAFTED.values(), ids=_K3_CRAFTED.keys())
def test_crafted_keras3_configs_are_refused(edit, expected):
    config = _k3_config()
    edit(config)
    with pytest.raises(LczError) as info:
        safety.parse_keras_config(json.dumps(config), "'net.keras'")
    msg = str(info.value)
    assert expected in msg and msg.startswith("'net.keras': 'net' (Functional)"), msg
    assert "before anything in it runs" in msg


def _k2_node(name, value):
    def edit(config):
        _layer(config, name)["inbound_nodes"][0] = value

    return edit


_K2_CRAFTED = {
    "unknown-layer": (_k2_node("c", [["nope", 0, 0, {}]]), "'nope', which it lacks"),
    "call-not-made": (_k2_node("c", [["s", 2, 0, {}]]), "takes call 2 of layer 's'"),
    "loop": (_k2_node("c", [["dense", 0, 0, {}]]), "has a layer call loop"),
    "constant-value": (_k2_node("c", [["_CONSTANT_VALUE", -1, 0, {}]]), "which it lacks"),
    "nested-kwargs": (
        _k2_node("c", [["s", 0, 0, {"mask": ["dense", 5, 0]}]]),
        "passes a nested value in a Keras 2 call's arguments",
    ),
    "not-a-list": (_k2_node("c", "s"), "a layer call that Keras does not write"),
    "five-items": (_k2_node("c", [["s", 0, 0, {}, 1]]), "not [layer, node, tensor]"),
}


@pytest.mark.parametrize("edit, expected", _K2_CRAFTED.values(), ids=_K2_CRAFTED.keys())
def test_crafted_keras2_graphs_are_refused_as_strictly(edit, expected):
    config = _k2_config()
    edit(config)
    with pytest.raises(LczError, match="refusing to load the file") as info:
        safety.parse_keras_config(json.dumps(config), "'net.h5'")
    assert expected in str(info.value), str(info.value)


def test_a_long_keras_graph_is_checked_quickly():
    """A deep chain (and a loop at its end) is checked in linear time, without recursion."""
    config = _k3_config()
    layers = config["config"]["layers"]
    for i in range(5000):
        prev = "dense" if i == 0 else f"d{i - 1}"
        layers.append(_k3_layer("keras.layers", "Dense", f"d{i}", {"units": 17},
                                _k3_tensor([None, 17], prev)))  # fmt: skip
    start = time.perf_counter()
    safety.parse_keras_config(json.dumps(config), "long")
    _history("c", ["d4999", 0, 0])(config)
    with pytest.raises(LczError, match="loop"):
        safety.parse_keras_config(json.dumps(config), "long")
    assert time.perf_counter() - start < 10


# -- Keras ----------------------------------------------------------------------------
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


def _evil(marker):
    """A Python lambda that creates the marker when called (as a Lambda layer is, when
    its model is built)."""
    return eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")


def _head(x):
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.layers.Dense(17, activation="softmax", name="dense")(x)


def _lambda_net(marker, where: str):
    """A small net with a code-running Lambda: at the top ('plain'), inside a nested
    Functional model ('nested') or inside a TimeDistributed wrapper ('wrapped')."""
    inp = keras.Input((32, 32, 10), name="patch")
    lam = keras.layers.Lambda(_evil(marker), name="payload")
    if where == "plain":
        x = lam(inp)
    elif where == "nested":
        i2 = keras.Input((32, 32, 10))
        inner = keras.Model(i2, lam(keras.layers.Activation("linear")(i2)), name="inner")
        x = inner(inp)
    else:
        x = keras.layers.TimeDistributed(lam, name="wrap")(inp)
    model = keras.Model(inp, _head(x), name="net")
    marker.unlink()  # building the net ran the lambda here; loading must not
    return model


_PATHS = {
    "plain": "'payload' (Lambda)",
    "nested": "'inner' (Functional) > 'payload' (Lambda)",
    "wrapped": "'wrap' (TimeDistributed) > 'payload' (Lambda)",
}


def _escape_lambda_h5(path):
    import h5py

    with h5py.File(path, "r+") as f:
        text = f.attrs["model_config"]
        text = text.decode() if isinstance(text, bytes) else text
        assert '"Lambda"' in text
        f.attrs["model_config"] = text.replace('"Lambda"', '"\\u004cambda"')


@pytest.mark.tf
@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
@pytest.mark.parametrize("where", ["plain", "nested", "wrapped"])
def test_h5_with_an_escaped_lambda_is_refused(tmp_path, marker, where):
    path = tmp_path / "net.h5"
    _lambda_net(marker, where).save(path)
    _escape_lambda_h5(path)
    msg = _error(path)
    assert msg.startswith(f"'net.h5': 'net' (Functional) > {_PATHS[where]} is Python code")
    assert "before anything in it runs" in msg
    assert "Lambda" in _error(path, lcz_qgis.load_model)


@pytest.mark.tf
@pytest.mark.parametrize("where", ["plain", "nested", "wrapped"])
def test_keras_file_with_a_lambda_is_refused(tmp_path, marker, where):
    path = tmp_path / "net.keras"
    _lambda_net(marker, where).save(path)
    assert f"> {_PATHS[where]} is Python code" in _error(path)


def _keras_config_edit(model, path, edit):
    """Save ``model`` as .keras at ``path`` with its config.json edited by ``edit``."""
    model.save(tmp := path.with_suffix(".tmp.keras"))
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(path, "w") as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "config.json":
                data = edit(json.loads(data))
                data = json.dumps(data) if isinstance(data, dict) else data
            z.writestr(info, data)
    return path


def _dense_net():
    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 32, 10), name="patch")
    return keras.Model(inp, _head(inp), name="net")


def _set_activation(value):
    def edit(config):
        dense = [la for la in config["config"]["layers"] if la["class_name"] == "Dense"][0]
        dense["config"]["activation"] = value
        return config

    return edit


@pytest.mark.tf
def test_keras_function_pointing_at_posix_system_is_refused(tmp_path):
    fn = {
        "module": "posix",
        "class_name": "function",
        "config": "system",
        "registered_name": "function",
    }
    path = _keras_config_edit(_dense_net(), tmp_path / "sys.keras", _set_activation(fn))
    msg = _error(path)
    assert "'dense' (Dense) > activation (function) is not a Keras class" in msg
    assert "module 'posix'" in msg


@pytest.mark.tf
def test_keras_function_in_an_importable_module_is_never_imported(tmp_path, marker, monkeypatch):
    name = f"lcz_evil_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        f"open({str(marker)!r}, 'w').close()\ndef touch(x):\n    return x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    fn = {
        "module": name,
        "class_name": "function",
        "config": "touch",
        "registered_name": "function",
    }
    msg = _error(_keras_config_edit(_dense_net(), tmp_path / "mod.keras", _set_activation(fn)))
    assert f"module '{name}'" in msg

    # a Lambda naming it, and a layer class from it
    def lam(config):
        config["config"]["layers"][1] = {
            "module": "keras.layers",
            "class_name": "Lambda",
            "registered_name": None,
            "config": {"name": "x", "function": fn},
            "name": "x",
            "inbound_nodes": [[["patch", 0, 0, {}]]],
        }
        return config

    assert "'x' (Lambda) is Python code" in _error(
        _keras_config_edit(_dense_net(), tmp_path / "l.keras", lam)
    )

    def foreign(config):
        config["config"]["layers"][1].update(
            module=name, class_name="touch", registered_name="touch"
        )
        return config

    assert "is not a Keras class" in _error(
        _keras_config_edit(_dense_net(), tmp_path / "f.keras", foreign)
    )
    assert name not in sys.modules


@pytest.mark.tf
@pytest.mark.parametrize(
    "text, expected",
    [
        ('"activation": "softmax"', '"activation": "exec"'),
        ('"class_name": "Dense"', '"class_name": "__lambda__"'),
        ('"class_name": "Dense"', '"class_name": "D\\u0065nse", "function_type": "lambda"'),
        (
            '"module": "keras.layers", "class_name": "Dense"',
            '"module": "os", "class_name": "Dense"',
        ),
    ],
    ids=["activation-name", "serialized-lambda", "function-key", "module"],
)
def test_keras_config_entries_that_name_code_are_refused(tmp_path, text, expected):
    def edit(config):
        raw = json.dumps(config)
        assert text in raw
        return raw.replace(text, expected, 1).encode()

    msg = _error(_keras_config_edit(_dense_net(), tmp_path / "e.keras", edit))
    assert "refusing to load the file before anything in it runs" in msg


@pytest.mark.tf
def test_lczmodel_whose_keras_member_has_a_lambda_is_refused(tmp_path, marker):
    manifest = new_manifest("mlp", "keras", "sen2", list(range(10)))
    path = tmp_path / "lam.lczmodel"
    save_keras_model(path, _lambda_net(marker, "nested"), manifest)
    msg = _error(path)
    assert msg.startswith("'lam.lczmodel' (its model.keras): 'net' (Functional) > 'inner'")
    # the same with the class name escaped in its config.json
    m, member, payload = _parts(path)
    src = zipfile.ZipFile(io.BytesIO(payload))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "config.json":
                data = data.replace(b'"Lambda"', b'"\\u004cambda"')
            z.writestr(info, data)
    assert "(Lambda) is Python code" in _error(
        _lczmodel(tmp_path / "esc.lczmodel", m, member, out.getvalue())
    )


@pytest.mark.tf
def test_keras_member_bomb_and_oversized_weights_fail_at_once(tmp_path):
    import h5py

    manifest = new_manifest("mlp", "keras", "sen2", list(range(10)))
    manifest.update(framework="keras", model_member="model.keras")
    inner = tmp_path / "inner.keras"
    _raw_zip(
        inner,
        [
            ("config.json", b"{}", 0, zlib.crc32(b"{}"), 2),
            ("model.weights.h5", _zeros_deflated(2048), 8, 0, 2 << 30),
        ],
    )
    path = _lczmodel(tmp_path / "kb.lczmodel", manifest, "model.keras", inner.read_bytes())
    start = time.perf_counter()
    assert "member 'model.weights.h5' declares 2048 MB" in _error(path)
    assert time.perf_counter() - start < 1.0
    # weights whose HDF5 datasets declare 2 GiB (unwritten chunks: a tiny file)
    good = tmp_path / "good.keras"
    _dense_net().save(good)
    weights = tmp_path / "w.h5"
    with h5py.File(weights, "w") as f:
        f.create_dataset("big", shape=(1 << 28,), dtype="f8", chunks=(1 << 16,), compression="gzip")
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp_path / "big.keras", "w") as z:
        for info in src.infolist():
            z.writestr(
                info,
                weights.read_bytes() if info.filename == "model.weights.h5" else src.read(info),
            )
    assert "its weights declare 2048 MB" in _error(tmp_path / "big.keras")


@pytest.mark.tf
def test_keras_model_without_17_outputs_fails_at_load(tmp_path):
    inp = keras.Input((32, 32, 10))
    net = keras.Model(inp, keras.layers.Dense(10)(keras.layers.Flatten()(inp)))
    net.save(tmp_path / "ten.keras")
    assert "has a Keras model with 10 outputs" in _error(tmp_path / "ten.keras")
    save_keras_model(
        tmp_path / "ten.lczmodel", net, new_manifest("mlp", "keras", "sen2", list(range(10)))
    )
    assert "'ten.lczmodel' has a Keras model with 10 outputs" in _error(tmp_path / "ten.lczmodel")


# -- what still loads -----------------------------------------------------------------
def test_the_project_forest_loads_through_the_api(small_rf):
    m = lcz_qgis.load_model(small_rf)
    p = m.predict_proba(np.random.default_rng(0).uniform(0, 0.3, (3, 32, 32, 4)).astype(np.float32))
    assert p.shape == (3, 17) and np.allclose(p.sum(axis=1), 1)


def _project_nets():
    from lcz_qgis.models import fusion, mlp, sen2lcznet, so2sat_resnet20

    return {
        "mlp": (mlp.build((32, 32, 10), 17, variant="simple"), "sen2"),
        "mlp_diy": (mlp.build((32, 32, 10), 17, variant="diy"), "sen2"),
        "fusion_late": (fusion.build((32, 32, 18), 17, variant="late", s1_channels=8), "fusion"),
        "sen2lcznet": (sen2lcznet.build(), "sen2"),
        "so2sat_resnet20": (so2sat_resnet20.build(), "sen2"),
    }


@pytest.mark.tf
@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
def test_the_project_keras_models_load_in_every_format(tmp_path):
    keras.utils.set_random_seed(0)
    for name, (net, sensor) in _project_nets().items():
        c = net.input_shape[-1]
        x = np.random.default_rng(0).normal(size=(2, 32, 32, c)).astype(np.float32)
        want = np.asarray(net(x, training=False))
        save_keras_model(
            tmp_path / f"{name}.lczmodel", net, new_manifest(name, "keras", sensor, list(range(c)))
        )
        net.save(tmp_path / f"{name}.keras")
        net.save(tmp_path / f"{name}.h5")
        for suffix in (".lczmodel", ".keras", ".h5"):
            got = lcz_qgis.load_model(tmp_path / f"{name}{suffix}", sensor=sensor).predict_proba(x)
            np.testing.assert_allclose(got, want, atol=1e-5, err_msg=f"{name}{suffix}")


@pytest.mark.tf
@pytest.mark.slow
def test_resnet50_model_file_loads(tmp_path):
    from lcz_qgis.models import resnet50

    net = resnet50.build((32, 32, 10), 17)
    path = save_keras_model(
        tmp_path / "r50.lczmodel", net, new_manifest("resnet50", "keras", "sen2", list(range(10)))
    )
    assert path.stat().st_size > 90e6
    x = np.random.default_rng(0).normal(size=(1, 32, 32, 10)).astype(np.float32)
    np.testing.assert_allclose(load_model(path).predict_proba(x), np.asarray(net(x)), atol=1e-5)


@pytest.mark.tf
def test_every_registered_project_layer_is_allowed():
    from lcz_qgis.models import register_custom_layers

    register_custom_layers()
    ours = {n for n in keras.saving.get_custom_objects() if n.startswith("lcz>")}
    assert ours and ours <= set(safety.PROJECT_LAYERS)


@pytest.mark.tf
@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
def test_cli_evaluate_refuses_the_crafted_h5_in_one_line(tmp_path, marker, capsys):
    from lcz_qgis.cli import main as cli_main
    from lcz_qgis.sample_data import write_so2sat_file

    path = tmp_path / "net.h5"
    _lambda_net(marker, "plain").save(path)
    _escape_lambda_h5(path)
    write_so2sat_file(tmp_path / "test.h5", 340, seed=3)
    rc = cli_main(["evaluate", "--model", str(path), "--dataset", str(tmp_path / "test.h5")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(
        "lcz evaluate: error: 'net.h5': 'net' (Functional) > 'payload' (Lambda)"
    )


@pytest.mark.tf
def test_keras_lambda_pointing_at_posix_system_is_refused(tmp_path, marker):
    fn = {"module": "posix", "class_name": "function", "config": "system"}

    def lam(config):
        config["config"]["layers"][1] = {
            "module": "keras.layers",
            "class_name": "Lambda",
            "registered_name": None,
            "config": {"name": "x", "function": fn, "arguments": {"command": f"touch {marker}"}},
            "name": "x",
            "inbound_nodes": [[["patch", 0, 0, {}]]],
        }
        return config

    msg = _error(_keras_config_edit(_dense_net(), tmp_path / "sys.keras", lam))
    assert msg.startswith("'sys.keras': 'net' (Functional) > 'x' (Lambda) is Python code")


@pytest.mark.tf
@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
@pytest.mark.parametrize("suffix", [".keras", ".h5", ".lczmodel"])
def test_safe_mode_is_a_second_line_of_defence(tmp_path, marker, monkeypatch, suffix):
    """With the config check switched off, Keras' safe mode still refuses the Lambda."""
    net = _lambda_net(marker, "plain")
    path = tmp_path / f"net{suffix}"
    if suffix == ".lczmodel":
        save_keras_model(path, net, new_manifest("mlp", "keras", "sen2", list(range(10))))
    else:
        net.save(path)
    monkeypatch.setattr(safety, "check_keras_config", lambda config, where: None)
    msg = _error(path)
    assert "cannot load Keras model" in msg and "Lambda" in msg


@pytest.mark.tf
def test_every_project_and_published_network_passes_the_check():
    """The configs (``.keras`` config.json and legacy ``.h5`` model_config) of every Keras
    model type the plugin trains and of the So2Sat authors' networks are allowed."""
    from keras.src.saving import serialization_lib

    from lcz_qgis.models import MODEL_TYPES, model_module, pretrained

    nets = {}
    for name, (_, kind, _) in MODEL_TYPES.items():
        if kind == "keras":
            build = model_module(name).build
            channels = 18 if name.startswith("fusion") else 10
            variant = {"mlp": "simple", "mlp_diy": "diy", "fusion": "early", "fusion_late": "late"}
            extra = {"variant": variant[name]} if name in variant else {}
            nets[name] = build((32, 32, channels), 17, **extra)
    for arch in pretrained.PUBLISHED:
        nets[arch] = pretrained.build_model(arch)
    for name, net in nets.items():
        keras_config = json.dumps(serialization_lib.serialize_keras_object(net))
        safety.parse_keras_config(keras_config, name)
        safety.parse_keras_config(net.to_json(), name)
    assert {"resnet50", "fusion", "sen2lcznet", "so2sat_resnet20_s1"} <= set(nets)


@pytest.mark.tf
def test_the_published_weights_import_and_load(shared_dir, sample_dir, tmp_path):
    from lcz_qgis.models.pretrained_import import import_pretrained

    files = {
        "sen2lcznet": ("sen2lcznet_32_weights.best.hdf5", 10),
        "so2sat_resnet20_s2": ("so2sat_s2_resnet20.h5", 10),
        "so2sat_resnet20_s1": ("so2sat_s1_resnet20.h5", 8),
    }
    for arch, (name, channels) in files.items():
        weights = shared_dir / "pretrained" / name
        if not weights.is_file():
            pytest.skip(f"{weights} not found")
        s1 = sample_dir / "scene_s1.tif" if channels == 8 else None
        out = import_pretrained(tmp_path / f"{arch}.lczmodel", weights=weights, sentinel1=s1)
        model = lcz_qgis.load_model(out.path)
        x = np.random.default_rng(0).uniform(0, 0.3, (2, 32, 32, channels)).astype(np.float32)
        p = model.predict_proba(x)
        assert p.shape == (2, 17) and np.allclose(p.sum(axis=1), 1, atol=1e-4), arch


def _quiet_exec_model(small_rf, tmp_path, marker):
    code = f"open({str(marker)!r}, 'w').close()"
    return _edit_skops(
        small_rf, tmp_path / "quiet.lczmodel", _key_type_payload("builtins.exec", code)
    )


@pytest.mark.parametrize("command", ["evaluate", "classify"])
def test_cli_refuses_the_quiet_skops_payload_in_one_line(
    small_rf, sample_dir, tmp_path, marker, capsys, command
):
    from lcz_qgis.cli import main as cli_main

    bad = _quiet_exec_model(small_rf, tmp_path, marker)
    if command == "evaluate":
        args = ["--dataset", str(sample_dir / "test.h5")]
    else:
        args = [
            "--sentinel2",
            str(sample_dir / "scene_s2.tif"),
            "--output",
            str(tmp_path / "m.tif"),
        ]
    capsys.readouterr()
    rc = cli_main([command, "--model", str(bad), *args])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 2
    errors = [line for line in err if line.startswith(f"lcz {command}: error:")]
    assert len(errors) == 1 and "builtins.exec" in errors[0], err
    assert not any("Traceback" in line for line in err)
    assert not (tmp_path / "m.tif").exists()


@pytest.mark.tf
@pytest.mark.parametrize(
    "class_name, registered", [("ChannelSlice", None), ("lcz>ChannelSlice", None)]
)
def test_project_layer_without_its_registration_is_refused(
    tmp_path, marker, monkeypatch, class_name, registered
):
    """Without its registered name Keras would import the module the config names: a
    package planted on the path that ends like the plugin's module is never imported."""
    from lcz_qgis.models import fusion

    name = f"lcz_evil_{uuid.uuid4().hex[:8]}"
    pkg = tmp_path / name
    (pkg / "lcz_qgis" / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def edit(config):
        layer = [la for la in config["config"]["layers"] if la["name"] == "s1_channels"][0]
        layer.update(
            class_name=class_name,
            registered_name=registered,
            module=f"{name}.lcz_qgis.models.fusion",
        )
        return config

    net = fusion.build((32, 32, 18), 17, variant="late", s1_channels=8)
    msg = _error(_keras_config_edit(net, tmp_path / "slice.keras", edit))
    assert "'s1_channels'" in msg and "is not the plugin's layer lcz>ChannelSlice" in msg
    assert name not in sys.modules
