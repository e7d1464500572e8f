"""Classes grouped before two LCZ maps are compared (``lcz compare-maps --groups``).

- ``built-natural``: built types LCZ 1-10 vs land-cover types LCZ A-G (11-17).
- ``compact-open``: compact LCZ 1-3 vs open LCZ 4-6 vs every other class (7-10, A-G).

On groups the agreement raster, the cross-table, OA, kappa and the per-group agreement
are the groups'; kappa is Cohen's, ``(p_o - p_e) / (1 - p_e)`` on the group table.
"""

from __future__ import annotations

import numpy as np

from ..common.errors import LczError, param

# name -> (group labels, group index 1.. of each LCZ code 1-17)
GROUPINGS: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "built-natural": (("built (LCZ 1-10)", "natural (LCZ A-G)"), (1,) * 10 + (2,) * 7),
    "compact-open": (
        ("compact (LCZ 1-3)", "open (LCZ 4-6)", "other (LCZ 7-10 and A-G)"),
        (1,) * 3 + (2,) * 3 + (3,) * 11,
    ),
}


def check_groups(groups) -> str | None:
    """``groups`` checked: None or one of ``GROUPINGS``.

    Raises:
        LczError: an unknown grouping (named).
    """
    if groups in (None, "", "none"):
        return None
    if groups not in GROUPINGS:
        raise LczError(f"{param('GROUPS')} '{groups}': give one of {', '.join(GROUPINGS)}")
    return groups


def group_lut(groups: str | None) -> np.ndarray:
    """Code 0-17 -> group 0.. (0 = nodata); the identity without grouping."""
    if groups is None:
        return np.arange(18, dtype=np.uint8)
    return np.array([0, *GROUPINGS[groups][1]], np.uint8)


def group_labels(groups: str) -> tuple[str, ...]:
    """The group names, in group order."""
    return GROUPINGS[groups][0]


def group_matrix(cm: np.ndarray, groups: str) -> np.ndarray:
    """The (17, 17) class cross-table summed into the (G, G) group cross-table."""
    member = np.zeros((17, len(group_labels(groups))), np.int64)
    member[np.arange(17), np.array(GROUPINGS[groups][1]) - 1] = 1
    return member.T @ np.asarray(cm, np.int64) @ member


def group_scores(gm: np.ndarray, groups: str) -> dict:
    """OA, Cohen's kappa and per-group agreement of a group cross-table (rows =
    reference): ``oa``, ``kappa``, ``n`` and ``per_group`` (name, cells of the reference,
    agreement of the reference's cells = recall, of the map's = precision)."""
    gm = np.asarray(gm, np.float64)
    n = gm.sum()
    oa = np.trace(gm) / n
    pe = (gm.sum(1) * gm.sum(0)).sum() / n**2
    kappa = (oa - pe) / (1 - pe) if pe < 1 else 1.0
    rows, cols = gm.sum(1), gm.sum(0)
    per = [{"group": name, "cells": int(rows[i]),
            "recall": gm[i, i] / rows[i] if rows[i] else float("nan"),
            "precision": gm[i, i] / cols[i] if cols[i] else float("nan")}
           for i, name in enumerate(group_labels(groups))]  # fmt: skip
    return {"oa": float(oa), "kappa": float(kappa), "n": int(n), "per_group": per}


def group_table_text(gm: np.ndarray, groups: str) -> str:
    """The group cross-table as CSV (rows = reference, with totals)."""
    names = group_labels(groups)
    lines = ["reference \\ map," + ",".join(names) + ",total"]
    for name, row in zip(names, gm):
        lines.append(f"{name}," + ",".join(map(str, row)) + f",{row.sum()}")
    lines.append("total," + ",".join(map(str, gm.sum(axis=0))) + f",{gm.sum()}")
    return "\n".join(lines) + "\n"
