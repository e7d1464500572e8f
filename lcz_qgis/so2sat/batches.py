"""Batches of So2Sat patches streamed from HDF5, for Keras training, validation and evaluation.

The published So2Sat LCZ42 ``training.h5`` is 52 GB of uncompressed float64, so nothing
here loads a file whole. Two access patterns:

* ``ShuffledBatches`` (training): the selected rows (sorted) are cut into *blocks* of
  ``block_rows`` (256) consecutive entries. Each epoch permutes the blocks (seeded by
  seed and epoch) and takes ``shuffle_blocks`` (8) of them at a time as a group. The
  kernel is asked to read each block ahead as one sequential request; the group's rows
  are then permuted and copied from the page cache in that order, ``PIECE_ROWS`` at a
  time, each piece converted to float32 (bands, standardisation) while it is still in
  the CPU cache. Every batch mixes rows from several random places in the file, disk
  reads stay long and sequential, and memory does not depend on the file's size.
* ``SequentialBatches`` (validation, evaluation, statistics): rows in file order.

Both read in a background thread that fills a small queue, so reading, conversion,
standardisation and augmentation overlap with TensorFlow's compute. Training batches
go to TensorFlow in chunks of several batches (fewer Python-to-TensorFlow crossings).
Rows with NaN or inf, or values beyond the sensor's physical range
(``bands.patches_in_range``: |x| > 1e5 for Sentinel-2, 1e6 for Sentinel-1), are dropped
by ``SequentialBatches`` and counted (``n_skipped``); training drops them up front (see
``training.data_statistics.channel_statistics``), so they never reach the normalisation statistics.

Uncompressed contiguous datasets (the published files) are read with ``os.preadv`` at
the dataset's byte offset (no GIL held, no HDF5 overhead); chunked, compressed or
otherwise unusual datasets fall back to h5py (``_raw_offset``).
"""

from __future__ import annotations

import os
from typing import Callable, Iterator

import numpy as np

from ..common.background import Prefetcher
from ..common.bands import PATCH_SIZE, channel_limits, patches_in_range, sensor_channels
from ..common.enums import Sensor
from .file import So2SatFile, h5_errors

BLOCK_ROWS = 256
SHUFFLE_BLOCKS = 8
PREFETCH = 6
CHUNK_ROWS = 256  # rows per chunk array: 10 MB of float32 Sentinel-2, reused
# rows copied and converted per step: 2.6 MB of float64 Sentinel-2 stays in the CPU's L2
# cache between the copy and the conversion (1.4x faster than converting whole chunks)
PIECE_ROWS = 32
# read the whole span of a block in one go when it is at most this many times the rows
DENSE_SPAN_FACTOR = 2.0
IOV_MAX = 1024  # Linux's limit of destinations per preadv call


class ReadStats:
    """Counts of read requests, rows and bytes, to check that access stays sequential."""

    def __init__(self):
        self.reads = 0
        self.rows = 0
        self.bytes = 0


def _raw_offset(path, ds, row_bytes: int) -> int | None:
    """The byte offset of ``ds``'s values in the file when they can be read as raw bytes:
    a plain contiguous, uncompressed dataset of a standard numeric type, its values
    inside this file (not virtual, no external storage). Else None (read with h5py)."""
    import h5py

    if ds.shape[0] == 0 or ds.chunks is not None or ds.compression is not None:
        return None
    try:
        dcpl = ds.id.get_create_plist()
        if (
            ds.is_virtual
            or dcpl.get_layout() != h5py.h5d.CONTIGUOUS
            or dcpl.get_external_count()
            or dcpl.get_nfilters()
            or ds.dtype.kind not in "fiu"
            or not ds.id.get_type().equal(h5py.h5t.py_create(ds.dtype))
        ):
            return None
        offset = ds.id.get_offset()
    except Exception:  # noqa: BLE001 - no offset: fall back to h5py
        return None
    if offset is None or offset + ds.shape[0] * row_bytes > os.stat(path).st_size:
        return None
    return int(offset)


