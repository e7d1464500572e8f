"""Random forest (scikit-learn) on per-patch features.

Two feature sets (see ``lcz_qgis.models.features``): ``raw`` flattens the patch as the seed
notebook does; ``stats`` uses band, index and texture statistics. ``stats`` is the
default: on the sample data it is both more accurate (test OA 0.94 against 0.72) and
about 9x faster to train (docs/BENCHMARKS.md, `make bench`, table "rf feature sets").
"""

from __future__ import annotations

import numpy as np

from ..common.errors import require
from ..common.feedback import Feedback

DEFAULT_FEATURES = "stats"
N_TREES = 200


def make_estimator(seed: int, codes: np.ndarray, n_trees: int = N_TREES):
    """A random forest with class weights inversely proportional to class frequency
    (So2Sat is imbalanced), fixed up front so that warm-started rounds share them."""
    ensemble = require("sklearn.ensemble", "scikit-learn", "The random forest model")
    classes, counts = np.unique(codes, return_counts=True)
    weights = len(codes) / (len(classes) * counts)
    return ensemble.RandomForestClassifier(
        n_estimators=n_trees,
        n_jobs=-1,
        random_state=seed,
        class_weight={int(c): float(w) for c, w in zip(classes, weights)},
        max_features="sqrt",
    )


def fit(
    features: np.ndarray, codes: np.ndarray, seed: int, feedback: Feedback, n_trees: int = N_TREES
):
    """Fit in rounds of trees (warm start) so progress and cancel work."""
    est = make_estimator(seed, codes, n_trees)
    est.set_params(warm_start=True, n_estimators=0)
    step = max(10, n_trees // 10)
    done = 0
    while done < n_trees:
        feedback.check_cancelled()
        done = min(n_trees, done + step)
        est.set_params(n_estimators=done)
        est.fit(features, codes)
        feedback.progress(100.0 * done / n_trees)
    return est
