"""Engineered per-patch features for classical models (random forest).

``stats``: per channel mean, std, 10/50/90th percentiles and mean absolute gradient
(texture); for Sentinel-2, also mean and std of NDVI, NDBI and MNDWI; for Sentinel-1
intensities, the same statistics in dB. ``raw``: the flattened patch, as the seed
notebook does.

Features are never infinite for finite input: patches within the physical ranges of
``bands`` (the only ones training, evaluation and classification pass here) are
computed in float32; a patch with larger values (``|x| > 1e15``, where squares summed
over a patch could overflow float32) is computed in float64 and its features clipped to
the float32 range.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-6
_F32_SAFE = 1e15  # |x| up to this: every statistic stays finite in float32
_F32_MAX = float(np.finfo(np.float32).max)


def _norm_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a + b
    return np.where(np.abs(d) > _EPS, (a - b) / np.where(np.abs(d) > _EPS, d, 1.0), 0.0)


def _stats(x: np.ndarray) -> list[np.ndarray]:
    """x: (N, 32, 32, C) -> list of (N, C) arrays."""
    n, h, w, c = x.shape
    flat = x.reshape(n, h * w, c)
    p10, p50, p90 = np.percentile(flat, [10, 50, 90], axis=1)
    grad = np.abs(np.diff(x, axis=1)).mean(axis=(1, 2)) + np.abs(np.diff(x, axis=2)).mean(
        axis=(1, 2)
    )
    return [flat.mean(axis=1), flat.std(axis=1), p10, p50, p90, grad]


def _stat_features(x: np.ndarray, names: list) -> np.ndarray:
    """The ``stats`` features of patches ``x`` (N, 32, 32, C), in ``x``'s dtype."""
    cols = _stats(x)
    idx = {b.split("_", 1)[-1] if b.startswith("S2_") else b: i for i, b in enumerate(names)}
    extra = []
    if all(b in idx for b in ("B3", "B4", "B8", "B11")):
        b3, b4, b8, b11 = (x[..., idx[b]] for b in ("B3", "B4", "B8", "B11"))
        extra += [_norm_diff(b8, b4), _norm_diff(b11, b8), _norm_diff(b3, b11)]
    for b in ("VH_intensity", "VV_intensity", "S1_VH_intensity", "S1_VV_intensity"):
        if b in names:
            extra.append(10.0 * np.log10(np.maximum(x[..., names.index(b)], 1e-6)))
    if extra:
        e = np.stack(extra, axis=-1)
        cols += [e.mean(axis=(1, 2)), e.std(axis=(1, 2))]
    return np.concatenate(cols, axis=1)


def patch_features(x: np.ndarray, band_names, feature_set: str = "stats") -> np.ndarray:
    """Features (N, F) float32 of patches ``x`` (N, 32, 32, C) with channels
    ``band_names``: ``stats`` or ``raw`` (module docstring). Each patch's features depend
    on that patch only; they are finite for finite input, whatever its size."""
    from ..common.bands import patches_in_range

    x = np.asarray(x, dtype=np.float32)
    if feature_set == "raw":
        return x.reshape(len(x), -1)
    if feature_set != "stats":
        raise ValueError(f"unknown feature set '{feature_set}'")
    names = list(band_names)
    wide = ~patches_in_range(x, _F32_SAFE)  # huge values (or NaN)
    if not wide.any():
        return _stat_features(x, names).astype(np.float32, copy=False)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        big = _stat_features(x[wide].astype(np.float64), names)  # float64 arithmetic
    np.clip(big, -_F32_MAX, _F32_MAX, out=big)
    out = np.empty((len(x), big.shape[1]), np.float32)
    out[wide] = big
    if not wide.all():
        out[~wide] = _stat_features(x[~wide], names)
    return out
