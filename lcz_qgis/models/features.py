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

Speed, with the same numbers: the sums over pixels run on the patches laid out
pixel-major, (32, 32, N, C), with long contiguous inner loops in the order numpy summed
them over C-ordered (N, 32, 32, C) patches (:func:`_layout`; patches are C-ordered when
read from HDF5 or gathered by classify); the percentiles partition each channel's 1024
values once, contiguous, and interpolate as ``np.percentile`` (method ``linear``) does;
sub-batches of ``CHUNK`` patches run on the cores the process may use
(:func:`feature_threads`; numpy releases the GIL). ``tests/models/test_rf_features.py``
keeps the first implementation and checks that the features equal its.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_EPS = 1e-6
_F32_SAFE = 1e15  # |x| up to this: every statistic stays finite in float32
_F32_MAX = float(np.finfo(np.float32).max)
PERCENTILES = (10, 50, 90)
CHUNK = 64  # patches per sub-batch (a thread's share: about 2.6 MB of 10 channels)

_POOL: dict = {}
_POOL_LOCK = threading.Lock()


def _norm_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a + b
    return np.where(np.abs(d) > _EPS, (a - b) / np.where(np.abs(d) > _EPS, d, 1.0), 0.0)


def _ordered_keys(v: np.ndarray) -> np.ndarray:
    """Float32 values as int32 keys in the same order, in place (and back: the map is
    its own inverse): a negative value's 31 low bits flipped. Integers partition faster
    than floats; only -0.0 sorts before 0.0 (equal values: the same statistics)."""
    keys = v.view(np.int32)
    np.bitwise_xor(keys, (keys >> 31) & np.int32(0x7FFFFFFF), out=keys)
    return keys


def _percentiles(x: np.ndarray) -> np.ndarray:
    """(3, N, C) 10/50/90th percentiles of each patch's channel in ``x`` (N, 32, 32, C),
    equal to ``np.percentile(..., axis=pixels)`` (linear method): its virtual indexes,
    its interpolation (float64 weights, float32 differences), rounded to ``x``'s dtype.
    ``x``: float32, finite (the float64 path calls ``np.percentile`` itself)."""
    n, h, w, c = x.shape
    k = h * w
    rows = x.reshape(n, k, c).transpose(0, 2, 1).copy().reshape(n * c, k)  # ours to sort
    virtual = (k - 1) * np.true_divide(PERCENTILES, 100)  # float64, as numpy computes
    prev = np.floor(virtual).astype(np.intp)
    nxt = np.minimum(prev + 1, k - 1)
    keys = _ordered_keys(rows)
    keys.partition(np.unique(np.concatenate([prev, nxt])), axis=-1)
    a, b = (_ordered_keys(keys[:, i].T.copy()).view(x.dtype) for i in (prev, nxt))  # (3, n*c)
    gamma = (virtual - prev)[:, None]
    diff = np.subtract(b, a)
    out = np.add(a, diff * gamma)
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out.astype(x.dtype).reshape(len(PERCENTILES), n, c)


def _exact_percentiles(x: np.ndarray) -> np.ndarray:
    """:func:`_percentiles` by ``np.percentile`` itself (NaN gives NaN), on contiguous
    rows: for the rare float64 patches."""
    n, h, w, c = x.shape
    rows = np.ascontiguousarray(x.reshape(n, h * w, c).transpose(0, 2, 1))
    return np.percentile(rows, PERCENTILES, axis=-1, overwrite_input=True).astype(x.dtype)


