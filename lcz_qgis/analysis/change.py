"""Two dates of one place (``lcz compare-maps --change-table``): the change matrix and
the most common transitions.

The reference is the earlier map ("from", rows), the compared map the later ("to",
columns). The matrix counts the cells where both maps hold an LCZ and sums their ground
area (``cell_area.row_areas``: exact for maps in degrees too). The transitions are the
off-diagonal cells (a class that changed), the ``TOP`` largest by cells (ties: by class
codes), each with its share of all changed cells.

The CSV holds three blocks separated by an empty line, each with its header: the matrix
of cells (``cells: from \\ to``), the matrix of areas in km^2 (``area_km2: from \\ to``),
and the top transitions (``rank,from,to,cells,area_km2,share_of_changed``). The figure
is a bar chart of the top transitions by area (PNG, matplotlib's Agg canvas).
"""

from __future__ import annotations

import numpy as np

from ..common.legend import LCZ_CLASSES, lcz_class

TOP = 10
NAMES = [f"LCZ {c.letter}" for c in LCZ_CLASSES]


def add_areas(area_m2: np.ndarray, a: np.ndarray, b: np.ndarray, cell_m2: np.ndarray) -> None:
    """Add to the (17, 17) ``area_m2`` the area of the cells of codes ``a`` (from) and
    ``b`` (to) where both hold an LCZ; ``cell_m2``: each row's cell area."""
    both = (a > 0) & (b > 0)
    weights = np.broadcast_to(cell_m2[:, None], a.shape)[both]
    idx = (a[both].astype(np.int64) - 1) * 17 + (b[both].astype(np.int64) - 1)
    area_m2 += np.bincount(idx, weights=weights, minlength=289).reshape(17, 17)


def top_transitions(cm: np.ndarray, area_m2: np.ndarray, top: int = TOP) -> list[dict]:
    """The ``top`` most common changes: ``from``, ``to`` (codes 1-17), ``cells``,
    ``area_km2``, ``share_of_changed``; no-change cells excluded."""
    changed = cm.sum() - np.trace(cm)
    pairs = [(-int(cm[i, j]), i, j) for i in range(17) for j in range(17) if i != j and cm[i, j]]
    out = []
    for neg, i, j in sorted(pairs)[:top]:
        out.append({"from": i + 1, "to": j + 1, "cells": -neg,
                    "area_km2": float(area_m2[i, j]) / 1e6, "share_of_changed": -neg / changed})  # fmt: skip
    return out


def _matrix_block(head: str, values: np.ndarray, fmt) -> list[str]:
    lines = [f"{head}: from \\ to," + ",".join(NAMES) + ",total"]
    for name, row in zip(NAMES, values):
        lines.append(f"{name}," + ",".join(fmt(v) for v in row) + f",{fmt(row.sum())}")
    lines.append("total," + ",".join(fmt(v) for v in values.sum(0)) + f",{fmt(values.sum())}")
    return lines


def change_table_text(cm: np.ndarray, area_m2: np.ndarray, top: list[dict]) -> str:
    """The change CSV: the matrices of cells and of km^2, then the top transitions."""
    lines = _matrix_block("cells", np.asarray(cm, np.int64), str)
    lines += [""] + _matrix_block("area_km2", np.asarray(area_m2) / 1e6, lambda v: f"{v:.6f}")
    lines += ["", "rank,from,to,cells,area_km2,share_of_changed"]
    for k, t in enumerate(top, 1):
        lines.append(f"{k},{NAMES[t['from'] - 1]},{NAMES[t['to'] - 1]},{t['cells']},"
                     f"{t['area_km2']:.6f},{t['share_of_changed']:.6f}")  # fmt: skip
    return "\n".join(lines) + "\n"


def transitions_png(top: list[dict]) -> bytes:
    """A horizontal bar chart of the top transitions by area (km^2), largest on top; each
    bar in the colour of the class changed to, edged in the colour of the class before."""
    from ..reports.plots import _figure, _png

    fig = _figure(7, 0.45 * max(len(top), 1) + 1.4)
    ax = fig.subplots()
    labels = [f"{lcz_class(t['from']).letter} \u2192 {lcz_class(t['to']).letter}" for t in top]
    y = np.arange(len(top))[::-1]
    ax.barh(y, [t["area_km2"] for t in top], color=[lcz_class(t["to"]).color for t in top],
            edgecolor=[lcz_class(t["from"]).color for t in top], linewidth=2.5)  # fmt: skip
    ax.set_yticks(y)
    ax.set_yticklabels([f"LCZ {s}" for s in labels])
    ax.set_xlabel("area changed (km\u00b2)")
    ax.set_ylabel("from \u2192 to")
    ax.set_title(
        "Most common LCZ transitions (fill: class after, edge: before)"
        if top
        else "No cell changed class"
    )
    return _png(fig)
