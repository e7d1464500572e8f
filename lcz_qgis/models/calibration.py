"""Temperature scaling: one temperature T > 0 that makes a model's probabilities honest.

A model's probabilities ``p`` (N, 17) are turned into logits ``log p`` (clipped at
:data:`EPS`, so a random forest's zeros stay finite) and rescaled: ``softmax(log p / T)``.
T > 1 softens over-confident probabilities, T < 1 sharpens under-confident ones; the
order of the classes, hence the predicted class (argmax), never changes. T is fitted on
held-out labelled patches by minimising their mean negative log-likelihood (Guo et al.
2017, "On Calibration of Modern Neural Networks"): with ``b = 1 / T`` the NLL is convex
in ``b`` and its derivative ``mean(E_q[z] - z_y)`` (``q`` the rescaled probabilities,
``z`` the logits, ``y`` the true class) increases with ``b``, so its root is found by
bisection, exactly and without an optimiser.

A model file stores the result in its manifest as ``calibration: {"method":
"temperature", "temperature": T, "fitted_on": name, "n": n}`` (checked by
:func:`lcz_qgis.models.safety.check_calibration`); ``LczModel.predict_proba`` applies it,
so classification, evaluation and everything else see calibrated probabilities.

A temperature is scored on patches it was not fitted on: :func:`split_for_scoring`
divides the held-out patches (seeded, stratified by class) into a fitting half and a
scoring half; with fewer than :data:`MIN_PART` patches a half, T is fitted and scored on
all of them and the caller says that its ECE is the fitting error.

Plain numpy; no model or file code here (``lcz calibrate`` is
:func:`lcz_qgis.evaluation.evaluate.calibrate_to_file`).
"""

from __future__ import annotations

import math

import numpy as np

from ..common.errors import LczError
from ..common.legend import N_CLASSES
from .safety import MAX_TEMPERATURE, MIN_TEMPERATURE

METHOD = "temperature"
#: probabilities are clipped at this before their log is taken (fit and apply alike)
EPS = 1e-7
# bisection steps on b = 1 / T: the bracket shrinks 2**-60 times (far below float noise)
_STEPS = 60
_ROWS = 65536  # rows per chunk when evaluating the NLL derivative (bounded memory)
#: the fewest patches each part of :func:`split_for_scoring` must get (15 ECE bins)
MIN_PART = 100


