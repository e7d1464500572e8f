"""The steps of one Keras training run, shared by training from scratch
(``keras_training.train_keras``) and fine-tuning (``finetune.finetune_keras``).

A checked ``options.KerasOptions`` -> ``pick_patches`` (training and validation rows) ->
``normalisation_step`` (streamed statistics, NaN/inf patches dropped) -> ``build_run``
(model, batch streams, compiled steps) -> ``train_epochs`` -> ``keep_best_epoch`` ->
``training_record`` (the manifest's ``training`` section) -> ``write_outputs`` (the model
file and its report, replaced together).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.bands import INVALID_VALUES, PATCH_SIZE, range_note
from ..common.enums import Sensor
from ..common.errors import Cancelled, LczError
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES
from ..so2sat.file import So2SatFile
from .data_statistics import balanced_class_weights, channel_statistics
from .epoch_loop import EpochLoop, make_multi_step, make_train_step, run_epochs
from .input_transform import make_transform, manifest_transform
from .keras_model import apply_freeze, build_model, inference_copy, make_optimizer
from .options import KerasOptions
from .splits import VALIDATION_FRACTION, check_training_labels, split_indices, subsample

# Runs of at most this many batches in all run eagerly: tracing the training graph of a
# large model costs more than a few eager steps (ResNet50 on 2 cores: ~20 s of tracing vs
# ~1.5 s per eager step of 32 patches, ~0.6 s per graph step).
EAGER_MAX_STEPS = 8


def _open_validation(validation, sensor: str, train_name: str) -> tuple[int, np.ndarray]:
    """(patch count, labels) of the VALIDATION file, with errors that say it is that file."""
    name = Path(validation).name
    try:
        vf = So2SatFile(validation)
    except LczError as exc:
        raise LczError(
            f"validation file: {exc}. It must be a So2Sat file shaped like the training "
            "file (sen1 (N,32,32,8), sen2 (N,32,32,10), label (N,17))"
        ) from None
    with vf:
        if not vf.has(sensor):
            need = "sen1 and sen2" if sensor == Sensor.FUSION else sensor
            raise LczError(
                f"the validation file '{name}' has no '{need}' data, which training on "
                f"{sensor} needs (the training file '{train_name}' has it)"
            )
        return vf.n, vf.labels()


@dataclass
class TrainPatches:
    """The rows a run trains and validates on.

    Attributes:
        codes: LCZ codes (1-17) of every patch of the training file.
        tr_idx: Training rows (sorted), without the NaN/inf patches once statistics ran.
        va_idx: Validation rows of ``val_path`` (sorted).
        v_codes: LCZ codes of every patch of ``val_path``.
        val_path: The file the validation rows are read from.
        n_bad: Training patches dropped for holding NaN or inf.
    """

    codes: np.ndarray
    tr_idx: np.ndarray
    va_idx: np.ndarray
    v_codes: np.ndarray
    val_path: object
    n_bad: int = 0

    @property
    def tr_codes(self) -> np.ndarray:
        """LCZ codes of the training rows."""
        return self.codes[self.tr_idx]


@dataclass
class TrainRun:
    """What the epoch loop drives: the compiled model, its batch streams and steps."""

    model: object
    stream: object  # so2sat.batches.ShuffledBatches over the training rows
    train_step: object
    multi_step: object  # None when the run is eager
    val: object  # so2sat.batches.SequentialBatches over the validation rows, or None
    predict: object
    run_eagerly: bool
    class_weight: np.ndarray | None


def pick_patches(req: KerasOptions) -> TrainPatches:
    """Read the labels and pick the training and validation rows.

    The validation rows are the VALIDATION file's (at most ``max_samples``) or a seeded
    stratified ``VALIDATION_FRACTION`` of the training file; the training rows are then
    subsampled to ``max_samples``.

    Raises:
        LczError: A file without the sensor's data, or training rows of fewer than two
            classes.
    """
    with So2SatFile(req.train) as f:
        f.check_sensor(req.sensor)
        codes = f.labels()
    check_training_labels(codes, req.train_name)
    if req.validation:
        tr_idx = np.arange(codes.size)
        n_val_file, v_codes = _open_validation(req.validation, req.sensor, req.train_name)
        va_idx = subsample(np.arange(n_val_file), req.max_samples, req.seed)
        val_path = req.validation
    else:
        tr_idx, va_idx = split_indices(codes, VALIDATION_FRACTION, req.seed)
        v_codes, val_path = codes, req.train
    tr_idx = subsample(tr_idx, req.max_samples, req.seed)
    check_training_labels(codes[tr_idx], req.train_name)
    return TrainPatches(codes, tr_idx, va_idx, v_codes, val_path)


def normalisation_step(req: KerasOptions, patches: TrainPatches, feedback: Feedback) -> dict:
    """Stream the training rows once for the per-channel mean and std (progress 0-5 %).

    Patches holding NaN or inf are dropped from ``patches.tr_idx`` (with a warning) and
    counted in ``patches.n_bad``.

    Returns:
        The ``standardize`` preprocessing step of the model file.

    Raises:
        LczError: Every training patch holds NaN or inf, or the ones left hold one class.
    """
    tr_idx = patches.tr_idx
    feedback.info(f"computing per-channel mean and std over {tr_idx.size} training patches")
    mean, std, bad = channel_statistics(
        req.train, req.sensor, req.bands, tr_idx, feedback.scaled(0, 5)
    )
    if bad.size == tr_idx.size:
        raise LczError(
            f"all {bad.size} training patches of '{req.train_name}' hold {INVALID_VALUES} "
            f"({range_note(req.sensor)}): there is nothing to train on"
        )
    if bad.size:
        feedback.warning(
            f"skipped {bad.size} of {tr_idx.size} training patches holding {INVALID_VALUES} "
            f"({range_note(req.sensor)})"
        )
        patches.tr_idx = np.setdiff1d(tr_idx, bad)
        check_training_labels(patches.codes[patches.tr_idx], req.train_name)
    patches.n_bad = int(bad.size)
    return {"type": "standardize", "mean": mean, "std": std}


def _seeded_copy(network):
    """The network to fine-tune, rebuilt from its config after the seed was set, with its
    weights. Keras gives each dropout layer its random seed when the layer is built: the
    loaded network's were drawn before the run's seed, so the same seed gave a different
    model in each process (and for the first run in a process)."""
    import keras

    copy = keras.models.clone_model(network)
    copy.set_weights(network.get_weights())
    return copy


def build_run(
    tf, req: KerasOptions, patches: TrainPatches, step: dict, feedback: Feedback
) -> TrainRun:
    """Seed Keras, build and compile the model, open the batch streams, make the steps.

    Runs of at most ``EAGER_MAX_STEPS`` batches in all run eagerly; others get a
    ``tf.function`` step and a multi-batch step. Warns when there are no validation rows.
    """
    from ..so2sat.batches import ShuffledBatches

    tf.keras.utils.set_random_seed(int(req.seed))
    if not req.fine_tuning:
        n_channels = len(req.bands)
        model = build_model(req.model_type, n_channels, req.model_options)
    else:
        model = _seeded_copy(req.init_model.keras_model)
        n_channels = int(model.input_shape[-1])
        apply_freeze(model, req.freeze, feedback)
    tr_codes = patches.tr_codes
    cw = balanced_class_weights(tr_codes) if req.class_weights else None
    stream = ShuffledBatches(
        req.train, req.sensor, patches.tr_idx, tr_codes.astype(np.int32) - 1, req.batch_size,
        seed=req.seed, class_weight=cw,
    )  # fmt: skip
    if not req.fine_tuning:
        stream.transform = make_transform(
            stream.specs, req.bands, step["mean"], step["std"], req.augment
        )
    else:
        stream.transform = manifest_transform(stream.specs, req.init_model.manifest, req.augment)
    total_steps = stream.steps * req.epochs
    run_eagerly = total_steps <= EAGER_MAX_STEPS
    optimizer = make_optimizer(float(req.learning_rate), req.schedule, total_steps)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    train_step = make_train_step(tf, model, optimizer, n_channels, eager=run_eagerly)
    multi_step = None if run_eagerly else make_multi_step(tf, model, optimizer, n_channels)
    val = _validation_batches(req, patches, stream.transform, feedback)
    predict = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec((None, PATCH_SIZE, PATCH_SIZE, n_channels), tf.float32)],
    )
    return TrainRun(model, stream, train_step, multi_step, val, predict, run_eagerly, cw)


def _validation_batches(req: KerasOptions, patches: TrainPatches, transform, feedback: Feedback):
    """The validation rows as standardised batches, or None (with a warning) when none."""
    from ..so2sat.batches import SequentialBatches

    if not patches.va_idx.size:
        feedback.warning(
            "no validation patches: the last epoch's weights are kept and early stopping is off"
        )
        return None
    return SequentialBatches(
        patches.val_path, req.sensor, req.bands, patches.va_idx, max(req.batch_size, 128),
        transform=transform.standardize, reuse=True,
    )  # fmt: skip


def train_epochs(
    req: KerasOptions, patches: TrainPatches, run: TrainRun, feedback: Feedback
) -> EpochLoop:
    """Run the epochs (progress 5-95 %) with validation, best weights and early stopping.

    Returns:
        The finished loop: its history, best epoch, best scores and weights.

    Raises:
        Cancelled: The user cancelled (nothing is written).
        LczError: The loss diverged before any epoch could be scored.
    """
    stream = run.stream
    feedback.info(
        f"training {req.model_type} ({run.model.count_params():,} parameters) on "
        f"{stream.n} patches, {len(req.bands)} {req.sensor} channels, validating on "
        f"{patches.va_idx.size}; {req.epochs} epochs of {stream.steps} batches of "
        f"{req.batch_size}"
    )
    loop = EpochLoop(
        feedback.scaled(5, 95), req.epochs, stream.n, stream.steps, run.val, run.predict,
        req.early_stopping,
    )  # fmt: skip
    try:
        run_epochs(run.train_step, stream, loop, req.epochs, run.model, run.multi_step)
    finally:
        stream.close()
    if loop.cancelled or feedback.is_cancelled():
        raise Cancelled("training cancelled by the user; no model file was written")
    if loop.diverged and loop.best_scores is None:
        raise LczError(
            "training diverged (the loss became NaN or infinite) before any usable epoch; "
            "lower the learning rate or check the training data"
        )
    return loop


def keep_best_epoch(model, loop: EpochLoop, sensor: str, feedback: Feedback) -> dict:
    """Put the kept epoch's weights into ``model`` and report its validation scores.

    Returns:
        The kept epoch's validation scores ({} without validation).
    """
    if loop.best_weights is not None:
        model.set_weights(loop.best_weights)
    if loop.val_skipped:
        feedback.warning(
            f"skipped {loop.val_skipped} validation patches holding {INVALID_VALUES} "
            f"({range_note(sensor)})"
        )
    scores = loop.best_scores or {}
    if scores:
        feedback.info(
            f"kept epoch {loop.best_epoch}: validation OA {scores['oa']:.3f}, "
            f"kappa {scores['kappa']:.3f}, OA_w {scores['oa_w']:.3f}"
        )
    return scores


def training_record(
    req: KerasOptions, patches: TrainPatches, run: TrainRun, loop: EpochLoop, t_start: float
) -> dict:
    """The manifest's ``training`` section: data, options, epochs run and speed."""
    from ..so2sat.batches import BLOCK_ROWS, SHUFFLE_BLOCKS

    h, cw, va_idx = loop.history, run.class_weight, patches.va_idx
    v_codes = patches.v_codes[va_idx]
    sps = [v for v in h["samples_per_second"] if v]
    validation = req.validation
    return {
        "file": req.train_name,
        "validation": Path(validation).name if validation else f"{VALIDATION_FRACTION:.0%} split",
        "n_train": int(run.stream.n),
        "n_validation": int(va_idx.size - loop.val_skipped),
        "class_counts": np.bincount(patches.tr_codes, minlength=N_CLASSES + 1)[1:].tolist(),
        "validation_class_counts": np.bincount(v_codes, minlength=N_CLASSES + 1)[1:].tolist(),
        "n_skipped_nonfinite": patches.n_bad,
        "n_validation_skipped_nonfinite": int(loop.val_skipped),
        "seed": int(req.seed),
        "max_samples": int(req.max_samples) if req.max_samples else None,
        "epochs": req.epochs,
        "epochs_run": len(h["loss"]),
        "best_epoch": int(loop.best_epoch),
        "stopped_early": bool(loop.stopped_early),
        "early_stopping_patience": req.early_stopping,
        "batch_size": req.batch_size,
        "learning_rate": float(req.learning_rate),
        "schedule": req.schedule,
        "optimizer": "adam",
        "loss": "sparse_categorical_crossentropy",
        "class_weights": bool(req.class_weights),
        "class_weight_values": cw.tolist() if cw is not None else None,
        "augment": bool(req.augment),
        "augmentation": "random flips and 90-degree rotations" if req.augment else None,
        "run_eagerly": run.run_eagerly,
        "shuffle": f"blocks of {BLOCK_ROWS} rows, {SHUFFLE_BLOCKS} blocks mixed per buffer",
        "seconds": round(time.monotonic() - t_start, 1),
        "samples_per_second": round(float(np.median(sps)), 1) if sps else None,
    }


def write_outputs(
    req: KerasOptions, keras, model, manifest: dict, scores: dict, history: dict, feedback
) -> None:
    """Write the model file (and the HTML report), replaced together, unless cancelled.

    The file holds an uncompiled copy: the weights, not the optimizer state (3x smaller).
    """
    from ..common.atomic import staged_outputs
    from ..models.modelfile import save_keras_model

    feedback.check_cancelled()
    feedback.info(f"writing {Path(req.output).name}")
    with staged_outputs(feedback) as st:  # the model file and its report replaced together
        save_keras_model(st.temp(req.output), inference_copy(keras, model), manifest)
        if req.report:
            from ..reports.html import write_training_report

            write_training_report(st.temp(req.report), manifest, scores, history)
