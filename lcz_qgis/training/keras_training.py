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

Fine-tuning (``finetune_keras``, ``lcz train --init-model``) runs the same steps on a
Keras model read from a model file (safely, ``models.modelfile.load_model``) instead of a
new one: its sensor, bands and preprocessing are kept, so the new patches reach it as it
expects (its normalisation, not statistics of the new data); ``freeze`` can keep every
layer but the classification head fixed (``head_layers``); the init model's validation
scores on the new validation rows are measured first; the manifest records the init
model's file, sha256, type and scores (``fine_tuned_from``) and drops its calibration.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.atomic import check_output_path
from ..common.bands import INVALID_VALUES, PATCH_SIZE, range_note, sensor_channels
from ..common.errors import Cancelled, LczError, require
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES
from ..models import MODEL_TYPES, model_module
from ..so2sat.batches import band_routes, copy_bands, dihedral
from ..so2sat.file import So2SatFile
from .splits import (
    VALIDATION_FRACTION,
    TrainResult,
    check_training_labels,
    split_indices,
    subsample,
)

KERAS_MODEL_TYPES = tuple(t for t, (_, fw, _) in MODEL_TYPES.items() if fw == "keras")
SCHEDULES = ("constant", "exponential", "cosine")
DEFAULT_EPOCHS = 10
DEFAULT_BATCH_SIZE = 64
DEFAULT_LEARNING_RATE = 1e-3
DEFAULT_SCHEDULE = "constant"
DEFAULT_EARLY_STOPPING = 3  # epochs without a better validation loss; 0 = off
# the seed notebook's ExponentialDecay: lr * 0.9 ** (step / 1000)
EXPONENTIAL_DECAY_STEPS = 1000
EXPONENTIAL_DECAY_RATE = 0.9
STATS_CHUNK = 256
# Builder options per model type. sen2lcznet is trained here at 12 base filters
# (42 MFLOPs per patch, 8.4 % of the notebook ResNet50's 498 MFLOPs); the published
# width of 16 (74 MFLOPs) is model_options={"base_filters": 16}.
BUILD_OPTIONS: dict[str, dict] = {
    "mlp": {"variant": "simple"},
    "mlp_diy": {"variant": "diy"},
    "resnet50": {},
    "fusion": {"variant": "early"},
    "fusion_late": {"variant": "late"},
    "sen2lcznet": {"base_filters": 12},
}
# Runs of at most this many batches in all run eagerly: tracing the training graph of a
# large model costs more than a few eager steps (ResNet50 on 2 cores: ~20 s of tracing vs
# ~1.5 s per eager step of 32 patches, ~0.6 s per graph step).
EAGER_MAX_STEPS = 8
# relative cost of a validation batch vs a training batch, for the progress bar
_VAL_COST = 0.35


# -- statistics ---------------------------------------------------------------------------


def channel_statistics(
    path, sensor: str, bands: list[int], indices: np.ndarray, feedback: Feedback
) -> tuple[list[float], list[float], np.ndarray]:
    """Per-channel mean and std over rows ``indices``, streamed; and the rows with NaN/inf.

    Chunk statistics are merged with Chan et al.'s parallel formula in float64, so the
    result does not depend on the chunk size and does not lose precision on large files.
    """
    from ..so2sat.batches import SequentialBatches

    c = len(bands)
    count, mean, m2 = 0, np.zeros(c), np.zeros(c)
    kept = []
    batches = SequentialBatches(path, sensor, bands, indices, STATS_CHUNK, labels=False, reuse=True)
    done = 0
    for x, _, rows in batches:
        feedback.check_cancelled()
        done += STATS_CHUNK
        feedback.progress(100.0 * min(done, batches.n) / max(batches.n, 1))
        if not len(x):
            continue
        kept.append(rows)
        nb = x.shape[0] * x.shape[1] * x.shape[2]
        mb = x.mean(axis=(0, 1, 2), dtype=np.float64)
        d = x - mb.astype(np.float32)
        m2b = (d * d).sum(axis=(0, 1, 2), dtype=np.float64)
        delta = mb - mean
        total = count + nb
        mean = mean + delta * nb / total
        m2 = m2 + m2b + delta**2 * count * nb / total
        count = total
    kept_rows = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    bad = np.setdiff1d(np.asarray(indices, np.int64), kept_rows)
    std = np.sqrt(m2 / max(count, 1))
    return mean.tolist(), std.tolist(), bad


