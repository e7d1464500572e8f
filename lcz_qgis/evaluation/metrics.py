"""The accuracy scores the LCZ community reports.

Confusion matrices here always have rows = reference and columns = predicted, indexed
by LCZ code 1..17. The LCZ Generator scores (Bechtel et al. 2020; Demuzere et al. 2021):

- OA: trace / total.
- OA_u: overall accuracy over the urban classes only (LCZ 1-10 x 1-10 block).
- OA_bu: built vs natural agreement (1-10 against 11-17, block-wise).
- OA_w: sum(W * CM) / sum(CM), with W the LCZ similarity weights below.

Per class, precision is the user's accuracy (UA: of the patches predicted as the class,
the share that are it) and recall the producer's accuracy (PA: of the reference patches
of the class, the share found). Macro F1 is the plain mean of the per-class F1 over the
classes present in the reference; weighted F1 (and weighted precision/recall) weight each
class by its reference support, as scikit-learn's ``average="weighted"``. Weighted recall
always equals OA.

Calibration: the expected calibration error (ECE, Guo et al. 2017) over ``n_bins``
equal-width confidence bins ``((k-1)/n, k/n]`` (a confidence of 0 falls in the first):
``sum_k |B_k| / N * |accuracy(B_k) - mean confidence(B_k)|``, where the confidence of a
patch is its largest probability and it is correct when that class is the reference.
:func:`calibration_bin_counts` gives the per-bin sums, which add up batch by batch
(``evaluate`` streams them), and :func:`calibration_table` the reliability table.
"""

from __future__ import annotations

import numpy as np

from ..common.legend import LCZ_CLASSES, N_CLASSES

# What the rows and columns of ``confusion`` are, written next to it in every result.
CONFUSION_AXES = {"rows": "reference", "columns": "predicted"}
CONFUSION_LABELS = [c.letter for c in LCZ_CLASSES]  # "1".."10", "A".."G"
CONFUSION_CODES = [c.code for c in LCZ_CLASSES]  # 1..17

# LCZ similarity weights for OA_w (Bechtel, Demuzere & Stewart 2020, Remote Sensing
# 12(11):1769), classes 1-10 then A-G; symmetric.
OA_W_WEIGHTS = np.array(
    [
        [1.00, 0.92, 0.83, 0.67, 0.58, 0.50, 0.58, 0.75, 0.42, 0.75, 0.33, 0.25, 0.08, 0.00, 0.25, 0.00, 0.00],
        [0.92, 1.00, 0.92, 0.58, 0.67, 0.58, 0.67, 0.83, 0.42, 0.83, 0.42, 0.33, 0.25, 0.08, 0.33, 0.08, 0.08],
        [0.83, 0.92, 1.00, 0.50, 0.58, 0.67, 0.75, 0.92, 0.58, 0.92, 0.50, 0.42, 0.33, 0.17, 0.42, 0.17, 0.17],
        [0.67, 0.58, 0.50, 1.00, 0.92, 0.83, 0.75, 0.50, 0.75, 0.58, 0.50, 0.58, 0.50, 0.33, 0.08, 0.33, 0.33],
        [0.58, 0.67, 0.58, 0.92, 1.00, 0.92, 0.83, 0.67, 0.83, 0.67, 0.58, 0.67, 0.50, 0.42, 0.17, 0.42, 0.42],
        [0.50, 0.58, 0.67, 0.83, 0.92, 1.00, 0.92, 0.75, 0.92, 0.75, 0.67, 0.75, 0.67, 0.58, 0.25, 0.50, 0.50],
        [0.58, 0.67, 0.75, 0.75, 0.83, 0.92, 1.00, 0.67, 0.83, 0.67, 0.75, 0.67, 0.58, 0.42, 0.17, 0.42, 0.42],
        [0.75, 0.83, 0.92, 0.50, 0.67, 0.75, 0.67, 1.00, 0.75, 0.92, 0.42, 0.50, 0.42, 0.25, 0.50, 0.33, 0.33],
        [0.42, 0.42, 0.58, 0.75, 0.83, 0.92, 0.83, 0.75, 1.00, 0.67, 0.58, 0.67, 0.75, 0.58, 0.33, 0.58, 0.58],
        [0.75, 0.83, 0.92, 0.58, 0.67, 0.75, 0.67, 0.92, 0.67, 1.00, 0.42, 0.50, 0.42, 0.25, 0.50, 0.33, 0.33],
        [0.33, 0.42, 0.50, 0.50, 0.58, 0.67, 0.75, 0.42, 0.58, 0.42, 1.00, 0.92, 0.83, 0.67, 0.42, 0.67, 0.67],
        [0.25, 0.33, 0.42, 0.58, 0.67, 0.75, 0.67, 0.50, 0.67, 0.50, 0.92, 1.00, 0.92, 0.75, 0.50, 0.75, 0.75],
        [0.08, 0.25, 0.33, 0.50, 0.50, 0.67, 0.58, 0.42, 0.75, 0.42, 0.83, 0.92, 1.00, 0.83, 0.58, 0.83, 0.83],
        [0.00, 0.08, 0.17, 0.33, 0.42, 0.58, 0.42, 0.25, 0.58, 0.25, 0.67, 0.75, 0.83, 1.00, 0.75, 0.92, 0.92],
        [0.25, 0.33, 0.42, 0.08, 0.17, 0.25, 0.17, 0.50, 0.33, 0.50, 0.42, 0.50, 0.58, 0.75, 1.00, 0.75, 0.75],
        [0.00, 0.08, 0.17, 0.33, 0.42, 0.50, 0.42, 0.33, 0.58, 0.33, 0.67, 0.75, 0.83, 0.92, 0.75, 1.00, 0.92],
        [0.00, 0.08, 0.17, 0.33, 0.42, 0.50, 0.42, 0.33, 0.58, 0.33, 0.67, 0.75, 0.83, 0.92, 0.75, 0.92, 1.00],
    ]
)  # fmt: skip