class _RowReader:
    """Reads rows of one HDF5 dataset into caller buffers.

    For an uncompressed contiguous dataset, ``os.preadv`` at the dataset's byte offset:
    one system call per block, copying straight into the destination(s) with the GIL
    released. A check of the first row against h5py guards the offset. Otherwise
    ``fd`` is None and callers use h5py.
    """

    def __init__(self, path, ds):
        self.ds = ds
        self.path = path
        self.dtype = ds.dtype
        self.row_shape = tuple(ds.shape[1:])
        self.row_bytes = int(np.prod(self.row_shape)) * self.dtype.itemsize
        self.fd = None
        offset = _raw_offset(path, ds, self.row_bytes)
        if offset is not None:
            self.offset = offset
            self.fd = os.open(path, os.O_RDONLY)
            probe = np.empty((1, *self.row_shape), self.dtype)
            with h5_errors(path, self.key):
                self.preadv(0, [memoryview(probe).cast("B")])
                same = probe.tobytes() == ds[0:1].tobytes()
            if not same:
                self.close()

    @property
    def key(self) -> str:
        return self.ds.name.lstrip("/")

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

    def read_row(self, row: int, view) -> None:
        """One row into the byte ``view``."""
        pos = self.offset + row * self.row_bytes
        n = os.preadv(self.fd, [view], pos)
        if n < view.nbytes:
            self._read_all(view[max(n, 0) :], pos + max(n, 0))

    def advise(self, a: int, b: int) -> None:
        """Ask the kernel to read rows [a, b) ahead, as one sequential request."""
        os.posix_fadvise(
            self.fd,
            self.offset + a * self.row_bytes,
            (b - a) * self.row_bytes,
            os.POSIX_FADV_WILLNEED,
        )

    def _read_all(self, view, pos: int) -> None:
        while view.nbytes:
            n = os.preadv(self.fd, [view], pos)
            if n <= 0:
                raise OSError(f"short read of '{self.ds.file.filename}' at byte {pos}")
            view, pos = view[n:], pos + n

    def read_span(self, a: int, b: int, out: np.ndarray) -> None:
        """Rows [a, b) into the contiguous ``out``."""
        with h5_errors(self.path, self.key):
            if self.fd is not None:
                self.preadv(a, [memoryview(out).cast("B")])
            else:
                self.ds.read_direct(out, np.s_[a:b])

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _dataset_keys(sensor: str) -> list[str]:
    return [Sensor.SEN1, Sensor.SEN2] if sensor == Sensor.FUSION else [sensor]


def band_routes(channel_counts: list[int], bands: list[int]) -> list[tuple]:
    """For datasets of ``channel_counts`` channels (sen1 then sen2 for fusion), where
    each selected band comes from: per dataset ``(pairs, whole)``, ``pairs`` the
    [(output channel, dataset channel)] it feeds and ``whole`` the output slice when it
    feeds all its channels in order (one copy), else None."""
    routes, first = [], 0
    for c in channel_counts:
        pairs = [(j, g - first) for j, g in enumerate(bands) if first <= g < first + c]
        whole = None
        if pairs and [ch for _, ch in pairs] == list(range(c)):
            js = [j for j, _ in pairs]
            if js == list(range(js[0], js[0] + c)):
                whole = slice(js[0], js[0] + c)
        routes.append((pairs, whole))
        first += c
    return routes


