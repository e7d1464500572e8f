"""Batches of So2Sat patches streamed from HDF5, for Keras training, validation and evaluation.

The published So2Sat LCZ42 ``training.h5`` is 52 GB of uncompressed float64, so nothing
here loads a file whole. Two access patterns:

* ``ShuffledBatches`` (training): the selected rows (sorted) are cut into *blocks* of
  ``block_rows`` (256) consecutive entries. Each epoch permutes the blocks (seeded by
  seed and epoch) and reads ``shuffle_blocks`` (8) of them at a time into one group
  buffer, each block with one sequential read that scatters its rows straight to
  random slots of the buffer (``os.preadv`` with one destination per row), so the
  shuffle costs no extra copy. Batches are cut from the shuffled group and converted
  to float32. Reads stay long and sequential while every
  batch mixes rows from several random places in the file; memory is bounded by one
  group (about 160 MB of float64 for Sentinel-2), whatever the size of the file.
* ``SequentialBatches`` (validation, evaluation, statistics): rows in file order.

Both read in a background thread that fills a small queue, so reading, conversion,
standardisation and augmentation overlap with TensorFlow's compute. Training batches
go to TensorFlow in chunks of several batches (fewer Python-to-TensorFlow crossings).
Rows with NaN or inf are dropped by ``SequentialBatches`` and counted (``n_skipped``);
training drops them up front (see ``keras_training.channel_statistics``).

Uncompressed contiguous datasets (the published files) are read with ``os.preadv`` at
the dataset's byte offset (no GIL held, no HDF5 overhead); chunked or compressed
datasets fall back to h5py.
"""

from __future__ import annotations

import os
import queue
import threading
from typing import Callable, Iterator

import numpy as np

from .bands import sensor_channels
from .so2sat import So2SatFile

BLOCK_ROWS = 256
SHUFFLE_BLOCKS = 8
PREFETCH = 6
CHUNK_ROWS = 256  # rows per chunk array: 20 MB of float64 Sentinel-2, reused by malloc
# read the whole span of a block in one go when it is at most this many times the rows
DENSE_SPAN_FACTOR = 2.0
IOV_MAX = 1024  # Linux's limit of destinations per preadv call


class ReadStats:
    """Counts of read requests, rows and bytes, to check that access stays sequential."""

    def __init__(self):
        self.reads = 0
        self.rows = 0
        self.bytes = 0


class _RowReader:
    """Reads rows of one HDF5 dataset into caller buffers.

    For an uncompressed contiguous dataset, ``os.preadv`` at the dataset's byte offset:
    one system call per block, copying straight into the destination(s) with the GIL
    released. A check of the first row against h5py guards the offset. Otherwise
    ``fd`` is None and callers use h5py.
    """

    def __init__(self, path, ds):
        self.ds = ds
        self.dtype = ds.dtype
        self.row_shape = tuple(ds.shape[1:])
        self.row_bytes = int(np.prod(self.row_shape)) * self.dtype.itemsize
        self.fd = None
        offset = None
        if ds.chunks is None and ds.compression is None and ds.shape[0] > 0:
            try:
                offset = ds.id.get_offset()
            except Exception:  # noqa: BLE001 - no offset: fall back to h5py
                offset = None
        if offset is not None:
            self.offset = int(offset)
            self.fd = os.open(path, os.O_RDONLY)
            probe = np.empty((1, *self.row_shape), self.dtype)
            self.preadv(0, [memoryview(probe).cast("B")])
            if probe.tobytes() != ds[0:1].tobytes():
                self.close()

    def preadv(self, first_row: int, views: list) -> None:
        """Read consecutive rows from ``first_row`` into ``views`` (one byte view per row
        or one for all), in as few system calls as allowed."""
        pos = self.offset + first_row * self.row_bytes
        for i in range(0, len(views), IOV_MAX):
            batch = views[i : i + IOV_MAX]
            want = sum(v.nbytes for v in batch)
            n = os.preadv(self.fd, batch, pos)
            if n < want:  # short read (rare on regular files): finish view by view
                p, left = pos, max(n, 0)
                for v in batch:
                    if left >= v.nbytes:
                        left -= v.nbytes
                    else:
                        self._read_all(v[left:], p + left)
                        left = 0
                    p += v.nbytes
            pos += want

    def _read_all(self, view, pos: int) -> None:
        while view.nbytes:
            n = os.preadv(self.fd, [view], pos)
            if n <= 0:
                raise OSError(f"short read of '{self.ds.file.filename}' at byte {pos}")
            view, pos = view[n:], pos + n

    def read_span(self, a: int, b: int, out: np.ndarray) -> None:
        """Rows [a, b) into the contiguous ``out``."""
        if self.fd is not None:
            self.preadv(a, [memoryview(out).cast("B")])
        else:
            self.ds.read_direct(out, np.s_[a:b])

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _dataset_keys(sensor: str) -> list[str]:
    return ["sen1", "sen2"] if sensor == "fusion" else [sensor]


