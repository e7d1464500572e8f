"""The ONNX graph of a model file: written beside the framework member, checked, recorded.

Every ``.lczmodel`` the plugin writes carries ``model.onnx`` (docs/onnx.md) when the
converters are installed: a Keras network through Keras's own ONNX export
(``model.export(format="onnx")``, tf2onnx underneath on TensorFlow), a random forest
through skl2onnx (the forest itself: its input is the patch features the plugin
computes in numpy, its probability output one column per class of the forest, without
ZipMap). Before a graph is kept, ONNX Runtime and the framework predict the same probe
windows (random windows within each channel's physical span, :mod:`..common.bands`,
through the manifest's preprocessing); they must agree within :data:`TOLERANCE`. The
manifest's ``onnx`` entry records the names, shapes and output codes the safety check
holds the graph to (:mod:`.onnx_safety`), and the agreement (largest absolute
difference, argmax agreement), versions, converter and opsets.

When a converter is missing, or the graph does not agree, the file is written without
a graph and the ``onnx`` entry says why in ``note`` (never an error): it then runs on
its framework, and writing it again where the converters are adds the graph.

This module imports neither TensorFlow nor onnxruntime by name: it drives the Keras
network through its own ``export`` method and runs both sides through their engines.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import tempfile
import warnings
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np

from ..common.bands import PATCH_SIZE, SEN1_CHANNELS, sensor_channels
from ..common.enums import Framework
from ..common.errors import LczError, first_line
from ..common.legend import CODES
from . import onnx_safety, preprocessing, safety
from .engines import engine_class

# the default-domain opset the plugin writes (ONNX Runtime 1.13+ runs it)
OPSET = 17
ML_OPSET = 3
# probabilities of ONNX Runtime and the framework may differ at most this much
TOLERANCE = 1e-5
PROBES = 64
# each channel's physical span (common.bands): Sentinel-2 reflectance about -0.1 to 1.6;
# Sentinel-1 complex and covariance parts within +-1, intensities 0 to 1
S2_SPAN = (-0.1, 1.6)
S1_SPAN = (-1.0, 1.0)
S1_INTENSITY_SPAN = (0.0, 1.0)
# what each framework needs to write a graph: importable modules
CONVERTERS = {
    Framework.KERAS: ("onnx", "tf2onnx", "onnxruntime"),
    Framework.SKLEARN: ("onnx", "skl2onnx", "onnxruntime"),
}
_VERSIONS = ("onnx", "onnxruntime", "tf2onnx", "skl2onnx", "keras", "scikit-learn")


def missing_converters(framework) -> list[str]:
    """The modules that writing an ONNX graph for ``framework`` needs and cannot import
    (empty: a graph can be written)."""
    needed = CONVERTERS.get(Framework(framework), ("onnx",))
    return [m for m in needed if not importable(m)]


def importable(module: str) -> bool:
    """Whether ``module`` can be imported (a module blocked in ``sys.modules`` cannot)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


def probe_windows(manifest: dict, n: int = PROBES, seed: int = 0) -> np.ndarray:
    """``n`` random windows (n, 32, 32, C) of the manifest's bands, each channel uniform
    within its physical span (``S2_SPAN``, ``S1_SPAN``, ``S1_INTENSITY_SPAN``)."""
    names = sensor_channels(manifest["sensor"])
    rng = np.random.default_rng(seed)
    spans = [_span(names[b]) for b in manifest["bands"]]
    low = np.asarray([s[0] for s in spans], np.float32)
    high = np.asarray([s[1] for s in spans], np.float32)
    u = rng.random((n, PATCH_SIZE, PATCH_SIZE, len(spans)), dtype=np.float32)
    return low + u * (high - low)


def _span(name: str) -> tuple[float, float]:
    """The span of a channel named as ``sensor_channels`` names it."""
    bare = name.removeprefix("S1_")
    if bare in SEN1_CHANNELS:
        return S1_INTENSITY_SPAN if bare.endswith("intensity") else S1_SPAN
    return S2_SPAN


