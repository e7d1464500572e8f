"""``lcz quantize-model``: a model file whose ONNX graph computes in int8.

The float ONNX graph of a network's model file (docs/onnx.md) is quantised with ONNX
Runtime's static quantisation: ``quant_pre_process`` (shape inference, BatchNormalization
folded into the convolutions), then ``quantize_static`` in the QDQ format (a
``QuantizeLinear``/``DequantizeLinear`` pair around each quantised tensor, which ONNX
Runtime fuses into its int8 kernels when it loads the graph), weights int8 per output
channel, activations int8 (or uint8: ``ACTIVATIONS``), ranges from the MinMax calibrator.
Calibration windows come from a So2Sat-style HDF5 file (labels optional), read
``BATCH`` rows at a time (``so2sat.batches.PatchReader``, never the whole file; windows
with NaN, inf or out-of-range values dropped) through the manifest's
preprocessing; MinMax keeps only each tensor's minimum and maximum per batch, so memory
does not grow with the window count.

Rows of the file are split (seeded): ``held_out`` rows are never used for calibration.
The float and the int8 model then predict the calibration windows and the held-out
windows; the share of windows whose class (argmax) agrees is recorded in the manifest
(and the overall accuracy of both on the held-out windows when the file has labels).
When the held-out agreement is under ``min_agreement`` nothing is written, unless
``allow_low_agreement`` (then a warning goes to the log and into the manifest).

The new file holds only the int8 ONNX graph (``framework`` ``onnx``): it predicts with
ONNX Runtime only, has no Keras member to fine-tune, and its manifest says so. Random
forests are refused: their graph is a tree ensemble, with nothing to quantise.
"""

from __future__ import annotations

import json
import tempfile
import warnings
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np

from ..common.atomic import atomic_output, check_distinct_paths
from ..common.enums import Framework
from ..common.errors import LczError, param, require
from ..common.feedback import Feedback
from ..common.input_files import check_input_file
from . import onnx_safety, preprocessing, safety
from .model import LczModel
from .modelfile import SUFFIX, load_model

# the held-out agreement (argmax) a quantised model must reach unless allowed
MIN_AGREEMENT = 0.98
# calibration windows read at most (MinMax needs few; more only costs time)
CALIBRATION_WINDOWS = 1000
# held-out windows when not given: a quarter of the file, at most this many
HELD_OUT_WINDOWS = 5000
BATCH = 64
ACTIVATIONS = ("int8", "uint8")
SEED = 0
PREDICTION_NOTE = (
    "int8 ONNX graph only: this file predicts with ONNX Runtime (runtime auto or onnx), "
    "not TensorFlow, and holds no Keras model to fine-tune or quantise again; use the "
    "float model file for those"
)


def quantize_model_file(
    src,
    dst,
    calibration,
    held_out: int | None = None,
    min_agreement: float = MIN_AGREEMENT,
    allow_low_agreement: bool = False,
    activations: str = "int8",
    feedback: Feedback | None = None,
) -> dict:
    """Write the int8 model file ``dst`` of the network model file ``src``, calibrated on
    windows of the So2Sat HDF5 file ``calibration``.

    Args:
        src: a ``.lczmodel`` of a network with an ONNX graph.
        dst: the new ``.lczmodel`` (never ``src`` or ``calibration``).
        calibration: So2Sat-style HDF5 file (``sen1``/``sen2``, labels optional).
        held_out: windows of ``calibration`` kept out of calibration, to measure the
            agreement on (default: a quarter of the file, at most ``HELD_OUT_WINDOWS``).
        min_agreement: the held-out argmax agreement required (0 to 1).
        allow_low_agreement: write the file below ``min_agreement`` too, with a warning.
        activations: ``int8`` (S8S8) or ``uint8`` (U8S8, VNNI's native form).
        feedback: progress, messages, cancel.

    Returns:
        The manifest's ``quantization`` entry (``held_out_agreement``,
        ``calibration_agreement``, window counts, ...) plus ``output``, the path written.

    Raises:
        LczError: bad arguments, a model without a graph or a forest, an unreadable
            calibration file, or a held-out agreement under ``min_agreement``.
    """
    feedback = feedback or Feedback()
    src, dst, calibration = Path(src), Path(dst), Path(calibration)
    _check_request(src, dst, calibration, min_agreement, activations)
    _check_model(src)
    model = load_model(src, runtime="onnx")
    graph = _float_graph(src, model)
    rows_cal, rows_held = _split_rows(calibration, model, held_out)
    feedback.progress(5)
    q_graph = _quantize(graph, model, calibration, rows_cal, activations, feedback)
    feedback.check_cancelled()
    feedback.progress(50)
    manifest = _int8_manifest(model, src, q_graph)
    int8 = LczModel(manifest, _engine(q_graph, manifest), None)
    cal = _agreement(model, int8, calibration, rows_cal, feedback, (50, 70))
    held = _agreement(model, int8, calibration, rows_held, feedback, (70, 95))
    entry = _entry(calibration, cal, held, min_agreement, activations)
    if held["agreement"] < min_agreement:
        _low_agreement(entry, held, min_agreement, allow_low_agreement, feedback)
    manifest["quantization"] = entry
    manifest["onnx"]["agreement"] = {"held_out_argmax_agreement": held["agreement"],
                                     "calibration_argmax_agreement": cal["agreement"]}  # fmt: skip
    _write(dst, manifest, q_graph, int8, calibration, rows_held)
    feedback.progress(100)
    feedback.info(f"{src.name} quantised to {dst.name}: the class agrees with the float "
                  f"model on {held['agreement']:.2%} of {held['windows']} held-out windows "
                  f"({cal['agreement']:.2%} of {cal['windows']} calibration windows)")  # fmt: skip
    return {"output": str(dst), **entry}