def copy_bands(raw: np.ndarray, out: np.ndarray, pairs, whole) -> None:
    """Dataset rows (e.g. float64) -> the float32 output channels they feed (values
    beyond float32 become infinite, without a warning: such patches are skipped)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if whole is not None:
            np.copyto(out[..., whole], raw, casting="unsafe")
        else:
            for j, ch in pairs:
                np.copyto(out[..., j], raw[..., ch], casting="unsafe")


class _Parts:
    """The datasets feeding a sensor's channels and where each selected band comes from."""

    def __init__(self, f: So2SatFile, sensor: str, bands: list[int]):
        self.parts = []  # (key, reader, [(out channel, dataset channel)], whole out slice|None)
        readers = [_RowReader(f.path, f.dataset(k)) for k in _dataset_keys(sensor)]
        routes = band_routes([r.row_shape[-1] for r in readers], bands)
        for key, reader, (pairs, whole) in zip(_dataset_keys(sensor), readers, routes):
            if pairs:
                self.parts.append((key, reader, pairs, whole))
            else:
                reader.close()

    def close(self) -> None:
        for _, reader, _, _ in self.parts:
            reader.close()


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
        """The patches of file rows ``rows``.

        Args:
            rows: (k,) file rows, sorted ascending.
            out: a (k, 32, 32, C) float32 array to fill; None: a new one.

        Returns:
            (k, 32, 32, C) float32, C = len(bands), So2Sat scale; values beyond float32
            become inf.
        """
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
            with np.errstate(over="ignore", invalid="ignore"):  # float64 beyond float32
                out[...] = self.f.read(self.sensor, rows, self.bands)
            st.reads += 1
            st.bytes += k * sum(r.row_bytes for _, r, _, _ in self._parts.parts)
            return out
        for key, reader, pairs, whole in self._parts.parts:
            raw = self._buffer(key, reader, b - a)
            reader.read_span(a, b, raw)
            st.reads += 1
            st.bytes += raw.nbytes
            copy_bands(raw if b - a == k else raw[rows - a], out, pairs, whole)
        return out

    def close(self) -> None:
        """Close the readers of the file's datasets (the ``So2SatFile`` stays open)."""
        self._parts.close()


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


_EPOCH_END = object()


class _GroupSource:
    """Copies the file rows of one group of blocks into caller rows, per dataset.

    ``prepare`` is called once per group with the group's rows as sorted runs (a block
    each). For a dataset read with ``preadv`` it asks the kernel to read each dense
    run's byte span ahead (``posix_fadvise(WILLNEED)``: one long sequential request per
    block, so disk access stays sequential); ``fetch`` then copies row by row from the
    page cache straight into the destination, without the GIL. For a chunked or
    compressed dataset ``prepare`` reads each run with h5py into a group buffer and
    ``fetch`` copies from it.
    """

    def __init__(self, f: So2SatFile, keys: list[str], stats: ReadStats):
        self.f, self.keys, self.stats = f, keys, stats
        self.readers = [_RowReader(f.path, f.dataset(k)) for k in keys]
        self._buffers: dict[int, np.ndarray] = {}
        self._sorted = self._slot = None

    def prepare(self, carried: np.ndarray, runs: list[np.ndarray]) -> None:
        """Get ready for the rows ``carried`` over from the last group (already asked
        for then) and the sorted ``runs`` of this group's blocks."""
        st = self.stats
        runs = [r for r in runs if r.size]
        for d, reader in enumerate(self.readers):
            if reader.fd is not None:
                for rows in runs:
                    a, b = int(rows[0]), int(rows[-1]) + 1
                    if b - a <= DENSE_SPAN_FACTOR * rows.size + 16:
                        reader.advise(a, b)
                        st.reads += 1
                        st.bytes += (b - a) * reader.row_bytes
                    else:  # sparse rows: each is its own read
                        st.reads += rows.size
                        st.bytes += rows.size * reader.row_bytes
                continue
            held = [carried, *runs] if carried.size else runs
            n = sum(r.size for r in held)
            buf = self._buffers.get(d)
            if buf is None or buf.shape[0] < n:
                buf = self._buffers[d] = np.empty((n, *reader.row_shape), reader.dtype)
            at = 0
            for rows in held:
                buf[at : at + rows.size] = self.f.read(self.keys[d], rows)
                at += rows.size
                st.reads += 1
                st.bytes += rows.size * reader.row_bytes
        if self._buffers:
            rows = np.concatenate([carried, *runs])
            order = np.argsort(rows, kind="stable")
            self._sorted, self._slot = rows[order], order

    def fetch(self, d: int, rows: np.ndarray, dest: np.ndarray, views: list | None = None):
        """File ``rows`` of dataset ``d`` into ``dest[:len(rows)]`` (``views``: one byte
        view per row of ``dest``, when the caller keeps them)."""
        reader = self.readers[d]
        self.stats.rows += rows.size if d == 0 else 0
        if reader.fd is not None:
            if views is None:
                views = [memoryview(row).cast("B") for row in dest[: rows.size]]
            with h5_errors(reader.path, reader.key):
                for row, view in zip(rows.tolist(), views):
                    reader.read_row(row, view)
        else:
            where = self._slot[np.searchsorted(self._sorted, rows)]
            np.take(self._buffers[d], where, axis=0, out=dest[: rows.size])

    def close(self) -> None:
        for r in self.readers:
            r.close()