class _Parts:
    """The datasets feeding a sensor's channels and where each selected band comes from."""

    def __init__(self, f: So2SatFile, sensor: str, bands: list[int]):
        self.parts = []  # (key, reader, [(out channel, dataset channel)], whole out slice|None)
        first = 0
        for key in _dataset_keys(sensor):
            reader = _RowReader(f.path, f.dataset(key))
            c = reader.row_shape[-1]
            pairs = [(j, g - first) for j, g in enumerate(bands) if first <= g < first + c]
            whole = None
            if pairs and [ch for _, ch in pairs] == list(range(c)):
                js = [j for j, _ in pairs]
                if js == list(range(js[0], js[0] + c)):
                    whole = slice(js[0], js[0] + c)
            if pairs:
                self.parts.append((key, reader, pairs, whole))
            else:
                reader.close()
            first += c

    def close(self) -> None:
        for _, reader, _, _ in self.parts:
            reader.close()


def _convert(raw: np.ndarray, out: np.ndarray, pairs, whole) -> None:
    """Dataset rows (float64) -> the float32 output channels they feed."""
    if whole is not None:
        np.copyto(out[..., whole], raw, casting="unsafe")
    else:
        for j, ch in pairs:
            np.copyto(out[..., j], raw[..., ch], casting="unsafe")