def confusion_matrix(reference, predicted) -> np.ndarray:
    """17x17 counts, rows = reference code 1..17, columns = predicted code 1..17.

    Pairs where either value is outside 1..17 (e.g. nodata 0) are ignored.
    """
    r = np.asarray(reference, dtype=np.int64).ravel()
    p = np.asarray(predicted, dtype=np.int64).ravel()
    if r.shape != p.shape:
        raise ValueError(f"reference has {r.size} values but predicted has {p.size}")
    ok = (r >= 1) & (r <= N_CLASSES) & (p >= 1) & (p <= N_CLASSES)
    return np.bincount((r[ok] - 1) * N_CLASSES + (p[ok] - 1), minlength=N_CLASSES**2).reshape(
        N_CLASSES, N_CLASSES
    )


def scores_from_confusion(cm: np.ndarray) -> dict:
    """The LCZ scores of a confusion matrix (module docstring for their definitions).

    Args:
        cm: (17, 17) counts, rows = reference, columns = predicted, LCZ 1..17.

    Returns:
        ``oa``, ``kappa``, ``macro_f1``, ``weighted_f1``, ``weighted_precision``,
        ``weighted_recall``, ``oa_u``, ``oa_bu``, ``oa_w``, ``n`` (pairs scored),
        ``per_class`` (one dict per class: support, precision/ua, recall/pa, f1),
        ``confusion`` (nested lists of int) and its ``confusion_axes``,
        ``confusion_labels`` and ``confusion_codes``.

    Raises:
        ValueError: the matrix is all zeros.
    """
    cm = np.asarray(cm, dtype=np.float64)
    total = cm.sum()
    if total == 0:
        raise ValueError("no valid reference/predicted pairs to score")
    oa = np.trace(cm) / total
    expected = (cm.sum(axis=1) * cm.sum(axis=0)).sum() / total**2
    kappa = (oa - expected) / (1 - expected) if expected < 1 else 1.0
    u = cm[:10, :10]
    oa_u = np.trace(u) / u.sum() if u.sum() else float("nan")
    built_ok = cm[:10, :10].sum() + cm[10:, 10:].sum()
    oa_bu = built_ok / total
    oa_w = (OA_W_WEIGHTS * cm).sum() / total
    per_class = []
    f1s = []
    support = cm.sum(axis=1)
    weighted = np.zeros(3)  # support-weighted precision, recall, F1
    for i, c in enumerate(LCZ_CLASSES):
        tp = cm[i, i]
        ref_n = cm[i].sum()
        pred_n = cm[:, i].sum()
        precision = tp / pred_n if pred_n else 0.0
        recall = tp / ref_n if ref_n else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if ref_n:
            f1s.append(f1)
        weighted += ref_n * np.array([precision, recall, f1])
        per_class.append(
            {
                "code": c.code,
                "lcz": c.letter,
                "name": c.name,
                "support": int(ref_n),
                "precision": float(precision),
                "recall": float(recall),
                "f1": float(f1),
                "ua": float(precision),  # user's accuracy = precision
                "pa": float(recall),  # producer's accuracy = recall
            }
        )
    weighted /= support.sum()
    return {
        "oa": float(oa),
        "kappa": float(kappa),
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "weighted_f1": float(weighted[2]),
        "weighted_precision": float(weighted[0]),
        "weighted_recall": float(weighted[1]),
        "oa_u": float(oa_u),
        "oa_bu": float(oa_bu),
        "oa_w": float(oa_w),
        "n": int(total),
        "per_class": per_class,
        "confusion": cm.astype(np.int64).tolist(),
        "confusion_axes": dict(CONFUSION_AXES),
        "confusion_labels": list(CONFUSION_LABELS),
        "confusion_codes": list(CONFUSION_CODES),
    }


