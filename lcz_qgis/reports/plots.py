"""PNG plots for reports: the LCZ confusion matrix, training curves, reliability diagram.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no GUI backend), so it
is safe in Processing's background thread. Each function returns PNG bytes.
Confusion matrices: rows = reference, columns = the map (predicted), LCZ labels 1-10, A-G,
with a key of their names; the numbers in the cells scale with the cell (`cell_font_size`).
"""

from __future__ import annotations

import io

import numpy as np

from ..common.errors import require
from ..common.legend import LCZ_CLASSES, N_CLASSES

LETTERS = [c.letter for c in LCZ_CLASSES]


def _figure(width: float, height: float):
    require("matplotlib", "matplotlib", "Plots in reports")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


# the matrix's cells: inches per class (17 classes: 8.5 in) and the numbers' font size,
# a share of the cell's side in points, bounded so that 5-digit counts still fit
CELL_INCHES = 0.5
CELL_FONT_SHARE = 0.3
MIN_CELL_FONT, MAX_CELL_FONT = 8.0, 13.0


def cell_font_size(n_classes: int, panel_inches: float, longest: int = 4) -> float:
    """The font size (points) of the numbers in a matrix of ``n_classes`` cells a side
    drawn ``panel_inches`` wide: ``CELL_FONT_SHARE`` of a cell's side, at most what fits
    ``longest`` characters in the cell, within ``MIN_CELL_FONT``-``MAX_CELL_FONT``."""
    cell_pt = 72.0 * panel_inches / max(n_classes, 1)
    size = min(CELL_FONT_SHARE * cell_pt, 1.5 * cell_pt / max(longest, 1))
    return float(np.clip(size, MIN_CELL_FONT, MAX_CELL_FONT))


def _matrix_panel(ax, values: np.ndarray, fmt, title: str, vmax: float, fontsize: float):
    """One matrix on ``ax``: rows = reference, columns = the map, LCZ labels, the urban
    (1-10) and natural (A-G) blocks separated, each non-zero cell's number written."""
    top = vmax if vmax > 0 else 1
    im = ax.imshow(values, cmap="Blues", vmin=0, vmax=top, interpolation="nearest")
    ticks = np.arange(N_CLASSES)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xticklabels(LETTERS, fontsize=10)
    ax.set_yticklabels(LETTERS, fontsize=10)
    ax.set_xlabel("Map (columns): LCZ predicted", fontsize=11)
    ax.set_ylabel("Reference (rows): LCZ of the training data", fontsize=11)
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    ax.set_title(title, fontsize=12, pad=12)
    ax.axhline(9.5, color="0.4", lw=0.8)
    ax.axvline(9.5, color="0.4", lw=0.8)
    for i in range(N_CLASSES):
        for j in range(N_CLASSES):
            v = values[i, j]
            if v == 0 or not np.isfinite(v):
                continue
            colour = "white" if v > 0.6 * top else "black"
            ax.text(j, i, fmt(v), ha="center", va="center", fontsize=fontsize, color=colour)
    return im


def class_key(codes=None) -> str:
    """The LCZ labels with their names (``1 Compact high-rise · ... · G Water``), in the
    run's language (``legend.legend_style``): the key of a plot labelled by letters."""
    from ..common.legend import class_name

    shown = [c for c in LCZ_CLASSES if codes is None or c.code in set(codes)]
    # no-break spaces inside an entry: a wrapped key breaks between entries only
    return " · ".join(f"{c.letter} {class_name(c.code)}".replace(" ", "\u00a0") for c in shown)


def confusion_figure(cm, title: str = ""):
    """The confusion-matrix figure (``confusion_png``): two panels one above the other,
    patch counts and rows normalised to 1, the classes' names in a key below."""
    import textwrap

    cm = np.asarray(cm, dtype=np.float64)
    if cm.shape != (N_CLASSES, N_CLASSES):
        raise ValueError(f"confusion matrix must be {N_CLASSES}x{N_CLASSES}, got {cm.shape}")
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    side = CELL_INCHES * N_CLASSES
    fig = _figure(side + 2.5, 2 * side + 4.5)
    a1, a2 = fig.subplots(2, 1)
    longest = len(f"{int(cm.max())}") if cm.size else 1
    im1 = _matrix_panel(a1, cm, lambda v: f"{int(v)}", "Patch counts", cm.max(),
                        cell_font_size(N_CLASSES, side, longest))  # fmt: skip
    fig.colorbar(im1, ax=a1, fraction=0.046, pad=0.04, label="Patches")
    im2 = _matrix_panel(a2, norm, lambda v: f"{v:.2f}", "Rows normalised (diagonal: recall = PA)",
                        1.0, cell_font_size(N_CLASSES, side, 4))  # fmt: skip
    fig.colorbar(im2, ax=a2, fraction=0.046, pad=0.04, label="Share of the reference row")
    total = int(cm.sum())
    oa = np.trace(cm) / total if total else float("nan")
    fig.suptitle(
        (f"{title} - " if title else "") + f"confusion matrix, {total} patches, OA {oa:.3f}",
        fontsize=13,
    )
    present = [c.code for c in LCZ_CLASSES if cm[c.code - 1].any() or cm[:, c.code - 1].any()]
    key = "\n".join(textwrap.wrap("LCZ: " + class_key(present or None), 130))
    fig.text(0.02, 0.005, key, fontsize=9, va="bottom", ha="left", color="#333333")
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    return fig


