"""Engineered per-patch features for classical models (random forest).

``stats``: per channel mean, std, 10/50/90th percentiles and mean absolute gradient
(texture); for Sentinel-2, also mean and std of NDVI, NDBI and MNDWI; for Sentinel-1
intensities, the same statistics in dB. ``raw``: the flattened patch, as the seed
notebook does.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-6


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


def patch_features(x: np.ndarray, band_names, feature_set: str = "stats") -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if feature_set == "raw":
        return x.reshape(len(x), -1)
    if feature_set != "stats":
        raise ValueError(f"unknown feature set '{feature_set}'")
    names = list(band_names)
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
    return np.concatenate(cols, axis=1).astype(np.float32)