def balanced_class_weights(codes: np.ndarray) -> np.ndarray:
    """Weights per class index 0..16: n / (classes present * count); 0 for absent classes."""
    counts = np.bincount(np.asarray(codes, np.int64) - 1, minlength=N_CLASSES).astype(np.float64)
    present = counts > 0
    w = np.zeros(N_CLASSES)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w.astype(np.float32)


# -- model and optimiser ------------------------------------------------------------------


def check_model_sensor(model_type: str, sensor: str, bands: list[int]) -> dict:
    """Builder options for ``model_type`` on these bands; errors for impossible pairs."""
    if model_type not in KERAS_MODEL_TYPES:
        raise LczError(
            f"'{model_type}' is not a Keras model type; choose one of {', '.join(KERAS_MODEL_TYPES)}"
        )
    opts = dict(BUILD_OPTIONS.get(model_type, {}))
    if model_type in ("fusion", "fusion_late") and sensor != "fusion":
        raise LczError(
            f"model type '{model_type}' fuses Sentinel-1 and Sentinel-2: set the sensor to "
            f"'fusion' (it is '{sensor}')"
        )
    if model_type == "fusion_late":
        s1 = [b for b in bands if b < 8]
        n_s1 = len(s1)
        if n_s1 == 0 or n_s1 == len(bands) or bands[:n_s1] != s1:
            raise LczError(
                "fusion_late needs at least one Sentinel-1 and one Sentinel-2 band, with the "
                "Sentinel-1 bands (1-8) listed first"
            )
        opts["s1_channels"] = n_s1
    return opts


def build_model(model_type: str, n_channels: int, options: dict):
    """An untrained Keras ``model_type`` for 32x32 patches of ``n_channels``, 17 classes."""
    return model_module(model_type).build(
        (PATCH_SIZE, PATCH_SIZE, n_channels), N_CLASSES, **options
    )


def make_optimizer(learning_rate: float, schedule: str, total_steps: int):
    """Adam at ``learning_rate``, constant or decayed by ``schedule`` over ``total_steps``."""
    from tensorflow import keras

    if schedule == "constant":
        lr = learning_rate
    elif schedule == "exponential":
        lr = keras.optimizers.schedules.ExponentialDecay(
            learning_rate, EXPONENTIAL_DECAY_STEPS, EXPONENTIAL_DECAY_RATE
        )
    elif schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(learning_rate, max(1, total_steps))
    else:
        raise LczError(f"unknown schedule '{schedule}'; use one of {', '.join(SCHEDULES)}")
    return keras.optimizers.Adam(learning_rate=lr)


def inference_copy(keras, model):
    """The same network and weights without the optimizer (what a model file needs),
    every layer trainable again (weights copied layer by layer, by name: a frozen
    layer's weights keep their order within it, not within the model)."""
    clone = keras.models.clone_model(model)
    for layer in model.layers:
        target = clone.get_layer(layer.name)
        target.trainable = True
        if layer.weights:
            target.set_weights(layer.get_weights())
    return clone


def current_learning_rate(optimizer) -> float:
    """The optimizer's learning rate at its current step (schedules evaluated)."""
    lr = optimizer.learning_rate
    if callable(lr):  # a schedule
        lr = lr(optimizer.iterations)
    return float(np.asarray(lr))


class EarlyStopper:
    """Stop when the validation loss has not improved for ``patience`` epochs (0 = never)."""

    def __init__(self, patience: int, min_delta: float = 1e-4):
        self.patience, self.min_delta = int(patience), min_delta
        self.best = math.inf
        self.wait = 0

    def update(self, val_loss: float) -> bool:
        """Record an epoch's validation loss; True when training should stop."""
        if not math.isfinite(val_loss):
            return False
        if val_loss < self.best - self.min_delta:
            self.best, self.wait = val_loss, 0
            return False
        self.wait += 1
        return self.patience > 0 and self.wait >= self.patience


def _is_better(scores: dict, best: dict | None) -> bool:
    if best is None:
        return True
    if scores["oa"] > best["oa"] + 1e-12:
        return True
    return abs(scores["oa"] - best["oa"]) <= 1e-12 and scores["loss"] < best["loss"]