class _SelectedRows:
    """What the batch streams share: ``indices`` (the selected rows) and ``batch_size``."""

    indices: np.ndarray
    batch_size: int

    @property
    def n(self) -> int:
        """Patches selected (in training, per epoch; in sequential passes, before those with
        invalid values are skipped)."""
        return int(self.indices.size)

    @property
    def steps(self) -> int:
        """Batches per pass, ceil(n / batch_size) (the last one, or those with skipped
        patches, may be smaller)."""
        return -(-self.n // self.batch_size)


class ShuffledBatches(_SelectedRows):
    """Training chunks from rows ``indices`` of a So2Sat file, in shuffled order.

    Each item of ``chunks()`` is ``(xs, y, w)`` with arrays shaped (m, batch, ...):
    ``xs`` the patches, ``y`` the ``targets`` (class indices 0..16), ``w`` per-sample
    weights from ``class_weight`` (17 floats) or None. Without ``transform``, ``xs`` is
    one raw array per dataset the sensor reads (``sen1`` and/or ``sen2``, all channels,
    the file's dtype), fresh for every item.

    A ``transform`` (``training.input_transform.InputTransform``) makes ``xs`` one model-input
    array: ``transform.convert(raws, out)`` maps ``PIECE_ROWS`` raw rows (one array per
    dataset) to float32 rows of ``out`` with ``transform.channels`` channels, and
    ``transform.augment`` adds random flips and rotations. Those output arrays are
    reused: the consumer must be done with an item when it asks for the next.

    Shuffle: each epoch permutes the blocks (seeded by seed and epoch), takes
    ``shuffle_blocks`` of them at a time (a group, plus the rows left over from the last
    group) and permutes the group's rows. Reads (``_GroupSource``) stay sequential per
    block; the rows are then copied in output order, a piece of ``PIECE_ROWS`` at a time,
    and converted while they are still in the CPU cache. No group buffer is needed for
    uncompressed files, so memory does not grow with ``shuffle_blocks``. Each call of
    ``chunks()`` is one pass with its own order. Call ``close()`` (or use ``with``) to
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
        transform=None,
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
        self._ring = _Ring(1)

    def _plan(self, n_out: int) -> list[int]:
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
            source = _GroupSource(f, self.keys, self.stats)
            pieces = self._piece_buffers(source)
            carry = np.zeros(0, np.int64)  # positions in self.indices left for the next group
            try:
                for g in range(0, order.size, self.shuffle_blocks):
                    blocks = np.sort(order[g : g + self.shuffle_blocks])
                    fresh = [
                        np.arange(starts[k], min(starts[k] + self.block_rows, self.n))
                        for k in blocks
                    ]
                    source.prepare(self.indices[carry], [self.indices[m] for m in fresh])
                    members = np.concatenate([carry, *fresh])
                    last = g + self.shuffle_blocks >= order.size
                    n_out = members.size if last else (members.size // bs) * bs
                    members = members[rng.permutation(members.size)]
                    at = 0
                    for size in self._plan(n_out):
                        sel = members[at : at + size]
                        at += size
                        xs = self._read(source, pieces, self.indices[sel], rng)
                        yield self._item(xs, self.targets[sel])
                    carry = np.sort(members[n_out:])
            finally:
                source.close()

    def _piece_buffers(self, source: _GroupSource) -> list | None:
        """Per dataset, a raw buffer of ``PIECE_ROWS`` rows and a byte view of each row."""
        if self.transform is None:
            return None
        out = []
        for r in source.readers:
            buf = np.empty((PIECE_ROWS, *r.row_shape), r.dtype)
            out.append((buf, [memoryview(row).cast("B") for row in buf]))
        return out

    def _read(self, source: _GroupSource, pieces, rows: np.ndarray, rng) -> list:
        """The model input (or the raw rows, without a transform) of file ``rows``."""
        n = rows.size
        if self.transform is None:
            outs = [np.empty((n, *r.row_shape), r.dtype) for r in source.readers]
            for d, out in enumerate(outs):
                source.fetch(d, rows, out)
            return outs
        t = self.transform
        out = self._ring.next((n, PATCH_SIZE, PATCH_SIZE, t.channels))
        for a in range(0, n, PIECE_ROWS):
            part = rows[a : a + PIECE_ROWS]
            for d, (buf, views) in enumerate(pieces):
                source.fetch(d, part, buf, views)
            t.convert(tuple(buf[: part.size] for buf, _ in pieces), out[a : a + part.size])
        if t.augment:
            out = dihedral(out, rng, self._ring.next(out.shape))
        return [out]

    def _item(self, xs: list, y: np.ndarray) -> tuple:
        n = y.size
        bs = self.batch_size if n % self.batch_size == 0 else n
        m = n // bs
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

        One reader thread produces epoch after epoch, ``PREFETCH`` chunks ahead of the
        training loop, so a new epoch (and the validation pass before it) does not wait
        for its first chunk to be read. ``close()`` stops it.
        """
        if self._producer is None:
            # ring: the queue, the item being consumed, the one being written, and the
            # augmented copies of each
            self._ring = _Ring(2 * (PREFETCH + 2))
            first = self.epochs_started
            self._producer = Prefetcher(
                lambda: self._epochs(first), PREFETCH, name="lcz-hdf5-prefetch"
            )
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


class SequentialBatches(_SelectedRows):
    """Batches ``(x, codes, rows)`` in file order; patches with NaN, inf or values beyond
    the physical range (``bands.patches_in_range``) dropped and counted.

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
        self.limits = channel_limits(sensor, self.bands)
        self.stats = ReadStats()

    def _batches(self) -> Iterator[tuple]:
        with So2SatFile(self.path, require=("label",) if self.labels else ()) as f:
            reader = PatchReader(f, self.sensor, self.bands, self.stats)
            ring = _Ring(self.prefetch + 2) if self.reuse else None
            try:
                for s in range(0, self.n, self.batch_size):
                    rows = self.indices[s : s + self.batch_size]
                    shape = (rows.size, PATCH_SIZE, PATCH_SIZE, len(self.bands))
                    x = reader.read(rows, None if ring is None else ring.next(shape))
                    ok = patches_in_range(x, self.limits)
                    codes = f.labels(rows) if self.labels else None
                    if not ok.all():
                        x, rows = x[ok], rows[ok]
                        codes = None if codes is None else codes[ok]
                    if self.transform is not None and len(x):
                        x = self.transform(x)
                    yield x, codes, rows, int((~ok).sum())
            finally:
                reader.close()

    def __iter__(self) -> Iterator[tuple]:
        self.n_skipped = 0
        for x, codes, rows, skipped in Prefetcher(
            self._batches, self.prefetch, name="lcz-hdf5-prefetch"
        ):
            self.n_skipped += skipped
            yield x, codes, rows
