"""The accuracy of a map made from training areas: a bootstrap of splits by polygon.

As the LCZ Generator (Demuzere et al. 2021) does, the polygons (not the patches) are
split 70/30, stratified by class, ``N_SPLITS`` times; each split trains a model on the
training polygons' patches and scores it on the held-out polygons' patches. Patches of
one polygon are alike (neighbouring windows overlap), so a patch split would score a
model on near copies of its training data; a polygon split never puts one polygon on
both sides.

Each score is reported as the mean over the splits with a 95% interval (the 2.5th and
97.5th percentiles of the splits); the confusion matrix is the sum over all splits
(rows reference, columns predicted). Every split's held-out predictions are kept, so
the scores can be recomputed from them (``predictions_table``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..common.errors import LczError
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES

N_SPLITS = 25
TEST_SHARE = 0.3
SCORE_KEYS = ("oa", "oa_u", "oa_bu", "oa_w", "kappa", "macro_f1")
INTERVAL = (2.5, 97.5)  # percentiles of the splits: a 95% interval


@dataclass
class Split:
    """One split: the polygons on each side and the held-out patches' predictions.

    Attributes:
        index: 0-based split number.
        train_polygons: ids of the polygons the model was trained on.
        test_polygons: ids of the held-out polygons.
        test_rows: rows (patch indices) of the held-out patches.
        reference: their LCZ codes 1..17.
        predicted: the split's model's codes for them.
        probabilities: (n, 17) class probabilities, for calibration.
        scores: ``evaluation.metrics.lcz_scores`` of reference vs predicted.
        seconds: time of training and predicting.
    """

    index: int
    train_polygons: np.ndarray
    test_polygons: np.ndarray
    test_rows: np.ndarray
    reference: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray
    scores: dict = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class BootstrapResult:
    """All splits, the summary of their scores and the summed confusion matrix."""

    splits: list[Split]
    summary: dict  # score -> {"mean", "low", "high", "values"}
    per_class_f1: dict  # LCZ code -> {"mean", "low", "high"}
    confusion: np.ndarray  # (17, 17) summed over the splits, rows reference

    @property
    def seconds_per_split(self) -> float:
        """Mean time of one split (training and predicting)."""
        return float(np.mean([s.seconds for s in self.splits])) if self.splits else 0.0


def polygon_classes(polygons: np.ndarray, codes: np.ndarray) -> dict[int, int]:
    """{polygon id: its LCZ code} from the patches' polygon ids and codes.

    Raises:
        LczError: a polygon whose patches carry two classes (a damaged patch file).
    """
    out: dict[int, int] = {}
    for pid in np.unique(polygons):
        classes = np.unique(codes[polygons == pid])
        if len(classes) != 1:
            raise LczError(f"polygon {int(pid)}'s patches carry classes {classes.tolist()}")
        out[int(pid)] = int(classes[0])
    return out


def _one_class_message(by_class: dict[int, list[int]]) -> str:
    """Why a bootstrap of these classes (code -> polygon ids with patches) says nothing."""
    from ..common.legend import lcz_class

    have = ", ".join(f"LCZ {lcz_class(c).letter}: {len(ids)} polygon(s)"
                     for c, ids in sorted(by_class.items()))  # fmt: skip
    return (
        f"the training areas that give patches hold {have}: an accuracy needs at least two "
        "LCZ classes with two or more training areas each (with one class, OA is 1 and "
        "kappa is undefined whatever the map); add training areas of other classes"
    )


def polygon_splits(
    classes: dict[int, int], n_splits: int = N_SPLITS, test_share: float = TEST_SHARE, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_splits`` (train ids, test ids) splits of the polygons, stratified by class.

    In each class, ``round(test_share * n)`` of its ``n`` polygons (at least one when
    ``n >= 2``) go to the test side, drawn anew for every split; a class with a single
    polygon stays on the training side (it cannot be scored). Seeded: the same
    arguments give the same splits.

    Raises:
        LczError: fewer than two polygons, no class with two polygons, or fewer than two
            classes with two polygons (with one class held out, OA is 1 and kappa is
            undefined whatever the model does).
    """
    if not 0 < test_share < 1:
        raise LczError(f"the held-out share must be between 0 and 1; got {test_share}")
    by_class: dict[int, list[int]] = {}
    for pid, code in sorted(classes.items()):
        by_class.setdefault(code, []).append(pid)
    scored = [code for code, ids in by_class.items() if len(ids) >= 2]
    if not scored:
        raise LczError(
            "no class has two training areas: a split by polygon needs at least two "
            "polygons of a class to hold one out"
        )
    if len(scored) < 2:
        raise LczError(_one_class_message(by_class))
    rng = np.random.default_rng(seed)
    splits = []
    for _ in range(n_splits):
        test = []
        for ids in by_class.values():
            if len(ids) >= 2:
                k = min(len(ids) - 1, max(1, round(test_share * len(ids))))
                test.extend(rng.choice(ids, size=k, replace=False).tolist())
        test_ids = np.array(sorted(test), dtype=np.int64)
        train_ids = np.array(sorted(set(classes) - set(test)), dtype=np.int64)
        splits.append((train_ids, test_ids))
    return splits


