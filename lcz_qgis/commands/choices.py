"""Enum choices shared by several commands: (code, readable label), in the order the
Processing enums have always had (a saved index keeps its meaning)."""

from __future__ import annotations

from ..common.enums import Sensor

SENSORS = tuple((s.value, s.label) for s in Sensor)
HDF5_FILTER = "HDF5 files (*.h5 *.hdf5 *.he5)"
# labels enums showed before they read as words, by the code they stand for: a graphical
# model or a script that passes one of them as a static string keeps working
FORMER_LABELS = {
    "None": "none",
    "Majority (3 x 3)": "majority",
    "Gaussian (as the LCZ Generator)": "gaussian",
    "Bilinear": "bilinear",
    "Cubic": "cubic",
    "Constant": "constant",
    "Median": "median",
}


def model_words(model_type: str, sensor: str) -> str:
    """A model as a person reads it: ``("rf", "sen2")`` -> "random forest (Sentinel-2)";
    an unknown type or sensor keeps its code."""
    from ..models import model_name

    sensors = {s.value: s.label for s in Sensor}
    return f"{model_name(model_type)} ({sensors.get(sensor, sensor)})"


def model_line(model) -> str:
    """The Processing log's line naming a loaded model and what runs it: "model: random
    forest (Sentinel-2), 10 channels, on ONNX Runtime"."""
    words = model_words(model.model_type, model.sensor)
    return f"model: {words}, {model.input_channels} channels, on {model.engine.label}"
