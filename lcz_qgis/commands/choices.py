"""Enum choices shared by several commands: (code, readable label), in the order the
Processing enums have always had (a saved index keeps its meaning)."""

from __future__ import annotations

SENSORS = (
    ("sen2", "Sentinel-2"),
    ("sen1", "Sentinel-1"),
    ("fusion", "Fusion (Sentinel-1 + Sentinel-2)"),
)
HDF5_FILTER = "HDF5 files (*.h5 *.hdf5 *.he5)"
