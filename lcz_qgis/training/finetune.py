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
from pathlib import Path

import numpy as np

from ..common.enums import Framework
from ..common.errors import require
from ..common.feedback import Feedback
from .keras_model import DEFAULT_LEARNING_RATE, DEFAULT_SCHEDULE
from .keras_run import (
    TrainRun,
    build_run,
    keep_best_epoch,
    normalisation_step,
    pick_patches,
    train_epochs,
    training_record,
    write_outputs,
)
from .options import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EARLY_STOPPING,
    DEFAULT_EPOCHS,
    KerasOptions,
)
from .splits import TrainResult


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
    req: KerasOptions, model, training: dict, history: dict, scores: dict, before: dict,
    frozen: list[str],
) -> dict:  # fmt: skip
    """The fine-tuned model's manifest: the init model's (sensor, bands, preprocessing,
    architecture, licence, citations) with new training, history and scores, and
    ``fine_tuned_from`` (file, sha256, type, name, scores before and after)."""
    import copy

    from ..models.modelfile import library_versions, new_manifest

    init = req.init_model
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
        init_model: A Keras model file (path) or an ``InitModel`` (``init_model.open_init_model``).
        model_type, sensor, bands: When given, they must be the init model's.
        freeze: ``none`` (train every layer) or ``all-but-head``.

    Returns:
        A ``TrainResult``; its manifest's ``fine_tuned_from`` records the init model.

    Raises:
        LczError: A random forest, damaged file, sensor or band mismatch, bad options.
        Cancelled: ``feedback`` cancelled (nothing is written).
    """
    options = KerasOptions(
        train, output, model_type, sensor, bands, validation, seed, max_samples, epochs,
        batch_size, learning_rate, schedule, early_stopping, class_weights, augment, report,
        init_model=init_model, freeze=freeze,
    )  # fmt: skip
    return finetune_network(options, feedback)


def finetune_network(options: KerasOptions, feedback: Feedback | None = None) -> TrainResult:
    """Fine-tune the init model of ``options`` on its training file; write its output.

    Returns:
        A ``TrainResult``; its manifest's ``fine_tuned_from`` records the init model.

    Raises:
        LczError: A random forest, damaged file, sensor or band mismatch, bad options.
        Cancelled: ``feedback`` cancelled (nothing is written).
    """
    if not options.fine_tuning:
        raise ValueError("a request without an init model trains one: train_new_network")
    feedback = feedback or Feedback()
    t_start = time.monotonic()
    req = options.check()
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
