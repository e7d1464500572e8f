"""Score a model on a labelled So2Sat HDF5 file, streaming it in batches, and write the results.

``evaluate_model`` reads the model's sensor and bands from its manifest (or infers them
from a plain Keras file's channel count, with an optional ``sensor`` override), streams
the dataset's probabilities (``predictions.iter_predictions``: file order, the model's
own preprocessing) and accumulates a confusion matrix, so memory does not grow with the
dataset. Patches holding NaN or inf, or values beyond the sensor's physical range
(``bands.patches_in_range``), are skipped, counted and reported (``n_skipped``), never
scored as a class; a file with none left is an error. Temperature scaling is
:mod:`.calibrate`.

Writers: JSON (everything; ``confusion`` has rows = reference and columns = predicted,
labelled by ``confusion_axes``, ``confusion_labels`` and ``confusion_codes``), CSV
(per-class precision/recall/F1 with LCZ codes and names, then the overall scores), a
confusion-matrix PNG (``reports.plots``) and an HTML report (``reports.html``). Scores are
those of ``metrics.lcz_scores``, plus calibration: the expected calibration error
(``ece``, 15 equal-width confidence bins, ``metrics.expected_calibration_error``) and the
reliability table (``calibration_bins``), accumulated per bin while streaming (no
probabilities are kept); the HTML report draws the reliability diagram. Precision is the LCZ community's user's accuracy (UA)
and recall its producer's accuracy (PA); the CSV repeats them in ``ua`` and ``pa``
columns after ``value``, so readers of the older columns keep working.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from pathlib import Path

import numpy as np

from ..common.atomic import (
    atomic_output,
    check_distinct_paths,
    check_output_path,
    staged_outputs,
)
from ..common.errors import LczError, param
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES
from ..models.model import DEFAULT_BATCH

# removed once commands/calibrate imports it from evaluation.calibrate
from .calibrate import calibrate_to_file, held_out_probabilities  # noqa: F401
from .metrics import (
    DEFAULT_ECE_BINS,
    calibration_bin_counts,
    calibration_table,
    confusion_matrix,
    ece_from_bins,
    scores_from_confusion,
)
from .predictions import iter_predictions, open_model

OVERALL_KEYS = ("oa", "kappa", "macro_f1", "weighted_f1", "oa_u", "oa_bu", "oa_w", "ece")
OVERALL_NAMES = {
    "oa": "OA",
    "kappa": "Kappa",
    "macro_f1": "Macro F1",
    "weighted_f1": "Weighted F1 (by reference support)",
    "oa_u": "OA_u (urban classes)",
    "oa_bu": "OA_bu (built vs natural)",
    "oa_w": "OA_w (LCZ-weighted)",
    "ece": f"ECE (expected calibration error, {DEFAULT_ECE_BINS} bins)",
}
# The first nine columns are the original ones; ua (user's accuracy) and pa (producer's
# accuracy) repeat precision and recall under the LCZ community's names.
CSV_COLUMNS = (
    "kind",
    "code",
    "lcz",
    "name",
    "support",
    "precision",
    "recall",
    "f1",
    "value",
    "ua",
    "pa",
)


class ConfusionAccumulator:
    """Confusion matrix, mean cross-entropy and calibration bins (``n_bins`` equal-width
    confidence bins), added to batch by batch."""

    def __init__(self, n_bins: int = DEFAULT_ECE_BINS):
        self.cm = np.zeros((N_CLASSES, N_CLASSES), np.int64)
        self.nll = 0.0
        self.n = 0
        self.bins = np.zeros((3, int(n_bins)))

    def add(self, codes: np.ndarray, proba: np.ndarray) -> None:
        """Add one batch.

        Args:
            codes: (N,) reference LCZ codes, 1..17.
            proba: (N, 17) predicted class probabilities; the prediction is their argmax.
        """
        codes = np.asarray(codes, np.int64)
        if codes.size == 0:
            return
        pred = np.argmax(proba, axis=1) + 1
        self.cm += confusion_matrix(codes, pred)
        p = np.asarray(proba)
        confidence = p[np.arange(codes.size), pred - 1]
        self.bins += calibration_bin_counts(confidence, pred == codes, self.bins.shape[1])
        p_true = np.asarray(proba, np.float64)[np.arange(codes.size), codes - 1]
        self.nll += float(-np.log(np.clip(p_true, 1e-7, 1.0)).sum())
        self.n += int(codes.size)

    @property
    def loss(self) -> float:
        """Mean cross-entropy of the reference class so far (probabilities clipped at 1e-7); NaN
        before any patch.
        """
        return self.nll / self.n if self.n else float("nan")

    def scores(self) -> dict:
        """The LCZ scores of the confusion matrix so far (``scores_from_confusion``) plus
        ``loss``, ``ece``, ``ece_bins`` and the reliability table ``calibration_bins``
        (``metrics.calibration_table``).

        Raises:
            LczError: no patch was added.
        """
        if self.n == 0:
            raise LczError("no patches to score (all were skipped or the dataset is empty)")
        s = scores_from_confusion(self.cm)
        s["loss"] = self.loss
        s["ece"] = ece_from_bins(self.bins)
        s["ece_bins"] = int(self.bins.shape[1])
        s["calibration_bins"] = calibration_table(self.bins)
        return s


def evaluate_model(
    model,
    dataset,
    feedback: Feedback | None = None,
    batch_size: int = DEFAULT_BATCH,
    sensor: str | None = None,
    runtime: str = "auto",
) -> dict:
    """Scores of ``model`` (a path or a loaded ``LczModel``, run by ``runtime``) on the
    labelled ``dataset``.

    Returns ``metrics.lcz_scores`` keys (oa, kappa, macro_f1, weighted_f1, oa_u, oa_bu,
    oa_w, n, per_class, confusion and its labels) plus loss, ece, ece_bins,
    calibration_bins (the reliability table), n_skipped, model, dataset, sensor, bands,
    temperature (the model's calibration, or None), seconds.
    """
    from ..models.modelfile import manifest_summary

    feedback = feedback or Feedback()
    if batch_size < 1:
        raise LczError(f"batch size must be at least 1, got {batch_size}")
    t0 = time.monotonic()
    m = open_model(model, sensor, runtime)
    dataset = Path(dataset)
    stream = iter_predictions(m, dataset, feedback, batch_size)
    feedback.info(
        f"evaluating a {manifest_summary(m.manifest)} on {stream.n} patches of {dataset.name}"
    )
    acc = ConfusionAccumulator()
    for proba, codes in stream:
        acc.add(codes, proba)
    scores = acc.scores()
    scores.update(
        n_skipped=stream.n_skipped,
        model=str(getattr(m, "path", None) or ""),
        model_type=m.model_type,
        dataset=str(dataset),
        sensor=m.sensor,
        bands=list(m.manifest.get("band_names", [])),
        temperature=m.temperature,
        seconds=round(time.monotonic() - t0, 2),
    )
    feedback.info(
        f"OA {scores['oa']:.3f}, kappa {scores['kappa']:.3f}, OA_w {scores['oa_w']:.3f}, "
        f"ECE {scores['ece']:.3f} on {scores['n']} patches"
    )
    feedback.progress(100)
    return scores


# -- writers ----------------------------------------------------------------------------


def overall(scores: dict) -> dict:
    """The overall scores of ``scores`` (``OVERALL_KEYS`` present), as floats."""
    return {k: float(scores[k]) for k in OVERALL_KEYS if k in scores}


def json_safe(value):
    """``value`` with every NaN or infinite number replaced by None (JSON null) and numpy
    scalars and arrays turned into Python ones, so ``json.dumps`` writes valid JSON."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_text(value) -> str:
    """Valid JSON (no bare NaN): non-finite numbers become null."""
    return json.dumps(json_safe(value), indent=1, allow_nan=False)


def scores_csv_text(scores: dict) -> str:
    """Per-class rows (kind=class), then one row per overall score (kind=overall).

    ``precision`` is the user's accuracy and ``recall`` the producer's accuracy; the last
    two columns, ``ua`` and ``pa``, repeat them under the LCZ community's names.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for c in scores["per_class"]:
        w.writerow(
            [
                "class",
                c["code"],
                c["lcz"],
                c["name"],
                c["support"],
                f"{c['precision']:.6f}",
                f"{c['recall']:.6f}",
                f"{c['f1']:.6f}",
                "",
                f"{c['precision']:.6f}",
                f"{c['recall']:.6f}",
            ]
        )
    for k, v in overall(scores).items():
        w.writerow(
            ["overall", "", "", OVERALL_NAMES[k], scores.get("n", ""), "", "", "", f"{v:.6f}"]
            + ["", ""]
        )
    return buf.getvalue()


def write_confusion_png(scores: dict, path, title: str = "") -> Path:
    """Write the confusion-matrix plot of ``scores`` to ``path`` (PNG), atomically.

    Args:
        scores: a result of ``scores_from_confusion`` (its ``confusion``).
        path: the PNG to write.
        title: the plot's title.
    """
    from ..reports.plots import confusion_png

    png = confusion_png(np.asarray(scores["confusion"]), title=title)
    with atomic_output(path) as tmp:
        tmp.write_bytes(png)
    return Path(path)


def write_outputs(
    scores: dict, output_json=None, csv_path=None, report=None, confusion_png=None, feedback=None
) -> dict:
    """Write whichever outputs are given, all replaced together (none when one fails,
    e.g. on a full disk: ``atomic.staged_outputs``); returns {kind: path}."""
    from ..reports.html import evaluation_report_html
    from ..reports.plots import confusion_png as plot_confusion

    check_distinct_paths(
        {},
        {
            "OUTPUT_JSON": output_json,
            param("OUTPUT_CSV", "csv_path"): csv_path,
            "REPORT": report,
            "CONFUSION_PNG": confusion_png,
        },
    )
    check_outputs(output_json, csv_path, report, confusion_png)
    out = {}
    with staged_outputs(feedback) as st:
        for key, path, text in (
            ("json", output_json, json_text),
            ("csv", csv_path, scores_csv_text),
            ("report", report, evaluation_report_html),
        ):
            if path:
                st.write_text(Path(path), text(scores))
                out[key] = Path(path)
        if confusion_png:
            st.write_bytes(Path(confusion_png), plot_confusion(np.asarray(scores["confusion"])))
            out["confusion_png"] = Path(confusion_png)
    return out


def check_outputs(*paths) -> None:
    """Fail before any work when an output's folder does not exist."""
    for p in paths:
        if p:
            check_output_path(p)


def evaluate_to_files(
    model,
    dataset,
    output_json=None,
    csv_path=None,
    report=None,
    confusion_png=None,
    feedback: Feedback | None = None,
    batch_size: int = DEFAULT_BATCH,
    sensor: str | None = None,
    runtime: str = "auto",
) -> tuple[dict, dict]:
    """``evaluate_model`` and write the given outputs (``lcz evaluate``, lcz:evaluatemodel).

    Every output is checked first: its folder exists, it is neither the model nor the
    dataset, and no two outputs share a file. Returns (scores, {kind: path written}).
    """
    from ..models.modelfile import LczModel

    feedback = feedback or Feedback()
    model_path = getattr(model, "path", None) if isinstance(model, LczModel) else model
    outputs = {
        "OUTPUT_JSON": output_json,
        param("OUTPUT_CSV", "csv_path"): csv_path,
        "REPORT": report,
        "CONFUSION_PNG": confusion_png,
    }
    check_distinct_paths({"MODEL": model_path, "DATASET": dataset}, outputs)
    check_outputs(*outputs.values())
    scores = evaluate_model(
        model, dataset, feedback, batch_size=batch_size, sensor=sensor, runtime=runtime
    )
    feedback.check_cancelled()
    written = write_outputs(
        scores,
        output_json=output_json,
        csv_path=csv_path,
        report=report,
        confusion_png=confusion_png,
        feedback=feedback,
    )
    return scores, written
