"""What an ONNX graph in a model file may contain, checked before ONNX Runtime sees it.

An ``.lczmodel`` carries an ONNX graph (``model.onnx``) beside its framework member
(docs/onnx.md). ONNX Runtime runs whatever operators, external files, local functions
and custom domains a graph names, so :func:`check_graph` reads the graph's protobuf
bytes itself, with the small reader below (no ``onnx`` package: where only
onnxruntime is installed there is none), and refuses before anything else reads them:

- anything over the size caps: the member (:data:`MAX_GRAPH_BYTES`, protobuf's own
  limit), the node count (:data:`MAX_NODES`), every tensor (:data:`MAX_TENSOR_BYTES`);
- operators outside :data:`ONNX_OPS` (the default domain) and :data:`ONNX_ML_OPS`
  (``ai.onnx.ml``): exactly what the plugin's converted models use; any other domain
  (a custom operator library's) is refused, as are opset imports of other domains;
- external data: a tensor with an ``external_data`` location or an external
  ``data_location`` is refused on sight, so no file beside the model is ever opened;
- model-local functions, training information, subgraphs (``If``/``Loop`` bodies),
  sparse tensors and every protobuf field the ONNX format does not define for a
  part (the reader is an allow-list of fields too);
- inputs and outputs other than the manifest's (:func:`check_entry`): one float input
  of the manifest's name and shape with a free batch axis, the manifest's outputs, the
  probabilities one float (batch, classes) with the manifest's class count.

Plain Python only: no onnx, onnxruntime, TensorFlow or scikit-learn import.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterator

from ..common.errors import LczError
from ..common.legend import CODES

MIB = 1 << 20
# protobuf cannot parse a message of 2 GiB or more; the largest graph the plugin writes
# (ResNet50 on 18 channels) is about 95 MB
MAX_GRAPH_BYTES = (2048 * MIB) - 1
# ResNet50 converts to about 130 nodes, a forest to 1
MAX_NODES = 10_000
# one initializer or attribute tensor; ResNet50's largest weight is 9.4 MB
MAX_TENSOR_BYTES = 512 * MIB
# the member name of the graph in an .lczmodel
MEMBER = "model.onnx"

DEFAULT_DOMAINS = ("", "ai.onnx")
ML_DOMAIN = "ai.onnx.ml"
# default-domain operators of the plugin's Keras models as Keras/tf2onnx writes them
# (MLP, ResNet50, early/late fusion, Sen2LCZ-Net, ResNet-20: Keras 2 and 3), and the few
# neighbours a converter may choose instead for the same layers (Gemm for MatMul+Add,
# Flatten for Reshape, BatchNormalization unfolded, Pad for ZeroPadding2D)
ONNX_OPS = frozenset(
    {
        "Add", "AveragePool", "BatchNormalization", "Concat", "Conv", "Div", "Flatten",
        "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Identity", "MatMul", "MaxPool",
        "Mul", "Pad", "Relu", "Reshape", "Sigmoid", "Slice", "Softmax", "Squeeze", "Sub",
        "Transpose", "Unsqueeze",
    }
)  # fmt: skip
# default-domain operators an int8 model adds (``lcz quantize-model``, models/quantize.py):
# ONNX Runtime's static quantisation in the QDQ format writes only these two around the
# float operators above, and fuses them into its int8 kernels when it loads the graph;
# the operator-format int8 operators (QLinearConv, ConvInteger, MatMulInteger,
# DynamicQuantizeLinear...) are never written, so they stay refused
QUANT_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
ONNX_OPS = ONNX_OPS | QUANT_OPS
# ai.onnx.ml operators: a scikit-learn random forest as skl2onnx writes it
ONNX_ML_OPS = frozenset({"TreeEnsembleClassifier"})
# opset versions accepted per domain (the plugin writes 17 and ai.onnx.ml 1-3)
OPSETS = {"": (7, 23), "ai.onnx": (7, 23), ML_DOMAIN: (1, 5)}
# tensor element types a graph may hold, with their sizes in bytes (no strings)
TENSOR_TYPES = {1: 4, 2: 1, 3: 1, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8}
FLOAT = 1
ENTRY_KEYS = {"member", "input", "input_shape", "outputs", "output", "output_codes"}

# -- the protobuf reader ----------------------------------------------------------------

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class _Damaged(Exception):
    """The bytes are not a well-formed protobuf message."""


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _Damaged("it is cut off")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise _Damaged("a number is too long")


# An attribute's repeated numbers and texts (a forest's node tables: millions of
# elements, each with its own key) are skipped a run at a time: fixed-size and varint
# elements by a regular expression (C speed), texts by their one-byte lengths
_RUN_PATTERNS = {
    0x3D: re.compile(rb"(?:\x3d[\x00-\xff]{4})+"),  # floats: field 7, fixed32
    0x40: re.compile(rb"(?:\x40[\x80-\xff]{0,9}[\x00-\x7f])+"),  # ints: field 8, varint
}
_TEXTS = 0x4A  # strings: field 9, length-delimited
_ATTRIBUTE_RUNS = frozenset({*_RUN_PATTERNS, _TEXTS})


def _skip_run(buf: memoryview, pos: int, end: int) -> int:
    """The position after the whole elements of the run of one repeated field that starts
    at ``pos`` (its one-byte key in :data:`_ATTRIBUTE_RUNS`); ``pos`` when there is none.
    What the run leaves (a cut-off or longer element) the field-by-field reader reads."""
    key = buf[pos]
    if key != _TEXTS:
        match = _RUN_PATTERNS[key].match(buf, pos, end)
        return match.end() if match else pos
    while pos + 1 < end and buf[pos] == _TEXTS and buf[pos + 1] < 0x80:
        after = pos + 2 + buf[pos + 1]
        if after > end:
            break
        pos = after
    return pos


def _fields(buf: memoryview, runs: frozenset = frozenset()) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message's fields, in order: an int for
    varints, a memoryview of the bytes otherwise (no copy). A run of elements of a
    repeated field whose key is in ``runs`` comes as one item, its bytes the value."""
    pos, end = 0, len(buf)
    while pos < end:
        if buf[pos] in runs:
            key, after = buf[pos], _skip_run(buf, pos, end)
            if after > pos:
                yield key >> 3, key & 7, buf[pos:after]
                pos = after
                continue
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Damaged("a field number is 0")
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire in (_I64, _I32):
            size = 8 if wire == _I64 else 4
            value, pos = buf[pos : pos + size], pos + size
        elif wire == _LEN:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        else:
            raise _Damaged(f"wire type {wire} is not used by ONNX")
        if pos > end:
            raise _Damaged("it is cut off")
        yield number, wire, value