def _logits(probabilities) -> np.ndarray:
    p = np.asarray(probabilities, np.float64)
    if p.ndim != 2 or p.shape[1] != N_CLASSES:
        raise LczError(f"probabilities must have shape (N, {N_CLASSES}); got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise LczError("the probabilities hold NaN or infinite values")
    return np.log(np.clip(p, EPS, 1.0))


def apply_temperature(probabilities, temperature: float) -> np.ndarray:
    """``softmax(log(p) / T)`` row by row, float32 (N, 17); T = 1 gives ``p`` renormalised.

    Args:
        probabilities: (N, 17) probabilities of the LCZ codes 1..17.
        temperature: T > 0.

    Returns:
        The calibrated probabilities; each row's argmax is that of ``probabilities``.

    Raises:
        LczError: a temperature that is not a positive finite number, or bad shapes.
    """
    t = check_temperature(temperature)
    z = _logits(probabilities) / t
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z.astype(np.float32)


def check_temperature(temperature) -> float:
    """``temperature`` as a float; LczError unless it is finite and within the range
    a model file may hold (:data:`safety.MIN_TEMPERATURE` .. :data:`safety.MAX_TEMPERATURE`)."""
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise LczError(f"the temperature must be a number, got {temperature!r}") from None
    if not math.isfinite(t) or not MIN_TEMPERATURE <= t <= MAX_TEMPERATURE:
        raise LczError(
            f"the temperature must be a finite number within {MIN_TEMPERATURE} and "
            f"{MAX_TEMPERATURE}, got {t}"
        )
    return t


def _class_index(labels, n: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n,):
        raise LczError(f"labels must be {n} LCZ codes, one per row of probabilities")
    if y.size and (y.dtype.kind not in "iu" or y.min() < 1 or y.max() > N_CLASSES):
        raise LczError(f"labels must be LCZ codes 1..{N_CLASSES}")
    return y.astype(np.int64) - 1


def nll(probabilities, labels, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the reference codes ``labels`` (1..17) under
    ``apply_temperature(probabilities, temperature)`` (probabilities clipped at ``EPS``)."""
    z = _logits(probabilities)
    y = _class_index(labels, len(z))
    if not len(z):
        return float("nan")
    z = z / check_temperature(temperature)
    m = z.max(axis=1)
    lse = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
    return float(np.mean(lse - z[np.arange(len(z)), y]))


def _gradient(z: np.ndarray, zy: np.ndarray, b: float) -> float:
    """d NLL / d b at ``b`` = 1/T: the mean of E_q[z] - z_y (increasing in b)."""
    total = 0.0
    for a in range(0, len(z), _ROWS):
        s = b * z[a : a + _ROWS]
        s -= s.max(axis=1, keepdims=True)
        q = np.exp(s)
        q /= q.sum(axis=1, keepdims=True)
        total += float(((q * z[a : a + _ROWS]).sum(axis=1) - zy[a : a + _ROWS]).sum())
    return total / len(z)


def fit_temperature(probabilities, labels) -> float:
    """The temperature T minimising the mean NLL of ``labels`` under
    ``apply_temperature(probabilities, T)``, within the range a model file may hold.

    Args:
        probabilities: (N, 17) held-out probabilities (uncalibrated) of the LCZ codes.
        labels: (N,) reference LCZ codes 1..17.

    Returns:
        T (a float); at the range's bound when the optimum lies beyond it (e.g. a model
        right on every held-out patch wants T -> 0).

    Raises:
        LczError: no rows, bad shapes, NaN, or labels that are not LCZ codes.
    """
    z = _logits(probabilities)
    y = _class_index(labels, len(z))
    if not len(z):
        raise LczError("no held-out patches to fit a temperature on")
    zy = z[np.arange(len(z)), y]
    lo, hi = 1.0 / MAX_TEMPERATURE, 1.0 / MIN_TEMPERATURE
    if _gradient(z, zy, lo) >= 0:
        return float(MAX_TEMPERATURE)
    if _gradient(z, zy, hi) <= 0:
        return float(MIN_TEMPERATURE)
    for _ in range(_STEPS):
        mid = 0.5 * (lo + hi)
        if _gradient(z, zy, mid) > 0:
            hi = mid
        else:
            lo = mid
    return float(2.0 / (lo + hi))


def calibration_entry(temperature: float, fitted_on: str, n: int) -> dict:
    """The manifest's ``calibration`` entry for a fitted temperature."""
    return {
        "method": METHOD,
        "temperature": check_temperature(temperature),
        "fitted_on": str(fitted_on),
        "n": int(n),
    }


def split_for_scoring(labels, seed: int = 0, min_part: int = MIN_PART):
    """Split held-out patches into a part to fit a temperature on and a part to score it on.

    Stratified by class and seeded: each class's patches (in a ``seed``-shuffled order)
    go half to each part; a class's odd patch goes to the part that has fewer so far
    (a class of one patch to the fitting part first).

    Args:
        labels: (N,) reference LCZ codes 1..17.
        seed: the shuffle's seed (the same seed and labels give the same parts).
        min_part: the fewest patches each part must get.

    Returns:
        (fit, score): sorted row indices of the two parts, or (all rows, None) when a
        part would get fewer than ``min_part`` patches (the caller fits and scores on all
        of them, and says so).
    """
    y = _class_index(labels, len(np.asarray(labels)))
    rng = np.random.default_rng(seed)
    fit, score = [], []
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        half = len(rows) // 2
        if len(rows) % 2 and sum(map(len, fit)) <= sum(map(len, score)):
            half += 1
        fit.append(rows[:half])
        score.append(rows[half:])
    fit_rows = np.sort(np.concatenate(fit)) if fit else np.zeros(0, np.int64)
    score_rows = np.sort(np.concatenate(score)) if score else np.zeros(0, np.int64)
    if min(len(fit_rows), len(score_rows)) < max(1, min_part):
        return np.arange(len(y)), None
    return fit_rows, score_rows
