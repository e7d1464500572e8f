"""Which So2Sat patches a patches run loads.

An index list with ranges ("0-9,15,20-25"), or N patches per LCZ class (seeded), or
every patch when neither is given. At most ``MAX_PATCHES`` (5000) per run.
"""

from __future__ import annotations

import re

import numpy as np

from ..common.errors import LczError, param
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES, lcz_class

MAX_PATCHES = 5000


def parse_indices(spec, n: int) -> np.ndarray:
    """Sorted unique 0-based patch indices from "0-9,15,20-25" (or a list of ints)."""
    if spec is None:
        return np.zeros(0, dtype=np.int64)
    if isinstance(spec, (list, tuple, np.ndarray)):
        vals = [int(v) for v in spec]
    else:
        vals = []
        for part in re.split(r"[,;\s]+", str(spec).strip()):
            if not part:
                continue
            m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
            if m:
                a, b = int(m.group(1)), int(m.group(2))
                if b < a:
                    raise LczError(f"index range '{part}' runs backwards; write it as {b}-{a}")
                if b - a >= 10 * MAX_PATCHES:
                    raise LczError(
                        f"index range '{part}' selects {b - a + 1} patches; at most "
                        f"{MAX_PATCHES} can be loaded in one run"
                    )
                vals.extend(range(a, b + 1))
            elif re.fullmatch(r"\d+", part):
                vals.append(int(part))
            else:
                raise LczError(
                    f"'{part}' is not a patch index or range; write indices like '0-9,15,20-25' "
                    "(0-based, ranges inclusive)"
                )
    idx = np.unique(np.asarray(vals, dtype=np.int64))
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        raise LczError(
            f"patch indices {bad[:5].tolist()} are out of range: the file has {n} patches "
            f"(indices 0-{n - 1})"
        )
    return idx


def select_per_class(labels: np.ndarray, per_class: int, seed: int, feedback: Feedback):
    """``per_class`` random patches of each LCZ class (all of a smaller class, with a
    warning). Returns (sorted indices, {code: indices})."""
    rng = np.random.default_rng(seed)
    chosen: dict[int, np.ndarray] = {}
    short = []
    for code in range(1, N_CLASSES + 1):
        members = np.flatnonzero(labels == code)
        if members.size <= per_class:
            take = members
            if members.size < per_class:
                short.append(f"LCZ {lcz_class(code).letter} has {members.size}")
        else:
            take = np.sort(rng.choice(members, size=per_class, replace=False))
        if take.size:
            chosen[code] = take
    if short:
        feedback.warning(
            f"{len(short)} class(es) have fewer than the {per_class} patches asked for, "
            f"all of them were taken: {'; '.join(short)}"
        )
    allidx = np.sort(np.concatenate(list(chosen.values()))) if chosen else np.zeros(0, np.int64)
    return allidx.astype(np.int64), chosen


def _limit_message(n: int, what: str) -> str:
    return (
        f"{what} {n} patches, more than the {MAX_PATCHES} that can be loaded in one run; "
        f"select patches with {param('INDICES')} (e.g. '0-99,250,300-310', 0-based) or "
        f"{param('PER_CLASS')} "
        "(e.g. 5 = five random patches of each LCZ class)"
    )


def select_patches(f, spec, per_class: int, seed: int, feedback: Feedback):
    """The selected patch indices: per class, from an index spec, or all of them.

    Args:
        f: The open ``So2SatFile``.
        spec: The index spec (see ``parse_indices``), or None.
        per_class: Random patches per LCZ class (0: off).
        seed: Seed of the per-class selection.
        feedback: Messages.

    Returns:
        (sorted indices, one index array per class for a per-class grid or None).

    Raises:
        LczError: no labels for a per-class selection, too many or no patches.
    """
    rows_of = None
    if per_class > 0:
        if not f.has_labels:
            raise LczError(f"'{f.path.name}' has no labels, so {param('PER_CLASS')} cannot be used")
        if per_class * N_CLASSES > MAX_PATCHES:
            raise LczError(
                _limit_message(per_class * N_CLASSES, f"{param('PER_CLASS')} would select up to")
            )
        sel, by_class = select_per_class(f.labels(), per_class, seed, feedback)
        rows_of = [by_class[c] for c in sorted(by_class)]
    elif spec is not None:
        sel = parse_indices(spec, f.n)
        if sel.size > MAX_PATCHES:
            raise LczError(_limit_message(sel.size, f"{param('INDICES')} selects"))
    else:
        if f.n > MAX_PATCHES:
            raise LczError(_limit_message(f.n, f"'{f.path.name}' has"))
        sel = np.arange(f.n, dtype=np.int64)
    if sel.size == 0:
        raise LczError("no patches selected")
    feedback.info(f"{sel.size} patch(es) selected from '{f.path.name}' ({f.n} in the file)")
    return sel, rows_of