class InputTransform:
    """Raw So2Sat rows (one array per dataset, e.g. float64 sen1 and sen2) -> model input:
    float32, the selected ``bands``, ``(x - mean) / std`` with exactly the arithmetic of
    ``preprocessing.standardize`` (so training sees what prediction will), then random
    flips/rotations when ``augment``.

    ``convert(raws, out)`` does one piece (``ShuffledBatches`` calls it in its reader
    thread, ``PIECE_ROWS`` rows at a time); calling the object does whole arrays.
    """

    def __init__(self, specs, bands: list[int], mean, std, augment: bool = False):
        self.channels = len(bands)
        self.augment = bool(augment)
        # full (32, 32, C) arrays: numpy then runs one 10,240-element inner loop per
        # patch instead of one per pixel (4x faster than broadcasting a (C,) vector)
        shape = (PATCH_SIZE, PATCH_SIZE, self.channels)
        self._mean = np.ascontiguousarray(np.broadcast_to(np.asarray(mean, np.float32), shape))
        s = np.asarray(std, np.float32)
        self._std = np.ascontiguousarray(
            np.broadcast_to(np.where(s > 0, s, np.float32(1.0)), shape)
        )
        self._routes = band_routes([c for c, _ in specs], bands)

    def convert(self, raws: tuple, out: np.ndarray) -> None:
        """Rows of ``raws`` (one array per dataset) -> standardised float32 ``out``."""
        for raw, (pairs, whole) in zip(raws, self._routes):
            copy_bands(raw, out, pairs, whole)
        self.standardize(out)

    def standardize(self, x: np.ndarray) -> np.ndarray:
        """``preprocessing.standardize``'s arithmetic, in place on float32 model-channel
        patches ``x`` (validation batches use it too, so their scores equal the saved
        model's)."""
        np.subtract(x, self._mean, out=x)
        np.divide(x, self._std, out=x)
        return x

    def __call__(self, xs: tuple, rng: np.random.Generator, piece: int = 32) -> np.ndarray:
        n = len(xs[0])
        out = np.empty((n, 32, 32, self.channels), np.float32)
        for a in range(0, n, piece):
            self.convert(tuple(x[a : a + piece] for x in xs), out[a : a + piece])
        return dihedral(out, rng) if self.augment else out


def make_transform(specs, bands: list[int], mean, std, augment: bool) -> InputTransform:
    """The ``InputTransform`` of a training run (``specs``: ``ShuffledBatches.specs``)."""
    return InputTransform(specs, bands, mean, std, augment)


def _step_function(tf, model, optimizer):
    """One optimiser step on a batch ``(x, y, w)`` (a plain function); returns (sum of
    w * cross-entropy, number of correct predictions). Keras' ``sample_weight``
    semantics: the loss is sum(w * ce) / batch size."""
    from tensorflow import keras

    def step(x, y, w):
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            ce = keras.losses.sparse_categorical_crossentropy(y, p)
            weighted = tf.reduce_sum(ce * w)
            loss = weighted / tf.cast(tf.shape(x)[0], tf.float32)
            if model.losses:
                loss = loss + tf.add_n(model.losses)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        hits = tf.equal(tf.argmax(p, axis=1, output_type=tf.int32), y)
        return weighted, tf.reduce_sum(tf.cast(hits, tf.int32))

    return step


def make_train_step(tf, model, optimizer, n_channels: int, eager: bool = False):
    """The training step on one batch: a ``tf.function``, or eager with ``eager``."""
    step = _step_function(tf, model, optimizer)
    if eager:
        return step
    spec = [
        tf.TensorSpec((None, 32, 32, n_channels), tf.float32),
        tf.TensorSpec((None,), tf.int32),
        tf.TensorSpec((None,), tf.float32),
    ]
    return tf.function(step, input_signature=spec)


def make_multi_step(tf, model, optimizer, n_channels: int):
    """Several training steps in one ``tf.function`` call, on ``(k, batch, ...)`` arrays:
    the same steps, in order, as ``k`` calls of ``make_train_step`` (Keras calls this
    ``steps_per_execution``). Returns the sums over the ``k`` batches."""
    step = _step_function(tf, model, optimizer)

    def multi(xs, ys, ws):
        total, hits = tf.constant(0.0), tf.constant(0)
        for i in tf.range(tf.shape(xs)[0]):
            l_sum, h = step(xs[i], ys[i], ws[i])
            total += l_sum
            hits += h
        return total, hits

    spec = [
        tf.TensorSpec((None, None, 32, 32, n_channels), tf.float32),
        tf.TensorSpec((None, None), tf.int32),
        tf.TensorSpec((None, None), tf.float32),
    ]
    return tf.function(multi, input_signature=spec)


