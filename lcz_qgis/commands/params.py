"""Parameters several commands declare, each declared once here.

A command takes one with the label and help that fit it (keyword overrides); the kind,
file filter, range and default stay the same everywhere. The model file filter comes
from the engines (``modelfile.model_file_filter``: every file an installed engine reads),
the predict batch default from ``models.model.DEFAULT_BATCH``.
"""

from __future__ import annotations

from ..common.enums import Scale, Sensor
from ..models.model import DEFAULT_BATCH
from ..models.modelfile import RUNTIMES, model_file_filter
from .choices import HDF5_FILTER, SENSORS
from .spec import ENUM, ENUM_NUMBER, FILE, FLOAT, INT, Param

MODEL_HELP = "The model: a .lczmodel, .keras or .h5 file."
# the sensor a plain Keras model file does not record (evaluate, calibrate)
PLAIN_MODEL_SENSOR = dict(
    label="Sensor of a plain Keras model (empty = from its channel count)",
    help="The sensor of a plain Keras model (default: from its channel count, 8, 10 or 18).",
    optional=True,
    advanced=True,
)


def model_param(
    key: str = "MODEL",
    label: str = "Model file",
    help: str = MODEL_HELP,  # noqa: A002 - Param.help
    **changes,
) -> Param:
    """A model file (MODEL, or INIT_MODEL): every file an installed engine reads."""
    return Param(key, FILE, label, help, file_filter=model_file_filter(), **changes)


def dataset_param(label: str, help: str, **changes) -> Param:  # noqa: A002 - Param.help
    """DATASET: a labelled So2Sat HDF5 file."""
    return Param("DATASET", FILE, label, help, file_filter=HDF5_FILTER, **changes)


def sensor_param(
    label: str = "Sensor",
    help: str = "The images to use.",  # noqa: A002 - Param.help
    choices=SENSORS,
    **changes,
) -> Param:
    """SENSOR: sen2, sen1 or fusion (``choices.SENSORS``, or a subset of it)."""
    changes.setdefault("default", None if changes.get("optional") else Sensor.SEN2.value)
    return Param("SENSOR", ENUM, label, help, choices=tuple(choices), **changes)


def batch_param(
    label: str = "Batch size",
    help: str = "Patches per model call.",  # noqa: A002 - Param.help
    default: int = DEFAULT_BATCH,
    **changes,
) -> Param:
    """BATCH_SIZE: patches or windows per call, at least 1 (under "Advanced")."""
    changes.setdefault("advanced", True)
    return Param("BATCH_SIZE", INT, label, help, default=default, minimum=1, **changes)


def seed_param(help: str, default: int = 0, **changes) -> Param:  # noqa: A002 - Param.help
    """SEED: a random seed, a whole number from 0."""
    return Param("SEED", INT, "Random seed", help, default=default, minimum=0, **changes)


SCALE_LABELS = {
    Scale.AUTO: "Auto-detect (DN or reflectance)",
    Scale.REFLECTANCE: "Reflectance (0-1)",
    Scale.DN: "DN (divided by 10000)",
}
# factors Processing's list offers beside the codes (any other: a number, in a script)
SCALE_FACTOR_CHOICES = (("0.001", "Reflectance x 1000 (divided by 1000)"),)
SCALE_HELP = (
    "How the Sentinel-2 raster's values become reflectance: auto (DN, divided by 10000, or "
    "reflectance, from a sample of pixels; it warns, naming the likely factor, when the "
    "reflectance it infers is implausible, e.g. for reflectance x 1000), reflectance, dn, "
    "or the factor itself (0.0001 for DN, 0.001 for reflectance x 1000)."
)


def scale_param(help: str = SCALE_HELP, **changes) -> Param:  # noqa: A002 - Param.help
    """SCALE: ``auto``, ``reflectance``, ``dn`` or a factor (``classify.inputs.parse_scale``);
    Processing lists the codes and 0.001 and takes any factor from a script."""
    changes.setdefault("advanced", True)
    choices = tuple((s.value, SCALE_LABELS[s]) for s in Scale) + SCALE_FACTOR_CHOICES
    return Param(
        "SCALE", ENUM_NUMBER, "Sentinel-2 scale (or the factor to reflectance)", help,
        choices=choices, default=Scale.AUTO.value, metavar="{auto,reflectance,dn,FACTOR}",
        **changes,
    )  # fmt: skip


