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


# -- the So2Sat ResNet-20's Sentinel-2 input: the authors' float16 rounding ----------------
_SNAP = 1e-6  # a DN within this relative distance (at least 0.01) of a whole number is one
_FAST_DN = 9999.0  # |DN| below this: the snapping distance is exactly 0.01 (float32 path)
_BAND = 2.0**-9  # 4x the float32 error of x * 10000 below 1e4 (half an ulp: 2**-11)
_CHUNK = 1 << 16  # values per pass (fits the CPU's cache)
_HALF_LUT: list = []  # float16 bits -> float32(float16 value / float16(10000))
_DN_LUT: list = []  # whole DN 0..9999 -> the output


def _half_lut() -> np.ndarray:
    """float32(h / float16(10000)) for every float16 ``h`` (by its bits): numpy's own
    float16 division, once."""
    if not _HALF_LUT:
        with np.errstate(all="ignore"):
            h = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
            _HALF_LUT.append((h / np.float16(10000.0)).astype(np.float32))
    return _HALF_LUT[0]


def _resnet20_dn_exact(x: np.ndarray) -> np.ndarray:
    """The DN the authors round to float16 (float64, any ``x``): x 10000, snapped to a
    whole number within ``_SNAP`` relative (at least 0.01)."""
    dn = np.asarray(x, np.float64) * 10000.0
    whole = np.rint(dn)
    return np.where(np.abs(dn - whole) <= _SNAP * np.maximum(np.abs(whole), 1e4), whole, dn)


def _dn_lut() -> np.ndarray:
    """The output for every whole DN 0..9999: numpy's float16 of the DN divided by
    float16(10000), as :func:`_resnet20_dn_exact` then the float16 division give."""
    if not _DN_LUT:
        half = np.arange(int(_FAST_DN) + 1, dtype=np.float64).astype(np.float16)
        _DN_LUT.append(_half_lut()[half.view(np.uint16)])
    return _DN_LUT[0]


def _resnet20_half(x: np.ndarray, dn: np.ndarray, whole: np.ndarray, dist: np.ndarray):
    """The DN of float32 ``x`` rounded to float16 as :func:`_resnet20_dn_exact` then
    ``astype(float16)`` do, in float32 (``dn`` = x * 10000 in float32, within 2**-11 of
    the exact product; ``whole``, ``dist``: its nearest whole number and the distance);
    the values where float32 cannot decide (NaN, inf, |DN| >= 9999, a distance within
    float32's error of 0.01, an unsnapped DN exactly halfway between two float16) are
    computed in float64. ``dn`` is overwritten."""
    snap = dist <= np.float32(0.01)
    halfway = (dn.view(np.int32) & 0x1FFF) == 0x1000  # float32 bits of a float16 tie
    redo = ~(np.abs(dn) < _FAST_DN)
    redo |= np.abs(dist - np.float32(0.01)) <= _BAND
    redo |= halfway & ~snap
    np.copyto(dn, whole, where=snap)
    half = dn.astype(np.float16)  # rounded to nearest even
    if redo.any():
        half[redo] = _resnet20_dn_exact(x[redo])
    return half


def _resnet20_chunk(x: np.ndarray, out: np.ndarray) -> None:
    """``out`` (float32) = the scaled float32 values ``x`` (1-D): by the DN table when
    every value is surely a non-negative whole DN below 9999 (what DN rasters divided by
    10000 give), else through :func:`_resnet20_half` and the float16 table."""
    dn = np.multiply(x, np.float32(10000.0))
    whole = np.rint(dn)
    dist = np.abs(dn - whole)
    whole_dn = (dist < np.float32(0.01) - _BAND) & (dn < _FAST_DN) & (x.view(np.int32) >= 0)
    if whole_dn.all():
        np.take(_dn_lut(), whole.astype(np.intp), out=out, mode="clip")
    else:
        half = _resnet20_half(x, dn, whole, dist)
        np.take(_half_lut(), half.view(np.uint16), out=out, mode="clip")


def so2sat_resnet20_s2_scaling(x: np.ndarray, **_) -> np.ndarray:
    """Sentinel-2 input of the So2Sat ResNet-20: reflectance rounded as the authors do.

    The authors' production (sen2_production_uil.getData) computes
    ``np.float16(DN) / 10000.0`` into a float16 array: the DN rounded to float16, the
    quotient rounded to float16 again (NumPy divides float16 in float32, then rounds).
    ``x`` is So2Sat-scale reflectance (the classifier divides DN rasters by 10000): it is
    taken back to DN (x 10000; values within 1e-6 relative, at least 0.01, of a whole
    number become that number, so float32 reflectance of integer DN gives back the DN
    and float16 ties round as the authors' do), rounded the same way, returned float32.

    Float32 input is computed in float32 by cache-sized chunks (whole DN looked up in a
    table of the 10,000 outputs), the few values float32 cannot decide in float64, and
    the quotient looked up (:func:`_half_lut`): the same bits as the float64
    computation (``tests/models/test_resnet20_scaling.py``).
    """
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[-1] != 10:
        raise LczError(
            f"The So2Sat ResNet-20 (S2) needs patches (N, H, W, 10); got shape {x.shape}"
        )
    out = aligned_empty(x.shape, np.float32)
    if x.dtype != np.float32:
        half = _resnet20_dn_exact(x).astype(np.float16)
        np.take(_half_lut(), half.view(np.uint16), out=out, mode="clip")
        return out
    flat, oflat = np.ascontiguousarray(x).reshape(-1), out.reshape(-1)
    with np.errstate(all="ignore"):
        for i in range(0, flat.size, _CHUNK):
            _resnet20_chunk(flat[i : i + _CHUNK], oflat[i : i + _CHUNK])
    return out


_LOCAL = {
    "standardize": standardize,
    "patch_features": patch_features,
    "so2sat_resnet20_s2_scaling": so2sat_resnet20_s2_scaling,
}
# steps implemented elsewhere, imported on first use: name -> "module:function"
_ELSEWHERE = {"so2sat_s1_features": "pretrained:so2sat_s1_features"}


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
