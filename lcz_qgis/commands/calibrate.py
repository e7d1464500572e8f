"""``lcz calibrate`` / lcz:calibratemodel: fit a temperature on held-out patches, write a
calibrated copy of the model file."""

from __future__ import annotations

from pathlib import Path

from ..common.errors import LczError, param
from ..evaluation.calibrate import calibrate_to_file
from ..evaluation.evaluate import json_text
from .params import (
    PLAIN_MODEL_SENSOR,
    batch_param,
    dataset_param,
    model_param,
    runtime_param,
    seed_param,
    sensor_param,
)
from .spec import FILE_DEST, OUT_NUMBER, Command, Output, Param

# number output -> (result key, label)
NUMBERS = {
    "TEMPERATURE": ("temperature", "Fitted temperature"),
    "ECE_BEFORE": ("ece_before", "ECE before calibration (scoring half)"),
    "ECE_AFTER": ("ece_after", "ECE after calibration (scoring half)"),
}


def check_model_name(output) -> None:
    """Refuse an output whose name does not say what is written: an ``.lczmodel`` (a zip
    of the model and its manifest), never a ``.h5`` or ``.keras`` name.

    Raises:
        LczError: naming OUTPUT.
    """
    if Path(str(output)).suffix.lower() != ".lczmodel":
        raise LczError(
            f"{param('OUTPUT')}: the calibrated model is written as an .lczmodel file (a zip "
            f"of the model and its manifest); give a .lczmodel name, not '{Path(str(output)).name}'"
        )


def _run(values: dict, feedback, given=None) -> dict:
    check_model_name(values["OUTPUT"])
    result = calibrate_to_file(
        values["MODEL"], values["DATASET"], values["OUTPUT"], feedback=feedback,
        **COMMAND.kwargs(values, "BATCH_SIZE", "SENSOR", "RUNTIME", "SEED"),
    )  # fmt: skip
    out = {key: float(result[k]) for key, (k, _) in NUMBERS.items()}
    return {**out, "OUTPUT": result["output"], "_result": result}


def _report(values: dict, outputs: dict) -> str:
    return json_text(outputs["_result"])


COMMAND = Command(
    name="calibrate",
    algorithm="calibratemodel",
    display_name="Calibrate LCZ model (temperature scaling)",
    group="models",
    order=27,
    summary="fit a temperature on held-out patches so the model's probabilities are "
    "calibrated; writes a new model file",
    help=(
        "Makes a model's probabilities honest: a model that says 90% should be right about "
        "90% of the time. Deep networks are usually over-confident. Temperature scaling "
        "(Guo et al. 2017) fits one number T on held-out labelled patches: the "
        "probabilities p become softmax(log p / T), T > 1 softening them. The predicted "
        "classes never change, so OA, kappa and the map stay the same; the confidence "
        "output of a classification, the probabilities and everything computed from them "
        "change.<br>"
        "<b>Model</b>: a .lczmodel (random forest or Keras) or a plain Keras file. An "
        "earlier calibration of the model is replaced.<br>"
        "<b>Held-out data</b>: a labelled So2Sat HDF5 file the model was not trained on "
        "(e.g. the validation file). Its patches are split in two halves (seeded, "
        "stratified by class): T is chosen to minimise the mean negative log-likelihood "
        "of the first half's reference classes, and scored on the second half, which it "
        "never saw. With fewer than 200 usable patches it is fitted and scored on all of "
        "them, and the log warns that the ECE reported is the fitting error.<br>"
        "<b>Output</b>: a new model file with the temperature in its manifest "
        "(calibration: method, temperature, fitted_on: the file and the half, n: the "
        "patches fitted on); the input file is never modified, and the output must be "
        "another file. The log and the outputs give the expected calibration error (ECE, "
        "15 equal-width confidence bins) before and after, on the scoring half; "
        "<i>Evaluate LCZ model</i> draws the reliability diagram."
    ),
    params=[
        model_param(help="The model to calibrate (.lczmodel, .keras, .h5)."),
        dataset_param("Held-out labelled data (So2Sat HDF5)",
                      "Labelled So2Sat HDF5 patches the model was not trained on."),
        sensor_param(**PLAIN_MODEL_SENSOR),
        batch_param(),
        runtime_param(),
        seed_param("The seed of the split into a fitting and a scoring half.",
                   advanced=True),
        Param("OUTPUT", FILE_DEST, "Calibrated model file",
              "The calibrated model file to write (.lczmodel); not the input model.",
              file_filter="LCZ model (*.lczmodel)"),
    ],
    outputs=[Output(key, OUT_NUMBER, label) for key, (_, label) in NUMBERS.items()],
    run=_run,
    report=_report,
)  # fmt: skip
