"""Train the Keras model types on So2Sat HDF5 files with batches streamed from disk.

Steps of ``train_keras``:

1. Labels are read (one byte per patch); the seeded, stratified validation split
   (``training.split_indices``) or a VALIDATION file, then MAX_SAMPLES.
2. One streamed pass over the training rows computes per-channel mean and std
   (float64, merged chunk by chunk) and finds patches holding NaN or inf, which are
   dropped from training (and counted in the manifest, with a warning).
3. A training loop (a ``tf.function`` step per batch) takes its batches from
   ``so2sat.batches.ShuffledBatches``: block-shuffled, mostly sequential reads (GIL-free
   ``preadv``) by a background thread that also converts to float32, standardises,
   augments (random flips / 90-degree rotations) and adds class weights.
4. After every epoch the loop streams the validation rows, computes loss and the LCZ
   scores, keeps the weights of the best epoch (validation OA, ties: lower loss) in
   memory and stops early when the validation loss has not improved for
   ``early_stopping`` epochs. It reports progress per batch and stops at the next batch
   when the user cancels (then ``Cancelled`` is raised and nothing is written).
5. The best weights are saved as ``model.keras`` inside the ``.lczmodel`` zip with a
   manifest whose preprocessing is the ``standardize`` step, so ``LczModel.predict_proba``
   applies exactly the training normalisation. An optional HTML report has the learning
   curves and the validation confusion matrix.

Fine-tuning a model file (``finetune.finetune_keras``) runs the same steps
(``keras_run``) on a loaded network.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..common.bands import sensor_channels
from ..common.enums import Framework
from ..common.errors import require
from ..common.feedback import Feedback
from ..models import MODEL_TYPES
from .keras_model import DEFAULT_LEARNING_RATE, DEFAULT_SCHEDULE
from .keras_run import (
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


def _keras_manifest(
    req: KerasOptions, step: dict, model, training: dict, history: dict, scores: dict
) -> dict:
    """The model file's manifest: standardize step, architecture, training, scores."""
    from ..models.modelfile import new_manifest

    return new_manifest(
        req.model_type,
        Framework.KERAS,
        req.sensor,
        req.bands,
        preprocessing=[step],
        architecture={
            "builder": f"lcz_qgis.models.{MODEL_TYPES[req.model_type][0]}",
            "options": req.model_options,
            "params": int(model.count_params()),
        },
        training=training,
        history=history,
        scores={
            k: float(scores[k])
            for k in ("oa", "kappa", "macro_f1", "oa_u", "oa_bu", "oa_w", "loss")
        }
        if scores
        else {},
        band_names=[sensor_channels(req.sensor)[b] for b in req.bands],
    )


def train_keras(
    train,
    output,
    model_type: str,
    sensor: str,
    bands: list[int],
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
    model_options: dict | None = None,
) -> TrainResult:
    """Train ``model_type`` on the So2Sat file ``train`` and write ``output`` (.lczmodel).

    Steps: check the options, pick the training and validation rows, stream the
    normalisation statistics, build the model and its batch streams, run the epochs,
    keep the best epoch, write the model file (and the HTML ``report``).

    Args:
        train: So2Sat HDF5 training file.
        output: The ``.lczmodel`` file to write.
        model_type: One of ``KERAS_MODEL_TYPES``.
        sensor: ``sen1``, ``sen2`` or ``fusion``.
        bands: 0-based channel indices of ``sensor``.
        validation: A So2Sat validation file; None for a stratified 10 % split.
        seed: Seed of the split, the subsample, the shuffling and the initial weights.
        max_samples: At most this many training (and validation file) patches.
        feedback: Progress, messages and cancel.
        epochs, batch_size, learning_rate, schedule, early_stopping: The optimisation;
            ``early_stopping`` is the patience in epochs (0 = off).
        class_weights: Weight the loss by balanced class weights.
        augment: Random flips and 90-degree rotations of the training batches.
        report: An HTML training report to write next to the model file.
        model_options: Builder options updating ``BUILD_OPTIONS[model_type]``.

    Returns:
        A ``TrainResult`` with the manifest, the full validation scores of the kept
        epoch and the history.

    Raises:
        LczError: Bad options or data, or a diverged run.
        Cancelled: ``feedback`` cancelled (nothing is written).
    """
    options = KerasOptions(
        train, output, model_type, sensor, bands, validation, seed, max_samples, epochs,
        batch_size, learning_rate, schedule, early_stopping, class_weights, augment, report,
        model_options,
    )  # fmt: skip
    return train_new_network(options, feedback)


def train_new_network(options: KerasOptions, feedback: Feedback | None = None) -> TrainResult:
    """Train the new network ``options`` asks for and write its model file (and report).

    Steps: check the options, pick the training and validation rows, stream the
    normalisation statistics, build the model and its batch streams, run the epochs,
    keep the best epoch, write the model file (and the HTML report).

    Returns:
        A ``TrainResult`` with the manifest, the full validation scores of the kept
        epoch and the history.

    Raises:
        LczError: Bad options or data, or a diverged run.
        Cancelled: ``feedback`` cancelled (nothing is written).
    """
    if options.fine_tuning:
        raise ValueError("a request with an init model is fine-tuned: finetune_network")
    feedback = feedback or Feedback()
    t_start = time.monotonic()
    req = options.check()
    tf = require("tensorflow", "tensorflow-cpu", "Training Keras models")
    patches = pick_patches(req)
    step = normalisation_step(req, patches, feedback)
    run = build_run(tf, req, patches, step, feedback)
    loop = train_epochs(req, patches, run, feedback)
    scores = keep_best_epoch(run.model, loop, req.sensor, feedback)
    training = training_record(req, patches, run, loop, t_start)
    manifest = _keras_manifest(req, step, run.model, training, loop.history, scores)
    write_outputs(req, tf.keras, run.model, manifest, scores, loop.history, feedback)
    feedback.progress(100)
    return TrainResult(Path(req.output), manifest, scores, loop.history)