def _check_request(src: Path, dst: Path, calibration: Path, min_agreement, activations) -> None:
    """Every argument checked before anything is read or written."""
    if dst.suffix.lower() != SUFFIX:
        raise LczError(f"{param('OUTPUT')}: the int8 model is written as an {SUFFIX} file; "
                       f"give a {SUFFIX} name, not '{dst.name}'")  # fmt: skip
    check_distinct_paths({param("INPUT"): src, param("CALIBRATION"): calibration},
                         {param("OUTPUT"): dst})  # fmt: skip
    check_input_file(src, param("INPUT"))
    check_input_file(calibration, param("CALIBRATION"))
    if not 0.0 <= float(min_agreement) <= 1.0:
        raise LczError(f"{param('MIN_AGREEMENT')} is {min_agreement}; give a share from 0 to 1")
    if activations not in ACTIVATIONS:
        raise LczError(
            f"{param('ACTIVATIONS')} is '{str(activations)[:20]}'; use {' or '.join(ACTIVATIONS)}"
        )
    require("onnxruntime", "onnxruntime", "Quantising a model")
    require("onnx", "onnx", "Quantising a model")


def _check_model(src: Path) -> None:
    """Refuse ``src`` unless it is an ``.lczmodel`` of a network whose manifest lists an
    ONNX graph: a plain file, a forest or an int8 file has nothing to quantise."""
    if src.suffix.lower() != SUFFIX:
        raise LczError(f"'{src.name}' is a plain file without an ONNX graph; `lcz upgrade-model` "
                       "writes it as an .lczmodel with one, which can then be quantised")  # fmt: skip
    from .modelfile import read_manifest

    manifest = read_manifest(src)
    if manifest.get("framework") == Framework.SKLEARN:
        raise LczError(f"'{src.name}' is a random forest: its ONNX graph is a tree ensemble, "
                       "with no weights or activations to quantise; it runs at full speed as "
                       "it is")  # fmt: skip
    if manifest.get("quantization") is not None:
        raise LczError(f"'{src.name}' is already an int8 model; quantise the float model file")
    if not onnx_safety.has_graph(manifest):
        raise LczError(f"'{src.name}' has no ONNX graph; `lcz upgrade-model` adds one")


def _float_graph(src: Path, model: LczModel) -> bytes:
    """The checked float ONNX graph of the model file ``src``."""
    where = f"'{src.name}'"
    with zipfile.ZipFile(src) as z:
        graph = bytes(safety.read_member(z, onnx_safety.MEMBER, onnx_safety.MAX_GRAPH_BYTES, where))
    onnx_safety.check_graph(graph, model.manifest["onnx"], where)
    return graph


