"""Self-contained HTML reports (PNG plots embedded as base64) for training and evaluation.

One file a user can open in a browser or in QGIS's Processing results viewer: the
overall LCZ scores, a per-class table, the confusion matrix (counts and row-normalised,
rows = reference, columns = predicted), for evaluation the reliability diagram
(calibration) and, for training, loss and accuracy curves.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
from pathlib import Path

import numpy as np

from ..common.atomic import check_output_path, write_text_atomic

_STYLE = """
body{font-family:sans-serif;margin:1.5em;max-width:1200px;color:#222}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f0f0f0} td.l,th.l{text-align:left}
img{max-width:100%;border:1px solid #eee}
.sw{display:inline-block;width:.9em;height:.9em;border:1px solid #888;vertical-align:middle}
.note{color:#555;font-size:.9em}
"""

_SCORE_ROWS = (
    ("oa", "OA", "overall accuracy: correct / all"),
    ("kappa", "Kappa", "Cohen's kappa (agreement beyond chance)"),
    ("macro_f1", "Macro F1", "mean F1 of the classes present in the reference"),
    ("weighted_f1", "Weighted F1", "F1 of each class weighted by its reference patches"),
    ("oa_u", "OA_u", "accuracy over the urban classes 1-10 only"),
    ("oa_bu", "OA_bu", "built (1-10) vs natural (A-G) agreement"),
    ("oa_w", "OA_w", "accuracy weighted by LCZ similarity (Bechtel et al. 2020)"),
    ("loss", "Loss", "mean cross-entropy of the reference class"),
    (
        "ece",
        "ECE",
        "expected calibration error: mean |accuracy - confidence| over "
        "equal-width confidence bins, weighted by their patches (0 = calibrated)",
    ),
    ("temperature", "Temperature", "the model's temperature scaling (calibration)"),
)


def _e(v) -> str:
    return html.escape(str(v))


def _num(v, digits: int = 3) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:.{digits}f}"
    return _e(v)


def img_tag(png: bytes, alt: str) -> str:
    """An ``<img>`` element embedding ``png`` as a base64 data URI (``alt`` escaped)."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _kv_table(rows) -> str:
    body = "".join(
        f'<tr><th class="l">{_e(k)}</th><td class="l">{_num(v)}</td></tr>' for k, v in rows
    )
    return f"<table>{body}</table>"


def scores_table(scores: dict) -> str:
    """An HTML table of the overall scores present in ``scores``, each with its meaning."""
    body = "".join(
        f'<tr><th class="l">{name}</th><td>{_num(scores.get(key))}</td>'
        f'<td class="l note">{_e(text)}</td></tr>'
        for key, name, text in _SCORE_ROWS
        if scores.get(key) is not None
    )
    return f"<table><tr><th>Score</th><th>Value</th><th>Meaning</th></tr>{body}</table>"


def per_class_table(scores: dict) -> str:
    """An HTML table of ``scores["per_class"]``, after a note on what UA and PA are.

    Columns: LCZ (with its colour), name, reference patches, UA (precision), PA (recall)
    and F1.
    """
    from ..common.legend import lcz_class

    rows = []
    for c in scores.get("per_class", []):
        colour = lcz_class(c["code"]).color
        rows.append(
            f'<tr><td class="l"><span class="sw" style="background:{colour}"></span> '
            f'{_e(c["lcz"])}</td><td class="l">{_e(c["name"])}</td><td>{c["support"]}</td>'
            f"<td>{_num(c['precision'])}</td><td>{_num(c['recall'])}</td><td>{_num(c['f1'])}</td></tr>"
        )
    head = (
        '<tr><th class="l">LCZ</th><th class="l">Name</th><th>Reference patches</th>'
        "<th>UA (precision)</th><th>PA (recall)</th><th>F1</th></tr>"
    )
    note = (
        '<p class="note">UA, user\'s accuracy (precision): of the patches predicted as the '
        "class, the share that are it. PA, producer's accuracy (recall): of the reference "
        "patches of the class, the share predicted as it.</p>"
    )
    return f"{note}<table>{head}{''.join(rows)}</table>"


def _page(title: str, body: str) -> str:
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{_e(title)}</h1>{body}"
        f'<p class="note">Written by lcz_qgis on {stamp}.</p></body></html>\n'
    )


def _confusion_section(scores: dict, what: str) -> str:
    from .plots import confusion_png

    png = confusion_png(np.asarray(scores["confusion"]), title=what)
    return (
        f"<h2>Confusion matrix ({_e(what)})</h2>"
        '<p class="note">Rows: reference LCZ; columns: predicted LCZ. Left: patch counts; '
        "right: each row divided by its total, so the diagonal is the recall (PA).</p>"
        + img_tag(png, f"confusion matrix, {what}")
    )


def _reliability_section(scores: dict) -> str:
    from .plots import reliability_png

    table = scores.get("calibration_bins")
    if not table or not any(r["count"] for r in table):
        return ""
    png = reliability_png(table, scores.get("ece"), Path(scores.get("dataset", "")).name)
    return (
        "<h2>Calibration (reliability diagram)</h2>"
        '<p class="note">Patches binned by their confidence (the largest probability); '
        "bars: the share of each bin predicted right. A calibrated model's bars follow "
        "the diagonal; bars below it mean over-confidence (<code>lcz calibrate</code> fits "
        "a temperature that corrects it).</p>" + img_tag(png, "reliability diagram")
    )


def evaluation_report_html(scores: dict) -> str:
    """The self-contained HTML page of an evaluation (``evaluate_model``'s ``scores``).

    Sections: the model and dataset, the scores, the confusion matrix and the per-class
    table.
    """
    info = [
        ("Model", Path(scores.get("model", "")).name or scores.get("model_type", "")),
        ("Model type", scores.get("model_type", "")),
        ("Sensor", scores.get("sensor", "")),
        ("Bands", ", ".join(scores.get("bands", []))),
        ("Dataset", Path(scores.get("dataset", "")).name),
        ("Patches scored", scores.get("n", "")),
        ("Patches skipped (NaN/inf)", scores.get("n_skipped", 0)),
        ("Time (s)", scores.get("seconds", "")),
    ]
    body = (
        "<h2>Data</h2>"
        + _kv_table(info)
        + "<h2>Scores</h2>"
        + scores_table(scores)
        + _confusion_section(scores, Path(scores.get("dataset", "dataset")).name)
        + _reliability_section(scores)
        + "<h2>Per class</h2>"
        + per_class_table(scores)
    )
    return _page("LCZ model evaluation", body)


# the training settings' codes as the training report says them
_SETTING_WORDS = {
    "exponential": "exponential decay",
    "cosine": "cosine decay",
    "constant": "constant",
    "stats": "per-patch statistics",
    "raw": "raw pixels",
    "all-but-head": "all layers but the classification head",
}


def _model_type_words(model_type) -> str:
    """A model type in words ("rf" -> "Random forest on per-patch features
    (scikit-learn)", ``models.MODEL_TYPES``); an unknown type as it is."""
    from ..models import MODEL_TYPES

    words = MODEL_TYPES.get(model_type, ("", "", ""))[2] if isinstance(model_type, str) else ""
    return words[:1].upper() + words[1:] if words else str(model_type or "")


def _setting_words(value):
    """A training setting in words: yes/no, a code's words (``_SETTING_WORDS``)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return _SETTING_WORDS.get(value, value)
    return value


def training_report_html(manifest: dict, scores: dict, history: dict | None = None) -> str:
    """The HTML page of a trained model: its training settings, learning curves and
    validation scores.

    Args:
        manifest: the model manifest (its ``training`` and, by default, ``history``).
        scores: the validation scores (``scores_from_confusion``); without a confusion
            matrix the page says there were no validation patches.
        history: per-epoch ``loss``/``accuracy`` (and ``val_`` ones) of Keras training;
            None: the manifest's. No loss: no curves.
    """
    from ..common.enums import Sensor
    from .plots import training_curves_png

    t = manifest.get("training", {})
    model_words = _model_type_words(manifest.get("model_type"))
    sensor = manifest.get("sensor")
    info = [
        ("Model type", model_words),
        ("Sensor", Sensor(sensor).label if sensor in list(Sensor) else sensor),
        ("Bands", ", ".join(manifest.get("band_names", []))),
        ("Training file", t.get("file")),
        ("Validation", t.get("validation")),
        ("Training patches", t.get("n_train")),
        ("Validation patches", t.get("n_validation")),
        ("Skipped patches (NaN/inf)", t.get("n_skipped_nonfinite", 0)),
    ]
    for key, label in (
        ("epochs_run", "Epochs run"),
        ("epochs", "Epochs asked"),
        ("best_epoch", "Epoch kept (best validation OA)"),
        ("stopped_early", "Stopped early"),
        ("batch_size", "Batch size"),
        ("learning_rate", "Learning rate"),
        ("schedule", "Schedule"),
        ("class_weights", "Class weights"),
        ("augment", "Augmentation"),
        ("seconds", "Training time (s)"),
        ("n_trees", "Trees"),
        ("features", "Features"),
    ):
        if key in t:
            info.append((label, _setting_words(t[key])))
    body = "<h2>Training</h2>" + _kv_table(info)
    history = history or manifest.get("history") or {}
    if history.get("loss"):
        png = training_curves_png(history, t.get("best_epoch"))
        body += (
            "<h2>Learning curves</h2>"
            '<p class="note">Training values are averaged over each epoch (with dropout and '
            "any class weights); validation values are measured at the end of the epoch.</p>"
            + img_tag(png, "loss and accuracy per epoch")
        )
    if scores and scores.get("confusion") is not None:
        body += "<h2>Validation scores</h2>" + scores_table(scores)
        body += _confusion_section(scores, "validation")
        body += "<h2>Per class (validation)</h2>" + per_class_table(scores)
    else:
        body += "<h2>Validation scores</h2><p>No validation patches: no scores.</p>"
    return _page(f"LCZ model training: {model_words}", body)


def write_training_report(path, manifest: dict, scores: dict, history: dict | None = None):
    """Write the training report for any trained model (Keras or rf)."""
    return write_text_atomic(
        check_output_path(path), training_report_html(manifest, scores, history)
    )
