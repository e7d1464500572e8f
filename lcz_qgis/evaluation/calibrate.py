"""Temperature scaling of a model file on held-out patches (``lcz calibrate``).

``held_out_probabilities`` streams a labelled So2Sat file through the model without its
own calibration (``predictions.iter_predictions``); ``calibrate_to_file`` fits a
temperature on one part of them and scores it on the other
(``models.calibration.split_for_scoring``: seeded, stratified halves), then writes a
calibrated copy of the model file, its model member unchanged. Too few patches to split:
fitted and scored on all of them, and the log and the result say that the ECE reported
is the fitting error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..common.atomic import check_distinct_paths, check_output_path
from ..common.errors import LczError
from ..common.feedback import Feedback
from ..models.model import DEFAULT_BATCH
from .predictions import iter_predictions, open_model


def held_out_probabilities(m, dataset, feedback: Feedback, batch_size: int = DEFAULT_BATCH):
    """The uncalibrated probabilities (N, 17) float32 and reference codes (N,) of the
    patches of ``dataset`` a loaded model ``m`` can score (NaN/inf and out-of-range
    patches skipped), streamed in file order; and the count skipped.

    Memory: 68 bytes per patch (the probabilities temperature scaling is fitted on).
    """
    stream = iter_predictions(m, dataset, feedback, batch_size, False, "calibrate")
    probs, codes = [], []
    for p, c in stream:
        probs.append(p)
        codes.append(c)
    return np.concatenate(probs), np.concatenate(codes), stream.n_skipped


def _ece(p: np.ndarray, codes: np.ndarray) -> float:
    from .metrics import expected_calibration_error

    pred = np.argmax(p, axis=1)
    return expected_calibration_error(p[np.arange(len(p)), pred], pred + 1 == codes)


def calibrate_to_file(
    model, dataset, output, feedback: Feedback | None = None, batch_size: int = DEFAULT_BATCH,
    sensor: str | None = None, runtime: str = "auto", seed: int = 0,
) -> dict:  # fmt: skip
    """Fit a temperature on held-out patches of ``dataset``, score it on others, and write
    the calibrated model file ``output`` (``lcz calibrate``, lcz:calibratemodel).

    The patches are split (``seed``, stratified by class) into a fitting half and a
    scoring half; the ECE and NLL before and after are those of the scoring half, which
    the temperature never saw. With fewer than ``2 * calibration.MIN_PART`` patches the
    temperature is fitted and scored on all of them, and a warning says so. The model's
    own calibration, if any, is ignored while fitting (the new temperature replaces it).
    ``output`` is written atomically and must differ from the model and the dataset: the
    input model is never modified.

    Returns:
        output, temperature, n (patches used), n_skipped, fitted_on (the dataset's
        name), n_fit, n_scored, scored_on (``patches not used for fitting`` or
        ``the fitting patches``), seed, ece_before, ece_after, nll_before, nll_after (on
        the scored patches) and oa (on all, unchanged by the temperature).
    """
    from ..common.errors import check_seed
    from ..models.calibration import split_for_scoring
    from ..models.modelfile import LczModel, save_with_manifest

    feedback = feedback or Feedback()
    model_path = getattr(model, "path", None) if isinstance(model, LczModel) else model
    check_distinct_paths({"MODEL": model_path, "DATASET": dataset}, {"OUTPUT": output})
    check_output_path(output)
    if batch_size < 1:
        raise LczError(f"batch size must be at least 1, got {batch_size}")
    seed = check_seed(seed)
    m = open_model(model, sensor, runtime)
    dataset = Path(dataset)
    feedback.info(f"predicting the held-out patches of {dataset.name}")
    p, codes, skipped = held_out_probabilities(m, dataset, feedback.scaled(0, 90), batch_size)
    fit, score = split_for_scoring(codes, seed)
    result = {"output": str(output), **_fit_and_score(p, codes, fit, score), "n": int(len(codes)),
              "n_skipped": skipped, "fitted_on": dataset.name, "seed": seed,
              "oa": float(np.mean(np.argmax(p, axis=1) + 1 == codes))}  # fmt: skip
    _say(feedback, result)
    manifest = {**m.manifest, "calibration": _manifest_entry(result)}
    feedback.check_cancelled()
    save_with_manifest(output, m, manifest)
    feedback.progress(100)
    return result


def _fit_and_score(p: np.ndarray, codes: np.ndarray, fit: np.ndarray, score) -> dict:
    """The temperature fitted on rows ``fit`` and its ECE and NLL before and after on rows
    ``score`` (None: on the fitting rows themselves)."""
    from ..models.calibration import apply_temperature, fit_temperature, nll

    t = fit_temperature(p[fit], codes[fit])
    rows = fit if score is None else score
    ps, cs = p[rows], codes[rows]
    return {
        "temperature": t, "n_fit": int(len(fit)), "n_scored": int(len(rows)),
        "scored_on": "the fitting patches" if score is None else "patches not used for fitting",
        "ece_before": _ece(ps, cs), "ece_after": _ece(apply_temperature(ps, t), cs),
        "nll_before": nll(ps, cs), "nll_after": nll(ps, cs, t),
    }  # fmt: skip


def _say(feedback: Feedback, r: dict) -> None:
    """The log's lines: what T was fitted on, and what its scores were computed on."""
    from ..models.calibration import MIN_PART

    scores = (f"ECE {r['ece_before']:.4f} -> {r['ece_after']:.4f}, NLL {r['nll_before']:.4f} "
              f"-> {r['nll_after']:.4f}")  # fmt: skip
    if r["scored_on"] == "the fitting patches":
        feedback.warning(
            f"only {r['n']} usable patches in {r['fitted_on']}, too few to split (at least "
            f"{2 * MIN_PART}): the temperature is fitted and scored on all of them, so the "
            "ECE reported is the fitting error (optimistic); give more held-out patches "
            "for an ECE on patches not used for fitting"
        )
        feedback.info(f"temperature {r['temperature']:.4f} on {r['n']} patches (fitting "
                      f"error): {scores}")  # fmt: skip
        return
    feedback.info(
        f"temperature {r['temperature']:.4f} fitted on {r['n_fit']} of {r['n']} patches of "
        f"{r['fitted_on']} (seed {r['seed']}, stratified by class); scored on the other "
        f"{r['n_scored']}, not used for fitting: {scores}"
    )


def _manifest_entry(r: dict) -> dict:
    """The manifest's calibration entry: which patches T was fitted on, and how many."""
    from ..models.calibration import calibration_entry

    if r["scored_on"] == "the fitting patches":
        where = f"{r['fitted_on']} (all {r['n']} patches)"
    else:
        where = (f"{r['fitted_on']} (fitting half: {r['n_fit']} of {r['n']} patches, seed "
                 f"{r['seed']}; scored on the other {r['n_scored']})")  # fmt: skip
    return calibration_entry(r["temperature"], where, r["n_fit"])
