"""Success records (``done/<name>.json``) checked before a re-run trusts them.

A record is a JSON file anyone with write access to the output folder may have edited
(or a disk may have damaged), and a re-run uses it instead of redoing the task: its
counts go into ``area_table.csv``, its tile into the mosaic. So a record is used only
when it has the schema ``tasks._write_record`` writes and agrees with the task and the
tile it describes: its key (model and settings), name, tile path and size in bytes;
its CRS and cells are the task's; the tile on disk has the task's size and CRS, and a
pixel area equal to the record's cell area; the counts are 18 non-negative whole
numbers that equal a recount of the tile's cells. Anything else makes the task "not
finished": it is redone, with a warning naming the record and what is wrong. Plain
JSON only (no pickle is ever read).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..common.feedback import Feedback
from ..common.legend import N_CLASSES
from .inputs import TaskSpec
from .tasks import JobConfig, record_path, tile_path

MAX_RECORD_BYTES = 1 << 20  # a record is about 1 kB


def _is_int(v) -> bool:
    return type(v) is int


def _is_number(v) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


def schema_problem(rec, job: JobConfig, task: TaskSpec) -> str | None:
    """What in the record ``rec`` differs from the schema or from ``task`` (None: nothing).

    A key that differs (other settings or model) is a problem too, but not a damage:
    ``finished_record`` redoes such a task without a warning.
    """
    if not isinstance(rec, dict):
        return "not a JSON object"
    if rec.get("name") != task.name or rec.get("tile") != f"tiles/{task.name}.tif":
        return "its name or tile is not the task's"
    counts = rec.get("counts")
    if not isinstance(counts, list) or len(counts) != N_CLASSES + 1:
        return f"'counts' is not a list of {N_CLASSES + 1} numbers"
    if not all(_is_int(c) and c >= 0 for c in counts):
        return "'counts' holds something other than non-negative whole numbers"
    if sum(counts) > task.cells[2] * task.cells[3]:
        return f"'counts' add up to more than the tile's {task.cells[2] * task.cells[3]} cells"
    area = rec.get("cell_area_m2")
    if not _is_number(area) or area <= 0:
        return "'cell_area_m2' is not a positive number"
    if rec.get("crs") != task.crs or rec.get("cells") != list(task.cells):
        return "its CRS or cells are not the task's"
    if not _is_int(rec.get("bytes")) or rec["bytes"] <= 0:
        return "'bytes' is not a positive whole number"
    for k in ("seconds", "load_seconds", "cpu_seconds", "started"):
        if k in rec and rec[k] is not None and not _is_number(rec[k]):
            return f"'{k}' is not a number"
    if not _is_int(rec.get("attempts", 1)) or not 1 <= rec.get("attempts", 1) < 10**6:
        return "'attempts' is not a whole number of at least 1"
    if not _is_int(rec.get("pid", 0)) or not isinstance(rec.get("host", ""), str):
        return "'pid' or 'host' is not what a run writes"
    return None


def tile_problem(rec: dict, task: TaskSpec, tile: Path) -> str | None:
    """What in the tile on disk disagrees with the record (None: nothing).

    The tile must have the record's size in bytes, the task's cells (width, height) and
    CRS, a pixel area equal to the record's cell area, and exactly the record's counts.
    """
    import rasterio
    from rasterio.crs import CRS

    if not tile.exists():
        return "its tile is missing"
    try:
        if tile.stat().st_size != rec["bytes"]:
            return "the tile's size in bytes is not the record's"
        with rasterio.open(tile) as ds:
            if (ds.width, ds.height, ds.count) != (task.cells[2], task.cells[3], 1):
                return "the tile's size in cells is not the task's"
            if ds.crs is None or ds.crs != CRS.from_wkt(task.crs):
                return "the tile's CRS is not the task's"
            area = abs(ds.transform.a * ds.transform.e - ds.transform.b * ds.transform.d)
            data = ds.read(1)
    except (OSError, ValueError, rasterio.errors.RasterioError) as exc:
        return f"its tile cannot be read ({str(exc).splitlines()[0][:120] if str(exc) else exc})"
    if not math.isclose(area, rec["cell_area_m2"], rel_tol=1e-6):
        return f"'cell_area_m2' {rec['cell_area_m2']:g} is not the tile's {area:g} m2 cells"
    if data.size and int(data.max()) > N_CLASSES:
        return "the tile holds values that are not LCZ codes"
    recount = np.bincount(data.ravel(), minlength=N_CLASSES + 1)
    if recount.tolist() != rec["counts"]:
        return "'counts' are not the tile's cells per class"
    return None


def finished_record(job: JobConfig, task: TaskSpec, feedback: Feedback | None = None):
    """The task's success record when the task is finished with the run's settings.

    Returns:
        The record, or None when there is none or its key differs (other settings or
        model: redone silently), or it is damaged, edited or disagrees with its tile
        (redone, with a warning on ``feedback`` naming the record and what is wrong).
    """
    path = record_path(job.output_folder, task.name)
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            raise ValueError("larger than a record")
        rec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as exc:
        why = f"it is not readable JSON ({str(exc).splitlines()[0][:80]})"
        rec = None
    else:
        if isinstance(rec, dict) and rec.get("key") != job.task_key(task):
            return None
        why = schema_problem(rec, job, task) or tile_problem(rec, task, tile_path(
            job.output_folder, task.name))  # fmt: skip
    if why is None:
        return rec
    (feedback or Feedback()).warning(
        f"task {task.name}: its success record {path} cannot be trusted ({why}); the task is redone"
    )
    return None