OFFSET_HELP = (
    "The number added to the Sentinel-2 raster's values before the scale factor: "
    "reflectance = (value + offset) x factor, e.g. -1000 with the factor 0.0001 (or dn) "
    "for Sentinel-2 L2A DN from processing baseline 04.00 (BOA_ADD_OFFSET). Only with "
    "the scale dn or a factor; nodata pixels stay nodata. 0: none."
)


def offset_param(help: str = OFFSET_HELP, **changes) -> Param:  # noqa: A002 - Param.help
    """OFFSET: added to the Sentinel-2 values before SCALE's factor
    (``classify.inputs.parse_offset``), a finite number, 0 by default (under "Advanced")."""
    changes.setdefault("advanced", True)
    return Param("OFFSET", FLOAT, "Offset added before the scale factor", help, default=0.0,
                 metavar="NUMBER", **changes)  # fmt: skip


RUNTIME_LABELS = {
    "auto": "Automatic (ONNX Runtime where the file has a graph)",
    "onnx": "ONNX Runtime",
    "tensorflow": "The model's framework (TensorFlow/Keras, scikit-learn)",
}


def runtime_param(**changes) -> Param:
    """RUNTIME: what runs the model (``modelfile.RUNTIMES``), under "Advanced"."""
    changes.setdefault("advanced", True)
    return Param(
        "RUNTIME", ENUM, "Inference engine",
        "What runs the model: auto uses ONNX Runtime when it is installed and the model "
        "file carries an ONNX graph (a random forest whose graph gives whole votes, as "
        "the plugin's do, with scikit-learn's own numbers; another forest stays on "
        "scikit-learn where it is installed: its exact ties), else the model's own "
        "framework; onnx requires "
        "the graph (`lcz upgrade-model` adds one); tensorflow runs the model's own "
        "framework (TensorFlow/Keras, or scikit-learn for a forest).",
        choices=tuple((r, RUNTIME_LABELS[r]) for r in RUNTIMES), default="auto", **changes,
    )  # fmt: skip


PALETTE_HELP = (
    "The colours of the LCZ legend: standard (the WUDAPT / LCZ Generator colours) or "
    "colourblind (colours that stay apart with protanopia, deuteranopia and tritanopia, "
    "built types dark to light: docs/after_the_map.md)."
)


def palette_param(help: str = PALETTE_HELP, **changes) -> Param:  # noqa: A002 - Param.help
    """PALETTE: the LCZ legend's colours (``legend.PALETTES``); the core call does not
    take it: the command runs the core inside ``legend.legend_style``."""
    from ..common.legend import PALETTE_LABELS, PALETTES, STANDARD

    changes.setdefault("keyword", "")
    return Param("PALETTE", ENUM, "Colour palette", help,
                 choices=tuple((p, PALETTE_LABELS[p]) for p in PALETTES), default=STANDARD,
                 **changes)  # fmt: skip


LANGUAGE_NAMES = {"auto": "Automatic (the run's default: English unless QGIS sets it)",
                  "en": "English", "fr": "French (Cerema)"}  # fmt: skip


def language_param(**changes) -> Param:
    """LANGUAGE: the language of the legend's class names (``legend.LANGUAGES``, or auto),
    under "Advanced"; the core call does not take it (``legend.legend_style``)."""
    from ..common.legend import LANGUAGES

    changes.setdefault("keyword", "")
    changes.setdefault("advanced", True)
    codes = ("auto", *LANGUAGES)
    return Param(
        "LANGUAGE", ENUM, "Legend language",
        "The language of the class names in the legend (.qml, map image, KMZ): auto (the "
        "run's default: English in the CLI; in QGIS, QGIS's interface language where the "
        "table has it) or a language of the class-name table "
        "(lcz_qgis/common/class_names.json).",
        choices=tuple((c, LANGUAGE_NAMES.get(c, c)) for c in codes), default="auto", **changes,
    )  # fmt: skip


def legend_values(values: dict):
    """``legend.legend_style`` for a command's PALETTE and LANGUAGE values (either may be
    missing: standard, auto)."""
    from ..common.legend import legend_style

    return legend_style(values.get("PALETTE"), values.get("LANGUAGE"))
