"""Area per LCZ class of a map: cells, km² and share of the classified (valid) area.

The CSV holds fixed decimals (4 for km², 3 for percent) for programs; ``format_km2`` is
the one rule for areas a person reads (the map image's legend and footer).

Shares are of the classified area only (cells 1-17), so the rows sum to 100 % and the
km² to the classified area; nodata cells (0) are reported separately, never as a class.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..common.atomic import write_text_atomic
from ..common.legend import LCZ_CLASSES, N_CLASSES

COLUMNS = ("code", "lcz", "name", "cells", "area_km2", "percent")
AREA_DIGITS = 3  # areas a person reads: 3 significant digits (whole km² from 100 km²)


def format_km2(km2: float) -> str:
    """An area as a person reads it, by one rule: ``AREA_DIGITS`` significant digits,
    trailing zeros kept, whole km² (with thousands separators) from 100 km², never an
    exponent: 1.50 km², 1.38 km², 12.3 km², 0.0100 km², 1,234 km²."""
    km2 = float(km2)
    if not np.isfinite(km2):
        return "n/a"
    if km2 == 0:
        return "0 km²"
    whole = int(np.floor(np.log10(abs(km2)))) + 1  # digits before the point
    decimals = max(0, AREA_DIGITS - whole)
    if decimals and abs(round(km2, decimals)) >= 10 ** (AREA_DIGITS - decimals):
        decimals -= 1  # 9.996 rounds to 10.00: keep 3 digits (10.0)
    return f"{km2:,.{decimals}f} km²"


def area_rows(counts, cell_area_m2: float) -> list[dict]:
    """One row per LCZ class (all 17, in code order) from cell counts per value 0..17."""
    counts = np.asarray(counts, dtype=np.int64)
    valid = int(counts[1 : N_CLASSES + 1].sum())
    rows = []
    for c in LCZ_CLASSES:
        n = int(counts[c.code])
        rows.append(
            {
                "code": c.code,
                "lcz": c.letter,
                "name": c.name,
                "cells": n,
                "area_km2": n * cell_area_m2 / 1e6,
                "percent": 100.0 * n / valid if valid else 0.0,
            }
        )
    return rows


def write_area_csv(path, counts, cell_area_m2: float) -> Path:
    """Write the area table as CSV (comma-separated, header row, UTF-8)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in area_rows(counts, cell_area_m2):
        w.writerow({**r, "area_km2": f"{r['area_km2']:.4f}", "percent": f"{r['percent']:.3f}"})
    return write_text_atomic(path, buf.getvalue())


def read_area_csv(path) -> list[dict]:
    """Read an area table written by ``write_area_csv``.

    Returns:
        One dict per row (``COLUMNS``): ``code`` and ``cells`` as int, ``area_km2`` and
        ``percent`` as float, ``lcz`` and ``name`` as written.
    """
    with open(path, newline="", encoding="utf-8") as f:
        return [
            {
                **r,
                "code": int(r["code"]),
                "cells": int(r["cells"]),
                "area_km2": float(r["area_km2"]),
                "percent": float(r["percent"]),
            }
            for r in csv.DictReader(f)
        ]