def graph_entry(framework, network, manifest: dict, member: bytes) -> tuple[bytes | None, dict]:
    """The ONNX graph of ``network`` (the framework's model object, saved as the file's
    ``member`` bytes) for a file with ``manifest``, and the manifest's ``onnx`` entry:
    ``(graph, entry)`` when the graph was written and agrees with the framework,
    ``(None, {"note": why})`` otherwise. A Keras network whose saved config the plugin
    would not load (:mod:`.safety`: a Lambda layer) is neither run nor converted."""
    framework = Framework(framework)
    missing = missing_converters(framework)
    if missing:
        return None, _note(f"{', '.join(missing)} not installed")
    try:
        if framework == Framework.KERAS:
            _check_keras_member(member)
        graph, entry = _convert(framework, network, manifest)
        _record_agreement(framework, network, manifest, graph, entry)
    except Exception as exc:  # noqa: BLE001 - the file is still written, on its framework
        return None, _note(first_line(exc))
    return graph, entry


def _check_keras_member(member: bytes) -> None:
    """The config of a saved ``.keras`` member passes :mod:`.safety`'s checks."""
    where = "the Keras model"
    try:
        with zipfile.ZipFile(io.BytesIO(member)) as z:
            text = safety.read_member(z, "config.json", safety.MAX_CONFIG_BYTES, where)
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        raise LczError(f"{where} has no readable config ({first_line(exc)})") from None
    safety.parse_keras_config(text, where)


def _note(why: str) -> dict:
    return {
        "note": f"no ONNX graph ({why[:300]}); the model runs on its framework, and "
        "writing the file again where onnx, onnxruntime and the converters are installed "
        "adds one (docs/onnx.md)"
    }


def _convert(framework: Framework, network, manifest: dict) -> tuple[bytes, dict]:
    """The graph bytes and the entry's names, shapes and codes."""
    probes = preprocessing.apply(probe_windows(manifest, 2), manifest.get("preprocessing", []))
    if framework == Framework.KERAS:
        network(probes, training=False)  # Keras 3 exports only a model it has called
        graph, codes = _keras_graph(network), list(CODES)
        converter = f"keras {_version('keras')} export (tf2onnx {_version('tf2onnx')})"
    elif framework == Framework.SKLEARN:
        from .engines.sklearn import forest_codes

        codes = [int(c) for c in forest_codes(network, manifest, "the random forest")]
        graph = _forest_graph(network, int(probes.shape[1]))
        converter = f"skl2onnx {_version('skl2onnx')}"
    else:
        raise LczError(f"no ONNX converter for {framework}")
    entry = {"member": onnx_safety.MEMBER, **_io_names(graph, probes.shape[1:]),
             "output_codes": codes, "converter": converter}  # fmt: skip
    votes = tree_votes(network) if framework == Framework.SKLEARN else None
    if votes:
        entry["votes"] = votes
    return graph, entry


def tree_votes(estimator) -> int | None:
    """The forest's tree count when every leaf of every tree holds one class (a fully
    grown forest's): its probabilities are then whole votes over the trees, which the
    ONNX engine rounds to, so that ONNX Runtime's float32 sums give scikit-learn's
    numbers bit for bit (and its ties). None when a leaf holds several classes."""
    trees = getattr(estimator, "estimators_", None)
    if not trees or getattr(estimator, "n_outputs_", 1) != 1:
        return None
    for tree in trees:
        t = tree.tree_
        leaves = t.value[t.children_left == -1, 0, :]
        if (np.count_nonzero(leaves, axis=1) != 1).any():
            return None
    return len(trees)


def _keras_graph(network) -> bytes:
    """A Keras network through Keras's ``export(format="onnx")``."""
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf2onnx's numpy-2 patch warns on numpy 1
        path = Path(d) / "model.onnx"
        network.export(str(path), format="onnx", verbose=False, opset_version=OPSET)
        return fold_batch_reshapes(path.read_bytes())