# Python's thread switch interval while training: the loop waits at most this long for
# the GIL when the reader thread holds it (the default 5 ms is half an MLP step)
SWITCH_INTERVAL = 0.0005
# Batches that take less than this go to TensorFlow a chunk (several batches) per call:
# one Python-to-TensorFlow crossing per chunk, not per batch (the MLP trains 1.15x
# faster). Slower models keep one batch per call, so cancel still acts within a batch.
MULTI_STEP_BELOW_S = 0.03


def run_epochs(step, stream, loop, epochs: int, model, multi_step=None) -> None:
    """The training loop: chunks from the stream's reader thread straight into ``step``.

    A plain loop rather than ``model.fit`` over ``tf.data.Dataset.from_generator``: the
    generator crossing cost about a quarter of the MLP's throughput on 2 cores. Once a
    batch is measured to take less than ``MULTI_STEP_BELOW_S``, whole chunks go to
    ``multi_step`` (when given); progress and cancel are still reported batch by batch.
    """
    import sys

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(min(old_interval, SWITCH_INTERVAL))
    per_batch, single_calls = None, 0
    try:
        for epoch in range(epochs):
            loop.epoch_begin(epoch)
            loss_sum, correct, seen, batch = 0.0, 0, 0, 0
            for (x,), y, w in stream.chunks():
                if w is None:
                    w = np.ones(y.shape, np.float32)
                i = 0
                while i < len(y):
                    fast = per_batch is not None and per_batch < MULTI_STEP_BELOW_S
                    k = len(y) - i if multi_step is not None and fast else 1
                    t0 = time.perf_counter()
                    if k == 1:
                        l_sum, hits = step(x[i], y[i], w[i])
                    else:
                        l_sum, hits = multi_step(x[i : i + k], y[i : i + k], w[i : i + k])
                    loss_sum += float(l_sum)
                    correct += int(hits)
                    if k == 1:
                        single_calls += 1
                        dt = time.perf_counter() - t0
                        if single_calls > 2:  # the first calls trace the graph
                            per_batch = dt if per_batch is None else 0.7 * per_batch + 0.3 * dt
                    for j in range(i, i + k):
                        seen += len(y[j])
                        if loop.train_batch_end(batch):
                            return
                        batch += 1
                    i += k
            logs = {"loss": loss_sum / max(seen, 1), "accuracy": correct / max(seen, 1)}
            if loop.epoch_end(model, epoch, logs):
                return
    finally:
        sys.setswitchinterval(old_interval)


