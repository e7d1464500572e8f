"""Reading So2Sat LCZ42 HDF5 files (v2/v3 layout) without loading them.

A file holds ``sen1`` (N,32,32,8), ``sen2`` (N,32,32,10) and ``label`` (N,17 one-hot),
uncompressed float64 in the published files (52 GB for training.h5). Chunked or
compressed files work too. Everything here reads by index, in sorted runs of
consecutive rows, and returns float32; labels come back as LCZ codes 1..17.

HDF5 safety (every command opens So2Sat and geolocation files through here):
``open_h5`` refuses what is not a readable HDF5 file; ``checked_dataset`` refuses
external links, soft links that do not resolve, objects in other files, virtual
datasets, external raw storage, non-numeric values (strings, complex, compound,
variable-length, booleans) and datasets that declare more data than the file holds
(``check_storage``), and patches or labels of a value type they cannot hold
(``DATASET_DTYPES``); no file may declare more than ``MAX_ROWS`` rows, checked before
anything is allocated per row; ``h5_errors`` turns errors met while reading into one
``LczError`` naming the file and dataset.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..common.bands import DN_THRESHOLD, PATCH_SIZE, SEN2_VALUE_LIMIT, sensor_channels
from ..common.enums import Sensor
from ..common.errors import LczError, first_line
from ..common.legend import N_CLASSES

PATCH = PATCH_SIZE
SHAPES = {Sensor.SEN1: (PATCH, PATCH, 8), Sensor.SEN2: (PATCH, PATCH, 10)}
# Most rows (patches) a file may declare. The published So2Sat LCZ42 files hold under
# 400,000; 20 million float64 Sentinel-2 patches would be 1.6 TB. Per-row arrays (labels,
# index sets) of this many rows stay under 200 MB.
MAX_ROWS = 20_000_000
# What h5py raises for damaged files and failed reads (ValueError, TypeError: a damaged
# datatype message, a type numpy has no equivalent of).
H5_READ_ERRORS = (OSError, KeyError, RuntimeError, ValueError, TypeError)
# The value types each So2Sat dataset may hold (``checked_dataset``). Patches: float64
# (the published files) or float32 (half the size, what every reader converts to). Not
# integers: int8 cannot hold reflectance (-128..127) and any integer type rounds it to
# 0 or 1 (a DN-scaled integer file is refused too, where float DN only gets a warning);
# not float16: its largest value, 65504, is below the 16-bit DN range and Sentinel-1
# intensities under 6e-5 (-42 dB) keep only a few bits. Labels are one-hot 0/1, exact in
# any float or integer type.
IMAGE_DTYPES = ("float64", "float32")
LABEL_DTYPES = (
    IMAGE_DTYPES + ("float16",) + tuple(f"{s}int{b}" for s in ("", "u") for b in (8, 16, 32, 64))
)
DATASET_DTYPES = {Sensor.SEN1: IMAGE_DTYPES, Sensor.SEN2: IMAGE_DTYPES, "label": LABEL_DTYPES}


def _h5_reason(exc: BaseException) -> str:
    """The reason in an h5py error: 'Unable to open object (bad symbol table)' -> 'bad
    symbol table'; the first line of other texts, without KeyError's quotes."""
    arg = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    text = first_line(arg, type(exc).__name__)
    m = re.fullmatch(r"(?:Unable|Can't|Cannot)[^(]*\((.+)\)", text)
    return m.group(1) if m else text


@contextmanager
def h5_errors(path, key: str, action: str = "read"):
    """Errors h5py (or the raw reader) raises inside the block -> one ``LczError`` saying
    that ``path`` is damaged and naming the dataset ``key``."""
    try:
        yield
    except LczError:
        raise
    except H5_READ_ERRORS as exc:
        reason = _h5_reason(exc)
        if "invalid dataset size" in reason:  # HDF5 1.14 checks the size on opening
            raise LczError(
                f"'{Path(path).name}' is damaged or truncated: '{key}' declares more data "
                f"than the file holds ({reason})"
            ) from None
        raise LczError(
            f"'{Path(path).name}' is damaged or incomplete: cannot {action} '{key}' ({reason})"
        ) from None


def open_h5(path, what: str = "HDF5 file"):
    """``path`` opened read-only with h5py, or an ``LczError`` saying why it cannot be."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise LczError(f"{what} '{path}' does not exist")
    if path.is_dir():
        raise LczError(f"'{path}' is a folder, not an HDF5 file")
    if not path.is_file():
        raise LczError(f"'{path}' is not a regular file, so it cannot be an HDF5 file")
    try:
        return h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001 - whatever h5py raises for a file it cannot open
        raise LczError(
            f"cannot read '{path}' as HDF5 ({_h5_reason(exc)}): it is not an HDF5 file, or "
            "it is damaged or truncated"
        ) from None