class PatchReader:
    """Patches (k,32,32,C) float32 of chosen ``bands`` from an open ``So2SatFile``.

    Dense sorted rows (span at most ``DENSE_SPAN_FACTOR`` times their count) are read
    as one span into a reused float64 buffer and converted into the output; sparse rows
    are read as runs (``So2SatFile.read``). Reusing buffers matters: a fresh 20-80 MB
    array per read costs more in page faults than the read itself.
    """

    def __init__(
        self, f: So2SatFile, sensor: str, bands: list[int], stats: ReadStats | None = None
    ):
        self.f, self.sensor, self.bands = f, sensor, list(bands)
        self.stats = stats if stats is not None else ReadStats()
        self._parts = _Parts(f, sensor, self.bands)
        self._raw: dict[str, np.ndarray] = {}

    def _buffer(self, key: str, reader: _RowReader, n: int) -> np.ndarray:
        buf = self._raw.get(key)
        if buf is None or buf.shape[0] < n:
            buf = np.empty((max(n, 16), *reader.row_shape), reader.dtype)
            self._raw[key] = buf
        return buf[:n]

    def read(self, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        k = rows.size
        if out is None:
            out = np.empty((k, 32, 32, len(self.bands)), np.float32)
        if k == 0:
            return out
        a, b = int(rows[0]), int(rows[-1]) + 1
        st = self.stats
        st.rows += k
        if b - a > DENSE_SPAN_FACTOR * k + 16:
            out[...] = self.f.read(self.sensor, rows, self.bands)
            st.reads += 1
            st.bytes += k * sum(r.row_bytes for _, r, _, _ in self._parts.parts)
            return out
        for key, reader, pairs, whole in self._parts.parts:
            raw = self._buffer(key, reader, b - a)
            reader.read_span(a, b, raw)
            st.reads += 1
            st.bytes += raw.nbytes
            _convert(raw if b - a == k else raw[rows - a], out, pairs, whole)
        return out

    def close(self) -> None:
        self._parts.close()


def read_rows(
    f: So2SatFile, sensor: str, rows: np.ndarray, bands: list[int], stats: ReadStats | None = None
) -> np.ndarray:
    """Patches (k,32,32,C) float32 for sorted unique ``rows`` (one-off reads)."""
    reader = PatchReader(f, sensor, bands, stats)
    try:
        return reader.read(rows)
    finally:
        reader.close()


def dihedral(x: np.ndarray, rng: np.random.Generator, out=None) -> np.ndarray:
    """Each patch of (N,H,W,C) through a random one of the 8 flips/90-degree rotations
    (into ``out`` when given, which must not be ``x``)."""
    k = rng.integers(0, 8, size=len(x))
    out = np.empty_like(x) if out is None else out
    for t in range(8):
        sel = np.flatnonzero(k == t)
        if sel.size == 0:
            continue
        y = np.rot90(x[sel], t % 4, axes=(1, 2))
        if t >= 4:
            y = y[:, :, ::-1]
        out[sel] = y
    return out


class _Ring:
    """Output arrays reused round-robin, so a long run allocates nothing new.

    With a queue of ``depth`` items, one item being consumed and one being written,
    ``depth + 2`` arrays are enough: an array is rewritten only after the consumer has
    asked for the item after it. Consumers must not keep an item past that point.
    glibc's allocator otherwise keeps the freed 10-20 MB arrays of a run fragmented in
    its heaps, and the process grows with the number of batches (18 % from a 1 GB to a
    4 GB file in benchmarks/bench_training.py).
    """

    def __init__(self, size: int):
        self.arrays: list = [None] * size
        self.k = 0

    def next(self, shape, dtype=np.float32) -> np.ndarray:
        i = self.k % len(self.arrays)
        self.k += 1
        a = self.arrays[i]
        n = int(np.prod(shape))
        if a is None or a.size < n or a.dtype != np.dtype(dtype):
            a = self.arrays[i] = np.empty(n, dtype)
        return a[:n].reshape(shape)


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


_DONE = object()
_EPOCH_END = object()


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
    """Training chunks from rows ``indices`` of a So2Sat file, in shuffled order.

    Each item of ``chunks()`` is ``(xs, y, w)`` with arrays shaped (m, batch, ...):
    ``xs`` the patches, ``y`` the ``targets`` (class indices 0..16), ``w`` per-sample
    weights from ``class_weight`` (17 floats) or None. Without ``transform``, ``xs`` is
    one raw array per dataset the sensor reads (``sen1`` and/or ``sen2``, all channels,
    the file's dtype); ``transform(xs, rng, ring)`` (run in the reader thread) maps
    those raw rows to one model-input array, taking its output arrays from
    ``ring.next(shape)`` (``keras_training`` converts to float32, selects the bands,
    standardises and augments there). Those arrays are reused: the consumer must be
    done with an item when it asks for the next.

    The reads themselves are ``os.preadv`` calls, which run without the GIL: each block
    is one sequential read whose rows land directly in their shuffled slots of fresh
    chunk arrays, so the shuffle costs no copy. Datasets that are chunked or compressed,
    and sparse row selections, are read through h5py instead. Each call of ``chunks()``
    is one pass with its own seeded block order. Call ``close()`` (or use ``with``) to
    stop the reader thread.
    """

    def __init__(
        self,
        path,
        sensor: str,
        indices: np.ndarray,
        targets: np.ndarray,
        batch_size: int,
        seed: int = 0,
        class_weight: np.ndarray | None = None,
        transform: Callable[[tuple, np.random.Generator], np.ndarray] | None = None,
        block_rows: int = BLOCK_ROWS,
        shuffle_blocks: int = SHUFFLE_BLOCKS,
        chunk_rows: int = CHUNK_ROWS,
    ):
        order = np.argsort(indices, kind="stable")
        self.indices = np.asarray(indices, np.int64)[order]
        self.targets = np.asarray(targets, np.int32)[order]
        if np.any(np.diff(self.indices) == 0):
            raise ValueError("indices must be unique")
        self.path, self.sensor = path, sensor
        self.keys = _dataset_keys(sensor)
        with So2SatFile(path) as f:
            f.check_sensor(sensor)
            self.specs = [(f.dataset(k).shape[-1], f.dataset(k).dtype) for k in self.keys]
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.class_weight = None if class_weight is None else np.asarray(class_weight, np.float32)
        self.transform = transform
        self.block_rows = int(block_rows)
        self.shuffle_blocks = int(shuffle_blocks)
        # whole batches per chunk, about ``chunk_rows`` patches
        self.chunk_batches = max(1, int(chunk_rows) // self.batch_size)
        self.epochs_started = 0
        self.stats = ReadStats()
        self._producer: Prefetcher | None = None
        self._items = None
        self._pool: dict[int, np.ndarray] = {}
        self._ring = _Ring(1)

    @property
    def n(self) -> int:
        return int(self.indices.size)

    @property
    def steps(self) -> int:
        return -(-self.n // self.batch_size)

    def _plan(self, total: int, n_out: int) -> list[int]:
        """Chunk sizes for ``n_out`` rows: whole chunks, then the rest of whole batches,
        then (last group only) the final partial batch."""
        bs, step = self.batch_size, self.chunk_batches * self.batch_size
        whole = (n_out // bs) * bs
        sizes = [step] * (whole // step)
        if whole % step:
            sizes.append(whole % step)
        if n_out > whole:
            sizes.append(n_out - whole)
        return sizes

    def _chunks(self, epoch: int) -> Iterator[tuple]:
        rng = np.random.default_rng([self.seed, epoch])
        starts = np.arange(0, self.n, self.block_rows)
        order = rng.permutation(starts.size)
        bs = self.batch_size
        with So2SatFile(self.path) as f:
            readers = [_RowReader(f.path, f.dataset(k)) for k in self.keys]
            trash = [memoryview(np.empty(r.row_shape, r.dtype)).cast("B") for r in readers]
            carry_x = [np.empty((0, *r.row_shape), r.dtype) for r in readers]
            carry_y = np.zeros(0, np.int32)
            try:
                for g in range(0, order.size, self.shuffle_blocks):
                    blocks = np.sort(order[g : g + self.shuffle_blocks])
                    sizes = [min(self.block_rows, self.n - starts[k]) for k in blocks]
                    n_carry = carry_y.size
                    total = n_carry + sum(sizes)
                    last = g + self.shuffle_blocks >= order.size
                    n_out = total if last else (total // bs) * bs
                    plan = self._plan(total, n_out)
                    if total > n_out:
                        plan.append(total - n_out)  # the next carry
                    # destination of every row (carried rows first): shuffled slots
                    slot = rng.permutation(total)
                    bounds = np.cumsum([0, *plan])
                    chunk_of = np.searchsorted(bounds, slot, side="right") - 1
                    pos_of = slot - bounds[chunk_of]
                    outs = self._buffers(readers, bounds)
                    y_all = np.empty(total, np.int32)
                    y_all[slot[:n_carry]] = carry_y
                    for i in range(n_carry):
                        for d in range(len(readers)):
                            outs[d][chunk_of[i]][pos_of[i]] = carry_x[d][i]
                    used = n_carry
                    for k, m in zip(blocks, sizes):
                        sl = slice(starts[k], starts[k] + m)
                        dest = (chunk_of[used : used + m], pos_of[used : used + m])
                        self._read_block(f, readers, trash, self.indices[sl], dest, outs)
                        y_all[slot[used : used + m]] = self.targets[sl]
                        used += m
                    n_chunks = len(plan) - (1 if total > n_out else 0)
                    for c in range(n_chunks):
                        y = y_all[bounds[c] : bounds[c + 1]].copy()
                        yield self._item([o[c] for o in outs], y, rng)
                    if total > n_out:
                        carry_x, carry_y = [o[-1].copy() for o in outs], y_all[n_out:].copy()
                    else:
                        carry_x = [x[:0] for x in carry_x]
                        carry_y = carry_y[:0]
            finally:
                for r in readers:
                    r.close()

    def _buffers(self, readers, bounds) -> list[list[np.ndarray]]:
        """Per dataset, one array per chunk of the group (sizes from ``bounds``).

        With a ``transform`` the raw rows never leave the reader thread, so every group
        reuses one buffer per dataset (chunks are slices of it): no allocation churn,
        and memory stays flat however long the training runs. Without one the chunks go
        to the consumer, so they are fresh arrays.
        """
        spans = list(zip(bounds[:-1], bounds[1:]))
        out = []
        for d, r in enumerate(readers):
            if self.transform is None:
                out.append([np.empty((b - a, *r.row_shape), r.dtype) for a, b in spans])
                continue
            buf = self._pool.get(d)
            if buf is None or buf.shape[0] < bounds[-1]:
                rows = max(int(bounds[-1]), self.shuffle_blocks * self.block_rows + self.batch_size)
                buf = self._pool[d] = np.empty((rows, *r.row_shape), r.dtype)
            out.append([buf[a:b] for a, b in spans])
        return out

    def _read_block(self, f, readers, trash, rows, dest, outs) -> None:
        """Sorted file ``rows`` into their (chunk, position) destinations."""
        k = rows.size
        a, b = int(rows[0]), int(rows[-1]) + 1
        st = self.stats
        st.rows += k
        dense = b - a <= DENSE_SPAN_FACTOR * k + 16
        chunks, pos = dest
        for d, r in enumerate(readers):
            if dense and r.fd is not None:
                views = [trash[d]] * (b - a)
                for off, c, p in zip(rows - a, chunks, pos):
                    views[off] = memoryview(outs[d][c][p]).cast("B")
                r.preadv(a, views)
                st.reads += -(-len(views) // IOV_MAX)
                st.bytes += (b - a) * r.row_bytes
            else:
                x = f.read(self.keys[d], rows)
                for i, (c, p) in enumerate(zip(chunks, pos)):
                    outs[d][c][p] = x[i]
                st.reads += 1
                st.bytes += k * r.row_bytes

    def _item(self, xs: list, y: np.ndarray, rng) -> tuple:
        n = y.size
        bs = self.batch_size if n % self.batch_size == 0 else n
        m = n // bs
        if self.transform is not None:
            xs = [self.transform(tuple(xs), rng, self._ring)]
        xs = tuple(x.reshape(m, bs, *x.shape[1:]) for x in xs)
        y = y.reshape(m, bs)
        w = None if self.class_weight is None else self.class_weight[y]
        return xs, y, w

    def _epochs(self, epoch: int) -> Iterator:
        while True:
            yield from self._chunks(epoch)
            yield _EPOCH_END
            epoch += 1

    def chunks(self) -> Iterator[tuple]:
        """The next epoch as chunks of whole batches.

        One reader thread produces epoch after epoch, a group of blocks ahead of the
        training loop, so a new epoch (and the validation pass before it) does not wait
        for its first group to be read. ``close()`` stops it.
        """
        if self._producer is None:
            rows = self.chunk_batches * self.batch_size
            depth = max(PREFETCH, -(-self.shuffle_blocks * self.block_rows // rows) + 2)
            self._ring = _Ring(depth + 2)
            first = self.epochs_started
            self._producer = Prefetcher(lambda: self._epochs(first), depth)
            self._items = iter(self._producer)
        self.epochs_started += 1
        for item in self._items:
            if item is _EPOCH_END:
                return
            yield item

    def epoch(self) -> Iterator[tuple]:
        """The batches of the next epoch: (xs, y, w) with xs one array per dataset."""
        for xs, y, w in self.chunks():
            for i in range(len(y)):
                yield tuple(x[i] for x in xs), y[i], None if w is None else w[i]

    def __enter__(self) -> ShuffledBatches:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the reader thread (at the end of training or after a cancel)."""
        if self._producer is not None:
            self._producer.close()
            self._producer = self._items = None


class SequentialBatches:
    """Batches ``(x, codes, rows)`` in file order; NaN/inf patches dropped and counted.

    ``indices`` (sorted) selects rows (all when None); ``codes`` are LCZ codes 1..17
    (or None when ``labels=False``); ``rows`` are the file rows of the kept patches.
    ``transform`` maps each float32 batch (its own array) to the model input. With
    ``reuse`` the batch arrays are recycled (flat memory over long files): the consumer
    must be done with a batch when it asks for the next.
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
        reuse: bool = False,
    ):
        self.path, self.sensor = path, sensor
        self.reuse = reuse
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
            reader = PatchReader(f, self.sensor, self.bands, self.stats)
            ring = _Ring(self.prefetch + 2) if self.reuse else None
            try:
                for s in range(0, self.n, self.batch_size):
                    rows = self.indices[s : s + self.batch_size]
                    shape = (rows.size, 32, 32, len(self.bands))
                    x = reader.read(rows, None if ring is None else ring.next(shape))
                    finite = np.isfinite(x).all(axis=(1, 2, 3))
                    codes = f.labels(rows) if self.labels else None
                    if not finite.all():
                        x, rows = x[finite], rows[finite]
                        codes = None if codes is None else codes[finite]
                    if self.transform is not None and len(x):
                        x = self.transform(x)
                    yield x, codes, rows, int((~finite).sum())
            finally:
                reader.close()

    def __iter__(self) -> Iterator[tuple]:
        self.n_skipped = 0
        for x, codes, rows, skipped in Prefetcher(self._batches, self.prefetch):
            self.n_skipped += skipped
            yield x, codes, rows
