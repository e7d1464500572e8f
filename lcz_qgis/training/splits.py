"""What both trainers share: the stratified validation split, subsampling, label checks,
the warnings about the inputs and the result a training run returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.atomic import same_file
from ..common.enums import Sensor
from ..common.errors import LczError

VALIDATION_FRACTION = 0.1


def check_max_samples(max_samples) -> int | None:
    """None or 0 (all patches) or a positive count; LczError otherwise."""
    if max_samples is None:
        return None
    try:
        value = int(max_samples)
        whole = value == max_samples
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole or value < 0:
        raise LczError(
            f"the maximum number of training patches must be a positive whole number "
            f"(0 or empty = all); got {max_samples}"
        )
    return value or None


@dataclass
class TrainResult:
    """What a training run returns.

    Attributes:
        path: The model file written.
        manifest: Its manifest.
        scores: The validation scores of the kept model ({} without validation).
        history: Per-epoch curves (Keras models; {} for random forests).
    """

    path: Path
    manifest: dict
    scores: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)


def split_indices(codes: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split stratified by class: (train indices, validation indices), sorted."""
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(codes):
        idx = np.flatnonzero(codes == c)
        rng.shuffle(idx)
        k = int(round(len(idx) * fraction))
        if len(idx) >= 2:
            k = max(1, min(k, len(idx) - 1))
        else:
            k = 0
        val.append(idx[:k])
    val = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    train = np.setdiff1d(np.arange(len(codes)), val)
    return train, val


def subsample(idx: np.ndarray, max_samples: int | None, seed: int) -> np.ndarray:
    """At most ``max_samples`` of ``idx``, drawn with ``seed + 1`` and sorted (all when None)."""
    if max_samples and len(idx) > max_samples:
        rng = np.random.default_rng(seed + 1)
        idx = np.sort(rng.choice(idx, size=max_samples, replace=False))
    return idx


def check_training_labels(codes: np.ndarray, name: str) -> None:
    """Fail unless the LCZ ``codes`` of training set ``name`` hold at least two classes.

    Raises:
        LczError: No patches, or a single class.
    """
    if len(codes) == 0:
        raise LczError(f"the training set '{name}' has no patches")
    present = np.unique(codes)
    if len(present) < 2:
        raise LczError(
            f"the training set '{name}' holds only one class (LCZ {int(present[0])}); "
            "a classifier needs at least two"
        )


def warn_about_inputs(train, validation, sensor: str, feedback) -> None:
    """Warnings about the inputs before training: DN-scaled Sentinel-2 values and a
    validation file that is the training file."""
    if validation and Path(train).exists() and same_file(train, validation):
        feedback.warning(
            f"the validation file '{Path(validation).name}' is the training file: the "
            "validation scores measure the fit to the training patches, not how well the "
            "model generalises; give a separate validation file (or none for a 10% split)"
        )
    if sensor not in (Sensor.SEN2, Sensor.FUSION):
        return
    from ..so2sat.file import So2SatFile, check_sen2_scale

    paths = [train]
    if validation and not same_file(train, validation):
        paths.append(validation)
    for path in paths:
        if Path(path).is_file():
            with So2SatFile(path) as f:
                check_sen2_scale(f, feedback)