class _Loop:
    """Progress, cancel, validation, best weights and early stopping around ``fit``."""

    def __init__(self, feedback, epochs, train_n, steps, val, predict, patience):
        self.feedback = feedback
        self.epochs, self.train_n, self.steps = epochs, train_n, steps
        self.val, self.predict = val, predict
        self.val_steps = val.steps if val is not None else 0
        self.units = steps + _VAL_COST * self.val_steps
        self.stopper = EarlyStopper(patience)
        self.cancelled = False
        self.diverged = False
        self.stopped_early = False
        self.best_scores: dict | None = None
        self.best_weights = None
        self.best_epoch = 0
        self.val_skipped = 0
        self.history: dict[str, list] = {
            k: []
            for k in (
                "loss",
                "accuracy",
                "val_loss",
                "val_accuracy",
                "val_kappa",
                "learning_rate",
                "seconds",
                "samples_per_second",
            )
        }

    def _progress(self, units_done: float) -> None:
        total = self.epochs * self.units
        self.feedback.progress(100.0 * (self.epoch * self.units + units_done) / max(total, 1e-9))

    def epoch_begin(self, epoch: int) -> None:
        self.epoch = epoch
        self.t0 = time.monotonic()

    def train_batch_end(self, batch: int) -> bool:
        self._progress(batch + 1)
        if self.feedback.is_cancelled():
            self.cancelled = True
        return self.cancelled

    def _validate(self) -> dict | None:
        from ..evaluation.evaluate import ConfusionAccumulator

        acc = ConfusionAccumulator()
        for i, (x, codes, _rows) in enumerate(self.val):
            if self.feedback.is_cancelled():
                self.cancelled = True
                return None
            if len(x):
                acc.add(codes, np.asarray(self.predict(x)))
            self._progress(self.steps + _VAL_COST * (i + 1))
        self.val_skipped = self.val.n_skipped
        return acc.scores() if acc.n else None

    def epoch_end(self, model, epoch: int, logs: dict) -> bool:
        seconds = time.monotonic() - self.t0
        if self.cancelled:
            return True
        h = self.history
        loss = float(logs.get("loss", float("nan")))
        h["loss"].append(loss)
        h["accuracy"].append(float(logs.get("accuracy", float("nan"))))
        h["learning_rate"].append(current_learning_rate(model.optimizer))
        h["seconds"].append(round(seconds, 3))
        h["samples_per_second"].append(round(self.train_n / seconds, 1) if seconds > 0 else None)
        if not math.isfinite(loss):
            self.diverged = True
            for k in ("val_loss", "val_accuracy", "val_kappa"):
                h[k].append(float("nan"))
            self.feedback.warning(
                f"epoch {epoch + 1}: the training loss is not finite (diverged); stopping. "
                "Try a lower learning rate."
            )
            return True
        scores = self._validate() if self.val is not None else None
        if self.cancelled:
            return True
        line = f"epoch {epoch + 1}/{self.epochs}: loss {loss:.4f}, accuracy {h['accuracy'][-1]:.4f}"
        stop = False
        if scores is not None:
            h["val_loss"].append(scores["loss"])
            h["val_accuracy"].append(scores["oa"])
            h["val_kappa"].append(scores["kappa"])
            line += (
                f", val_loss {scores['loss']:.4f}, val_accuracy {scores['oa']:.4f}, "
                f"val_kappa {scores['kappa']:.4f}"
            )
            if _is_better(scores, self.best_scores):
                self.best_scores, self.best_epoch = scores, epoch + 1
                self.best_weights = model.get_weights()
                line += " (best so far)"
            stop = self.stopper.update(scores["loss"])
            if stop:
                self.stopped_early = True
                line += f"; no better validation loss for {self.stopper.patience} epochs: stopping"
        else:
            for k in ("val_loss", "val_accuracy", "val_kappa"):
                h[k].append(float("nan"))
            self.best_epoch = epoch + 1
            self.best_weights = None  # the model's final weights
        line += f" ({seconds:.1f} s, {h['samples_per_second'][-1]} patches/s)"
        self.feedback.info(line)
        self._progress(self.units)
        return stop


# -- training ---------------------------------------------------------------------------


def _check_options(epochs, batch_size, learning_rate, schedule, early_stopping) -> None:
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
            need = "sen1 and sen2" if sensor == "fusion" else sensor
            raise LczError(
                f"the validation file '{name}' has no '{need}' data, which training on "
                f"{sensor} needs (the training file '{train_name}' has it)"
            )
        return vf.n, vf.labels()


@dataclass(frozen=True)
class _Request:
    """A checked ``train_keras`` call: its arguments, with the counts made ``int``."""

    train: object
    validation: object
    output: Path
    report: object
    model_type: str
    sensor: str
    bands: list[int]
    seed: int
    max_samples: int | None
    epochs: int
    batch_size: int
    learning_rate: float
    schedule: str
    early_stopping: int
    class_weights: bool
    augment: bool
    options: dict  # the model builder's options
    init: object = None  # fine-tuning: the InitModel to start from
    freeze: str = "none"

    @property
    def train_name(self) -> str:
        return Path(self.train).name


@dataclass
class _Patches:
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
        return self.codes[self.tr_idx]


@dataclass
class _Run:
    """What the epoch loop drives: the compiled model, its batch streams and steps."""

    model: object
    stream: object  # so2sat.batches.ShuffledBatches over the training rows
    train_step: object
    multi_step: object  # None when the run is eager
    val: object  # so2sat.batches.SequentialBatches over the validation rows, or None
    predict: object
    run_eagerly: bool
    class_weight: np.ndarray | None