def lcz_scores(reference, predicted) -> dict:
    """OA, kappa, macro and weighted F1, OA_u, OA_bu, OA_w, per-class scores and the
    confusion matrix (with ``confusion_axes``, ``confusion_labels`` and ``confusion_codes``).

    ``reference`` and ``predicted`` are LCZ codes 1..17 (values outside are ignored).
    Macro F1 averages the classes present in the reference; weighted F1 weights them by
    their reference support.
    """
    return scores_from_confusion(confusion_matrix(reference, predicted))


DEFAULT_ECE_BINS = 15


def _bin_index(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """The bin ``((k-1)/n, k/n]`` of each confidence, 0..n-1 (0 goes in the first)."""
    k = np.ceil(confidence * n_bins).astype(np.int64) - 1
    return np.clip(k, 0, n_bins - 1)


def calibration_bin_counts(confidence, correct, n_bins: int = DEFAULT_ECE_BINS) -> np.ndarray:
    """Per-bin sums (3, n_bins) float64: patches, their confidences, their correct ones.

    Sums of several batches add up to the sums of all of them.

    Args:
        confidence: (N,) the largest probability of each patch, in [0, 1].
        correct: (N,) whether the predicted class is the reference (bool or 0/1).
        n_bins: equal-width bins over [0, 1].
    """
    c = np.asarray(confidence, np.float64).ravel()
    ok = np.asarray(correct, np.float64).ravel()
    if c.shape != ok.shape:
        raise ValueError(f"confidence has {c.size} values but correct has {ok.size}")
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    n_bins = int(n_bins)
    k = _bin_index(np.clip(c, 0.0, 1.0), n_bins)
    out = np.zeros((3, n_bins))
    out[0] = np.bincount(k, minlength=n_bins)
    out[1] = np.bincount(k, weights=c, minlength=n_bins)
    out[2] = np.bincount(k, weights=ok, minlength=n_bins)
    return out


def ece_from_bins(bins: np.ndarray) -> float:
    """The ECE of per-bin sums (``calibration_bin_counts``); NaN without patches."""
    count, conf, hits = np.asarray(bins, np.float64)
    total = count.sum()
    if total == 0:
        return float("nan")
    return float(np.abs(hits - conf).sum() / total)


def expected_calibration_error(confidence, correct, n_bins: int = DEFAULT_ECE_BINS) -> float:
    """The expected calibration error over ``n_bins`` equal-width confidence bins.

    Args:
        confidence: (N,) the largest probability of each patch.
        correct: (N,) whether its predicted class is the reference class.
        n_bins: the number of bins (15, as Guo et al. 2017).

    Returns:
        ``sum_k |B_k| / N * |acc(B_k) - conf(B_k)|``, in [0, 1]; NaN when N = 0.
    """
    return ece_from_bins(calibration_bin_counts(confidence, correct, n_bins))


def calibration_table(bins: np.ndarray) -> list[dict]:
    """The reliability table of per-bin sums: per bin ``lower``, ``upper``, ``count``,
    ``confidence`` (mean) and ``accuracy`` (None for an empty bin), and ``gap``
    (accuracy - confidence)."""
    count, conf, hits = np.asarray(bins, np.float64)
    n_bins = count.size
    rows = []
    for k in range(n_bins):
        n = int(count[k])
        mean_c = float(conf[k] / n) if n else None
        acc = float(hits[k] / n) if n else None
        rows.append(
            {
                "lower": k / n_bins,
                "upper": (k + 1) / n_bins,
                "count": n,
                "confidence": mean_c,
                "accuracy": acc,
                "gap": None if not n else acc - mean_c,
            }
        )
    return rows
