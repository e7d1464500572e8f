"""Enum choices shared by several commands: (code, readable label), in the order the
Processing enums have always had (a saved index keeps its meaning)."""

from __future__ import annotations

from ..common.enums import Sensor

SENSORS = tuple((s.value, s.label) for s in Sensor)
HDF5_FILTER = "HDF5 files (*.h5 *.hdf5 *.he5)"