def _check_request(
    train, validation, output, report, model_type, sensor, bands, seed, max_samples,
    epochs, batch_size, learning_rate, schedule, early_stopping, class_weights, augment,
    model_options,
) -> _Request:  # fmt: skip
    """Check every option of a ``train_keras`` call before anything is read.

    Returns:
        The request, with the output path checked, counts as ``int`` and the builder
        options of ``model_type`` (``BUILD_OPTIONS`` updated with ``model_options``).

    Raises:
        LczError: An unwritable output or report, an option out of range, or a model
            type that cannot take this sensor and these bands.
    """
    output = check_output_path(output)
    if report:
        check_output_path(report)
    _check_options(epochs, batch_size, learning_rate, schedule, early_stopping)
    bands = [int(b) for b in bands]
    options = check_model_sensor(model_type, sensor, bands)
    options.update(model_options or {})
    return _Request(
        train, validation, output, report, model_type, sensor, bands, seed, max_samples,
        int(epochs), int(batch_size), learning_rate, schedule, int(early_stopping),
        class_weights, augment, options,
    )  # fmt: skip


def _pick_patches(req: _Request) -> _Patches:
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
    return _Patches(codes, tr_idx, va_idx, v_codes, val_path)


def _normalisation_step(req: _Request, patches: _Patches, feedback: Feedback) -> dict:
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


def _build_run(tf, req: _Request, patches: _Patches, step: dict, feedback: Feedback) -> _Run:
    """Seed Keras, build and compile the model, open the batch streams, make the steps.

    Runs of at most ``EAGER_MAX_STEPS`` batches in all run eagerly; others get a
    ``tf.function`` step and a multi-batch step. Warns when there are no validation rows.
    """
    from ..so2sat.batches import ShuffledBatches

    tf.keras.utils.set_random_seed(int(req.seed))
    if req.init is None:
        n_channels = len(req.bands)
        model = build_model(req.model_type, n_channels, req.options)
    else:
        model = req.init.keras_model
        n_channels = int(model.input_shape[-1])
        apply_freeze(model, req.freeze, feedback)
    tr_codes = patches.tr_codes
    cw = balanced_class_weights(tr_codes) if req.class_weights else None
    stream = ShuffledBatches(
        req.train, req.sensor, patches.tr_idx, tr_codes.astype(np.int32) - 1, req.batch_size,
        seed=req.seed, class_weight=cw,
    )  # fmt: skip
    if req.init is None:
        stream.transform = make_transform(
            stream.specs, req.bands, step["mean"], step["std"], req.augment
        )
    else:
        stream.transform = manifest_transform(stream.specs, req.init.manifest, req.augment)
    total_steps = stream.steps * req.epochs
    run_eagerly = total_steps <= EAGER_MAX_STEPS
    optimizer = make_optimizer(float(req.learning_rate), req.schedule, total_steps)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    train_step = make_train_step(tf, model, optimizer, n_channels, eager=run_eagerly)
    multi_step = None if run_eagerly else make_multi_step(tf, model, optimizer, n_channels)
    val = _validation_batches(req, patches, stream.transform, feedback)
    predict = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec((None, 32, 32, n_channels), tf.float32)],
    )
    return _Run(model, stream, train_step, multi_step, val, predict, run_eagerly, cw)


def _validation_batches(req: _Request, patches: _Patches, transform, feedback: Feedback):
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


