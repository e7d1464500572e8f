"""Reading So2Sat LCZ42 HDF5 files (v2/v3 layout) without loading them.

A file holds ``sen1`` (N,32,32,8), ``sen2`` (N,32,32,10) and ``label`` (N,17 one-hot),
uncompressed float64 in the published files (52 GB for training.h5). Chunked or
compressed files work too. Everything here reads by index, in sorted runs of
consecutive rows, and returns float32; labels come back as LCZ codes 1..17.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .bands import DN_THRESHOLD, sensor_channels
from .errors import LczError

PATCH = 32
SHAPES = {"sen1": (PATCH, PATCH, 8), "sen2": (PATCH, PATCH, 10)}


def _one_line(exc: BaseException) -> str:
    """The first line of an exception's text (h5py's can span several lines)."""
    text = str(exc).strip().splitlines()
    return text[0].strip() if text else type(exc).__name__


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
    least one of ``sen1``/``sen2``).
    """

    def __init__(self, path: str | os.PathLike, require: tuple[str, ...] = ("label",)):
        import h5py

        self.path = Path(path)
        if not self.path.exists():
            raise LczError(f"HDF5 file '{self.path}' does not exist")
        if self.path.is_dir():
            raise LczError(f"'{self.path}' is a folder, not an HDF5 file")
        try:
            self._h5 = h5py.File(self.path, "r")
        except OSError as exc:
            raise LczError(f"cannot read '{self.path}' as HDF5: {_one_line(exc)}") from None
        try:
            self._validate(require)
        except Exception:
            self._h5.close()
            raise
        self.bytes_read = 0

    # -- validation ---------------------------------------------------------------
    def _validate(self, require: tuple[str, ...]) -> None:
        import h5py

        keys = set(self._h5.keys())
        for key in ("sen1", "sen2", "label"):
            if key in keys and not isinstance(self._h5[key], h5py.Dataset):
                kind = "a group" if isinstance(self._h5[key], h5py.Group) else "not a dataset"
                raise LczError(
                    f"'{self.path.name}' is not a So2Sat LCZ42 file: '{key}' is {kind}, "
                    "not an array of patches"
                )
        missing = [k for k in require if k not in keys]
        if not ({"sen1", "sen2"} & keys):
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
            ds = self._h5[key]
            if ds.ndim != 4 or tuple(ds.shape[1:]) != shape:
                raise LczError(
                    f"'{self.path.name}': dataset '{key}' has shape {ds.shape}, "
                    f"expected (N, {', '.join(map(str, shape))})"
                )
            if ds.dtype.kind != "f":
                raise LczError(f"'{self.path.name}': dataset '{key}' is {ds.dtype}, expected float")
            if n is not None and ds.shape[0] != n:
                raise LczError(
                    f"'{self.path.name}': sen1 has {n} patches but sen2 has {ds.shape[0]}"
                )
            n = ds.shape[0]
        if "label" in keys:
            lab = self._h5["label"]
            if lab.ndim != 2 or lab.shape[1] != 17:
                raise LczError(
                    f"'{self.path.name}': dataset 'label' has shape {lab.shape}, expected (N, 17)"
                )
            if lab.shape[0] != n:
                raise LczError(
                    f"'{self.path.name}': 'label' has {lab.shape[0]} rows but the images have {n}"
                )
        self.n = int(n)

    # -- context manager --------------------------------------------------------------
    def close(self) -> None:
        self._h5.close()

    def __enter__(self) -> So2SatFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self.n

    # -- metadata -----------------------------------------------------------------------
    def has(self, sensor: str) -> bool:
        if sensor == "fusion":
            return "sen1" in self._h5 and "sen2" in self._h5
        return sensor in self._h5

    @property
    def has_labels(self) -> bool:
        return "label" in self._h5

    def dataset(self, key: str):
        return self._h5[key]

    @property
    def file_size(self) -> int:
        return self.path.stat().st_size

    def check_sensor(self, sensor: str) -> None:
        if not self.has(sensor):
            need = "sen1 and sen2" if sensor == "fusion" else sensor
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
        ds = self._h5[key]
        uniq, inverse = np.unique(idx, return_inverse=True)
        shape = ds.shape[1:] if channels is None else (*ds.shape[1:-1], len(channels))
        out = np.empty((uniq.size, *shape), dtype=np.float32)
        pos = 0
        for start, stop in _runs(uniq):
            block = ds[start:stop]
            self.bytes_read += block.nbytes
            if channels is not None:
                block = block[..., channels]
            out[pos : pos + stop - start] = block
            pos += stop - start
        return out[inverse]

    def read(self, sensor: str, indices, bands: list[int] | None = None) -> np.ndarray:
        """Patches (k,32,32,C) float32 for ``indices``; ``bands`` are 0-based channel
        indices into the sensor's channels (for fusion: S1 0-7, then S2 8-17)."""
        idx = self._check_indices(indices)
        self.check_sensor(sensor)
        if sensor == "fusion":
            s1 = self._read_rows("sen1", idx)
            s2 = self._read_rows("sen2", idx)
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
        ds = self._h5["label"]
        if indices is None:
            parts = []
            for start in range(0, self.n, chunk):
                parts.append(self._codes(ds[start : start + chunk], start))
            return np.concatenate(parts) if parts else np.zeros(0, np.uint8)
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
        return np.bincount(self.labels(), minlength=18)[1:]


def dn_scale_warning(values: np.ndarray, where: str) -> str | None:
    """A warning when Sentinel-2 ``values`` look DN-scaled (x10000), else None.

    So2Sat files hold reflectance (about 0-1.5); the 99th percentile above
    ``bands.DN_THRESHOLD`` means digital numbers.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
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
    if not f.has("sen2") or f.n == 0:
        return
    rows = np.arange(f.n) if rows is None else np.asarray(rows, np.int64)
    if rows.size == 0:
        return
    pick = np.unique(rows[np.linspace(0, rows.size - 1, min(k, rows.size)).astype(np.int64)])
    message = dn_scale_warning(f.read("sen2", pick), f"'{f.path.name}'")
    if message:
        feedback.warning(message)


def open_so2sat(path, require=("label",)) -> So2SatFile:
    return So2SatFile(path, require=require)
