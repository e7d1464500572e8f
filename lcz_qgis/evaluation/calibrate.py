"""Temperature scaling of a model file on held-out patches (``lcz calibrate``).

``held_out_probabilities`` streams a labelled So2Sat file through the model without its
own calibration (``predictions.iter_predictions``); ``calibrate_to_file`` fits a
temperature on them (``models.calibration``) and writes a calibrated copy of the model
file, its model member unchanged.
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
    sensor: str | None = None, runtime: str = "auto",
) -> dict:  # fmt: skip
    """Fit a temperature on the held-out ``dataset`` and write the calibrated model file
    ``output`` (``lcz calibrate``, lcz:calibratemodel).

    The model's own calibration, if any, is ignored while fitting (the new temperature
    replaces it). ``output`` is written atomically and must differ from the model and
    the dataset: the input model is never modified.

    Returns:
        output, temperature, n, n_skipped, fitted_on, ece_before, ece_after,
        nll_before, nll_after and oa (unchanged by the temperature).
    """
    from ..models.calibration import apply_temperature, calibration_entry, fit_temperature, nll
    from ..models.modelfile import LczModel, save_with_manifest

    feedback = feedback or Feedback()
    model_path = getattr(model, "path", None) if isinstance(model, LczModel) else model
    check_distinct_paths({"MODEL": model_path, "DATASET": dataset}, {"OUTPUT": output})
    check_output_path(output)
    if batch_size < 1:
        raise LczError(f"batch size must be at least 1, got {batch_size}")
    m = open_model(model, sensor, runtime)
    dataset = Path(dataset)
    feedback.info(f"predicting the held-out patches of {dataset.name}")
    p, codes, skipped = held_out_probabilities(m, dataset, feedback.scaled(0, 90), batch_size)
    t = fit_temperature(p, codes)
    q = apply_temperature(p, t)
    result = {
        "output": str(output), "temperature": t, "n": int(len(codes)), "n_skipped": skipped,
        "fitted_on": dataset.name, "ece_before": _ece(p, codes), "ece_after": _ece(q, codes),
        "nll_before": nll(p, codes), "nll_after": nll(p, codes, t),
        "oa": float(np.mean(np.argmax(p, axis=1) + 1 == codes)),
    }  # fmt: skip
    feedback.info(
        f"temperature {t:.4f} on {len(codes)} patches: ECE {result['ece_before']:.4f} -> "
        f"{result['ece_after']:.4f}, NLL {result['nll_before']:.4f} -> {result['nll_after']:.4f}"
    )
    manifest = {**m.manifest, "calibration": calibration_entry(t, dataset.name, len(codes))}
    feedback.check_cancelled()
    save_with_manifest(output, m, manifest)
    feedback.progress(100)
    return result