def summarise(splits: list[Split]) -> tuple[dict, dict, np.ndarray]:
    """Mean and 95% interval of each score over the splits; per-class F1 likewise
    (over the splits where the class was held out); the summed confusion matrix."""
    summary = {}
    for key in SCORE_KEYS:
        values = np.array([s.scores[key] for s in splits], dtype=np.float64)
        summary[key] = _interval(values)
    per_class = {}
    for code in range(1, N_CLASSES + 1):
        f1 = [s.scores["per_class"][code - 1]["f1"] for s in splits if (s.reference == code).any()]
        if f1:
            per_class[code] = _interval(np.array(f1))
    confusion = np.sum([np.asarray(s.scores["confusion"], np.int64) for s in splits], axis=0)
    return summary, per_class, confusion


def _interval(values: np.ndarray) -> dict:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan"), "values": []}
    low, high = np.percentile(finite, INTERVAL)
    return {
        "mean": float(finite.mean()),
        "low": float(low),
        "high": float(high),
        "values": [float(v) for v in values],
    }


CHANCE_MARGIN = 0.05  # OA at most the largest class's share + this: chance level


def chance_alarm(result: BootstrapResult) -> str:
    """A warning when the bootstrap's scores are at chance level: the 95% interval of
    kappa includes 0, or the mean OA is at most the share of the largest class among
    the held-out patches + ``CHANCE_MARGIN`` (what always predicting that class
    scores); ``""`` otherwise."""
    kappa, oa = result.summary.get("kappa", {}), result.summary.get("oa", {})
    rows = np.asarray(result.confusion).sum(axis=1)
    reasons = []
    if np.isfinite(kappa.get("low", np.nan)) and kappa["low"] <= 0 <= kappa["high"]:
        reasons.append(
            f"the 95% interval of kappa [{kappa['low']:.3f}, {kappa['high']:.3f}] includes 0"
        )
    if rows.sum() and np.isfinite(oa.get("mean", np.nan)):
        largest = float(rows.max() / rows.sum())
        if oa["mean"] <= largest + CHANCE_MARGIN:
            reasons.append(
                f"the overall accuracy {oa['mean']:.3f} is no better than always predicting "
                f"the largest class ({largest:.3f} of the held-out patches)"
            )
    if not reasons:
        return ""
    return (
        "chance-level map: " + " and ".join(reasons) + ". The model has not learnt the "
        "training areas' classes from this raster: check that the training areas and the "
        "raster cover the same place, the LCZ field, and the Sentinel-2 scale."
    )


def run_bootstrap(
    polygons: np.ndarray,
    codes: np.ndarray,
    fit_predict,
    n_splits: int = N_SPLITS,
    seed: int = 0,
    feedback: Feedback | None = None,
) -> BootstrapResult:
    """Train and score ``n_splits`` polygon splits.

    Args:
        polygons: (N,) polygon id of each patch.
        codes: (N,) LCZ code 1..17 of each patch.
        fit_predict: ``fit_predict(train_rows, test_rows, split_index, feedback)`` ->
            (n_test, 17) probabilities of the test rows from a model trained on the
            training rows (the caller decides the model: random forest, fine-tuned CNN).
        n_splits: how many splits.
        seed: seeds the splits (and is passed on through the split index).
        feedback: progress over the splits and cancel.

    Returns:
        The splits with their predictions and scores, and their summary.
    """
    import time

    from ..evaluation.metrics import lcz_scores

    feedback = feedback or Feedback()
    polygons = np.asarray(polygons, np.int64)
    codes = np.asarray(codes, np.int64)
    classes = polygon_classes(polygons, codes)
    splits = []
    for i, (train_ids, test_ids) in enumerate(polygon_splits(classes, n_splits, seed=seed)):
        feedback.check_cancelled()
        t0 = time.perf_counter()
        train_rows = np.flatnonzero(np.isin(polygons, train_ids))
        test_rows = np.flatnonzero(np.isin(polygons, test_ids))
        step = feedback.scaled(100.0 * i / n_splits, 100.0 * (i + 1) / n_splits)
        proba = np.asarray(fit_predict(train_rows, test_rows, i, step), np.float64)
        predicted = predicted_codes(proba)
        split = Split(i, train_ids, test_ids, test_rows, codes[test_rows], predicted, proba)
        split.scores = lcz_scores(split.reference, predicted)
        split.seconds = time.perf_counter() - t0
        splits.append(split)
        feedback.progress(100.0 * (i + 1) / n_splits)
    summary, per_class, confusion = summarise(splits)
    return BootstrapResult(splits, summary, per_class, confusion)


def predicted_codes(probabilities: np.ndarray) -> np.ndarray:
    """LCZ codes 1..17 of (n, 17) probabilities; ties go to the lowest class."""
    return np.argmax(probabilities, axis=1).astype(np.int64) + 1


def predictions_table(result: BootstrapResult, polygons: np.ndarray) -> str:
    """CSV of every split's held-out predictions: split, row, polygon, reference,
    predicted and the predicted class's probability (rows in split order)."""
    lines = ["split,row,polygon,reference,predicted,probability"]
    for s in result.splits:
        top = s.probabilities[np.arange(len(s.predicted)), s.predicted - 1]
        for row, ref, pred, p in zip(s.test_rows, s.reference, s.predicted, top):
            lines.append(f"{s.index},{row},{int(polygons[row])},{ref},{pred},{p:.6f}")
    return "\n".join(lines) + "\n"
