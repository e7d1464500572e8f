"""Named preprocessing steps that a model manifest lists and ``predict_proba`` applies.

A manifest's ``preprocessing`` is a list of steps such as
``{"type": "standardize", "mean": [...], "std": [...]}``. Every step is a pure numpy
function of the patches (N,32,32,C) in So2Sat scale. Steps defined in other modules
are named here as "module:function" and imported only when used.
"""

from __future__ import annotations

import importlib

import numpy as np

from ..common.aligned_arrays import aligned_empty
from ..common.errors import LczError


def standardize(x: np.ndarray, mean, std, **_) -> np.ndarray:
    """``(x - mean) / std`` per channel in float32 (channels with std 0 are only
    centred), into a new aligned array (``aligned_arrays``)."""
    x = np.asarray(x)
    shape = x.shape[1:] if x.ndim > 1 else x.shape
    # full-size operands: numpy then runs long inner loops, not one per pixel (4x faster)
    mean = np.broadcast_to(np.asarray(mean, dtype=np.float32), shape)
    std = np.asarray(std, dtype=np.float32)
    std = np.broadcast_to(np.where(std > 0, std, np.float32(1.0)), shape)
    out = aligned_empty(x.shape, np.float32)
    np.subtract(x, mean, out=out, dtype=np.float32, casting="unsafe")
    np.divide(out, std, out=out)
    return out


def patch_features(x: np.ndarray, band_names, set: str = "stats", **_) -> np.ndarray:  # noqa: A002
    """The manifest step ``patch_features``: per-patch features (N, F) float32.

    Args:
        x: (N, 32, 32, C) patches, So2Sat scale.
        band_names: the C channel names.
        set: the feature set, ``"stats"`` or ``"raw"`` (``features.patch_features``).
    """
    from .features import patch_features as _pf

    return _pf(x, band_names=band_names, feature_set=set)


_LOCAL = {"standardize": standardize, "patch_features": patch_features}
# steps implemented elsewhere, imported on first use: name -> "module:function"
_ELSEWHERE = {
    "so2sat_s1_features": "pretrained:so2sat_s1_features",
    "so2sat_resnet20_s2_scaling": "pretrained:so2sat_resnet20_s2_scaling",
}


def step_function(name: str):
    """The function of the preprocessing step ``name`` (imported on first use).

    Raises:
        LczError: the manifest names an unknown step.
    """
    if name in _LOCAL:
        return _LOCAL[name]
    if name in _ELSEWHERE:
        module, func = _ELSEWHERE[name].split(":")
        return getattr(importlib.import_module(f".{module}", __package__), func)
    raise LczError(f"unknown preprocessing step '{name}' in the model manifest")


def apply(x: np.ndarray, steps: list[dict]) -> np.ndarray:
    """Apply a manifest's preprocessing ``steps`` to ``x``, in order.

    Args:
        x: (N, 32, 32, C) patches, So2Sat scale.
        steps: dicts with the step's ``type`` and its parameters; None or empty: none.

    Returns:
        What the last step returns (``x`` itself without steps).

    Raises:
        LczError: a step of unknown type.
    """
    for step in steps or []:
        params = {k: v for k, v in step.items() if k != "type"}
        x = step_function(step["type"])(x, **params)
    return x