def fold_batch_reshapes(graph: bytes) -> bytes:
    """``graph`` with each ``Reshape`` whose target shape is computed from the input's
    batch size (``Shape -> Gather -> Unsqueeze -> Concat``, what Keras 3's ``Flatten`` and
    ``Reshape`` trace) given the constant shape ``[-1, d1, ...]`` instead, and the shape
    nodes that fed only them removed.

    tf2onnx folds these chains through TensorFlow's grappler, but not in every process
    state: after some sequences of earlier exports in one process the chain stayed,
    and :mod:`.onnx_safety` refuses ``Shape`` (an operator no converted model needs).
    The folded shape comes from ONNX's shape inference with data propagation; a
    ``Reshape`` whose output has another unknown dimension is left as it is. The
    agreement check on probe windows then runs on the folded graph."""
    import onnx
    from onnx import numpy_helper, shape_inference

    proto = onnx.load_from_string(graph)
    nodes = proto.graph.node
    if not any(n.op_type == "Shape" for n in nodes):
        return graph
    inferred = shape_inference.infer_shapes(proto, data_prop=True)
    dims = {}
    for info in [*inferred.graph.value_info, *inferred.graph.output]:
        shape = info.type.tensor_type.shape
        dims[info.name] = [d.dim_value if d.HasField("dim_value") else None for d in shape.dim]
    constants = {t.name for t in proto.graph.initializer}
    for node in nodes:
        out = dims.get(node.output[0]) if node.op_type == "Reshape" else None
        if not out or node.input[1] in constants or None in out[1:]:
            continue
        name = f"{node.name or node.output[0]}__folded_shape"
        shape = np.array([-1, *out[1:]], dtype=np.int64)
        proto.graph.initializer.append(numpy_helper.from_array(shape, name))
        constants.add(name)
        node.input[1] = name
    _drop_unused(proto.graph)
    return proto.SerializeToString()


def _drop_unused(graph) -> None:
    """Remove the nodes and initializers of ``graph`` (an ONNX GraphProto) whose outputs
    nothing reads, until none is left."""
    while True:
        used = {o.name for o in graph.output} | {i for n in graph.node for i in n.input}
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        for n in dead:
            graph.node.remove(n)
        if not dead:
            break
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    for t in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(t)


def _forest_graph(estimator, n_features: int) -> bytes:
    """A scikit-learn forest through skl2onnx: float features in, ``label`` and
    ``probabilities`` (one column per class, no ZipMap) out."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = to_onnx(
            estimator,
            initial_types=[("features", FloatTensorType([None, n_features]))],
            options={id(estimator): {"zipmap": False}},
            target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
        )
    return proto.SerializeToString()


def _io_names(graph: bytes, input_shape: tuple) -> dict:
    """The graph's input, outputs, probability output and opsets (read with ``onnx``)."""
    import onnx

    proto = onnx.load_from_string(graph)
    init = {t.name for t in proto.graph.initializer}
    inputs = [i.name for i in proto.graph.input if i.name not in init]
    outputs = [o.name for o in proto.graph.output]
    if len(inputs) != 1:
        raise LczError(f"the converter wrote a graph with inputs {inputs}, not one")
    output = "probabilities" if "probabilities" in outputs else outputs[-1]
    opsets = {o.domain or "ai.onnx": int(o.version) for o in proto.opset_import}
    return {"input": inputs[0], "input_shape": [int(d) for d in input_shape],
            "outputs": outputs, "output": output, "opset": opsets}  # fmt: skip


def _record_agreement(framework, network, manifest, graph: bytes, entry: dict) -> None:
    """Predict the probe windows on both engines; record the agreement in ``entry``, or
    raise LczError when they differ by more than :data:`TOLERANCE`."""
    from .engines.onnx import OnnxEngine

    x = preprocessing.apply(probe_windows(manifest), manifest.get("preprocessing", []))
    onnx_safety.check_graph(graph, entry, "the new ONNX graph")
    theirs = _framework_engine(framework, network, entry).predict(x, PROBES)
    ours = OnnxEngine(graph, entry, "the new ONNX graph").predict(x, PROBES)
    diff = float(np.max(np.abs(ours - theirs)))
    same = float(np.mean(np.argmax(ours, 1) == np.argmax(theirs, 1)))
    if not diff <= TOLERANCE:
        raise LczError(
            f"ONNX Runtime and {framework.value} differ by {diff:.2g} on probe windows "
            f"(over {TOLERANCE:g})"
        )
    entry["agreement"] = {
        "probes": len(x), "max_abs_diff": diff, "argmax_agreement": same,
        "tolerance": TOLERANCE, "probe_spans": "common.bands physical spans, seed 0",
    }  # fmt: skip
    entry["versions"] = {d: v for d in _VERSIONS if (v := _version(d))}


def _framework_engine(framework: Framework, network, entry: dict):
    """The framework's engine around ``network`` (the forest with the entry's codes)."""
    engine = engine_class(framework)
    if framework == Framework.SKLEARN:
        return engine(network, entry["output_codes"])
    return engine(network)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


__all__ = [
    "CONVERTERS", "OPSET", "PROBES", "TOLERANCE", "fold_batch_reshapes", "graph_entry",
    "importable", "missing_converters", "probe_windows",
]  # fmt: skip
