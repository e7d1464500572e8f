"""Batches of So2Sat patches streamed from HDF5, for Keras training, validation and evaluation.

The published So2Sat LCZ42 ``training.h5`` is 52 GB of uncompressed float64, so nothing
here loads a file whole. Two access patterns:

* ``ShuffledBatches`` (training): the selected rows (sorted) are cut into *blocks* of
  ``block_rows`` (256) consecutive entries. Each epoch permutes the blocks (seeded by
  seed and epoch), reads ``shuffle_blocks`` (8) blocks at a time (each block one large,
  mostly sequential read), shuffles the rows of those blocks together and cuts them into
  batches. Reads stay long and sequential while every batch mixes rows from several
  random places in the file. Memory is bounded by one group of blocks (about 80 MB for
  Sentinel-2), whatever the size of the file.
* ``SequentialBatches`` (validation, evaluation, statistics): rows in file order.

Both read in a background thread (``prefetch``) that fills a small queue, so reading,
type conversion, standardisation and augmentation overlap with TensorFlow's compute.
Rows with NaN or inf are dropped by ``SequentialBatches`` and counted (``n_skipped``);
training drops them up front (see ``keras_training.channel_statistics``).
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator

import numpy as np

from .bands import sensor_channels
from .so2sat import So2SatFile

BLOCK_ROWS = 256
SHUFFLE_BLOCKS = 8
PREFETCH = 6
# read the whole span of a block in one go when it is at most this many times the rows
DENSE_SPAN_FACTOR = 2.0


class ReadStats:
    """Counts of reads and bytes, to check that access stays sequential."""

    def __init__(self):
        self.reads = 0
        self.rows = 0
        self.bytes = 0


def read_rows(
    f: So2SatFile, sensor: str, rows: np.ndarray, bands: list[int], stats: ReadStats | None = None
) -> np.ndarray:
    """Patches (k,32,32,C) float32 for sorted unique ``rows``.

    When the rows are dense (their span is at most ``DENSE_SPAN_FACTOR`` times their
    count) the span is read in one request and the rows picked from it; otherwise the
    rows are read as runs of consecutive rows (``So2SatFile.read``).
    """
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        return np.zeros((0, 32, 32, len(bands)), np.float32)
    a, b = int(rows[0]), int(rows[-1]) + 1
    if b - a > DENSE_SPAN_FACTOR * rows.size + 16:
        x = f.read(sensor, rows, bands)
        if stats is not None:
            stats.reads += 1
            stats.rows += rows.size
            stats.bytes += x.nbytes * 2
        return x
    keys = ["sen1", "sen2"] if sensor == "fusion" else [sensor]
    dense = b - a == rows.size
    parts = []
    for key in keys:
        raw = f.dataset(key)[a:b]
        if stats is not None:
            stats.reads += 1
            stats.bytes += raw.nbytes
        parts.append(raw if dense else raw[rows - a])
    if stats is not None:
        stats.rows += rows.size
    x = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
    if list(bands) != list(range(x.shape[-1])):
        x = x[..., bands]
    return x.astype(np.float32, copy=False)


def dihedral(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each patch of (N,H,W,C) through a random one of the 8 flips/90-degree rotations."""
    k = rng.integers(0, 8, size=len(x))
    out = np.empty_like(x)
    for t in range(8):
        sel = np.flatnonzero(k == t)
        if sel.size == 0:
            continue
        y = np.rot90(x[sel], t % 4, axes=(1, 2))
        if t >= 4:
            y = y[:, :, ::-1]
        out[sel] = y
    return out


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


_DONE = object()


