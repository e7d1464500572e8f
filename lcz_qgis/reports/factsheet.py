"""The factsheet of an LCZ map made from training areas (``lcz map-from-areas``).

One self-contained HTML page, as the LCZ Generator's factsheet: the bootstrap scores
(boxplots and mean with a 95% interval over the splits by polygon), the confusion matrix
summed over the splits, the class table (polygons, patches, F1), the calibration
(temperature, ECE before and after, reliability diagram), the training areas' statistics
and the suspicious training areas.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .html import _e, _kv_table, _num, _page, img_tag

SCORE_NAMES = {
    "oa": "OA",
    "oa_u": "OA_u (urban classes)",
    "oa_bu": "OA_bu (built vs natural)",
    "oa_w": "OA_w (weighted by class similarity)",
    "kappa": "Kappa",
    "macro_f1": "Macro F1",
}


SCORE_LABELS = {"oa": "OA", "oa_u": "OA_u", "oa_bu": "OA_bu", "oa_w": "OA_w",
                "kappa": "Kappa", "macro_f1": "Macro F1"}  # fmt: skip
AXIS_MARGIN = 0.05  # the boxplot axis: the data's range and this much (at least) around it


def score_axis_range(values, chance: float | None = None) -> tuple[float, float]:
    """The boxplots' y range: the finite ``values`` (and the ``chance`` level, when it is
    within 0.15 of them) with a margin of a tenth of their span (at least
    ``AXIS_MARGIN``), within -1.05..1.05 (the scores lie in -1..1)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not v.size:
        return 0.0, 1.0
    low, high = float(v.min()), float(v.max())
    if chance is not None and low - 0.15 <= chance <= high + 0.15:
        low, high = min(low, chance), max(high, chance)
    margin = max(AXIS_MARGIN, 0.1 * (high - low))
    return max(-1.05, low - margin), min(1.05, high + margin)


def scores_boxplot_figure(summary: dict, chance: float | None = None, title: str = ""):
    """Boxplots of each score's values over the splits (one box per score), on an axis
    scaled to the values (``score_axis_range``), with the chance level of OA (the share
    of the largest class among the held-out patches) as a dashed line when given."""
    from .plots import _figure

    keys = [k for k in SCORE_NAMES if k in summary and summary[k]["values"]]
    fig = _figure(8, 4.5)
    ax = fig.subplots()
    data = [np.asarray(summary[k]["values"], float) for k in keys]
    ax.boxplot([d[np.isfinite(d)] for d in data], whis=(2.5, 97.5), showmeans=True)
    # the labels apart: boxplot's ``labels`` is ``tick_labels`` from matplotlib 3.9 and
    # gone in 3.11, ``set_xticks`` takes them in every version the platforms ship
    ax.set_xticks(range(1, len(keys) + 1), [SCORE_LABELS[k] for k in keys])
    low, high = score_axis_range(np.concatenate(data) if data else [], chance)
    ax.set_ylim(low, high)
    if chance is not None and low <= chance <= high:
        ax.axhline(chance, color="#c00000", ls="--", lw=1,
                   label=f"chance level of OA: always the largest class ({chance:.2f})")  # fmt: skip
        ax.legend(loc="best", fontsize=8)
    ax.set_ylabel("Score over the splits (1 = perfect; no unit)")
    ax.set_xlabel("Score (green triangle: mean; whiskers: 95% interval)")
    ax.grid(axis="y", alpha=0.3)
    n = len(data[0]) if data else 0
    ax.set_title(title or f"Bootstrap scores over {n} splits by polygon")
    return fig


def scores_boxplot_png(summary: dict, title: str = "", chance: float | None = None) -> bytes:
    """``scores_boxplot_figure`` as PNG bytes."""
    from .plots import _png

    return _png(scores_boxplot_figure(summary, chance, title))


def chance_level(confusion) -> float | None:
    """The share of the largest class among the held-out patches (rows of the summed
    confusion matrix): the OA of always predicting it; None without patches."""
    rows = np.asarray(confusion, float).sum(axis=1)
    return float(rows.max() / rows.sum()) if rows.sum() else None


def _scores_section(result) -> str:
    s = result.bootstrap.summary
    rows = "".join(
        f'<tr><th class="l">{_e(name)}</th><td>{_num(s[k]["mean"])}</td>'
        f"<td>{_num(s[k]['low'])} – {_num(s[k]['high'])}</td></tr>"
        for k, name in SCORE_NAMES.items()
        if k in s
    )
    n = len(result.bootstrap.splits)
    return (
        f"<h2>Accuracy ({n} splits by polygon, 70/30, stratified by class)</h2>"
        '<p class="note">Each split trains on 70% of the polygons of every class and '
        "scores the other 30%: no polygon is on both sides. Mean and 95% interval (2.5th "
        "and 97.5th percentiles) over the splits.</p>"
        f"<table><tr><th>Score</th><th>Mean</th><th>95% interval</th></tr>{rows}</table>"
        + img_tag(
            scores_boxplot_png(s, chance=chance_level(result.bootstrap.confusion)),
            "bootstrap scores",
        )
    )


