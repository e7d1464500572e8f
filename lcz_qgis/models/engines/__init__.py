"""Engines: what runs a model's network, one module per framework.

An ``LczModel`` (:mod:`..model`) holds an engine; the engine loads the network (with
the checks of :mod:`..safety`), says what input it takes, predicts (N, 17)
probabilities of preprocessed inputs, and gets ready for many patches or a cluster
worker. The registry maps each ``Framework`` to its module (``sklearn``, ``keras``,
later ``onnx``), imported only when a model of that framework is loaded or saved, so
scikit-learn and TensorFlow are imported only then (an engine module imports its
framework inside its functions). Each module defines ``ENGINE``, its engine class.

Public names: ``Engine``, ``ENGINE_MODULES``, ``ZIP_DAMAGE``, ``engine_class``,
``installed``, ``plain_framework``.
"""

from __future__ import annotations

import importlib
import importlib.util
import zlib
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from ...common.enums import Framework
from ...common.errors import LczError

# framework -> its engine module in this package
ENGINE_MODULES = {Framework.SKLEARN: "sklearn", Framework.KERAS: "keras", Framework.ONNX: "onnx"}

# what reading a damaged zip member raises besides BadZipFile (e.g. 'Bad CRC-32') and
# OSError: corrupted deflate data, a cut-off member, an unknown compression method
ZIP_DAMAGE = (zlib.error, EOFError, NotImplementedError)


class Engine(Protocol):
    """What an ``LczModel`` needs from the framework that runs its network.

    Class attributes: ``framework``; ``label`` (the framework as a user reads it);
    ``extensions`` (the plain model files it reads without a manifest, e.g. ``.keras``);
    ``member`` (its model member in an ``.lczmodel``) and ``member_bytes`` (that
    member's size cap); ``batch_invariant`` (whether a patch's probabilities are the same
    in any batch; when not, callers that need reproducible tiles pad to a fixed batch:
    ``LczModel.fixed_batch``); ``imports`` (the framework's modules, for a worker to
    import ahead of its first model). Instance attribute: ``network``, the framework's
    object.
    """

    framework: ClassVar[Framework]
    label: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]
    member: ClassVar[str]
    member_bytes: ClassVar[int]
    batch_invariant: ClassVar[bool]
    imports: ClassVar[tuple[str, ...]]
    network: Any

    @classmethod
    def load(cls, source: bytes | Path, manifest: dict | None, where: str) -> Engine:
        """The engine of a checked network: ``source`` is the model member's bytes (from
        an ``.lczmodel`` whose checked ``manifest`` is given) or a plain model file
        (``manifest`` None). ``where`` names the file (quoted) in errors.

        Raises:
            LczError: a damaged, edited or hostile file, or one not fitting its manifest.
        """

    @staticmethod
    def dumps(network) -> bytes:
        """The bytes of ``network`` as the ``member`` of an ``.lczmodel``."""

    @property
    def input_shape(self) -> tuple:
        """The shape of one input the network takes (no batch axis; None: any size)."""

    def predict(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        """(N, 17) probabilities of the LCZ codes 1..17 for preprocessed inputs ``x``, in
        calls of at most ``batch_size``."""

    def prepare(self, n: int) -> None:
        """Get ready for ``predict`` calls on about ``n`` inputs in all."""

    def configure(self, threads: int, deterministic: bool) -> None:
        """Use at most ``threads`` threads; when ``deterministic``, give the same
        probabilities run to run."""


def engine_class(framework, where: str = "") -> type[Engine]:
    """The engine class of ``framework`` (a ``Framework`` or its code), its module
    imported now (the framework itself only when the engine loads or saves).

    Raises:
        LczError: an unknown framework, or one this plugin has no engine for;
            ``where`` (a quoted file name) starts the message.
    """
    prefix = f"{where}: " if where else ""
    try:
        module = ENGINE_MODULES[Framework(framework)]
    except (ValueError, KeyError):
        raise LczError(f"{prefix}unknown framework '{str(framework)[:40]}'") from None
    name = f"{__name__}.{module}"
    if importlib.util.find_spec(name) is None:
        raise LczError(f"{prefix}unknown framework '{framework}' (no engine in this plugin)")
    return importlib.import_module(name).ENGINE


def installed() -> list[Framework]:
    """The frameworks this plugin has an engine for, in ``ENGINE_MODULES`` order."""
    return [f for f, m in ENGINE_MODULES.items() if importlib.util.find_spec(f"{__name__}.{m}")]


def plain_framework(suffix: str) -> Framework | None:
    """The framework whose engine reads plain model files ending in ``suffix`` (``.h5``),
    or None."""
    suffix = suffix.lower()
    for framework in installed():
        if suffix in engine_class(framework).extensions:
            return framework
    return None