# per part of the format (onnx.proto): field -> (name, wire type, part or kind); fields
# the plugin refuses: field -> why. Any other field is refused as unknown.
_STR, _INT, _SKIP = "str", "int", "skip"
_PARTS: dict[str, dict[int, tuple[str, int, str]]] = {
    "model": {1: ("ir_version", _VARINT, _INT), 2: ("producer_name", _LEN, _STR),
              3: ("producer_version", _LEN, _STR), 4: ("domain", _LEN, _STR),
              5: ("model_version", _VARINT, _INT), 6: ("doc_string", _LEN, _SKIP),
              7: ("graph", _LEN, "graph"), 8: ("opset_import", _LEN, "opset"),
              14: ("metadata_props", _LEN, _SKIP)},
    "opset": {1: ("domain", _LEN, _STR), 2: ("version", _VARINT, _INT)},
    "graph": {1: ("node", _LEN, "node"), 2: ("name", _LEN, _SKIP),
              5: ("initializer", _LEN, "tensor"), 10: ("doc_string", _LEN, _SKIP),
              11: ("input", _LEN, "value"), 12: ("output", _LEN, "value"),
              13: ("value_info", _LEN, _SKIP), 16: ("metadata_props", _LEN, _SKIP)},
    "node": {1: ("input", _LEN, _STR), 2: ("output", _LEN, _STR), 3: ("name", _LEN, _SKIP),
             4: ("op_type", _LEN, _STR), 5: ("attribute", _LEN, "attribute"),
             6: ("doc_string", _LEN, _SKIP), 7: ("domain", _LEN, _STR),
             9: ("metadata_props", _LEN, _SKIP)},
    "attribute": {1: ("name", _LEN, _SKIP), 2: ("f", _I32, _SKIP), 3: ("i", _VARINT, _SKIP),
                  4: ("s", _LEN, _SKIP), 5: ("t", _LEN, "tensor"), 7: ("floats", -1, _SKIP),
                  8: ("ints", -1, _SKIP), 9: ("strings", _LEN, _SKIP),
                  10: ("tensors", _LEN, "tensor"), 13: ("doc_string", _LEN, _SKIP),
                  20: ("type", _VARINT, _SKIP)},
    "tensor": {1: ("dims", -1, _SKIP), 2: ("data_type", _VARINT, _INT),
               4: ("float_data", -1, _SKIP), 5: ("int32_data", -1, _SKIP),
               7: ("int64_data", -1, _SKIP), 8: ("name", _LEN, _SKIP),
               9: ("raw_data", _LEN, _SKIP), 10: ("double_data", -1, _SKIP),
               11: ("uint64_data", -1, _SKIP), 12: ("doc_string", _LEN, _SKIP),
               14: ("data_location", _VARINT, _INT), 16: ("metadata_props", _LEN, _SKIP)},
    "value": {1: ("name", _LEN, _STR), 2: ("type", _LEN, "type"), 3: ("doc_string", _LEN, _SKIP),
              4: ("metadata_props", _LEN, _SKIP)},
    "type": {1: ("tensor_type", _LEN, "tensor_type"), 6: ("denotation", _LEN, _SKIP)},
    "tensor_type": {1: ("elem_type", _VARINT, _INT), 2: ("shape", _LEN, "shape")},
    "shape": {1: ("dim", _LEN, "dim")},
    "dim": {1: ("dim_value", _VARINT, _INT), 2: ("dim_param", _LEN, _STR),
            3: ("denotation", _LEN, _SKIP)},
}  # fmt: skip
_REFUSED = {
    "model": {20: "training information", 25: "model-local functions (custom operators)",
              26: "device configurations"},
    "graph": {14: "quantization annotations", 15: "sparse initializers"},
    "node": {8: "a function overload", 10: "device configurations"},
    "attribute": {6: "a subgraph", 11: "subgraphs", 14: "a type", 15: "types",
                  21: "a reference to a function attribute", 22: "a sparse tensor",
                  23: "sparse tensors"},
    "tensor": {3: "a segment of a split tensor",
               13: "an external_data location (data in a file beside the model)"},
}  # fmt: skip