def _layout(v: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """``v`` (N, 32, 32, K) laid out for sums over the pixels in the first
    implementation's order, and its two pixel axes. numpy sums an axis pairwise when it
    is the innermost loop and one value after the other when it is not: over
    (N, 32, 32, K) it summed the pixels one after the other for K > 1 (the channels
    innermost), which the pixel-major copy (32, 32, N, K) repeats with long inner loops,
    and pairwise for K == 1, which needs that layout itself."""
    if v.shape[-1] == 1:
        return v, (1, 2)
    return np.ascontiguousarray(v.transpose(1, 2, 0, 3)), (0, 1)


def _stats(x: np.ndarray, exact: bool) -> list[np.ndarray]:
    """x: (N, 32, 32, C) -> list of (N, C) arrays."""
    a, axes = _layout(x)
    p10, p50, p90 = (_exact_percentiles if exact else _percentiles)(x)
    grad = np.abs(np.diff(a, axis=axes[0])).mean(axis=axes)
    grad += np.abs(np.diff(a, axis=axes[1])).mean(axis=axes)
    return [a.mean(axis=axes), a.std(axis=axes), p10, p50, p90, grad]


def _extra_bands(names: list) -> list[tuple]:
    """The per-pixel extras of channels ``names``: ("nd", i, j) for the normalised
    differences NDVI, NDBI, MNDWI (Sentinel-2), ("db", i) for Sentinel-1 intensities."""
    idx = {b.split("_", 1)[-1] if b.startswith("S2_") else b: i for i, b in enumerate(names)}
    extra = []
    if all(b in idx for b in ("B3", "B4", "B8", "B11")):
        extra += [("nd", idx[a], idx[b]) for a, b in (("B8", "B4"), ("B11", "B8"), ("B3", "B11"))]
    for b in ("VH_intensity", "VV_intensity", "S1_VH_intensity", "S1_VV_intensity"):
        if b in names:
            extra.append(("db", names.index(b)))
    return extra


def _stat_features(x: np.ndarray, names: list, exact: bool = False) -> np.ndarray:
    """The ``stats`` features of patches ``x`` (N, 32, 32, C), in ``x``'s dtype."""
    cols = _stats(x, exact)
    extra = _extra_bands(names)
    if extra:
        e = np.empty((*x.shape[:3], len(extra)), x.dtype)  # the old np.stack's dtype
        for k, item in enumerate(extra):
            if item[0] == "nd":
                e[..., k] = _norm_diff(x[..., item[1]], x[..., item[2]])
            else:
                e[..., k] = 10.0 * np.log10(np.maximum(x[..., item[1]], 1e-6))
        a, axes = _layout(e)
        cols += [a.mean(axis=axes), a.std(axis=axes)]
    return np.concatenate([col.astype(x.dtype, copy=False) for col in cols], axis=1)


def feature_threads() -> int:
    """The threads the statistics use: the cores this process may run on (its CPU
    affinity), at most ``OMP_NUM_THREADS`` where set (a cluster worker's share)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    cap = os.environ.get("OMP_NUM_THREADS", "")
    if cap.strip().isdigit() and int(cap) > 0:
        cores = min(cores, int(cap))
    return max(1, cores)


def pool(threads: int) -> ThreadPoolExecutor:
    """A lasting pool of ``threads`` threads (one per thread count asked for), for numpy
    work that releases the GIL (the statistics, a forest's trees)."""
    with _POOL_LOCK:
        if threads not in _POOL:
            _POOL[threads] = ThreadPoolExecutor(threads, thread_name_prefix="lcz-numpy")
        return _POOL[threads]


def _float32_features(x: np.ndarray, names: list, threads: int | None = None) -> np.ndarray:
    """:func:`_stat_features` of float32 patches in range, in sub-batches of ``CHUNK``
    on ``threads`` threads (default :func:`feature_threads`)."""
    threads = feature_threads() if threads is None else max(1, int(threads))
    starts = range(0, max(len(x), 1), CHUNK)  # no patches: one empty sub-batch
    if threads == 1 or len(starts) == 1:
        parts = [_stat_features(x[s : s + CHUNK], names) for s in starts]
    else:
        parts = list(pool(threads).map(lambda s: _stat_features(x[s : s + CHUNK], names), starts))
    return np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]


def patch_features(
    x: np.ndarray, band_names, feature_set: str = "stats", threads: int | None = None
) -> np.ndarray:
    """Features (N, F) float32 of patches ``x`` (N, 32, 32, C) with channels
    ``band_names``: ``stats`` or ``raw`` (module docstring). Each patch's features depend
    on that patch only; they are finite for finite input, whatever its size. ``threads``:
    how many threads compute them (default: :func:`feature_threads`)."""
    from ..common.bands import patches_in_range

    x = np.asarray(x, dtype=np.float32)
    if feature_set == "raw":
        return x.reshape(len(x), -1)
    if feature_set != "stats":
        raise ValueError(f"unknown feature set '{feature_set}'")
    names = list(band_names)
    wide = ~patches_in_range(x, _F32_SAFE)  # huge values (or NaN)
    if not wide.any():
        return _float32_features(x, names, threads)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        big = _stat_features(x[wide].astype(np.float64), names, exact=True)  # float64
    np.clip(big, -_F32_MAX, _F32_MAX, out=big)
    out = np.empty((len(x), big.shape[1]), np.float32)
    out[wide] = big
    if not wide.all():
        out[~wide] = _float32_features(x[~wide], names, threads)
    return out
