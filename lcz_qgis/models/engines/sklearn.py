"""The scikit-learn engine: a random forest saved with skops.

Loading checks every type in the skops file against the exact types a random forest
needs (:func:`..safety.check_skops`), the forest's classes against the manifest's LCZ
codes, and every tree's node arrays (scikit-learn walks them in C without bound checks),
then predicts one blank patch. scikit-learn and skops are imported only here, inside
the functions that need them. A forest predicts through :func:`forest_proba`: its
trees' own C code, scikit-learn's numbers on one job, without joblib's per-tree
dispatch, its rows split between threads for large inputs.
"""

from __future__ import annotations

import warnings

import numpy as np

from ...common.enums import Framework
from ...common.errors import LczError, first_line, require
from ...common.legend import CODES, N_CLASSES
from .. import preprocessing, safety, sklearn_compat
from ..features import feature_threads, pool
from ..model import DEFAULT_BATCH, REDO, blank_patch, check_model_input
from . import Engine


def _tree_sum(trees, x: np.ndarray, n_classes: int) -> np.ndarray:
    """The sum over ``trees``, in order, of each tree's class fractions for ``x`` (float64):
    ``DecisionTreeClassifier.predict_proba`` without its input checks, as the forest's
    own ``predict_proba`` calls it (whose leaf values are counts normalised per row up to
    scikit-learn 1.3, stored fractions from 1.4: the installed version decides)."""
    total = np.zeros((len(x), n_classes))
    for tree in trees:
        total += tree.predict_proba(x, check_input=False)
    return total


