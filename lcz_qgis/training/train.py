"""Training entry point: which trainer a request goes to.

``train_model`` is the keyword API (``lcz train`` builds its request itself): a random
forest goes to ``rf.train_forest``; a Keras model type, or an init model to fine-tune,
becomes one ``options.KerasOptions`` for ``train_keras_model``, which checks it and runs
``keras_training`` (a new network) or ``finetune`` (the init model's network).
"""

from __future__ import annotations

from pathlib import Path

from ..common.enums import Framework, Sensor
from ..common.feedback import Feedback
from ..models import framework
from .options import KERAS_KEYWORDS, KerasOptions, check_applicable
from .rf import train_forest
from .splits import TrainResult, warn_about_inputs


def train_model(
    train: str | Path,
    output: str | Path,
    model_type: str | None = None,
    sensor: str | None = Sensor.SEN2,
    bands=None,
    validation: str | Path | None = None,
    seed: int = 0,
    max_samples: int | None = None,
    feedback: Feedback | None = None,
    features: str | None = None,
    report: str | Path | None = None,
    init_model: str | Path | None = None,
    freeze: str | None = None,
    **keras_options,
) -> TrainResult:
    """Train ``model_type`` on ``train`` and write the model file ``output`` (and the
    HTML training ``report`` when given; ``model_type`` None: ``rf``, ``sensor`` None:
    ``sen2``). Every argument is checked first: an output that
    is an input (or the other output) is refused before anything is read or written.

    With ``init_model`` (a Keras model file) the model is fine-tuned instead
    (``finetune.finetune_keras``): ``model_type``, ``sensor`` and ``bands`` may be
    None (the init model's) and, when given, must be the init model's; ``freeze`` is
    ``none`` or ``all-but-head``. ``keras_options`` are ``options.KERAS_KEYWORDS``.

    Raises:
        LczError: Bad options or data (``options.check_applicable``: options that do not
            apply to the model type).
        TypeError: A keyword that is not an option.
    """
    unknown = sorted(set(keras_options) - set(KERAS_KEYWORDS))
    if unknown:
        raise TypeError(f"train_model() got unexpected keyword arguments {unknown}")
    given = {"FEATURES": features, "FREEZE": freeze}
    given.update({k.upper(): v for k, v in keras_options.items()})
    check_applicable(model_type, bool(init_model), given)
    if not init_model and framework(model_type or "rf") != Framework.KERAS:
        return train_forest(
            train, output, sensor, bands, validation, seed, max_samples, feedback, features,
            report,
        )  # fmt: skip
    options = KerasOptions(
        train, output, model_type, sensor, bands, validation, seed, max_samples,
        report=report, init_model=init_model, freeze=freeze or "none", **keras_options,
    )  # fmt: skip
    return train_keras_model(options, feedback)


def train_keras_model(options: KerasOptions, feedback: Feedback | None = None) -> TrainResult:
    """Check ``options``, warn about its inputs, then train a new network
    (``keras_training``) or fine-tune its init model (``finetune``).

    Raises:
        LczError: Bad options or data (``KerasOptions.check``).
        Cancelled: ``feedback`` cancelled (nothing is written).
    """
    feedback = feedback or Feedback()
    options = options.check()
    warn_about_inputs(options.train, options.validation, options.sensor, feedback)
    if options.fine_tuning:
        from .finetune import finetune_network

        return finetune_network(options, feedback)
    from .keras_training import train_new_network

    return train_new_network(options, feedback)
