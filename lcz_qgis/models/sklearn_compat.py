"""Random forests written by an older scikit-learn, read by the one installed.

skops stores each tree's node array as a structured ``.npy``. scikit-learn 1.3 added a
field to it (``missing_go_to_left``, where a missing value goes), so a forest written with
scikit-learn 1.2 (the plugin's earlier releases) fails on 1.3 and later with "node array
... has an incompatible dtype", although nothing in the file is damaged.

:func:`upgrade_skops` converts such a skops file before skops reads it: every tree's node
array gets the running scikit-learn's layout (:func:`upgrade_node_array`: the fields it
had, copied; ``missing_go_to_left`` 0, so a missing value goes right, as scikit-learn 1.2
sent a NaN, whose comparisons are false); scikit-learn 1.4 keeps class fractions where
earlier versions kept weighted counts in each tree's ``value`` (and no longer normalises
when predicting), so counts become fractions (:func:`fraction_values`). After loading, :func:`upgrade_estimator` sets the
parameters added since (``monotonic_cst`` in 1.4) to their defaults. :func:`load_failure`
turns what skops or scikit-learn still raise into an error that names the real cause
(the versions), never "damaged".

Only payloads that :func:`lcz_qgis.models.safety.check_skops` has checked may be given
here. numpy arrays are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

from ..common.errors import LczError, first_line
from . import safety

__all__ = [
    "current_node_dtype",
    "fraction_values",
    "load_failure",
    "upgrade_estimator",
    "upgrade_node_array",
    "upgrade_skops",
]

# fields a node array may lack that the running scikit-learn adds, and their value
_ADDED_FIELDS = {"missing_go_to_left": 0}


def current_node_dtype() -> np.dtype:
    """The node dtype of the installed scikit-learn's trees."""
    from sklearn.tree._tree import NODE_DTYPE

    return np.dtype(NODE_DTYPE)


def upgrade_node_array(nodes: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``nodes`` (a tree's structured node array) in the layout ``dtype``: each field of
    ``dtype`` copied from ``nodes`` (same name, same kind of number) or, for a field that
    scikit-learn added since (:data:`_ADDED_FIELDS`), set to its neutral value. Returns
    ``nodes`` itself when it has the layout already.

    Raises:
        ValueError: a field of ``dtype`` that ``nodes`` lacks and that is not a known
            addition, or a field of another kind of number.
    """
    have = nodes.dtype.names or ()
    if nodes.dtype == dtype:
        return nodes
    out = np.zeros(nodes.shape, dtype)
    for name in dtype.names:
        if name in have:
            if nodes.dtype[name].kind != dtype[name].kind:
                raise ValueError(f"field {name} is {nodes.dtype[name]}, not {dtype[name]}")
            out[name] = nodes[name]
        elif name in _ADDED_FIELDS:
            out[name] = _ADDED_FIELDS[name]
        else:
            raise ValueError(f"the node array has no field {name}")
    return out


def fraction_values(values: np.ndarray) -> np.ndarray:
    """A classification tree's ``value`` array (nodes, outputs, classes) as class
    fractions, as scikit-learn 1.4 and later store it (and no longer normalise when
    predicting); earlier versions stored weighted class counts. Returns ``values`` itself
    when its rows are fractions already (or empty)."""
    sums = values.sum(axis=-1, keepdims=True)
    if values.size == 0 or np.all((sums == 0) | (np.abs(sums - 1) <= 1e-6)):
        return values
    return values / np.where(sums == 0, 1, sums)


def _stores_fractions() -> bool:
    """True when the installed scikit-learn (1.4 and later) keeps class fractions in
    ``tree_.value``."""
    from sklearn import __version__

    major, minor = (
        int("".join(c for c in p if c.isdigit()) or 0) for p in __version__.split(".")[:2]
    )
    return (major, minor) >= (1, 4)


def _node_files(schema, key: str) -> list[str]:
    """The ``.npy`` members holding the trees' ``key`` arrays (``TreeNode`` -> ``nodes``
    or ``values``)."""
    files, stack = [], [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("__loader__") == "TreeNode":
                state = (item.get("content") or {}).get("content") or {}
                nodes = state.get(key) if isinstance(state, dict) else None
                if isinstance(nodes, dict) and isinstance(nodes.get("file"), str):
                    files.append(nodes["file"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return files


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def upgrade_skops(payload: bytes, where: str, written_with: str | None = None) -> bytes:
    """A checked skops file (``payload``) whose trees have the installed scikit-learn's
    layout: node arrays converted by :func:`upgrade_node_array` and, from scikit-learn
    1.4, class counts by :func:`fraction_values`, where needed (a new zip, members stored
    as skops stores them), else ``payload`` as it is.

    Args:
        payload: The skops bytes, after ``safety.check_skops``.
        where: The file, for errors ("'x.lczmodel'").
        written_with: The scikit-learn version the manifest records, for errors.

    Raises:
        LczError: a node array this scikit-learn cannot take, naming both versions.
    """
    dtype = current_node_dtype()
    with zipfile.ZipFile(io.BytesIO(payload)) as z:
        schema = json.loads(z.read("schema.json"))
        changed = {}
        for key in ("nodes", "values") if _stores_fractions() else ("nodes",):
            for name in set(_node_files(schema, key)):
                raw = safety.read_member(z, name, safety.MAX_FOREST_BYTES, where)
                old = np.load(io.BytesIO(bytes(raw)), allow_pickle=False)
                try:
                    new = upgrade_node_array(old, dtype) if key == "nodes" else fraction_values(old)
                except ValueError as exc:
                    raise _version_error(where, written_with, str(exc)) from None
                if new is not old:
                    changed[name] = _npy(new)
        if not changed:
            return payload
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
            for info in z.infolist():
                dst.writestr(info.filename, changed.get(info.filename) or z.read(info))
    return out.getvalue()


def upgrade_estimator(est) -> list[str]:
    """Give a loaded forest and its trees the parameters that the installed scikit-learn
    added since the file was written (e.g. ``monotonic_cst``, new in 1.4), at their
    defaults: what the older version did. Returns "Class.param" for each one set."""
    import inspect

    added = []
    for obj in [est, *getattr(est, "estimators_", [])]:
        for name, param in inspect.signature(type(obj).__init__).parameters.items():
            if name == "self" or param.default is inspect.Parameter.empty:
                continue
            if name not in vars(obj):
                setattr(obj, name, param.default)
                added.append(f"{type(obj).__name__}.{name}")
    return sorted(set(added))


def _version_error(where: str, written_with: str | None, detail: str) -> LczError:
    from sklearn import __version__ as current

    older = f"scikit-learn {written_with}" if written_with else "another scikit-learn"
    return LczError(
        f"{where} was written with {older}, whose random forest this scikit-learn "
        f"{current} cannot read ({detail}); the file is not damaged: re-train the model, "
        f"or load it with scikit-learn {written_with or 'of that version'} and run "
        "`lcz upgrade-model` there"
    )


def load_failure(exc: BaseException, where: str, written_with: str | None) -> LczError:
    """The error for a skops / scikit-learn failure ``exc`` while loading a checked forest:
    when the manifest records another scikit-learn (``written_with``) than the installed
    one, the versions are the cause and the message says so (never "damaged"); else
    the file is damaged."""
    from sklearn import __version__ as current

    if written_with and written_with != current:
        return _version_error(where, written_with, first_line(exc).rstrip(":"))
    return LczError(f"{where} is damaged: {first_line(exc)}; re-export or re-train the model")