def h5_keys(group) -> set[str]:
    """The names in an HDF5 group, as text (h5py gives bytes for names that are not
    UTF-8)."""
    return {k if isinstance(k, str) else k.decode("utf-8", "replace") for k in group.keys()}


def _dtype_problem(dt) -> str | None:
    """What the values of an HDF5 dtype are when they are not real numbers, else None."""
    import h5py

    if dt.kind in "fiu" and dt.fields is None and dt.subdtype is None:
        return None
    if dt.kind in "SU" or h5py.check_string_dtype(dt) is not None:
        return "text (strings)"
    if h5py.check_vlen_dtype(dt) is not None:
        return "variable-length sequences"
    if h5py.check_ref_dtype(dt) is not None:
        return "object references"
    if dt.kind == "c":
        return "complex numbers"
    if dt.fields is not None:
        return "compound records"
    if dt.kind == "b":
        return "booleans"
    if dt.subdtype is not None:
        return "arrays"
    if dt.kind == "V":
        return "opaque bytes"
    return f"'{dt}' values"


def checked_dataset(h5, path, key: str, numeric: bool = True):
    """The dataset ``key`` of the open file ``h5`` (of ``path``), after the safety checks.

    Refused with an ``LczError`` naming the file and dataset: an external link, a soft
    link that does not resolve (dangling, loop), a group or other non-dataset object, an
    object in another file, a virtual dataset, external raw storage, values that are not
    real numbers (when ``numeric``), and declared data the file does not hold
    (``check_storage``).
    """
    import h5py

    name = Path(path).name
    with h5_errors(path, key, "open"):
        link = h5.get(key, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise LczError(
                f"'{name}': '{key}' is an external link to '{link.path}' in "
                f"'{link.filename}'; data in other files are not read: copy them into "
                f"'{name}'"
            )
        if isinstance(link, h5py.SoftLink):
            try:
                obj = h5.get(key)
            except RuntimeError:
                obj = False
            if obj is None or obj is False:
                why = "a loop of links" if obj is False else "there is no such object"
                raise LczError(
                    f"'{name}': '{key}' is a soft link to '{link.path}', which does not "
                    f"resolve ({why}): the file is damaged or incomplete"
                )
        else:
            obj = h5[key]
        if not isinstance(obj, h5py.Dataset):
            kind = "a group" if isinstance(obj, h5py.Group) else "not a dataset"
            raise LczError(
                f"'{name}' is not a So2Sat LCZ42 file: '{key}' is {kind}, not an array"
                + (" of patches" if key in (Sensor.SEN1, Sensor.SEN2, "label") else "")
            )
        if obj.shape is None:
            raise LczError(f"'{name}': '{key}' is an empty HDF5 dataset (no values), not an array")
        if obj.id.fileno != h5.id.fileno:
            raise LczError(
                f"'{name}': '{key}' leads to '{obj.file.filename}', another file; data in "
                f"other files are not read: copy them into '{name}'"
            )
        if obj.is_virtual:
            raise LczError(
                f"'{name}': '{key}' is a virtual dataset (its values are mapped from other "
                "files); virtual datasets are not read: copy the data into one file"
            )
        dcpl = obj.id.get_create_plist()
        if dcpl.get_external_count():
            where = dcpl.get_external(0)[0].decode("utf-8", "replace")
            raise LczError(
                f"'{name}': '{key}' keeps its values in the external file '{where}' (HDF5 "
                f"external storage), which is not read: copy the data into '{name}'"
            )
        if numeric:
            problem = _dtype_problem(obj.dtype)
            if problem:
                raise LczError(
                    f"'{name}': dataset '{key}' holds {problem}, expected real numbers "
                    "(float or integer)"
                )
            check_dtype(obj, path, key)
        check_storage(obj, path)
    return obj


def check_dtype(ds, path, key: str) -> None:
    """``LczError`` naming the file, dataset and type when the So2Sat dataset ``key``
    (sen1, sen2, label) holds a value type it cannot hold (``DATASET_DTYPES``); other
    datasets pass."""
    allowed = DATASET_DTYPES.get(key)
    dt = np.dtype(ds.dtype)
    if allowed is None or dt.name in allowed:
        return
    if key == "label":
        need = "float64, float32, float16 or integers (one-hot 0/1)"
    else:
        need = "float64 (as published) or float32"
        if dt.kind in "iu":
            info = np.iinfo(dt)
            need += (
                f": integers cannot hold reflectance or backscatter ({dt.name}: "
                f"{info.min} to {info.max})"
            )
        elif dt.name == "float16":
            need += ": float16 cannot hold DN above 65504 nor small Sentinel-1 intensities"
        need += f"; convert '{key}' to float32"
    raise LczError(f"'{Path(path).name}': dataset '{key}' holds {dt.name} values; expected {need}")


def check_storage(ds, path) -> None:
    """``LczError`` when dataset ``ds`` declares more data than the file ``path`` holds.

    Contiguous data must be allocated and lie inside the file; chunked data must have
    every chunk written (an unwritten chunk would read as fill values).
    """
    import h5py

    if ds.size == 0:
        return
    name, key = Path(path).name, ds.name.lstrip("/")
    n = ds.shape[0] if ds.ndim else 1
    file_size = Path(path).stat().st_size
    with h5_errors(path, key, "open"):
        dcpl = ds.id.get_create_plist()
        layout = dcpl.get_layout()
        item = ds.id.get_type().get_size()
        stored = ds.id.get_storage_size()
        declared = int(ds.size) * item
        if layout == h5py.h5d.CONTIGUOUS:
            offset = ds.id.get_offset()
            if stored == 0 or offset is None:
                raise LczError(
                    f"'{name}': '{key}' declares {n:,} rows but holds no data (its values "
                    "were never written): the file is incomplete or damaged"
                )
            if offset + declared > file_size:
                raise LczError(
                    f"'{name}' is damaged or truncated: '{key}' declares {n:,} rows "
                    f"({declared:,} bytes from byte {offset:,}) but the file has only "
                    f"{file_size:,} bytes"
                )
        elif layout == h5py.h5d.CHUNKED:
            chunks = ds.chunks
            grid = [-(-s // c) for s, c in zip(ds.shape, chunks)]
            total = int(np.prod(grid, dtype=np.float64))
            if dcpl.get_nfilters():  # compressed: count the chunks written
                have = ds.id.get_num_chunks() if hasattr(ds.id, "get_num_chunks") else total
            else:
                have = stored // (int(np.prod(chunks)) * item)
            if have < total:
                per_block = total // grid[0] if ds.ndim else 1
                rows = min(n, (have // max(per_block, 1)) * (chunks[0] if ds.ndim else 1))
                raise LczError(
                    f"'{name}': '{key}' declares {n:,} rows but holds data for at most "
                    f"{rows:,} of them (only {have:,} of its {total:,} chunks were "
                    "written): the file is incomplete or damaged"
                )
            if stored > file_size:
                raise LczError(
                    f"'{name}' is damaged: '{key}' claims {stored:,} bytes of data but the "
                    f"file has only {file_size:,} bytes"
                )


def check_rows(n: int, path, key: str) -> None:
    """``LczError`` when ``key`` declares more than ``MAX_ROWS`` rows (before anything
    allocates per row)."""
    if n > MAX_ROWS:
        raise LczError(
            f"'{Path(path).name}': '{key}' declares {n:,} rows, more than the {MAX_ROWS:,} "
            "this plugin reads (the So2Sat LCZ42 files hold under 400,000): the file is "
            "damaged or not a So2Sat file"
        )


def _runs(sorted_idx: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive runs [(start, stop), ...] of a sorted unique index array."""
    if sorted_idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(sorted_idx) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [sorted_idx.size]])
    return [(int(sorted_idx[a]), int(sorted_idx[b - 1]) + 1) for a, b in zip(starts, stops)]


class So2SatFile:
    """An open So2Sat LCZ42 file. Use as a context manager.

    ``require`` names the datasets that must be present (default: ``label`` and at
    least one of ``sen1``/``sen2``). Opening runs the HDF5 safety checks (module
    docstring) on every dataset it uses.
    """

    def __init__(self, path: str | os.PathLike, require: tuple[str, ...] = ("label",)):
        self.path = Path(path)
        self._h5 = open_h5(self.path)
        try:
            self._validate(require)
        except Exception:
            self._h5.close()
            raise
        self.bytes_read = 0

    # -- validation ---------------------------------------------------------------
    def _validate(self, require: tuple[str, ...]) -> None:
        with h5_errors(self.path, "/", "list the datasets in"):
            keys = h5_keys(self._h5)
        self._ds = {
            key: checked_dataset(self._h5, self.path, key)
            for key in (Sensor.SEN1, Sensor.SEN2, "label")
            if key in keys
        }
        missing = [k for k in require if k not in keys]
        if not ({Sensor.SEN1, Sensor.SEN2} & keys):
            missing.append("sen1 or sen2")
        if missing:
            raise LczError(
                f"'{self.path.name}' is not a So2Sat LCZ42 file: missing dataset(s) "
                f"{', '.join(missing)} (found: {', '.join(sorted(keys)) or 'none'})"
            )
        n = None
        for key, shape in SHAPES.items():
            if key not in keys:
                continue
            ds = self._ds[key]
            if ds.ndim != 4 or tuple(ds.shape[1:]) != shape:
                raise LczError(
                    f"'{self.path.name}': dataset '{key}' has shape {ds.shape}, "
                    f"expected (N, {', '.join(map(str, shape))})"
                )
            if n is not None and ds.shape[0] != n:
                raise LczError(
                    f"'{self.path.name}': sen1 has {n} patches but sen2 has {ds.shape[0]}"
                )
            n = ds.shape[0]
            check_rows(n, self.path, key)
        if "label" in keys:
            lab = self._ds["label"]
            if lab.ndim != 2 or lab.shape[1] != N_CLASSES:
                raise LczError(
                    f"'{self.path.name}': dataset 'label' has shape {lab.shape}, expected (N, {N_CLASSES})"
                )
            if lab.shape[0] != n:
                raise LczError(
                    f"'{self.path.name}': 'label' has {lab.shape[0]} rows but the images have {n}"
                )
        self.n = int(n)

    # -- context manager --------------------------------------------------------------
    def close(self) -> None:
        """Close the HDF5 file."""
        self._h5.close()

    def __enter__(self) -> So2SatFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self.n

    # -- metadata -----------------------------------------------------------------------
    def has(self, sensor: str) -> bool:
        """Whether the file holds the data of ``sensor`` (``fusion``: both sen1 and sen2)."""
        if sensor == Sensor.FUSION:
            return Sensor.SEN1 in self._ds and Sensor.SEN2 in self._ds
        return sensor in self._ds

    @property
    def has_labels(self) -> bool:
        """Whether the file has a ``label`` dataset."""
        return "label" in self._ds

    def dataset(self, key: str):
        """The checked h5py dataset ``key`` (sen1, sen2 or label)."""
        return self._ds[key]

    @property
    def file_size(self) -> int:
        """The file's size, bytes."""
        return self.path.stat().st_size

    def check_sensor(self, sensor: str) -> None:
        """Refuse a file without the data a ``sensor`` model needs.

        Raises:
            LczError: naming the missing dataset(s).
        """
        if not self.has(sensor):
            need = "sen1 and sen2" if sensor == Sensor.FUSION else sensor
            raise LczError(f"'{self.path.name}' has no '{need}' data, which a {sensor} model needs")

    # -- reading --------------------------------------------------------------------------
    def _check_indices(self, indices) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            bad = idx[(idx < 0) | (idx >= self.n)][:5].tolist()
            raise LczError(f"patch indices {bad} are out of range (the file has {self.n} patches)")
        return idx

    def _read_rows(self, key: str, idx: np.ndarray, channels=None) -> np.ndarray:
        """Rows ``idx`` (any order, repeats allowed) of dataset ``key`` as float32."""
        ds = self._ds[key]
        uniq, inverse = np.unique(idx, return_inverse=True)
        shape = ds.shape[1:] if channels is None else (*ds.shape[1:-1], len(channels))
        out = np.empty((uniq.size, *shape), dtype=np.float32)
        pos = 0
        for start, stop in _runs(uniq):
            with h5_errors(self.path, key):
                block = ds[start:stop]
            self.bytes_read += block.nbytes
            if channels is not None:
                block = block[..., channels]
            with np.errstate(over="ignore"):  # beyond float32: inf, skipped by the readers
                out[pos : pos + stop - start] = block
            pos += stop - start
        return out[inverse]

    def read(self, sensor: str, indices, bands: list[int] | None = None) -> np.ndarray:
        """Patches (k,32,32,C) float32 for ``indices``; ``bands`` are 0-based channel
        indices into the sensor's channels (for fusion: S1 0-7, then S2 8-17)."""
        idx = self._check_indices(indices)
        self.check_sensor(sensor)
        if sensor == Sensor.FUSION:
            s1 = self._read_rows(Sensor.SEN1, idx)
            s2 = self._read_rows(Sensor.SEN2, idx)
            x = np.concatenate([s1, s2], axis=-1)
            return x if bands is None else np.ascontiguousarray(x[..., bands])
        n_ch = len(sensor_channels(sensor))
        channels = None if bands is None or list(bands) == list(range(n_ch)) else list(bands)
        return self._read_rows(sensor, idx, channels)

    def labels(self, indices=None, chunk: int = 65536) -> np.ndarray:
        """LCZ codes 1..17 (uint8) for ``indices`` (all rows when None).

        Raises LczError when a row is not one-hot.
        """
        if not self.has_labels:
            raise LczError(f"'{self.path.name}' has no 'label' dataset")
        ds = self._ds["label"]
        if indices is None:
            codes = np.empty(self.n, np.uint8)  # n <= MAX_ROWS: checked on opening
            for start in range(0, self.n, chunk):
                with h5_errors(self.path, "label"):
                    block = ds[start : start + chunk]
                codes[start : start + len(block)] = self._codes(block, start)
            return codes
        idx = self._check_indices(indices)
        return self._codes(self._read_rows("label", idx), None)

    def _codes(self, onehot: np.ndarray, offset: int | None) -> np.ndarray:
        ok = np.isclose(onehot.sum(axis=1), 1.0) & np.all(
            np.isclose(onehot, 0.0) | np.isclose(onehot, 1.0), axis=1
        )
        if not ok.all():
            row = int(np.flatnonzero(~ok)[0]) + (offset or 0)
            where = f"row {row}" if offset is not None else "a requested row"
            raise LczError(
                f"'{self.path.name}': labels are not one-hot ({where} is "
                f"{np.round(onehot[~ok][0], 3).tolist()})"
            )
        return (np.argmax(onehot, axis=1) + 1).astype(np.uint8)

    def class_counts(self) -> np.ndarray:
        """Counts per LCZ code, array of 17 (index 0 = code 1)."""
        return np.bincount(self.labels(), minlength=N_CLASSES + 1)[1:]


def dn_scale_warning(values: np.ndarray, where: str) -> str | None:
    """A warning when Sentinel-2 ``values`` look DN-scaled (x10000), else None.

    So2Sat files hold reflectance (about 0-1.5); the 99th percentile above
    ``bands.DN_THRESHOLD`` means digital numbers.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.abs(v) <= SEN2_VALUE_LIMIT]  # finite, within the physical range (bands)
    if v.size == 0:
        return None
    p1, p50, p99 = np.percentile(v, [1, 50, 99])
    if p99 <= DN_THRESHOLD:
        return None
    return (
        f"{where}: the Sentinel-2 values look DN-scaled (x10000): {p1:.4g} to {p99:.4g} "
        f"(1st-99th percentile), median {p50:.4g}; So2Sat files hold reflectance (about 0 to "
        "1.5), so models trained or scored on them will not match reflectance imagery. Divide "
        "the sen2 values by 10000."
    )


def check_sen2_scale(f: So2SatFile, feedback, rows: np.ndarray | None = None, k: int = 64) -> None:
    """Warn (``feedback.warning``) when the file's ``sen2`` values look DN-scaled.

    Reads ``k`` patches spread over ``rows`` (default: the whole file).
    """
    if not f.has(Sensor.SEN2) or f.n == 0:
        return
    rows = np.arange(f.n) if rows is None else np.asarray(rows, np.int64)
    if rows.size == 0:
        return
    pick = np.unique(rows[np.linspace(0, rows.size - 1, min(k, rows.size)).astype(np.int64)])
    message = dn_scale_warning(f.read("sen2", pick), f"'{f.path.name}'")
    if message:
        feedback.warning(message)
