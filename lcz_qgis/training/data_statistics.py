"""What a training run measures on its training rows before it trains: the per-channel
mean and std (streamed, with the rows holding NaN or inf) and balanced class weights."""

from __future__ import annotations

import numpy as np

from ..common.feedback import Feedback
from ..common.legend import N_CLASSES

STATS_CHUNK = 256


def channel_statistics(
    path, sensor: str, bands: list[int], indices: np.ndarray, feedback: Feedback
) -> tuple[list[float], list[float], np.ndarray]:
    """Per-channel mean and std over rows ``indices``, streamed; and the rows with NaN/inf.

    Chunk statistics are merged with Chan et al.'s parallel formula in float64, so the
    result does not depend on the chunk size and does not lose precision on large files.
    """
    from ..so2sat.batches import SequentialBatches

    c = len(bands)
    count, mean, m2 = 0, np.zeros(c), np.zeros(c)
    kept = []
    batches = SequentialBatches(path, sensor, bands, indices, STATS_CHUNK, labels=False, reuse=True)
    done = 0
    for x, _, rows in batches:
        feedback.check_cancelled()
        done += STATS_CHUNK
        feedback.progress(100.0 * min(done, batches.n) / max(batches.n, 1))
        if not len(x):
            continue
        kept.append(rows)
        nb = x.shape[0] * x.shape[1] * x.shape[2]
        mb = x.mean(axis=(0, 1, 2), dtype=np.float64)
        d = x - mb.astype(np.float32)
        m2b = (d * d).sum(axis=(0, 1, 2), dtype=np.float64)
        delta = mb - mean
        total = count + nb
        mean = mean + delta * nb / total
        m2 = m2 + m2b + delta**2 * count * nb / total
        count = total
    kept_rows = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    bad = np.setdiff1d(np.asarray(indices, np.int64), kept_rows)
    std = np.sqrt(m2 / max(count, 1))
    return mean.tolist(), std.tolist(), bad


def balanced_class_weights(codes: np.ndarray) -> np.ndarray:
    """Weights per class index 0..16: n / (classes present * count); 0 for absent classes."""
    counts = np.bincount(np.asarray(codes, np.int64) - 1, minlength=N_CLASSES).astype(np.float64)
    present = counts > 0
    w = np.zeros(N_CLASSES)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w.astype(np.float32)
