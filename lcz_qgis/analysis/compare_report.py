"""The compare-maps report (``lcz compare-maps --report R.html``): one self-contained
HTML page, its figures embedded as PNG (matplotlib's Agg canvas): the cross-table heatmap
(rows = reference), the per-class agreement bars, the confidence curve when a confidence
raster was given, and the top transitions; each with its numbers in a table."""

from __future__ import annotations

import html

import numpy as np

from ..common.legend import LCZ_CLASSES
from ..reports.html import _page, img_tag, scores_table
from ..reports.plots import _figure, _png
from .change import NAMES, transitions_png


def _e(v) -> str:
    return html.escape(str(v))


def _f(v, digits: int = 3) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def heatmap_png(cm: np.ndarray, labels: list[str], title: str) -> bytes:
    """The cross-table as a heatmap of row shares with the counts written in the cells;
    rows = the reference map, columns = the compared map."""
    cm = np.asarray(cm, np.float64)
    rows = cm.sum(1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    k = len(labels)
    fig = _figure(2.2 + 0.5 * k, 1.6 + 0.45 * k)
    ax = fig.subplots()
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks(np.arange(k), labels, rotation=90 if k > 3 else 0, fontsize=8)
    ax.set_yticks(np.arange(k), labels, fontsize=8)
    ax.set_xlabel("compared map (columns)")
    ax.set_ylabel("reference map (rows)")
    ax.set_title(title)
    for i, j in zip(*np.nonzero(cm)):
        ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=6 if k > 3 else 9,
                color="white" if share[i, j] > 0.6 else "black")  # fmt: skip
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the reference's row")
    return _png(fig)


def per_class_png(per_class: list[dict]) -> bytes:
    """Bars per class present in either map: the share of the reference's cells the map
    agrees with (solid) and of the map's cells the reference agrees with (hatched)."""
    shown = [c for c in per_class if c["support"] or c.get("predicted")]
    fig = _figure(8, 3.6)
    ax = fig.subplots()
    x = np.arange(len(shown))
    colours = [LCZ_CLASSES[c["code"] - 1].color for c in shown]
    ax.bar(x - 0.2, [np.nan_to_num(c["recall"]) for c in shown], 0.4, color=colours,
           edgecolor="black", label="of the reference's cells")  # fmt: skip
    ax.bar(x + 0.2, [np.nan_to_num(c["precision"]) for c in shown], 0.4, color=colours,
           edgecolor="black", hatch="//", label="of the map's cells")  # fmt: skip
    ax.set_xticks(x, [NAMES[c["code"] - 1].removeprefix("LCZ ") for c in shown])
    ax.set_xlabel("LCZ")
    ax.set_ylabel("agreement")
    ax.set_ylim(0, 1)
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(facecolor="white", edgecolor="black", label="of the reference's cells"),
                       Patch(facecolor="white", edgecolor="black", hatch="//",
                             label="of the map's cells")], fontsize=8)  # fmt: skip
    ax.set_title("Per-class agreement (bars in the class colours)")
    return _png(fig)


def curve_png(curve: list[dict]) -> bytes:
    """OA of the kept cells and the share kept against the confidence threshold."""
    fig = _figure(6, 3.6)
    ax = fig.subplots()
    t = [r["threshold"] for r in curve]
    ax.plot(t, [r["oa"] for r in curve], "o-", label="OA of the cells kept")
    ax.plot(t, [r["kept_share"] for r in curve], "s--", label="share of the cells kept")
    ax.set_xlabel("confidence threshold (cells with confidence >= threshold kept)")
    ax.set_ylabel("share")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    ax.set_title("Agreement by confidence")
    return _png(fig)


def _table(head: list[str], rows: list[list]) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _sections(result: dict) -> list[str]:
    """The figures and tables after the scores."""
    out = []
    per = [c for c in result["per_class"] if c["support"] or c.get("predicted")]
    out += ["<h2>Per-class agreement</h2>", img_tag(per_class_png(per), "per-class agreement"),
            _table(["LCZ", "reference cells", "agreement of the reference's cells",
                    "agreement of the map's cells"],
                   [[NAMES[c["code"] - 1], c["support"], _f(c["recall"]), _f(c["precision"])]
                    for c in per])]  # fmt: skip
    if result.get("confidence_curve"):
        curve = result["confidence_curve"]
        out += ["<h2>Agreement by confidence</h2>", img_tag(curve_png(curve), "confidence"),
                _table(["threshold", "cells kept", "share kept", "OA of the kept"],
                       [[f"{r['threshold']:.1f}", r["cells"], _f(r["kept_share"]), _f(r["oa"])]
                        for r in curve])]  # fmt: skip
    if result.get("transitions") is not None:
        top = result["transitions"]
        out += ["<h2>Most common transitions (reference \u2192 map)</h2>",
                img_tag(transitions_png(top), "top transitions"),
                _table(["from", "to", "cells", "km\u00b2", "share of changed cells"],
                       [[NAMES[t["from"] - 1], NAMES[t["to"] - 1], t["cells"],
                         _f(t["area_km2"], 4), _f(t["share_of_changed"])] for t in top])]  # fmt: skip
    return out


def report_html(result: dict, reference: str, map_path: str) -> str:
    """The whole page for a ``compare_maps`` result (its ``confusion``, ``per_class`` and,
    when present, ``groups``, ``group_confusion``, ``confidence_curve``, ``transitions``)."""
    body = [f"<p>Reference (rows): {_e(reference)}<br>Compared map (columns): {_e(map_path)}"
            f"<br>{_e(result['note'])}; {result['n']} cells where both hold an LCZ.</p>",
            "<h2>Scores of the LCZ classes</h2>",
            scores_table({k: result[k] for k in ("oa", "kappa", "oa_u", "oa_bu", "oa_w")})]  # fmt: skip
    if result.get("groups"):
        g = result["group_scores"]
        labels = [p["group"] for p in g["per_group"]]
        body += [f"<h2>Groups: {_e(result['groups'])}</h2>",
                 f"<p>On the groups: OA {_f(g['oa'])}, kappa {_f(g['kappa'])}.</p>",
                 img_tag(heatmap_png(result["group_confusion"], labels, "Cross-table of the "
                                     "groups"), "group cross-table")]  # fmt: skip
    body += ["<h2>Cross-table</h2>",
             img_tag(heatmap_png(result["confusion"], [n[4:] for n in NAMES],
                                 "Cross-table of the LCZ classes"), "cross-table")]  # fmt: skip
    return _page("LCZ map comparison", "".join(body + _sections(result)))
