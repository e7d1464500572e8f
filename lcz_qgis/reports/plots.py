"""PNG plots for reports: the LCZ confusion matrix and training curves.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no GUI backend), so it
is safe in Processing's background thread. Each function returns PNG bytes.
Confusion matrices: rows = reference, columns = predicted, LCZ codes 1..10, A..G.
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


def _matrix_panel(ax, values: np.ndarray, fmt, title: str, vmax: float, cmap: str) -> object:
    im = ax.imshow(values, cmap=cmap, vmin=0, vmax=vmax if vmax > 0 else 1, interpolation="nearest")
    ticks = np.arange(N_CLASSES)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xticklabels(LETTERS, fontsize=8)
    ax.set_yticklabels(LETTERS, fontsize=8)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("Reference")
    ax.set_title(title)
    # separate the urban (1-10) and natural (A-G) blocks
    for pos in (9.5,):
        ax.axhline(pos, color="0.4", lw=0.8)
        ax.axvline(pos, color="0.4", lw=0.8)
    threshold = 0.6 * (vmax if vmax > 0 else 1)
    for i in range(N_CLASSES):
        for j in range(N_CLASSES):
            v = values[i, j]
            if v == 0 or not np.isfinite(v):
                continue
            ax.text(
                j,
                i,
                fmt(v),
                ha="center",
                va="center",
                fontsize=5.5,
                color="white" if v > threshold else "black",
            )
    return im


def confusion_png(cm, title: str = "") -> bytes:
    """Two panels: counts, and rows normalised to 1 (recall, i.e. PA, on the diagonal)."""
    cm = np.asarray(cm, dtype=np.float64)
    if cm.shape != (N_CLASSES, N_CLASSES):
        raise ValueError(f"confusion matrix must be {N_CLASSES}x{N_CLASSES}, got {cm.shape}")
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig = _figure(15, 7)
    a1, a2 = fig.subplots(1, 2)
    im1 = _matrix_panel(a1, cm, lambda v: f"{int(v)}", "Counts", cm.max(), "Blues")
    fig.colorbar(im1, ax=a1, fraction=0.046, pad=0.04)
    im2 = _matrix_panel(
        a2, norm, lambda v: f"{v:.2f}".lstrip("0"), "Row-normalised (recall = PA)", 1.0, "Blues"
    )
    fig.colorbar(im2, ax=a2, fraction=0.046, pad=0.04)
    total = int(cm.sum())
    oa = np.trace(cm) / total if total else float("nan")
    fig.suptitle(
        (f"{title} - " if title else "") + f"confusion matrix, {total} patches, OA {oa:.3f}"
    )
    return _png(fig)


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
