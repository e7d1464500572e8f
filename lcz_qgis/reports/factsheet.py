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


def scores_boxplot_png(summary: dict, title: str = "") -> bytes:
    """Boxplots of each score's values over the splits (one box per score)."""
    from .plots import _figure, _png

    keys = [k for k in SCORE_NAMES if k in summary and summary[k]["values"]]
    fig = _figure(7, 4)
    ax = fig.subplots()
    data = [np.asarray(summary[k]["values"], float) for k in keys]
    ax.boxplot([d[np.isfinite(d)] for d in data], labels=[k.upper() for k in keys],
               whis=(2.5, 97.5), showmeans=True)  # fmt: skip
    ax.set_ylim(0, 1)
    ax.set_ylabel("Score over the splits")
    ax.grid(axis="y", alpha=0.3)
    n = len(data[0]) if data else 0
    ax.set_title(title or f"Bootstrap scores ({n} splits by polygon; whiskers: 95% interval)")
    return _png(fig)


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
        + img_tag(scores_boxplot_png(s), "bootstrap scores")
    )


def _confusion_section(result) -> str:
    from .plots import confusion_png

    png = confusion_png(result.bootstrap.confusion, title="summed over the splits")
    return (
        "<h2>Confusion matrix (held-out polygons, summed over all splits)</h2>"
        '<p class="note">Rows: reference LCZ; columns: predicted LCZ. Left: patch counts; '
        "right: each row divided by its total.</p>" + img_tag(png, "confusion matrix")
    )


def _class_section(result) -> str:
    from ..common.legend import lcz_class

    rows = []
    for r in result.class_table:
        colour = lcz_class(r["code"]).color
        rows.append(
            f'<tr><td class="l"><span class="sw" style="background:{colour}"></span> '
            f'{_e(r["lcz"])}</td><td class="l">{_e(r["name"])}</td><td>{r["polygons"]}</td>'
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
    body = "".join(
        f"<tr><td>{s.polygon_id}</td><td>{s.code}</td><td class='l'>{_e(s.check)}</td>"
        f"<td class='l'>{_e(s.reason)}</td></tr>"
        for s in result.suspects
    )
    return (
        f"<h2>Suspicious training areas ({len(result.suspects)})</h2>"
        "<table><tr><th>Polygon</th><th>LCZ</th><th class='l'>Check</th>"
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