class Prefetcher:
    """Runs an iterator in a background thread, ``depth`` items ahead.

    Iterate once. ``close()`` (also on garbage collection of the consuming generator)
    stops the thread at its next item. Exceptions in the thread are re-raised here.
    """

    def __init__(self, make_iter: Callable[[], Iterator], depth: int = PREFETCH):
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._work, args=(make_iter,), name="lcz-hdf5-prefetch", daemon=True
        )
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, make_iter) -> None:
        try:
            for item in make_iter():
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._put(_Failure(exc))

    def __iter__(self):
        try:
            while True:
                item = self._queue.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class ShuffledBatches:
    """Training batches ``(x, y[, w])`` from rows ``indices`` of a So2Sat file.

    ``targets`` are class indices 0..16 aligned with ``indices``; ``transform`` maps a
    float32 batch to the model input (standardisation); ``class_weight`` (17 floats)
    adds per-sample weights; ``augment`` applies random flips and 90-degree rotations.
    Each call of ``epoch()`` is one pass with its own seeded block order.
    """

    def __init__(
        self,
        path,
        sensor: str,
        bands: list[int],
        indices: np.ndarray,
        targets: np.ndarray,
        batch_size: int,
        seed: int = 0,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        class_weight: np.ndarray | None = None,
        augment: bool = False,
        block_rows: int = BLOCK_ROWS,
        shuffle_blocks: int = SHUFFLE_BLOCKS,
        prefetch: int = PREFETCH,
    ):
        order = np.argsort(indices, kind="stable")
        self.indices = np.asarray(indices, np.int64)[order]
        self.targets = np.asarray(targets, np.int32)[order]
        if np.any(np.diff(self.indices) == 0):
            raise ValueError("indices must be unique")
        self.path, self.sensor, self.bands = path, sensor, list(bands)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.transform = transform
        self.class_weight = None if class_weight is None else np.asarray(class_weight, np.float32)
        self.augment = augment
        self.block_rows = int(block_rows)
        self.shuffle_blocks = int(shuffle_blocks)
        self.prefetch = prefetch
        self.epochs_started = 0
        self.stats = ReadStats()
        self._prefetchers: list[Prefetcher] = []

    @property
    def n(self) -> int:
        return int(self.indices.size)

    @property
    def steps(self) -> int:
        return -(-self.n // self.batch_size)

    @property
    def channels(self) -> int:
        return len(self.bands)

    def _batches(self, epoch: int) -> Iterator[tuple]:
        rng = np.random.default_rng([self.seed, epoch])
        starts = np.arange(0, self.n, self.block_rows)
        order = rng.permutation(starts.size)
        carry_x = np.zeros((0, 32, 32, self.channels), np.float32)
        carry_y = np.zeros(0, np.int32)
        bs = self.batch_size
        with So2SatFile(self.path) as f:
            for g in range(0, order.size, self.shuffle_blocks):
                xs, ys = [carry_x], [carry_y]
                for blk in np.sort(order[g : g + self.shuffle_blocks]):
                    sl = slice(starts[blk], starts[blk] + self.block_rows)
                    xs.append(read_rows(f, self.sensor, self.indices[sl], self.bands, self.stats))
                    ys.append(self.targets[sl])
                x, y = np.concatenate(xs), np.concatenate(ys)
                perm = rng.permutation(len(x))
                last = g + self.shuffle_blocks >= order.size
                n_full = len(x) if last else (len(x) // bs) * bs
                for s in range(0, n_full, bs):
                    sel = perm[s : min(s + bs, n_full)]
                    yield self._finish(x[sel], y[sel], rng)
                carry_x, carry_y = x[perm[n_full:]], y[perm[n_full:]]

    def _finish(self, x: np.ndarray, y: np.ndarray, rng) -> tuple:
        if self.augment:
            x = dihedral(x, rng)
        if self.transform is not None:
            x = self.transform(x)
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.class_weight is None:
            return x, y
        return x, y, self.class_weight[y]

    def epoch(self) -> Iterator[tuple]:
        """The batches of the next epoch, read ahead in a background thread."""
        epoch = self.epochs_started
        self.epochs_started += 1
        p = Prefetcher(lambda: self._batches(epoch), self.prefetch)
        self._prefetchers.append(p)
        yield from p

    def close(self) -> None:
        """Stop any reader thread still running (e.g. after a cancel)."""
        for p in self._prefetchers:
            p.close()
        self._prefetchers.clear()

    def tf_dataset(self):
        """A ``tf.data.Dataset`` of one epoch per iteration (Keras re-iterates it)."""
        import tensorflow as tf

        specs = [
            tf.TensorSpec((None, 32, 32, self.channels), tf.float32),
            tf.TensorSpec((None,), tf.int32),
        ]
        if self.class_weight is not None:
            specs.append(tf.TensorSpec((None,), tf.float32))
        ds = tf.data.Dataset.from_generator(self.epoch, output_signature=tuple(specs))
        ds = ds.apply(tf.data.experimental.assert_cardinality(self.steps))
        return ds.prefetch(2)


class SequentialBatches:
    """Batches ``(x, codes, rows)`` in file order; NaN/inf patches dropped and counted.

    ``indices`` (sorted) selects rows (all when None); ``codes`` are LCZ codes 1..17
    (or None when ``labels=False``); ``rows`` are the file rows of the kept patches.
    """

    def __init__(
        self,
        path,
        sensor: str,
        bands: list[int] | None = None,
        indices: np.ndarray | None = None,
        batch_size: int = 256,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        labels: bool = True,
        prefetch: int = PREFETCH,
    ):
        self.path, self.sensor = path, sensor
        self.bands = list(range(len(sensor_channels(sensor)))) if bands is None else list(bands)
        with So2SatFile(path) as f:
            n = f.n
        self.indices = np.arange(n) if indices is None else np.sort(np.asarray(indices, np.int64))
        self.batch_size = max(1, int(batch_size))
        self.transform = transform
        self.labels = labels
        self.prefetch = prefetch
        self.n_skipped = 0
        self.stats = ReadStats()

    @property
    def n(self) -> int:
        return int(self.indices.size)

    @property
    def steps(self) -> int:
        return -(-self.n // self.batch_size)

    def _batches(self) -> Iterator[tuple]:
        with So2SatFile(self.path, require=("label",) if self.labels else ()) as f:
            for s in range(0, self.n, self.batch_size):
                rows = self.indices[s : s + self.batch_size]
                x = read_rows(f, self.sensor, rows, self.bands, self.stats)
                finite = np.isfinite(x).all(axis=(1, 2, 3))
                codes = f.labels(rows) if self.labels else None
                if not finite.all():
                    x, rows = x[finite], rows[finite]
                    codes = None if codes is None else codes[finite]
                if self.transform is not None and len(x):
                    x = self.transform(x)
                yield x, codes, rows, int((~finite).sum())

    def __iter__(self) -> Iterator[tuple]:
        self.n_skipped = 0
        for x, codes, rows, skipped in Prefetcher(self._batches, self.prefetch):
            self.n_skipped += skipped
            yield x, codes, rows
