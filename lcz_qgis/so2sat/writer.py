"""Writing So2Sat LCZ42-format HDF5 files: the layout ``so2sat.file`` reads.

A file holds ``label`` (N, 17), the one-hot LCZ code of each patch (float64), and the
patches of one or both sensors: ``sen1`` (N, 32, 32, 8) and ``sen2`` (N, 32, 32, 10).
``create_so2sat`` lays out an open HDF5 file; staging it (``atomic_output``) is the
caller's.
"""

from __future__ import annotations

import numpy as np

from ..common.bands import PATCH_SIZE, sensor_channels
from ..common.enums import Sensor
from ..common.legend import N_CLASSES


def create_so2sat(f, codes, patches: dict | None = None, empty=()) -> dict:
    """Lay out the open, empty HDF5 file ``f`` as a So2Sat file of ``len(codes)`` patches.

    Args:
        f: an ``h5py.File`` open for writing.
        codes: the LCZ code (1..17) of each patch, written as the one-hot ``label``.
        patches: sensor (``sen1``, ``sen2``) -> its patches, written as given (dtype kept).
        empty: sensors whose patches are written later: each gets a float64 dataset of the
            sensor's shape, returned to be filled by rows.

    Returns:
        Sensor -> its dataset, for each sensor of ``empty``.

    Raises:
        ValueError: a code outside 1..17, or a sensor other than ``sen1`` and ``sen2``.
    """
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size and (codes.min() < 1 or codes.max() > N_CLASSES):
        raise ValueError(f"LCZ codes are 1..{N_CLASSES}: {codes.min()}..{codes.max()}")
    sensors = [*(patches or {}), *empty]
    if set(sensors) - {Sensor.SEN1, Sensor.SEN2}:
        raise ValueError(f"a So2Sat file holds sen1 and sen2 patches, not {sensors}")
    for name, data in (patches or {}).items():
        f[str(name)] = data
    out = {
        s: f.create_dataset(
            str(s), (codes.size, PATCH_SIZE, PATCH_SIZE, len(sensor_channels(s))), dtype="f8"
        )
        for s in empty
    }
    f.create_dataset("label", data=np.eye(N_CLASSES, dtype="f8")[codes - 1])
    return out
