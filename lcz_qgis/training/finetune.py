"""Fine-tune a Keras model file on new So2Sat patches (``lcz train --init-model``).

``finetune_keras`` runs the steps of a training run (``keras_run``) on a Keras model read
from a model file (safely, ``models.modelfile.load_model``) instead of a new one: its
sensor, bands and preprocessing are kept, so the new patches reach it as it expects (its
normalisation, not statistics of the new data); ``freeze`` can keep every layer but the
classification head fixed (``keras_model.head_layers``); the init model's validation
scores on the new validation rows are measured first; the manifest records the init
model's file, sha256, type and scores (``fine_tuned_from``) and drops its calibration.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.atomic import check_output_path
from ..common.bands import sensor_channels
from ..common.enums import Framework, Sensor
from ..common.errors import LczError, require
from ..common.feedback import Feedback
from ..so2sat.file import So2SatFile
from .keras_model import DEFAULT_LEARNING_RATE, DEFAULT_SCHEDULE, FREEZE_CHOICES
from .keras_run import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EARLY_STOPPING,
    DEFAULT_EPOCHS,
    TrainRequest,
    TrainRun,
    build_run,
    check_options,
    keep_best_epoch,
    normalisation_step,
    pick_patches,
    train_epochs,
    training_record,
    write_outputs,
)
from .splits import TrainResult


@dataclass
class InitModel:
    """A Keras model file to fine-tune, loaded safely, with what its manifest records.

    Attributes:
        path: The model file.
        keras_model: Its network (uncompiled; training changes it in place).
        manifest: Its manifest (or the one made for a plain Keras file).
        sha256: The file's sha256 (hex).
    """

    path: Path
    keras_model: object
    manifest: dict
    sha256: str

    @property
    def model_type(self) -> str:
        """The init model's model type (its manifest's)."""
        return self.manifest["model_type"]

    @property
    def sensor(self) -> str:
        """The sensor the init model takes."""
        return self.manifest["sensor"]

    @property
    def bands(self) -> list[int]:
        """The sensor channels the init model takes, 0-based."""
        return [int(b) for b in self.manifest["bands"]]


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _band_text(sensor: str, bands: list[int]) -> str:
    names = sensor_channels(sensor)
    return f"{sensor} {', '.join(names[b] for b in bands)}"


def open_init_model(path, sensor: str | None = None, bands: list[int] | None = None) -> InitModel:
    """The Keras model file ``path`` to fine-tune, checked like any model file
    (``models.modelfile.load_model``: nothing in it runs, docs/security.md).

    Args:
        path: A ``.lczmodel`` (Keras), ``.keras`` or ``.h5`` file.
        sensor: The sensor asked for (None: the model's; a plain Keras file's override).
        bands: The bands asked for, 0-based (None: the model's).

    Raises:
        LczError: A missing or damaged file, a random forest, or a sensor or bands that
            are not the model's.
    """
    from ..common.errors import param
    from ..models.modelfile import SUFFIX, load_model, read_manifest

    p = Path(path)
    what = f"{param('INIT_MODEL')} '{p.name}'"
    if not p.is_file():
        raise LczError(f"{what} does not exist")
    lczmodel = p.suffix.lower() == SUFFIX
    if lczmodel and read_manifest(p).get("framework") == Framework.SKLEARN:
        raise LczError(
            f"{what} is a random forest: fine-tuning continues training a Keras network; "
            f"train a new forest ({param('MODEL_TYPE')} rf) on the new patches instead"
        )
    try:
        m = load_model(p, sensor=None if lczmodel else sensor)
    except LczError as exc:
        raise LczError(f"cannot fine-tune {what}: {exc}") from None
    if m.framework != Framework.KERAS:  # pragma: no cover - the manifest said so above
        raise LczError(f"{what} is a {m.engine.label} model, not a Keras network")
    init = InitModel(p, m.network, m.manifest, _sha256(p))
    check_init_inputs(init, sensor, bands)
    return init


def check_init_inputs(init: InitModel, sensor: str | None, bands: list[int] | None) -> None:
    """Raise LczError unless ``sensor`` and ``bands`` (None: not asked for) are the init
    model's: fine-tuning feeds a network the inputs it was built for."""
    from ..common.errors import param

    what = f"{param('INIT_MODEL')} '{init.path.name}'"
    if sensor and sensor != init.sensor:
        raise LczError(
            f"{what} is a {init.sensor} model; it cannot be fine-tuned on {sensor} patches "
            f"(set {param('SENSOR')} to {init.sensor})"
        )
    if bands is not None and list(bands) != init.bands:
        raise LczError(
            f"{what} takes {_band_text(init.sensor, init.bands)}; {param('BANDS')} asks for "
            f"{_band_text(init.sensor, list(bands))}: leave it empty to use the model's bands"
        )


def _check_finetune_request(
    train, validation, output, report, init: InitModel, model_type, seed, max_samples,
    epochs, batch_size, learning_rate, schedule, early_stopping, class_weights, augment,
    freeze,
) -> TrainRequest:  # fmt: skip
    """Check every option of a ``finetune_keras`` call before anything is read.

    Raises:
        LczError: An unwritable output, an option out of range, a model type or freeze
            choice that does not fit, or a training file without the model's sensor.
    """
    from ..common.errors import param

    output = check_output_path(output)
    if report:
        check_output_path(report)
    check_options(epochs, batch_size, learning_rate, schedule, early_stopping)
    if freeze not in FREEZE_CHOICES:
        raise LczError(f"unknown freeze '{freeze}'; use one of {', '.join(FREEZE_CHOICES)}")
    if model_type and model_type != init.model_type:
        raise LczError(
            f"{param('INIT_MODEL')} '{init.path.name}' is a {init.model_type} model; "
            f"{param('MODEL_TYPE')} {model_type} does not apply when fine-tuning"
        )
    with So2SatFile(train) as f:
        if not f.has(init.sensor):
            need = "sen1 and sen2" if init.sensor == Sensor.FUSION else init.sensor
            raise LczError(
                f"{param('INIT_MODEL')} '{init.path.name}' takes "
                f"{_band_text(init.sensor, init.bands)} patches but '{Path(train).name}' "
                f"has no '{need}' data"
            )
    return TrainRequest(
        train, validation, output, report, init.model_type, init.sensor, init.bands, seed,
        max_samples, int(epochs), int(batch_size), learning_rate, schedule,
        int(early_stopping), class_weights, augment, {}, init, freeze,
    )  # fmt: skip


def _score_init(run: TrainRun, feedback: Feedback) -> dict:
    """The init model's validation scores on the new validation rows ({} without them)."""
    from ..evaluation.evaluate import ConfusionAccumulator

    if run.val is None:
        return {}
    acc = ConfusionAccumulator()
    for x, codes, _rows in run.val:
        feedback.check_cancelled()
        if len(x):
            acc.add(codes, np.asarray(run.predict(x)))
    if not acc.n:
        return {}
    scores = acc.scores()
    feedback.info(
        f"before fine-tuning: validation OA {scores['oa']:.3f}, kappa {scores['kappa']:.3f}, "
        f"loss {scores['loss']:.4f}, ECE {scores['ece']:.3f}"
    )
    return scores


_SCORE_KEYS = ("oa", "kappa", "macro_f1", "oa_u", "oa_bu", "oa_w", "loss", "ece")
# manifest keys of the init model that do not describe the fine-tuned one
_STALE_KEYS = ("calibration", "published_score", "scores_source", "history", "notes")


def _finetune_manifest(
    req: TrainRequest, model, training: dict, history: dict, scores: dict, before: dict,
    frozen: list[str],
) -> dict:  # fmt: skip
    """The fine-tuned model's manifest: the init model's (sensor, bands, preprocessing,
    architecture, licence, citations) with new training, history and scores, and
    ``fine_tuned_from`` (file, sha256, type, name, scores before and after)."""
    import copy

    from ..models.modelfile import library_versions, new_manifest

    init = req.init
    old = copy.deepcopy(init.manifest)
    source = {
        "file": init.path.name, "sha256": init.sha256, "model_type": init.model_type,
        "name": old.get("name"), "created": old.get("created"),
        "scores": old.get("scores") or {}, "published_score": old.get("published_score"),
        "training": old.get("training"), "fine_tuned_from": old.get("fine_tuned_from"),
        "validation_scores_before": {k: float(before[k]) for k in _SCORE_KEYS if k in before},
    }  # fmt: skip
    m = {k: v for k, v in old.items() if k not in _STALE_KEYS}
    fresh = new_manifest(init.model_type, Framework.KERAS, init.sensor, init.bands)
    m.update(
        created=fresh["created"], library_versions=library_versions(), fine_tuned=True,
        fine_tuned_from=source, training={**training, "freeze": req.freeze,
                                          "frozen_layers": frozen},
        history=history, scores={k: float(scores[k]) for k in _SCORE_KEYS if k in scores},
    )  # fmt: skip
    arch = dict(m.get("architecture") or {})
    arch["params"] = int(model.count_params())
    m["architecture"] = arch
    if "description" in m:
        m["description"] = f"{m['description']} Fine-tuned on {req.train_name}."
    return m


def finetune_keras(
    train,
    output,
    init_model,
    model_type: str | None = None,
    sensor: str | None = None,
    bands: list[int] | None = None,
    validation=None,
    seed: int = 0,
    max_samples: int | None = None,
    feedback: Feedback | None = None,
    epochs: int = DEFAULT_EPOCHS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    schedule: str = DEFAULT_SCHEDULE,
    early_stopping: int = DEFAULT_EARLY_STOPPING,
    class_weights: bool = False,
    augment: bool = False,
    report=None,
    freeze: str = "none",
) -> TrainResult:
    """Fine-tune the Keras model file ``init_model`` on ``train``; write ``output``.

    The steps of ``train_keras`` on the loaded network: the training rows' NaN/inf check
    (their statistics are not used: the model keeps its own preprocessing), the init
    model's scores on the validation rows, the epochs (progress, cancel, early stopping,
    best epoch), the model file (and ``report``) written together.

    Args:
        train, output, validation, seed, max_samples, feedback, epochs, batch_size,
            learning_rate, schedule, early_stopping, class_weights, augment, report: As
            for ``train_keras``.
        init_model: A Keras model file (path) or an ``InitModel`` (``open_init_model``).
        model_type, sensor, bands: When given, they must be the init model's.
        freeze: ``none`` (train every layer) or ``all-but-head``.

    Returns:
        A ``TrainResult``; its manifest's ``fine_tuned_from`` records the init model.

    Raises:
        LczError: A random forest, damaged file, sensor or band mismatch, bad options.
        Cancelled: ``feedback`` cancelled (nothing is written).
    """
    feedback = feedback or Feedback()
    t_start = time.monotonic()
    init = init_model
    if not isinstance(init, InitModel):
        init = open_init_model(init_model, sensor, None if bands is None else list(bands))
    req = _check_finetune_request(
        train, validation, output, report, init, model_type, seed, max_samples, epochs,
        batch_size, learning_rate, schedule, early_stopping, class_weights, augment, freeze,
    )  # fmt: skip
    tf = require("tensorflow", "tensorflow-cpu", "Fine-tuning Keras models")
    patches = pick_patches(req)
    step = normalisation_step(req, patches, feedback)
    run = build_run(tf, req, patches, step, feedback)
    frozen = [layer.name for layer in run.model.layers if not layer.trainable and layer.weights]
    before = _score_init(run, feedback)
    loop = train_epochs(req, patches, run, feedback)
    scores = keep_best_epoch(run.model, loop, req.sensor, feedback)
    training = training_record(req, patches, run, loop, t_start)
    training["new_data_statistics"] = {"mean": step["mean"], "std": step["std"]}
    manifest = _finetune_manifest(req, run.model, training, loop.history, scores, before, frozen)
    write_outputs(req, tf.keras, run.model, manifest, scores, loop.history, feedback)
    feedback.progress(100)
    return TrainResult(Path(req.output), manifest, scores, loop.history)
