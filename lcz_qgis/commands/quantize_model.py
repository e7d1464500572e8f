"""``lcz quantize-model`` / lcz:quantizemodel: a model file whose ONNX graph computes in
int8, checked against the float model on held-out windows."""

from __future__ import annotations

import json

from ..models.quantize import MIN_AGREEMENT, quantize_model_file
from .choices import HDF5_FILTER
from .params import model_param
from .spec import BOOL, ENUM, FILE, FILE_DEST, FLOAT, INT, OUT_NUMBER, Command, Output, Param

ACTIVATION_CHOICES = (
    ("int8", "Signed int8 (accurate on every x86 CPU)"),
    ("uint8", "Unsigned uint8 (VNNI's native form; may saturate without VNNI)"),
)


def _run(values: dict, feedback, given=None) -> dict:
    result = quantize_model_file(
        values["INPUT"], values["OUTPUT"], values["CALIBRATION"], feedback=feedback,
        **COMMAND.kwargs(values, "HELD_OUT", "MIN_AGREEMENT", "ALLOW_LOW_AGREEMENT",
                         "ACTIVATIONS"),
    )  # fmt: skip
    return {"OUTPUT": result["output"], "HELD_OUT_AGREEMENT": result["held_out_agreement"],
            "CALIBRATION_AGREEMENT": result["calibration_agreement"], "_result": result}  # fmt: skip


def _report(values: dict, outputs: dict) -> str:
    return json.dumps(outputs["_result"], indent=2)


COMMAND = Command(
    name="quantize-model",
    algorithm="quantizemodel",
    display_name="Quantize model",
    group="models",
    order=29,
    summary="write an int8 copy of a network's model file (ONNX Runtime static "
    "quantisation), checked against the float model on held-out windows",
    help=(
        "Writes a model file whose ONNX graph computes in int8: ONNX Runtime's static "
        "quantisation (QDQ format, weights int8 per output channel), calibrated on windows "
        "of a So2Sat-style HDF5 file, read in batches. On a CPU with int8 dot-product "
        "instructions (VNNI) it classifies in about half the time of the float model.<br>"
        "Part of the file (<b>Held-out windows</b>) is not used for calibration: the int8 "
        "and the float model classify both parts, and the share of windows where they give "
        "the same class is recorded in the new file's manifest (with both accuracies when "
        "the file has labels). When the held-out agreement is under the minimum, nothing is "
        "written, unless low agreement is allowed (then the log and the manifest warn).<br>"
        "The new file predicts with ONNX Runtime only (not TensorFlow) and holds no Keras "
        "model: fine-tune, upgrade or quantise the float file instead. Random forests are "
        "refused (their graph has nothing to quantise).<br>"
        "<b>Model file</b>: a network's .lczmodel with an ONNX graph.<br>"
        "<b>Calibration patches</b>: windows like those the model will classify.<br>"
        "<b>Int8 model file</b>: the new .lczmodel (not the input)."
    ),
    params=[
        model_param("INPUT", "Model file",
                    "The network's model file (.lczmodel with an ONNX graph) to quantise."),
        Param("CALIBRATION", FILE, "Calibration patches (So2Sat HDF5)",
              "So2Sat-style HDF5 file whose windows calibrate the int8 ranges; some are held "
              "out to check the result. Labels are not needed (when present, both "
              "accuracies are recorded).", file_filter=HDF5_FILTER),
        Param("HELD_OUT", INT, "Held-out windows",
              "Windows of the calibration file kept out of calibration, to measure the "
              "agreement on (empty: a quarter of the file, at most 5000).",
              optional=True, minimum=1),
        Param("MIN_AGREEMENT", FLOAT, "Minimum held-out agreement",
              "The share of held-out windows (0 to 1) where the int8 model must give the "
              "float model's class.", default=MIN_AGREEMENT, minimum=0.0, maximum=1.0,
              advanced=True),
        Param("ALLOW_LOW_AGREEMENT", BOOL, "Write it even under the minimum agreement",
              "Write the int8 model even when its held-out agreement is under the minimum "
              "(a warning goes to the log and the manifest).", default=False, advanced=True),
        Param("ACTIVATIONS", ENUM, "Activation type", "How activations are stored: int8 "
              "(the default) or uint8 (VNNI's native u8 x s8 form; on CPUs without VNNI it "
              "can saturate and disagree more).", choices=ACTIVATION_CHOICES,
              default="int8", advanced=True),
        Param("OUTPUT", FILE_DEST, "Int8 model file",
              "The new model file to write (.lczmodel); not the input model.",
              file_filter="LCZ model (*.lczmodel)"),
    ],
    outputs=[
        Output("HELD_OUT_AGREEMENT", OUT_NUMBER, "Class agreement on held-out windows"),
        Output("CALIBRATION_AGREEMENT", OUT_NUMBER, "Class agreement on calibration windows"),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