def _confusion_section(result) -> str:
    from .plots import confusion_png

    png = confusion_png(result.bootstrap.confusion, title="summed over the splits")
    return (
        "<h2>Confusion matrix (held-out polygons, summed over all splits)</h2>"
        '<p class="note">Rows: reference LCZ (the training areas); columns: the LCZ the '
        "map gives. Top: patch counts; bottom: each row divided by its total. The key "
        "under the plot names the classes.</p>" + img_tag(png, "confusion matrix")
    )


def _class_section(result) -> str:
    from ..common.legend import class_name, lcz_class

    rows = []
    for r in result.class_table:
        colour = lcz_class(r["code"]).color
        rows.append(
            f'<tr><td class="l"><span class="sw" style="background:{colour}"></span> '
            f'{_e(r["lcz"])}</td><td class="l">{_e(class_name(r["code"]))}</td><td>{r["polygons"]}</td>'
            f"<td>{r['patches']}</td><td>{_num(r['f1_mean'])}</td>"
            f"<td>{_num(r['f1_low'])} – {_num(r['f1_high'])}</td></tr>"
        )
    head = (
        '<tr><th class="l">LCZ</th><th class="l">Name</th><th>Polygons</th><th>Patches</th>'
        "<th>F1 (mean)</th><th>F1 95% interval</th></tr>"
    )
    return f"<h2>Classes</h2><table>{head}{''.join(rows)}</table>"


def _calibration_section(result) -> str:
    rows = [
        ("Temperature (fitted on the held-out polygons of all splits)", result.temperature),
        ("ECE before (15 bins, mean over the splits)", result.ece_before),
        ("ECE after (each split with a temperature fitted on the others)", result.ece_after),
    ]
    return (
        "<h2>Confidence calibration</h2>"
        '<p class="note">The map\'s confidence is the calibrated probability of its class: '
        "the final model divides its log-probabilities by the temperature (stored in the "
        "model file).</p>" + _kv_table(rows) + _reliability_images(result)
    )


def _reliability_images(result) -> str:
    """The reliability diagrams (before and after the temperature) of the held-out
    patches of all splits; none when the result holds no reliability table."""
    from .plots import reliability_png

    tables = getattr(result, "reliability", None) or {}
    out = []
    for key, what in (("before", "before calibration"), ("after", "after calibration")):
        table = tables.get(key)
        if table and any(r["count"] for r in table):
            png = reliability_png(table, title=f"Held-out polygons, {what}")
            out.append(img_tag(png, f"reliability diagram, {what}"))
    if not out:
        return ""
    return (
        '<p class="note">Reliability diagrams of the held-out patches of all splits '
        "(the calibrated one with each split's temperature fitted on the other splits): "
        "bars below the diagonal mean over-confidence.</p>" + "".join(out)
    )


def _areas_section(result, req) -> str:
    areas = req.areas if isinstance(req.areas, (str, Path)) else "(layer)"
    rows = [
        ("Training areas", Path(str(areas).split("|")[0]).name),
        ("Polygons with patches", result.n_polygons),
        ("Patches (32 x 32 windows on the 100 m grid)", result.n_patches),
        ("Huge polygons replaced by a 300 m buffer around their centroid", len(result.replaced)),
        ("Sentinel-2", Path(req.sentinel2).name),
        ("Model", _model_text(req)),
    ]
    return "<h2>Training areas</h2>" + _kv_table(rows)


def _model_text(req) -> str:
    if req.model_type == "rf":
        return f"Random forest, {req.trees} trees"
    epochs = f"{req.epochs} epoch" + ("" if req.epochs == 1 else "s")
    return f"{Path(req.init_model).name} fine-tuned, {epochs}, all layers trained"


def _suspects_section(result) -> str:
    if not result.suspects:
        return "<h2>Suspicious training areas</h2><p>None found.</p>"
    from ..common.legend import class_name, lcz_class

    body = "".join(
        f"<tr><td>{s.polygon_id}</td><td class='l'>{_e(lcz_class(s.code).letter)}</td>"
        f"<td class='l'>{_e(class_name(s.code))}</td><td class='l'>{_e(s.check)}</td>"
        f"<td class='l'>{_e(s.reason)}</td></tr>"
        for s in result.suspects
    )
    return (
        f"<h2>Suspicious training areas ({len(result.suspects)})</h2>"
        "<table><tr><th>Polygon</th><th class='l'>LCZ</th><th class='l'>Name</th>"
        "<th class='l'>Check</th>"
        f"<th class='l'>Reason</th></tr>{body}</table>"
    )


def factsheet_html(result, req) -> str:
    """The factsheet page of ``training_areas.workflow.map_from_training_areas``.

    Args:
        result: its ``MapResult``.
        req: its ``MapRequest``.
    """
    times = result.seconds or {}
    alarm = getattr(result, "alarm", "")
    body = (
        (
            f'<p class="alarm" style="color:#c00000;font-weight:bold">Warning: {_e(alarm)}</p>'
            if alarm
            else ""
        )
        + _scores_section(result)
        + _confusion_section(result)
        + _class_section(result)
        + _calibration_section(result)
        + _areas_section(result, req)
        + _suspects_section(result)
        + f'<p class="note">Time per split: {result.bootstrap.seconds_per_split:.1f} s; '
        f"patches: {times.get('patches', 0):.1f} s; bootstrap: {times.get('bootstrap', 0):.1f} s.</p>"
    )
    return _page(f"LCZ map factsheet: {Path(req.output).name}", body)
