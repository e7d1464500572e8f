"""A loaded model: ``LczModel``, the one predict path of every framework.

``LczModel.predict_proba`` checks the patches (N, 32, 32, C) against the manifest,
applies the manifest's preprocessing, has the model's engine (:mod:`.engines`: a
scikit-learn forest, a Keras network, either's ONNX graph on ONNX Runtime) predict the (N, 17) probabilities and applies the
manifest's calibration temperature. What differs between frameworks lives in the engine;
this module imports none of them. ``models.modelfile.load_model`` makes an ``LczModel``
from a file.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..common.bands import PATCH_SIZE
from ..common.enums import Framework
from ..common.errors import LczError, first_line
from ..common.legend import N_CLASSES
from . import calibration, preprocessing

# patches per prediction call unless a caller says otherwise (classify, evaluate, calibrate)
DEFAULT_BATCH = 256
# what ``modelfile.load_model(runtime=...)`` accepts: ONNX Runtime when installed and the
# file has a graph, ONNX Runtime, or the model's own framework (TensorFlow/Keras, or
# scikit-learn for a random forest)
RUNTIMES = ("auto", "onnx", "tensorflow")
REDO = "re-export or re-train the model"


class LczModel:
    """A loaded model: its ``manifest``, the ``engine`` that runs its network, and the
    file it came from (``path``; None for a model made in memory).

    ``predict_proba(patches) -> (N, 17)`` is the one predict path. A model without an
    engine (a test double) overrides ``_predict``.
    """

    def __init__(
        self,
        manifest: dict,
        engine=None,
        path: Path | None = None,
        framework_engine: Callable[[], Any] | None = None,
    ):
        self.manifest = manifest
        self.engine = engine
        self.path = path
        self._pad: int | None = None
        # where the engine is ONNX Runtime: loads the framework's own engine on first use
        # of ``network`` (fine-tuning, a forest's estimator)
        self._framework_engine = framework_engine
        self._framework_loaded = None

    # -- what the manifest says -----------------------------------------------------------

    @property
    def sensor(self) -> str:
        """The sensor the model takes (``sen2``, ``sen1``, ``fusion``)."""
        return self.manifest["sensor"]

    @property
    def bands(self) -> list[int]:
        """The sensor channels the model takes, as indices."""
        return list(self.manifest["bands"])

    @property
    def model_type(self) -> str:
        """The model type of the manifest (``rf``, ``mlp``, ...)."""
        return self.manifest["model_type"]

    @property
    def input_channels(self) -> int:
        """How many channels a patch given to ``predict_proba`` has."""
        return int(self.manifest["input_channels"])

    @property
    def temperature(self) -> float | None:
        """The temperature of the manifest's ``calibration`` (temperature scaling), or None
        for an uncalibrated model."""
        entry = self.manifest.get("calibration")
        return float(entry["temperature"]) if entry else None

    # -- what the engine says -------------------------------------------------------------

    @property
    def runtime(self) -> str | None:
        """What runs the network (``Framework``): ``onnx`` for ONNX Runtime, otherwise
        the model's framework; None without an engine."""
        return None if self.engine is None else self.engine.framework

    @property
    def framework(self) -> str | None:
        """The model's own framework (``Framework``: ``sklearn`` or ``keras``), whatever
        runs it (``runtime``); None without an engine."""
        if self.engine is None:
            return None
        if self.engine.framework == Framework.ONNX and "framework" in self.manifest:
            return Framework(self.manifest["framework"])
        return self.engine.framework

    @property
    def network(self):
        """The framework's own model object (a scikit-learn estimator, a Keras model);
        for a model run by ONNX Runtime, loaded from its file on first use."""
        if self.engine is None:
            return None
        if self.engine.framework == Framework.ONNX and self._framework_engine is not None:
            if self._framework_loaded is None:
                self._framework_loaded = self._framework_engine()
            return self._framework_loaded.network
        return self.engine.network

    @property
    def batch_invariant(self) -> bool:
        """Whether a patch's probabilities are the same whatever batch it is predicted in."""
        return self.engine is None or self.engine.batch_invariant

    def prepare_many(self, n: int) -> None:
        """Announce ``predict_proba`` calls on about ``n`` patches in all (classification,
        evaluation), so the engine can get ready for throughput."""
        if self.engine is not None:
            self.engine.prepare(n)

    def configure(self, threads: int, deterministic: bool = True) -> None:
        """Cap the engine's threads at ``threads`` and, when ``deterministic``, make its
        results reproducible run to run (a cluster worker, before its first prediction)."""
        if self.engine is not None:
            self.engine.configure(threads, deterministic)

    def fixed_batch(self, batch_size: int) -> LczModel:
        """This model predicting in padded batches of exactly ``batch_size`` patches when
        its engine is not batch invariant (itself when it is), so a patch's
        probabilities do not depend on how many patches share its batch."""
        if self.batch_invariant:
            return self
        twin = copy.copy(self)
        twin._pad = int(batch_size)
        return twin

    # -- the predict path -----------------------------------------------------------------

    def _check(self, patches: np.ndarray) -> np.ndarray:
        x = np.asarray(patches)
        if x.ndim != 4 or x.shape[1:3] != (PATCH_SIZE, PATCH_SIZE):
            raise LczError(
                f"patches must have shape (N, {PATCH_SIZE}, {PATCH_SIZE}, C); got {x.shape}"
            )
        if x.shape[-1] != self.input_channels:
            raise LczError(
                f"this {self.model_type} model takes {self.input_channels} channels "
                f"({', '.join(self.manifest['band_names'])}); the patches have {x.shape[-1]}"
            )
        return x.astype(np.float32, copy=False)

    def predict_proba(
        self, patches: np.ndarray, batch_size: int = DEFAULT_BATCH, calibrated: bool = True
    ) -> np.ndarray:
        """Probabilities (N, 17) of the LCZ codes 1..17 for patches (N, 32, 32, C) in So2Sat
        scale, after the manifest's preprocessing; with a ``calibration`` in the manifest
        (and ``calibrated``), temperature-scaled (``calibration.apply_temperature``: the
        argmax is unchanged)."""
        x = self._check(patches)
        if len(x) == 0:
            return np.zeros((0, N_CLASSES), np.float32)
        x = preprocessing.apply(x, self.manifest.get("preprocessing", []))
        p = self._padded(x, batch_size).astype(np.float32, copy=False)
        t = self.temperature if calibrated else None
        return p if t is None else calibration.apply_temperature(p, t)

    def predict(self, patches: np.ndarray, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """LCZ codes 1..17 (uint8)."""
        return (np.argmax(self.predict_proba(patches, batch_size), axis=1) + 1).astype(np.uint8)

    def _padded(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        """``_predict``, in zero-padded batches of ``fixed_batch``'s size when one is set."""
        b = self._pad
        if b is None:
            return self._predict(x, batch_size)
        out = np.zeros((len(x), N_CLASSES), np.float32)
        for i in range(0, len(x), b):
            chunk = x[i : i + b]
            pad = np.zeros((b, *chunk.shape[1:]), chunk.dtype)
            pad[: len(chunk)] = chunk
            out[i : i + len(chunk)] = self._predict(pad, b)[: len(chunk)]
        return out

    def _predict(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        """(N, 17) probabilities of preprocessed inputs, from the engine."""
        return self.engine.predict(x, batch_size)


def blank_patch(manifest: dict) -> np.ndarray:
    """One all-zero patch (1, 32, 32, C) of the manifest's bands."""
    return np.zeros((1, PATCH_SIZE, PATCH_SIZE, len(manifest["bands"])), np.float32)


def check_model_input(manifest: dict, where: str, model_input: tuple, what: str) -> None:
    """Run the manifest's preprocessing on one blank patch of its bands and check the
    result has the shape the model takes (``model_input``, without the batch axis; None
    matches any size). ``where`` names the file (quoted), ``what`` the model taking it.

    Raises:
        LczError: the preprocessing fails, or gives another shape.
    """
    n = len(manifest["bands"])
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = preprocessing.apply(blank_patch(manifest), manifest.get("preprocessing", []))
            got = tuple(x.shape[1:])
    except Exception as exc:  # noqa: BLE001 - any failure means the manifest does not fit
        raise LczError(
            f"{where} has a damaged or edited manifest: its preprocessing fails on its "
            f"{n} {manifest['sensor']} bands ({first_line(exc)}); {REDO}"
        ) from None
    want = tuple(model_input)
    fits = len(got) == len(want) and all(w is None or w == g for g, w in zip(got, want))
    if not fits:
        shown = "x".join("?" if w is None else str(w) for w in want)
        raise LczError(
            f"{where} does not fit together: its manifest's {n} {manifest['sensor']} bands "
            f"give {'x'.join(map(str, got))} inputs but {what} takes {shown}; {REDO}"
        )
