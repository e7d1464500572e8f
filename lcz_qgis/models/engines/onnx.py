"""The ONNX Runtime engine: the only module that imports onnxruntime.

It runs the ONNX graph an ``.lczmodel`` carries beside its framework member
(``model.onnx``, written by :mod:`..onnx_export`; docs/onnx.md), so a model predicts
with numpy and onnxruntime only, whatever TensorFlow or scikit-learn is installed.
The graph is checked by :mod:`..onnx_safety` (operators, external data, sizes, inputs
and outputs against the manifest) before ONNX Runtime reads it; it is given to ONNX
Runtime as bytes, on the CPU provider, with no custom operator library.

The graph's probability output has one column per LCZ code of the manifest's
``onnx.output_codes`` (17 for a network, a forest's own classes); ``predict`` scatters
them to the 17 codes after the session, as the scikit-learn engine does. Threads: the
session uses as many intra-op threads as the cores the process may run on (or
``configure``'s count), one inter-op thread, and its threads do not spin while idle
(with spinning ONNX Runtime used 1.3-2x the CPU on a shared machine, docs/onnx.md). A
patch's probabilities may differ by float noise from batch to batch, so the engine is
not ``batch_invariant``, except a forest whose entry has ``votes`` (its tree count: every
leaf holds one class, :func:`..onnx_export.tree_votes`): its probabilities are whole votes,
and are rounded to them, which gives scikit-learn's numbers bit for bit.
"""

from __future__ import annotations

import os

import numpy as np

from ...common.enums import Framework
from ...common.errors import LczError, first_line, require
from ...common.legend import N_CLASSES
from .. import onnx_safety
from ..model import check_model_input
from . import Engine


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _session(graph: bytes, threads: int, deterministic: bool):
    """An ONNX Runtime session of checked ``graph`` bytes on the CPU."""
    ort = require("onnxruntime", "onnxruntime", "Predicting with ONNX models")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.use_deterministic_compute = bool(deterministic)
    options.log_severity_level = 3  # errors only: warnings would go to QGIS's stderr
    return ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])


class OnnxEngine(Engine):
    """A checked ONNX graph run by ONNX Runtime; ``network`` is its session, ``entry``
    the manifest's ``onnx`` entry (names, shapes, output codes)."""

    framework = Framework.ONNX
    label = "ONNX Runtime"
    extensions = ()
    member = onnx_safety.MEMBER
    member_bytes = onnx_safety.MAX_GRAPH_BYTES
    # ONNX Runtime's tree ensembles sum a patch's trees in another order for another
    # batch (differences of 1e-7 for a 200-tree forest): pad to a fixed batch where tiles
    # must match bit for bit (LczModel.fixed_batch); a forest of whole votes (the
    # entry's ``votes``) is rounded to them, the same in any batch
    batch_invariant = False
    imports = ("onnxruntime",)

    def __init__(self, graph: bytes, entry: dict, where: str = "the model"):
        self._graph = graph
        self.entry = entry
        self.codes = np.asarray(entry["output_codes"], dtype=np.int64)
        self._votes = entry.get("votes")
        if self._votes:  # whole votes: the same numbers in any batch
            self.batch_invariant = True
        self._where = where
        self._threads = usable_cores()
        self._deterministic = False
        self.network = self._open()

    @classmethod
    def load(cls, source, manifest, where):
        if manifest is None or not isinstance(source, (bytes, bytearray, memoryview)):
            raise LczError(f"{where}: an ONNX graph is read only from an .lczmodel file")
        entry = manifest.get("onnx")
        onnx_safety.check_entry(entry, where)
        onnx_safety.check_graph(source, entry, where)
        engine = cls(bytes(source), entry, where)
        check_model_input(manifest, where, engine.input_shape, "its ONNX graph")
        return engine

    @staticmethod
    def dumps(network) -> bytes:
        raise LczError(
            "an ONNX graph is written from the framework's model (models.onnx_export), "
            "not from an ONNX Runtime session"
        )

    def _open(self):
        """The session, its input and output names checked against the entry."""
        try:
            session = _session(self._graph, self._threads, self._deterministic)
        except LczError:
            raise
        except Exception as exc:  # noqa: BLE001 - any ONNX Runtime failure is a bad graph
            raise LczError(
                f"{self._where}: ONNX Runtime cannot load its graph ({first_line(exc)})"
            ) from None
        inputs = [i.name for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]
        if inputs != [self.entry["input"]] or outputs != list(self.entry["outputs"]):
            raise LczError(
                f"{self._where}: its ONNX graph takes {inputs} and gives {outputs}, its "
                f"manifest says [{self.entry['input']!r}] and {self.entry['outputs']}"
            )
        return session

    @property
    def input_shape(self):
        return tuple(int(d) for d in self.entry["input_shape"])

    def prepare(self, n):
        pass

    def configure(self, threads, deterministic):
        threads, deterministic = max(1, int(threads)), bool(deterministic)
        if (threads, deterministic) != (self._threads, self._deterministic):
            self._threads, self._deterministic = threads, deterministic
            self.network = self._open()

    def predict(self, x, batch_size):
        x = np.ascontiguousarray(x, dtype=np.float32)
        name, output = self.entry["input"], [self.entry["output"]]
        n_codes = len(self.codes)
        out = np.zeros((len(x), N_CLASSES), np.float32)
        for start in range(0, len(x), max(1, int(batch_size))):
            batch = x[start : start + batch_size]
            p = np.asarray(self.network.run(output, {name: batch})[0])
            if p.shape != (len(batch), n_codes):
                raise LczError(
                    f"{self._where}: its ONNX graph gives probabilities of shape {p.shape}, "
                    f"expected ({len(batch)}, {n_codes})"
                )
            if self._votes:
                p = np.rint(p.astype(np.float64) * self._votes) / self._votes
            out[start : start + len(batch), self.codes - 1] = p
        return out


ENGINE = OnnxEngine

__all__ = ["ENGINE", "OnnxEngine", "usable_cores"]