def forest_proba(estimator, x: np.ndarray, threads: int = 1) -> np.ndarray:
    """``estimator.predict_proba(x)`` of a fitted random forest (one output), with the
    numbers scikit-learn gives on one job: every row sums its trees in their order. The
    rows are split between ``threads`` threads (the trees' C code releases the GIL), so
    the result does not depend on the threads; no joblib dispatch per tree, which costs
    more than the trees for a few hundred rows. Another estimator, or inputs that are not
    all finite float32 (scikit-learn's own checks and errors): its ``predict_proba``."""
    trees = getattr(estimator, "estimators_", None)
    x = np.ascontiguousarray(x, dtype=np.float32)
    plain = isinstance(trees, list) and getattr(estimator, "n_outputs_", 1) == 1
    if not plain or not np.isfinite(x).all():
        return estimator.predict_proba(x)
    n_classes = int(estimator.n_classes_)
    threads = max(1, min(int(threads), len(x)))
    step = -(-len(x) // threads)
    if threads == 1:
        total = _tree_sum(trees, x, n_classes)
    else:
        parts = pool(threads).map(
            lambda s: _tree_sum(trees, x[s : s + step], n_classes), range(0, len(x), step)
        )
        total = np.concatenate(list(parts))
    total /= len(trees)
    return total


def class_probabilities(
    estimator, x: np.ndarray, codes=None, dtype=np.float32, threads: int = 1
) -> np.ndarray:
    """(N, 17) probabilities of a fitted classifier for the inputs ``x``: its
    ``predict_proba`` columns (:func:`forest_proba` on ``threads`` threads) scattered to
    the LCZ codes ``codes`` of its ``classes_`` (by default the classes themselves);
    classes it never saw get 0."""
    if codes is None:
        codes = estimator.classes_
    out = np.zeros((len(x), N_CLASSES), dtype)
    out[:, np.asarray(codes, np.int64) - 1] = forest_proba(estimator, x, threads)
    return out


class SklearnEngine(Engine):
    """A scikit-learn classifier; ``codes`` are the LCZ codes (1..17) of its
    ``classes_``, in order (by default the classes themselves)."""

    framework = Framework.SKLEARN
    label = "scikit-learn"
    extensions = ()
    member = "model.skops"
    member_bytes = safety.MAX_FOREST_BYTES
    batch_invariant = True
    imports = ("sklearn.ensemble", "skops.io")

    # inputs below which the forest predicts on one thread: each thread pays every
    # tree's fixed cost, about a third more CPU for 256 windows on two threads
    SERIAL_ROWS = 1024

    def __init__(self, estimator, codes=None):
        self.network = estimator
        if codes is None:
            codes = np.asarray(estimator.classes_, dtype=int)
        self.codes = np.asarray(codes, dtype=int)
        self._threads = feature_threads()

    @classmethod
    def load(cls, source, manifest, where):
        if not isinstance(source, (bytes, bytearray, memoryview)) or manifest is None:
            raise LczError(f"{where}: a random forest is read only from an .lczmodel file")
        written = (manifest.get("library_versions") or {}).get("scikit-learn")
        try:
            est = _load_skops(bytes(source), where, written)
        except LczError:
            raise
        except Exception as exc:  # noqa: BLE001 - skops' failures: the versions, or damage
            raise sklearn_compat.load_failure(exc, where, written) from None
        codes = forest_codes(est, manifest, where)
        _check_trees(est, where)
        engine = cls(est, codes)
        if engine.input_shape is not None:
            check_model_input(manifest, where, engine.input_shape, "the model")
        _check_blank_patch(engine, manifest, where)
        return engine

    @staticmethod
    def dumps(network) -> bytes:
        sio = require("skops.io", "skops", "Saving a scikit-learn model")
        return sio.dumps(network)

    @property
    def input_shape(self):
        n = getattr(self.network, "n_features_in_", None)
        return None if n is None else (int(n),)

    def predict(self, x, batch_size):
        """All of ``x`` in one call (a forest's probabilities do not depend on the
        batch): :func:`forest_proba` on ``configure``'s threads (default: the cores this
        process may use), one thread for fewer than ``SERIAL_ROWS`` inputs."""
        threads = self._threads if len(x) >= self.SERIAL_ROWS else 1
        return class_probabilities(self.network, x, self.codes, threads=threads)

    def prepare(self, n):
        pass

    def configure(self, threads, deterministic):
        self._threads = max(1, int(threads))


ENGINE = SklearnEngine


def _check_blank_patch(engine: SklearnEngine, manifest: dict, where: str) -> None:
    """The forest predicts one blank patch of the manifest's bands, 17 probabilities."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = preprocessing.apply(blank_patch(manifest), manifest.get("preprocessing", []))
            out = engine.predict(x, DEFAULT_BATCH)
    except Exception as exc:  # noqa: BLE001 - any failure means the forest is damaged
        raise LczError(
            f"{where} is damaged: its random forest fails ({first_line(exc)}); {REDO}"
        ) from None
    if out.shape != (1, N_CLASSES):
        raise LczError(f"{where} is damaged: its random forest gives {out.shape[1:]} outputs")


def _load_skops(payload: bytes, where: str, written: str | None = None):
    """The estimator in a skops file, after :func:`safety.check_skops` has checked every
    type in it (skops is given exactly those types as trusted). A forest written by an
    older scikit-learn (``written``, from the manifest) is converted to the installed
    one's tree layout first (:mod:`..sklearn_compat`), and the converted file checked
    again."""
    safety.check_skops(payload, where)
    payload = sklearn_compat.upgrade_skops(payload, where, written)
    trusted = safety.check_skops(payload, where)
    sio = require("skops.io", "skops", "Loading a scikit-learn model")
    with warnings.catch_warnings():
        # scikit-learn's "Trying to unpickle estimator ... from version X": skops sets the
        # checked attributes (no pickle), and an older forest was converted just above
        warnings.filterwarnings("ignore", "Trying to unpickle estimator", UserWarning)
        est = sio.loads(payload, trusted=trusted)
    sklearn_compat.upgrade_estimator(est)
    kind = f"{type(est).__module__}.{type(est).__name__}"
    if kind not in safety.SKOPS_ESTIMATORS:
        raise LczError(f"{where}: the scikit-learn model is a {kind}, not a random forest")
    return est


def _codes_text(values) -> str:
    v = sorted({int(x) for x in values})
    if len(v) > 2 and v == list(range(v[0], v[-1] + 1)):
        return f"{v[0]}..{v[-1]}"
    return ", ".join(map(str, v[:20])) + (" ..." if len(v) > 20 else "")


def forest_codes(est, manifest: dict, where: str) -> np.ndarray:
    """The LCZ codes of a forest's ``classes_``: they must be classes the manifest
    declares (codes 1..17; classes 0..16 when it declares 0-based labels, codes = class
    + 1)."""
    arr = np.asarray(getattr(est, "classes_", []))
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iuf":
        raise LczError(f"{where}: the random forest's classes are not LCZ codes; {REDO}")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise LczError(f"{where}: the random forest's classes are not whole numbers; {REDO}")
    declared = [int(c) for c in manifest.get("classes", CODES)]
    offset = 1 if 0 in declared else 0
    found = arr.astype(int)
    undeclared = sorted(set(found.tolist()) - set(declared))
    if undeclared:
        hint = " (trained on 0-based labels? LCZ codes run 1..17)" if found.min() == 0 else ""
        raise LczError(
            f"{where}: the random forest predicts classes {_codes_text(found)} but its "
            f"manifest declares {_codes_text(declared)}: {_codes_text(undeclared)} are not "
            f"LCZ codes of this model{hint}; {REDO}"
        )
    return found + offset


def _check_trees(est, where: str) -> None:
    """Every tree of a loaded forest must be well formed before anything predicts with
    it: scikit-learn walks the node arrays in C without bound checks, so a child index
    out of range or pointing back (a loop), or a feature out of range, would read out of
    memory or never end."""
    from sklearn.tree._tree import Tree

    trees = est.estimators_ if hasattr(est, "estimators_") else [est]
    n_features = getattr(est, "n_features_in_", None)
    if not isinstance(trees, list) or not trees or not isinstance(n_features, int):
        raise LczError(f"{where}: the random forest was never trained; {REDO}")
    for k, tree in enumerate(trees):
        t = getattr(tree, "tree_", None)
        if not isinstance(t, Tree) or t.n_features != n_features or t.n_outputs != 1:
            raise LczError(f"{where} is damaged: tree {k} does not fit the forest; {REDO}")
        n = int(t.node_count)
        left, right, feature = t.children_left, t.children_right, t.feature
        index = np.arange(n)
        leaf = (left == -1) & (right == -1)
        inner = (left > index) & (left < n) & (right > index) & (right < n)
        inner &= (feature >= 0) & (feature < n_features)
        if n < 1 or not np.all(leaf | inner) or t.value.shape[:2] != (n, 1):
            raise LczError(f"{where} is damaged: tree {k} has nodes out of range; {REDO}")


__all__ = ["ENGINE", "SklearnEngine", "class_probabilities", "forest_codes", "forest_proba"]