def _split_rows(calibration: Path, model: LczModel, held_out) -> tuple[np.ndarray, np.ndarray]:
    """(calibration rows, held-out rows) of the file, sorted, disjoint, seeded."""
    from ..so2sat.file import So2SatFile

    with So2SatFile(calibration, require=()) as f:
        f.check_sensor(model.sensor)
        n = f.n
    if n < 2:
        raise LczError(f"'{calibration.name}' holds {n} window(s); quantising needs windows to "
                       "calibrate on and others held out to check the result")  # fmt: skip
    h = min(n // 4, HELD_OUT_WINDOWS) if held_out is None else int(held_out)
    if not 1 <= h < n:
        raise LczError(f"{param('HELD_OUT')} is {held_out}; '{calibration.name}' holds {n} "
                       f"windows: hold out 1 to {n - 1} of them")  # fmt: skip
    order = np.random.default_rng(SEED).permutation(n)
    return np.sort(order[h : h + CALIBRATION_WINDOWS]), np.sort(order[:h])


def _batches(calibration: Path, model: LczModel, rows: np.ndarray, labels: bool = False):
    """Batches ``(x, codes)`` of the file's windows ``rows`` (sorted) in the model's bands
    (So2Sat scale, float32), read ``BATCH`` rows at a time; windows with NaN, inf or values
    beyond the physical range dropped; ``codes`` None unless ``labels``."""
    from ..common.bands import channel_limits, patches_in_range
    from ..so2sat.batches import PatchReader
    from ..so2sat.file import So2SatFile

    with So2SatFile(calibration, require=()) as f:
        reader = PatchReader(f, model.sensor, model.bands)
        limits = channel_limits(model.sensor, model.bands)
        try:
            for start in range(0, len(rows), BATCH):
                part = rows[start : start + BATCH]
                x = reader.read(part)
                ok = patches_in_range(x, limits)
                yield x[ok], (f.labels(part)[ok] if labels else None)
        finally:
            reader.close()


class _Reader:
    """ONNX Runtime's CalibrationDataReader over the file's windows, preprocessed."""

    def __init__(self, batches, name: str, steps: list, feedback: Feedback):
        self._it = iter(batches)
        self._name, self._steps, self._feedback = name, steps, feedback

    def get_next(self):
        self._feedback.check_cancelled()
        for x, _ in self._it:
            if len(x):
                return {self._name: np.ascontiguousarray(preprocessing.apply(x, self._steps))}
        return None


def _quantize(graph: bytes, model, calibration, rows, activations, feedback) -> bytes:
    """The QDQ int8 graph of ``graph``, calibrated on the windows ``rows``."""
    from onnxruntime import quantization as q
    from onnxruntime.quantization.shape_inference import quant_pre_process

    entry = model.manifest["onnx"]
    reader = _Reader(_batches(calibration, model, rows), entry["input"],
                     model.manifest.get("preprocessing", []), feedback)  # fmt: skip
    act = q.QuantType.QInt8 if activations == "int8" else q.QuantType.QUInt8
    with tempfile.TemporaryDirectory(prefix="lcz-quantize-") as d, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain, ready, out = (str(Path(d) / n) for n in ("float.onnx", "pre.onnx", "int8.onnx"))
        Path(plain).write_bytes(graph)
        quant_pre_process(plain, ready)
        try:
            q.quantize_static(ready, out, reader, quant_format=q.QuantFormat.QDQ,
                              per_channel=True, activation_type=act,
                              weight_type=q.QuantType.QInt8,
                              calibrate_method=q.CalibrationMethod.MinMax)  # fmt: skip
        except ValueError as exc:
            if "No data is collected" not in str(exc):
                raise
            raise LczError(f"'{calibration.name}' has no valid windows to calibrate on "
                           "(all hold NaN, inf or values out of range)") from None  # fmt: skip
        return _unused_opsets_dropped(Path(out).read_bytes())


def _unused_opsets_dropped(graph: bytes) -> bytes:
    """``graph`` without the opset imports of domains none of its nodes use (the
    quantiser imports ``ai.onnx.training`` and ``com.microsoft`` whether used or not);
    the safety check refuses every domain but the default one and ``ai.onnx.ml``."""
    import onnx

    proto = onnx.load_from_string(graph)
    used = {n.domain for n in proto.graph.node} | {"", "ai.onnx"}
    keep = [o for o in proto.opset_import if o.domain in used]
    del proto.opset_import[:]
    proto.opset_import.extend(keep)
    return proto.SerializeToString()


def _int8_manifest(model: LczModel, src: Path, q_graph: bytes) -> dict:
    """The new file's manifest: the float model's, its graph as the only model member."""
    from .modelfile import library_versions

    old = model.manifest
    entry = {k: v for k, v in old["onnx"].items() if k not in ("agreement", "opset")}
    entry["opset"] = _opsets(q_graph)
    entry["converter"] = f"onnxruntime {metadata.version('onnxruntime')} quantize_static (QDQ)"
    entry["versions"] = {d: metadata.version(d) for d in ("onnx", "onnxruntime")}
    manifest = dict(old)
    manifest.update(framework=Framework.ONNX.value, model_member=onnx_safety.MEMBER,
                    onnx=entry, prediction=PREDICTION_NOTE, library_versions=library_versions(),
                    quantized_from={"file": src.name, "framework": old["framework"],
                                    "library_versions": old.get("library_versions", {})})  # fmt: skip
    return manifest


def _opsets(graph: bytes) -> dict:
    import onnx

    proto = onnx.load_from_string(graph)
    return {o.domain or "ai.onnx": int(o.version) for o in proto.opset_import}


def _engine(q_graph: bytes, manifest: dict):
    """The ONNX Runtime engine of the int8 graph, checked as any file's graph is."""
    from .engines.onnx import OnnxEngine

    return OnnxEngine.load(q_graph, manifest, "the int8 ONNX graph")


def _agreement(float_model, int8, calibration, rows, feedback, span) -> dict:
    """Argmax agreement of the two models on the windows ``rows`` (streamed), and both
    overall accuracies when the file has labels."""
    from ..so2sat.file import So2SatFile

    with So2SatFile(calibration, require=()) as f:
        labels = f.has_labels
    same = hits_f = hits_q = n = 0
    for x, codes in _batches(calibration, float_model, rows, labels):
        feedback.check_cancelled()
        if not len(x):
            continue
        a = float_model.predict(x, BATCH)
        b = int8.predict(x, BATCH)
        same += int(np.sum(a == b))
        n += len(x)
        if labels:
            hits_f, hits_q = hits_f + int(np.sum(a == codes)), hits_q + int(np.sum(b == codes))
        feedback.progress(span[0] + (span[1] - span[0]) * n / max(1, len(rows)))
    if n == 0:
        raise LczError(f"'{calibration.name}' has no valid windows among those held out "
                       "(all hold NaN, inf or values out of range)")  # fmt: skip
    out = {"windows": n, "agreement": same / n}
    if labels:
        out["oa_float"], out["oa_int8"] = hits_f / n, hits_q / n
    return out


def _entry(calibration: Path, cal: dict, held: dict, min_agreement, activations) -> dict:
    """The manifest's ``quantization`` entry."""
    return {
        "method": "onnxruntime static quantisation, QDQ format, MinMax calibration",
        "weights": "int8, per output channel",
        "activations": activations,
        "calibration_file": calibration.name,
        "calibration_windows": cal["windows"],
        "calibration_agreement": cal["agreement"],
        "held_out_windows": held["windows"],
        "held_out_agreement": held["agreement"],
        "min_agreement": float(min_agreement),
        "split": f"rows permuted with seed {SEED}: the first held out, up to "
        f"{CALIBRATION_WINDOWS} of the rest calibrate",
        **{f"held_out_{k}": v for k, v in held.items() if k.startswith("oa_")},
    }


def _low_agreement(entry: dict, held: dict, min_agreement, allowed: bool, feedback) -> None:
    """Refuse a held-out agreement under ``min_agreement`` (nothing is written), or, when
    ``allowed``, warn in the log and the manifest."""
    what = (f"the int8 model's class agrees with the float model on only "
            f"{held['agreement']:.2%} of {held['windows']} held-out windows (at least "
            f"{min_agreement:.2%} required)")  # fmt: skip
    if not allowed:
        raise LczError(f"{what}; nothing was written (give {param('ALLOW_LOW_AGREEMENT')} "
                       "to write it anyway, or calibrate on windows more like the map's)")  # fmt: skip
    entry["warning"] = f"LOW AGREEMENT: {what}; written because low agreement was allowed"
    feedback.warning(f"WARNING: {entry['warning']}")


def _write(dst: Path, manifest: dict, q_graph: bytes, int8: LczModel, calibration, rows) -> None:
    """The int8 ``.lczmodel``, staged: read back, it must predict as measured."""
    with atomic_output(dst) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("manifest.json", json.dumps(manifest, indent=2))
            z.writestr(onnx_safety.MEMBER, q_graph)
        back = load_model(tmp, runtime="onnx")
        x = next((x for x, _ in _batches(calibration, int8, rows[:BATCH]) if len(x)), None)
        if x is not None and not np.array_equal(back.predict(x), int8.predict(x)):
            raise LczError(f"the int8 file written as '{dst.name}' does not read back as "
                           "it was measured; nothing was written")  # fmt: skip


__all__ = ["MIN_AGREEMENT", "quantize_model_file"]