def _part(buf: memoryview, kind: str, where: str) -> dict[str, list]:
    """One message of part ``kind`` read into ``{field name: [values]}`` (strings
    decoded, sub-parts read recursively); refused and unknown fields raise LczError."""
    spec, refused = _PARTS[kind], _REFUSED.get(kind, {})
    out: dict[str, list] = {}
    runs = _ATTRIBUTE_RUNS if kind == "attribute" else frozenset()
    for number, wire, value in _fields(buf, runs):
        if number in refused:
            raise LczError(f"{where}: its ONNX graph holds {refused[number]}; refusing it")
        if number not in spec:
            raise LczError(
                f"{where}: its ONNX graph has a part the plugin does not read (field "
                f"{number} of a {kind}); refusing it"
            )
        name, want, sub = spec[number]
        if want not in (-1, wire) or (want == -1 and wire not in (_VARINT, _LEN, _I32, _I64)):
            raise _Damaged(f"field {name} of a {kind} has the wrong wire type")
        if sub == _STR:
            value = _text(value)
        elif sub not in (_INT, _SKIP):
            value = _part(value, sub, where)
        out.setdefault(name, []).append(value)
    return out


def _text(value) -> str:
    if not isinstance(value, memoryview):
        raise _Damaged("a text field is a number")
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise _Damaged("a name is not UTF-8 text") from None


def _last(part: dict, name: str, default=None):
    """A singular field's value: protobuf keeps the last one written."""
    values = part.get(name)
    return values[-1] if values else default


def _packed_ints(values: list) -> list[int]:
    """The integers of a repeated varint field (packed or not)."""
    out = []
    for v in values:
        if isinstance(v, int):
            out.append(v)
            continue
        pos = 0
        while pos < len(v):
            n, pos = _varint(v, pos)
            out.append(n)
    return out


# -- the checks -------------------------------------------------------------------------


def _size(n: int) -> str:
    return f"{n // MIB} MB" if n >= MIB else f"{n} bytes"


def _refuse(where: str, what: str) -> LczError:
    return LczError(f"{where}: its ONNX graph {what} (docs/security.md); refusing it")


