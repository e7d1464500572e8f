"""``lcz upgrade-model`` / lcz:upgrademodel: a model file written again with the installed
Keras or scikit-learn, checked against the original."""

from __future__ import annotations

import json

from ..models.upgrade import upgrade_model_file
from .params import PLAIN_MODEL_SENSOR, model_param, sensor_param
from .spec import FILE_DEST, OUT_NUMBER, Command, Output, Param


def _run(values: dict, feedback, given=None) -> dict:
    result = upgrade_model_file(values["INPUT"], values["OUTPUT"], sensor=values["SENSOR"],
                                feedback=feedback)  # fmt: skip
    return {"OUTPUT": result["output"], "MAX_DIFFERENCE": result["max_difference"],
            "_result": result}  # fmt: skip


def _report(values: dict, outputs: dict) -> str:
    r = outputs["_result"]
    return json.dumps({"output": r["output"], "max_difference": r["max_difference"],
                       "from": r["from"], "to": r["to"]}, indent=2)  # fmt: skip


COMMAND = Command(
    name="upgrade-model",
    algorithm="upgrademodel",
    display_name="Upgrade LCZ model file",
    group="models",
    order=28,
    summary="write a model file again with the installed Keras or scikit-learn, checked "
    "against the original",
    help=(
        "Brings a model file up to the libraries installed now. Model files written by "
        "earlier releases (Keras 2 .lczmodel files, random forests saved with scikit-learn "
        "1.2) and notebook .keras/.h5 files are converted each time they are loaded; this "
        "writes the converted model once, as a new .lczmodel with the installed Keras or "
        "scikit-learn (and an ONNX graph where the ONNX converters are installed), so it "
        "loads directly from then on.<br>"
        "The new file is read back and must give the same probabilities as the original "
        "on probe windows (within 1e-5) before it is written; its manifest records the "
        "versions it was upgraded from. The input file is never modified.<br>"
        "<b>Model file</b>: the model to upgrade.<br>"
        "<b>Upgraded model file</b>: the new .lczmodel (not the input)."
    ),
    params=[
        model_param("INPUT", "Model file", "The model file to upgrade (.lczmodel, .keras, .h5)."),
        sensor_param(**PLAIN_MODEL_SENSOR),
        Param("OUTPUT", FILE_DEST, "Upgraded model file",
              "The new model file to write (.lczmodel); not the input model.",
              file_filter="LCZ model (*.lczmodel)"),
    ],
    outputs=[Output("MAX_DIFFERENCE", OUT_NUMBER,
                    "Largest probability difference to the original")],
    run=_run,
    report=_report,
)  # fmt: skip
