"""What a Keras training run is asked for, in one object, and the checks of the request.

``KerasOptions`` holds the inputs, the outputs and the options of one run that trains a
new network (``keras_training``) or fine-tunes a model file (``finetune``: ``init_model``
given). ``lcz train`` builds it once from its parameters; the keyword functions
(``train_keras``, ``finetune_keras``, ``train.train_model``) build it for Python callers.
``KerasOptions.check`` holds every rule about the request, each in one place, and runs
before any training patch is read. Two rules every model type shares live beside it:
``check_applicable`` (which options apply to which run: Keras options for a forest,
FREEZE without INIT_MODEL, FEATURES for a network) and ``check_run_files`` (the
outputs, the seed, the sample count).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..common.atomic import check_distinct_paths, check_output_path
from ..common.bands import parse_bands
from ..common.enums import Framework, Sensor
from ..common.errors import LczError, check_seed, param
from ..models import framework
from .init_model import InitModel, band_text, check_init_inputs, open_init_model
from .keras_model import (
    DEFAULT_LEARNING_RATE,
    DEFAULT_SCHEDULE,
    FREEZE_CHOICES,
    SCHEDULES,
    check_model_sensor,
)
from .splits import check_max_samples

DEFAULT_EPOCHS = 10
DEFAULT_BATCH_SIZE = 64
DEFAULT_EARLY_STOPPING = 3  # epochs without a better validation loss; 0 = off
# the Keras options: KerasOptions fields, keywords of train_model (lcz train's keys in
# upper case)
KERAS_KEYWORDS = (
    "epochs", "batch_size", "learning_rate", "schedule", "early_stopping", "class_weights",
    "augment", "model_options",
)  # fmt: skip


def check_applicable(model_type: str | None, fine_tuning: bool, given: dict) -> None:
    """Raise LczError when an option given does not apply to the run.

    Args:
        model_type: The model type asked for (None: rf; not used when fine-tuning).
        fine_tuning: Whether an INIT_MODEL is given.
        given: The options the user gave, by parameter key (FEATURES, FREEZE, EPOCHS,
            ...; the CLI: those typed, the Python API: the keywords passed); a None
            value and FREEZE ``none`` count as not given.

    Raises:
        LczError: FREEZE without INIT_MODEL, FEATURES when fine-tuning or for a network,
            Keras options for a random forest, an unknown model type.
    """
    given = {k: v for k, v in given.items() if v is not None}
    freeze = given.get("FREEZE", "none")
    if not fine_tuning and freeze != "none":
        raise LczError(
            f"{param('FREEZE')} {freeze} applies when fine-tuning an {param('INIT_MODEL')} only"
        )
    if fine_tuning:
        if "FEATURES" in given:
            raise LczError(f"{param('FEATURES')} applies to rf models, not to fine-tuning")
        return
    model_type = model_type or "rf"
    if framework(model_type) == Framework.KERAS:
        if "FEATURES" in given:
            raise LczError(f"{param('FEATURES')} applies to rf models only, not {model_type}")
        return
    keras = [param(k) for k in given if k.lower() in KERAS_KEYWORDS]
    if keras:
        raise LczError(f"{', '.join(keras)} apply to Keras models, not {model_type}")


def check_run_files(train, validation, init_model, output, report, seed, max_samples):
    """Check what every training run writes and samples, before anything is read.

    Returns:
        (the output path, the seed, the sample count or None).

    Raises:
        LczError: An output that is an input or the other output, an output or report
            that cannot be written, a bad seed or sample count.
    """
    check_distinct_paths(
        {"TRAIN": train, "VALIDATION": validation, "INIT_MODEL": init_model},
        {"OUTPUT": output, "REPORT": report},
    )
    output = check_output_path(output)
    if report:
        check_output_path(report)
    return output, check_seed(seed), check_max_samples(max_samples)


def _as_indices(bands):
    """``bands`` with 0-based indices as Python ints (numpy integers or an array of them,
    which ``parse_bands`` would not take for indices); other forms as given."""
    if isinstance(bands, (list, tuple, np.ndarray)) and all(
        isinstance(b, numbers.Integral) for b in bands
    ):
        return [int(b) for b in bands]
    return bands


def _check_optimisation(epochs, batch_size, learning_rate, schedule, early_stopping) -> None:
    """Raise LczError unless the optimisation options of a run are in range."""
    if int(epochs) < 1:
        raise LczError(f"epochs must be at least 1, got {epochs}")
    if int(batch_size) < 1:
        raise LczError(f"batch size must be at least 1, got {batch_size}")
    if not (float(learning_rate) > 0 and math.isfinite(float(learning_rate))):
        raise LczError(f"the learning rate must be a positive number, got {learning_rate}")
    if schedule not in SCHEDULES:
        raise LczError(f"unknown schedule '{schedule}'; use one of {', '.join(SCHEDULES)}")
    if int(early_stopping) < 0:
        raise LczError(f"early stopping patience must be 0 (off) or more, got {early_stopping}")


@dataclass(frozen=True)
class KerasOptions:
    """One Keras training run's request (the keywords of ``train_keras`` and
    ``finetune_keras``); ``check`` returns it checked and completed.

    Attributes:
        train: The So2Sat HDF5 training file.
        output: The model file to write (.lczmodel).
        model_type: A Keras model type (``models.MODEL_TYPES``); fine-tuning: None or
            the init model's.
        sensor: ``sen1``, ``sen2`` or ``fusion`` (None: ``sen2``; fine-tuning: the init
            model's).
        bands: A band subset in the BANDS grammar or 0-based indices (None: all;
            fine-tuning: the init model's).
        validation: A So2Sat validation file; None for a stratified 10 % split.
        seed: Seed of the split, the subsample, the shuffling and the initial weights.
        max_samples: At most this many training (and validation file) patches.
        epochs, batch_size, learning_rate, schedule, early_stopping: The optimisation;
            ``early_stopping`` is the patience in epochs (0 = off).
        class_weights: Weight the loss by balanced class weights.
        augment: Random flips and 90-degree rotations of the training batches.
        report: An HTML training report to write next to the model file.
        model_options: Builder options updating ``BUILD_OPTIONS[model_type]`` (new
            networks; checked: every builder option).
        init_model: A Keras model file to fine-tune, or an ``InitModel`` (checked: the
            ``InitModel``); None to train a new network.
        freeze: Fine-tuning: ``none`` or ``all-but-head``.
    """

    train: str | Path
    output: str | Path
    model_type: str | None = None
    sensor: str | None = None
    bands: object = None
    validation: str | Path | None = None
    seed: int = 0
    max_samples: int | None = None
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    learning_rate: float = DEFAULT_LEARNING_RATE
    schedule: str = DEFAULT_SCHEDULE
    early_stopping: int = DEFAULT_EARLY_STOPPING
    class_weights: bool = False
    augment: bool = False
    report: str | Path | None = None
    model_options: dict | None = None
    init_model: object = None
    freeze: str = "none"
    _checked: bool = field(default=False, init=False, repr=False, compare=False)

    @property
    def fine_tuning(self) -> bool:
        """Whether the run fine-tunes an init model."""
        return bool(self.init_model)

    @property
    def train_name(self) -> str:
        """The training file's name."""
        return Path(self.train).name

    def check(self) -> KerasOptions:
        """Check the request before any patch is read; a checked request passes at once.

        Returns:
            The options with the output a ``Path``, the counts ``int``, the bands 0-based
            and, for a new network, its sensor and every builder option; when
            fine-tuning, the ``InitModel`` and its model type, sensor and bands.

        Raises:
            LczError: An output that cannot be written or is an input, a bad seed or
                sample count, an option out of range, FREEZE without INIT_MODEL, a model
                type that cannot take this sensor and these bands; fine-tuning: a missing,
                damaged or random-forest init model, a model type, sensor or bands that
                are not its own, a training file without its sensor.
        """
        if self._checked:
            return self
        init_path = getattr(self.init_model, "path", self.init_model)
        output, seed, max_samples = check_run_files(
            self.train, self.validation, init_path, self.output, self.report, self.seed,
            self.max_samples,
        )  # fmt: skip
        _check_optimisation(
            self.epochs, self.batch_size, self.learning_rate, self.schedule, self.early_stopping
        )
        if self.freeze not in FREEZE_CHOICES:
            raise LczError(
                f"unknown freeze '{self.freeze}'; use one of {', '.join(FREEZE_CHOICES)}"
            )
        check_applicable(self.model_type, self.fine_tuning, {"FREEZE": self.freeze})
        checked = replace(
            self, output=output, seed=seed, max_samples=max_samples, epochs=int(self.epochs),
            batch_size=int(self.batch_size), early_stopping=int(self.early_stopping),
        )  # fmt: skip
        checked = checked._init_model() if self.fine_tuning else checked._new_network()
        object.__setattr__(checked, "_checked", True)
        return checked

    def _new_network(self) -> KerasOptions:
        """A new network: its sensor, bands and builder options."""
        sensor = self.sensor or Sensor.SEN2
        bands = parse_bands(_as_indices(self.bands), sensor)
        options = check_model_sensor(self.model_type, sensor, bands)
        options.update(self.model_options or {})
        return replace(self, sensor=sensor, bands=bands, model_options=options)

    def _init_model(self) -> KerasOptions:
        """Fine-tuning: the init model, opened, and its model type, sensor and bands."""
        init = self.init_model
        if isinstance(init, InitModel):
            check_init_inputs(init, self.sensor, None)
        else:
            init = open_init_model(init, self.sensor)
        bands = _as_indices(self.bands)
        if bands is not None and len(bands):
            check_init_inputs(init, None, parse_bands(bands, init.sensor))
        what = f"{param('INIT_MODEL')} '{init.path.name}'"
        if self.model_type and self.model_type != init.model_type:
            raise LczError(
                f"{what} is a {init.model_type} model; "
                f"{param('MODEL_TYPE')} {self.model_type} does not apply when fine-tuning"
            )
        if self.model_options:
            raise LczError(
                "model_options apply to new networks: a fine-tuned model keeps the "
                f"architecture of {what}"
            )
        _check_has_sensor(self.train, init, what)
        return replace(
            self, model_type=init.model_type, sensor=init.sensor, bands=init.bands,
            init_model=init, model_options={},
        )  # fmt: skip


def _check_has_sensor(train, init: InitModel, what: str) -> None:
    """Raise LczError unless the training file holds the init model's sensor."""
    from ..so2sat.file import So2SatFile

    with So2SatFile(train) as f:
        if not f.has(init.sensor):
            need = "sen1 and sen2" if init.sensor == Sensor.FUSION else init.sensor
            raise LczError(
                f"{what} takes {band_text(init.sensor, init.bands)} patches but "
                f"'{Path(train).name}' has no '{need}' data"
            )