def _check_tensor(t: dict, where: str) -> None:
    """A tensor (initializer or attribute): data inside the file, a numeric type, at most
    :data:`MAX_TENSOR_BYTES` whether declared by its shape or held."""
    if _last(t, "data_location", 0) != 0:
        raise _refuse(where, "keeps a tensor's data in an external file")
    dtype = _last(t, "data_type", 0)
    if dtype not in TENSOR_TYPES:
        raise _refuse(where, f"holds a tensor of element type {dtype}")
    dims = _packed_ints(t.get("dims", []))
    if any(d >= 1 << 62 for d in dims):  # negative dims arrive as huge varints
        raise _refuse(where, "holds a tensor with a negative dimension")
    declared = math.prod(dims) * TENSOR_TYPES[dtype]
    held = sum(len(v) for k in ("raw_data", "float_data", "int32_data", "int64_data",
                                "double_data", "uint64_data") for v in t.get(k, [])
               if isinstance(v, memoryview))  # fmt: skip
    if max(declared, held) > MAX_TENSOR_BYTES:
        size = _size(max(declared, held))
        raise _refuse(where, f"holds a tensor of {size} (over {_size(MAX_TENSOR_BYTES)})")


def _check_opsets(model: dict, where: str) -> dict[str, int]:
    """The graph's opset imports: only the default and ``ai.onnx.ml`` domains, at versions
    within :data:`OPSETS`."""
    opsets: dict[str, int] = {}
    for entry in model.get("opset_import", []):
        domain, version = _last(entry, "domain", ""), _last(entry, "version", 0)
        low, high = OPSETS.get(domain, (1, 0))
        if domain not in OPSETS:
            raise _refuse(where, f"imports operators of the domain '{domain[:60]}'")
        if not low <= version <= high:
            raise _refuse(where, f"imports {domain or 'ai.onnx'} opset {version}")
        if opsets.get(domain, version) != version:
            raise _refuse(where, f"imports two opsets of '{domain or 'ai.onnx'}'")
        opsets[domain] = version
    if not any(d in opsets for d in DEFAULT_DOMAINS):
        raise _refuse(where, "imports no default-domain opset")
    return opsets


def _check_nodes(nodes: list, opsets: dict, where: str) -> None:
    """Every node: an allow-listed operator of an imported domain; its tensors checked."""
    if len(nodes) > MAX_NODES:
        raise _refuse(where, f"has {len(nodes)} nodes (over {MAX_NODES})")
    for node in nodes:
        domain, op = _last(node, "domain", ""), _last(node, "op_type", "")
        allowed = ONNX_OPS if domain in DEFAULT_DOMAINS else ONNX_ML_OPS
        if domain not in (*DEFAULT_DOMAINS, ML_DOMAIN) or domain not in opsets and domain:
            raise _refuse(where, f"uses the operator '{op[:60]}' of the domain '{domain[:60]}'")
        if op not in allowed:
            raise _refuse(
                where, f"uses the operator '{op[:60]}', which no model of the plugin uses"
            )
        for attribute in node.get("attribute", []):
            for t in attribute.get("t", []) + attribute.get("tensors", []):
                _check_tensor(t, where)


def _value_shape(value: dict, where: str) -> tuple[str, list]:
    """(name, dims) of a float tensor input or output; a dim is an int or None (free)."""
    name = _last(value, "name", "")
    tensor = _last(_last(value, "type", {}), "tensor_type")
    if tensor is None or _last(tensor, "elem_type") != FLOAT:
        raise _refuse(where, f"has '{name[:60]}', which is not a float tensor")
    shape = _last(tensor, "shape")
    if shape is None:
        raise _refuse(where, f"does not say the shape of '{name[:60]}'")
    dims = [_last(d, "dim_value") if "dim_value" in d else None for d in shape.get("dim", [])]
    return name, dims


def _check_io(graph: dict, entry: dict, where: str) -> None:
    """Inputs and outputs: those of the manifest's ``onnx`` entry, with its shapes."""
    initializers = {_last(t, "name", "") for t in graph.get("initializer", [])}
    inputs = [v for v in graph.get("input", []) if _last(v, "name", "") not in initializers]
    if [_last(v, "name", "") for v in inputs] != [entry["input"]]:
        names = ", ".join(_last(v, "name", "")[:40] for v in inputs)
        raise _refuse(where, f"takes the inputs [{names}], its manifest says ['{entry['input']}']")
    _, dims = _value_shape(inputs[0], where)
    want = [None, *entry["input_shape"]]
    if len(dims) != len(want) or dims[0] is not None or dims[1:] != want[1:]:
        raise _refuse(
            where, f"takes inputs of shape {_shape(dims)}, its manifest says {_shape(want)}"
        )
    outputs = graph.get("output", [])
    names = [_last(v, "name", "") for v in outputs]
    if names != list(entry["outputs"]):
        raise _refuse(
            where,
            f"has the outputs {[n[:40] for n in names]}, its manifest says {entry['outputs']}",
        )
    _, dims = _value_shape(outputs[names.index(entry["output"])], where)
    n = len(entry["output_codes"])
    if len(dims) != 2 or dims[1] != n:
        raise _refuse(
            where, f"outputs probabilities of shape {_shape(dims)}, its manifest says (N, {n})"
        )