def confusion_png(cm, title: str = "") -> bytes:
    """``confusion_figure`` as PNG bytes: counts, and rows normalised to 1 (recall, i.e.
    PA, on the diagonal); rows = reference, columns = the map."""
    return _png(confusion_figure(cm, title))


def training_curves_png(history: dict, best_epoch: int | None = None) -> bytes:
    """Loss and accuracy per epoch, training and validation; the kept epoch marked."""
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    fig = _figure(11, 4)
    a1, a2 = fig.subplots(1, 2)
    for ax, key, label in ((a1, "loss", "Loss (cross-entropy)"), (a2, "accuracy", "Accuracy")):
        if history.get(key):
            ax.plot(epochs, history[key], "o-", label="training")
        val = history.get(f"val_{key}")
        if val and np.isfinite(np.asarray(val, float)).any():
            ax.plot(epochs, val, "s-", label="validation")
        if best_epoch:
            ax.axvline(best_epoch, color="0.5", ls="--", lw=1, label=f"kept (epoch {best_epoch})")
        ax.set_xlabel("Epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if len(epochs):
            ax.set_xticks(epochs if len(epochs) <= 20 else epochs[:: max(1, len(epochs) // 10)])
        ax.legend()
    a2.set_ylim(0, 1)
    return _png(fig)


def reliability_png(table: list[dict], ece: float | None = None, title: str = "") -> bytes:
    """The reliability diagram of a calibration table (``metrics.calibration_table``).

    Top: per confidence bin, the accuracy (bars) against the diagonal of a perfectly
    calibrated model, with the mean confidence of each bin marked; bars below the
    diagonal are over-confident. Bottom: the share of patches per bin.
    """
    if not table:
        raise ValueError("the calibration table is empty")
    lower = np.array([r["lower"] for r in table], float)
    width = np.array([r["upper"] - r["lower"] for r in table], float)
    count = np.array([r["count"] for r in table], float)
    acc = np.array([np.nan if r["accuracy"] is None else r["accuracy"] for r in table])
    conf = np.array([np.nan if r["confidence"] is None else r["confidence"] for r in table])
    fig = _figure(6, 7)
    a1, a2 = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    filled = count > 0
    a1.bar(lower[filled], acc[filled], width=width[filled], align="edge", color="#4a7ebb",
           edgecolor="white", label="accuracy")  # fmt: skip
    a1.bar(lower[filled], (conf - acc)[filled], bottom=acc[filled], width=width[filled],
           align="edge", color="#e06666", alpha=0.35, edgecolor="#cc0000", label="gap")  # fmt: skip
    a1.plot([0, 1], [0, 1], "--", color="0.4", lw=1, label="perfect calibration")
    a1.plot(lower[filled] + width[filled] / 2, conf[filled], "k.", ms=5, label="mean confidence")
    a1.set_xlim(0, 1)
    a1.set_ylim(0, 1)
    a1.set_ylabel("Accuracy")
    a1.grid(alpha=0.3)
    a1.legend(loc="upper left", fontsize=8)
    head = f"{title} - " if title else ""
    shown = "" if ece is None or not np.isfinite(ece) else f", ECE {ece:.3f}"
    a1.set_title(f"{head}reliability diagram ({len(table)} bins{shown})")
    total = count.sum()
    a2.bar(lower, count / total if total else count, width=width, align="edge",
           color="0.55", edgecolor="white")  # fmt: skip
    a2.set_xlabel("Confidence (largest probability)")
    a2.set_ylabel("Share of patches")
    a2.grid(alpha=0.3)
    return _png(fig)
