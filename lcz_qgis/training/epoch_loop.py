"""The compiled training steps and the epoch loop of a Keras training run.

``make_train_step`` / ``make_multi_step`` compile one optimiser step (or several in one
call) with Keras' ``sample_weight`` loss; ``run_epochs`` feeds them batches straight from
``so2sat.batches.ShuffledBatches``' reader thread; ``EpochLoop`` reports progress and
cancel batch by batch and, after every epoch, validates, keeps the best epoch's weights
(validation OA, ties: lower loss), records the history and stops early (``EarlyStopper``).
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..common.bands import PATCH_SIZE
from .keras_model import current_learning_rate

# relative cost of a validation batch vs a training batch, for the progress bar
_VAL_COST = 0.35


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


def _step_function(tf, model, optimizer):
    """One optimiser step on a batch ``(x, y, w)`` (a plain function); returns (sum of
    w * cross-entropy, number of correct predictions). Keras' ``sample_weight``
    semantics: the loss is sum(w * ce) / batch size."""
    import keras

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
        tf.TensorSpec((None, PATCH_SIZE, PATCH_SIZE, n_channels), tf.float32),
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
        tf.TensorSpec((None, None, PATCH_SIZE, PATCH_SIZE, n_channels), tf.float32),
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


class EpochLoop:
    """Progress, cancel, validation, best weights and early stopping around the epochs
    of ``run_epochs`` (what a Keras callback would do around ``fit``)."""

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
        """Start epoch ``epoch`` (0-based): its progress offset and its clock."""
        self.epoch = epoch
        self.t0 = time.monotonic()

    def train_batch_end(self, batch: int) -> bool:
        """Report batch ``batch`` of the epoch done; True when the user cancelled."""
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
        """Record the epoch (``logs``: its training loss and accuracy), validate, keep
        the best weights; True when training stops (cancelled, diverged or early)."""
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