def _train_epochs(req: _Request, patches: _Patches, run: _Run, feedback: Feedback) -> _Loop:
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
    loop = _Loop(
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


def _keep_best_epoch(model, loop: _Loop, sensor: str, feedback: Feedback) -> dict:
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


def _training_record(
    req: _Request, patches: _Patches, run: _Run, loop: _Loop, t_start: float
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


def _keras_manifest(
    req: _Request, step: dict, model, training: dict, history: dict, scores: dict
) -> dict:
    """The model file's manifest: standardize step, architecture, training, scores."""
    from ..models.modelfile import new_manifest

    return new_manifest(
        req.model_type,
        "keras",
        req.sensor,
        req.bands,
        preprocessing=[step],
        architecture={
            "builder": f"lcz_qgis.models.{MODEL_TYPES[req.model_type][0]}",
            "options": req.options,
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


def _write_outputs(
    req: _Request, keras, model, manifest: dict, scores: dict, history: dict, feedback
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
    feedback = feedback or Feedback()
    t_start = time.monotonic()
    req = _check_request(
        train, validation, output, report, model_type, sensor, bands, seed, max_samples,
        epochs, batch_size, learning_rate, schedule, early_stopping, class_weights, augment,
        model_options,
    )  # fmt: skip
    tf = require("tensorflow", "tensorflow-cpu", "Training Keras models")
    patches = _pick_patches(req)
    step = _normalisation_step(req, patches, feedback)
    run = _build_run(tf, req, patches, step, feedback)
    loop = _train_epochs(req, patches, run, feedback)
    scores = _keep_best_epoch(run.model, loop, req.sensor, feedback)
    training = _training_record(req, patches, run, loop, t_start)
    manifest = _keras_manifest(req, step, run.model, training, loop.history, scores)
    _write_outputs(req, tf.keras, run.model, manifest, scores, loop.history, feedback)
    feedback.progress(100)
    return TrainResult(Path(req.output), manifest, scores, loop.history)


# -- fine-tuning ------------------------------------------------------------------------

FREEZE_CHOICES = ("none", "all-but-head")


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
    from ..models.modelfile import SklearnModel, load_model, read_manifest

    p = Path(path)
    what = f"{param('INIT_MODEL')} '{p.name}'"
    if not p.is_file():
        raise LczError(f"{what} does not exist")
    if p.suffix.lower() == ".lczmodel" and read_manifest(p).get("framework") == "sklearn":
        raise LczError(
            f"{what} is a random forest: fine-tuning continues training a Keras network; "
            f"train a new forest ({param('MODEL_TYPE')} rf) on the new patches instead"
        )
    try:
        m = load_model(p, sensor=sensor if p.suffix.lower() != ".lczmodel" else None)
    except LczError as exc:
        raise LczError(f"cannot fine-tune {what}: {exc}") from None
    if isinstance(m, SklearnModel):  # pragma: no cover - the manifest said so above
        raise LczError(f"{what} is a random forest, not a Keras network")
    init = InitModel(p, m.keras_model, m.manifest, _sha256(p))
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


def head_layers(model) -> list:
    """The classification head: the layers with weights nearest the output on every path
    back from it (a plain network's last Dense layer; each of Sen2LCZ-Net's four softmax
    heads). Layers without weights (activations, pooling, averaging) are passed through."""
    import tensorflow as tf

    heads, seen = [], set()
    stack = [t._keras_history.layer for t in tf.nest.flatten(model.outputs)]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if layer.weights:
            heads.append(layer)
            continue
        for node in layer._inbound_nodes:
            stack.extend(tf.nest.flatten(node.inbound_layers))
    return heads


def apply_freeze(model, freeze: str, feedback: Feedback) -> list[str]:
    """Make every layer trainable (``none``) or only the head (``all-but-head``,
    ``head_layers``); frozen batch normalisations keep their statistics (inference mode).

    Returns:
        The names of the frozen layers that hold weights.
    """
    if freeze not in FREEZE_CHOICES:
        raise LczError(f"unknown freeze '{freeze}'; use one of {', '.join(FREEZE_CHOICES)}")
    head = {id(layer) for layer in head_layers(model)} if freeze == "all-but-head" else None
    frozen = []
    for layer in model.layers:
        layer.trainable = head is None or id(layer) in head
        if not layer.trainable and layer.weights:
            frozen.append(layer.name)
    if frozen:
        n = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        feedback.info(
            f"froze {len(frozen)} layers with weights; training the head only "
            f"({n:,} trainable parameters)"
        )
    return frozen


class ManifestTransform:
    """Raw So2Sat rows -> a model's input through its manifest's own preprocessing
    (``preprocessing.apply``: e.g. the So2Sat ResNet-20 scaling), then random
    flips/rotations when ``augment``; the same interface as ``InputTransform``."""

    def __init__(self, specs, manifest: dict, augment: bool = False):
        from ..models import preprocessing

        self._apply = preprocessing.apply
        self.steps = list(manifest.get("preprocessing") or [])
        self.bands = [int(b) for b in manifest["bands"]]
        blank = np.zeros((1, PATCH_SIZE, PATCH_SIZE, len(self.bands)), np.float32)
        self.channels = int(self._apply(blank, self.steps).shape[-1])
        self.augment = bool(augment)
        self._routes = band_routes([c for c, _ in specs], self.bands)

    def convert(self, raws: tuple, out: np.ndarray) -> None:
        """Rows of ``raws`` (one array per dataset) -> preprocessed float32 ``out``."""
        x = np.empty((len(out), PATCH_SIZE, PATCH_SIZE, len(self.bands)), np.float32)
        for raw, (pairs, whole) in zip(raws, self._routes):
            copy_bands(raw, x, pairs, whole)
        out[...] = self.standardize(x)

    def standardize(self, x: np.ndarray) -> np.ndarray:
        """The manifest's preprocessing of float32 band patches ``x`` (a new array)."""
        return np.asarray(self._apply(x, self.steps), np.float32)


def manifest_transform(specs, manifest: dict, augment: bool):
    """The training transform that feeds a model file's network what it expects: an
    ``InputTransform`` when its preprocessing is none or one ``standardize`` step (the
    same arithmetic, faster), else a ``ManifestTransform``."""
    steps = manifest.get("preprocessing") or []
    bands = [int(b) for b in manifest["bands"]]
    if not steps:
        zeros = np.zeros(len(bands))
        return InputTransform(specs, bands, zeros, np.ones(len(bands)), augment)
    if len(steps) == 1 and steps[0].get("type") == "standardize":
        return InputTransform(specs, bands, steps[0]["mean"], steps[0]["std"], augment)
    return ManifestTransform(specs, manifest, augment)


def _check_finetune_request(
    train, validation, output, report, init: InitModel, model_type, seed, max_samples,
    epochs, batch_size, learning_rate, schedule, early_stopping, class_weights, augment,
    freeze,
) -> _Request:  # fmt: skip
    """Check every option of a ``finetune_keras`` call before anything is read.

    Raises:
        LczError: An unwritable output, an option out of range, a model type or freeze
            choice that does not fit, or a training file without the model's sensor.
    """
    from ..common.errors import param

    output = check_output_path(output)
    if report:
        check_output_path(report)
    _check_options(epochs, batch_size, learning_rate, schedule, early_stopping)
    if freeze not in FREEZE_CHOICES:
        raise LczError(f"unknown freeze '{freeze}'; use one of {', '.join(FREEZE_CHOICES)}")
    if model_type and model_type != init.model_type:
        raise LczError(
            f"{param('INIT_MODEL')} '{init.path.name}' is a {init.model_type} model; "
            f"{param('MODEL_TYPE')} {model_type} does not apply when fine-tuning"
        )
    with So2SatFile(train) as f:
        if not f.has(init.sensor):
            need = "sen1 and sen2" if init.sensor == "fusion" else init.sensor
            raise LczError(
                f"{param('INIT_MODEL')} '{init.path.name}' takes "
                f"{_band_text(init.sensor, init.bands)} patches but '{Path(train).name}' "
                f"has no '{need}' data"
            )
    return _Request(
        train, validation, output, report, init.model_type, init.sensor, init.bands, seed,
        max_samples, int(epochs), int(batch_size), learning_rate, schedule,
        int(early_stopping), class_weights, augment, {}, init, freeze,
    )  # fmt: skip


def _score_init(run: _Run, feedback: Feedback) -> dict:
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
    req: _Request, model, training: dict, history: dict, scores: dict, before: dict,
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
    fresh = new_manifest(init.model_type, "keras", init.sensor, init.bands)
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
    patches = _pick_patches(req)
    step = _normalisation_step(req, patches, feedback)
    run = _build_run(tf, req, patches, step, feedback)
    frozen = [layer.name for layer in run.model.layers if not layer.trainable and layer.weights]
    before = _score_init(run, feedback)
    loop = _train_epochs(req, patches, run, feedback)
    scores = _keep_best_epoch(run.model, loop, req.sensor, feedback)
    training = _training_record(req, patches, run, loop, t_start)
    training["new_data_statistics"] = {"mean": step["mean"], "std": step["std"]}
    manifest = _finetune_manifest(req, run.model, training, loop.history, scores, before, frozen)
    _write_outputs(req, tf.keras, run.model, manifest, scores, loop.history, feedback)
    feedback.progress(100)
    return TrainResult(Path(req.output), manifest, scores, loop.history)