def _shape(dims: list) -> str:
    return "(" + ", ".join("N" if d is None else str(d) for d in dims) + ")"


def check_entry(entry: Any, where: str) -> None:
    """Raise LczError when a manifest's ``onnx`` entry with a graph is not what the plugin
    writes: the member, the input name and shape (whole numbers), the output names and
    the LCZ codes (distinct, within 1..17) of the probability columns."""

    def bad(what: str) -> LczError:
        return LczError(f"{where} has a damaged or edited manifest: its 'onnx' entry {what}")

    if not isinstance(entry, dict) or not ENTRY_KEYS <= set(entry):
        raise bad(f"lacks {sorted(ENTRY_KEYS - set(entry or {}))}")
    if entry["member"] != MEMBER:
        raise bad(f"names the member '{str(entry['member'])[:40]}' (not {MEMBER})")
    if not isinstance(entry["input"], str) or not _whole_list(entry["input_shape"], 1):
        raise bad("has no input name and shape")
    outputs = entry["outputs"]
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise bad("has no output names")
    if entry["output"] not in outputs:
        raise bad(f"names the output '{str(entry['output'])[:40]}', not one of its outputs")
    codes = entry["output_codes"]
    if not _whole_list(codes, 1) or len(set(codes)) != len(codes) or not set(codes) <= set(CODES):
        raise bad(f"has output codes {str(codes)[:60]}, not distinct LCZ codes 1..17")
    if "votes" in entry and not _whole_list([entry["votes"]], 1):
        raise bad(f"has votes {str(entry['votes'])[:40]}, not a tree count")


def _whole_list(values, low: int) -> bool:
    return (
        isinstance(values, list)
        and bool(values)
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= low for v in values)
    )


def has_graph(manifest: dict) -> bool:
    """Whether a manifest says its file carries an ONNX graph (an ``onnx`` entry with a
    ``member``; an entry with only a ``note`` says why there is none)."""
    entry = manifest.get("onnx")
    return isinstance(entry, dict) and "member" in entry


def check_graph(payload, entry: dict, where: str) -> dict[str, int]:
    """Check the ONNX graph ``payload`` (bytes) against the module's rules and the
    manifest's ``onnx`` ``entry`` (checked by :func:`check_entry`) before ONNX Runtime
    reads it. ``where`` names the file (quoted). Returns the graph's opsets.

    Raises:
        LczError: a damaged, oversized or hostile graph, or one not fitting its manifest.
    """
    if len(payload) > MAX_GRAPH_BYTES:
        raise _refuse(where, f"is {_size(len(payload))} (over {_size(MAX_GRAPH_BYTES)})")
    try:
        model = _part(memoryview(payload), "model", where)
        graphs = model.get("graph", [])
        if len(graphs) != 1:
            raise _Damaged(f"it has {len(graphs)} graphs")
        opsets = _check_opsets(model, where)
        graph = graphs[0]
        _check_nodes(graph.get("node", []), opsets, where)
        for t in graph.get("initializer", []):
            _check_tensor(t, where)
        _check_io(graph, entry, where)
    except _Damaged as exc:
        raise LczError(f"{where}: its ONNX graph is damaged ({exc})") from None
    except RecursionError:  # pragma: no cover - parts nest at most 6 deep
        raise LczError(f"{where}: its ONNX graph is nested too deeply") from None
    return opsets


__all__ = [
    "MAX_GRAPH_BYTES", "MAX_NODES", "MAX_TENSOR_BYTES", "MEMBER", "ONNX_ML_OPS", "ONNX_OPS",
    "OPSETS", "QUANT_OPS", "check_entry", "check_graph", "has_graph",
]  # fmt: skip
