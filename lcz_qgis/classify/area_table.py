"""Area per LCZ class of a map: cells, km² and share of the classified (valid) area.

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
