"""One task of a classify-many run: one ``classify_raster`` call and its success record.

A task runs in a Dask worker (or in the client process). It notes its attempt
(``.lcz-work/attempts/<name>/``), classifies its raster, or the window of it that its
tile needs (a VRT of the window, then the tile's cells cut out of the result), moves
``tiles/<name>.tif`` and its ``.qml`` into place (write-then-rename) and then writes its
success record ``done/<name>.json`` (cells per class, times, attempts, worker). A tile
with a record whose key matches the run's settings is finished: a re-run skips it.

Determinism: a whole-raster task is exactly ``lcz classify`` of that raster (same code,
same blocks and batches). Every worker loads the model on the engine the client chose
(``JobConfig.runtime``: ONNX Runtime or the model's own framework, resolved once from the
user's ``--runtime`` so that every tile of a run comes from the same engine). Each worker
limits TensorFlow's, OpenMP's and ONNX Runtime's threads to ``threads`` before the model
loads, turns on op determinism (TensorFlow's; ONNX Runtime's deterministic compute) and
keeps float32 (no mixed precision); a scikit-learn forest predicts with ``threads`` jobs.
A tile task of a model whose engine is not batch invariant (Keras, ONNX Runtime) predicts
in batches padded to exactly ``batch_size`` windows, as a whole-raster run of that raster
would; ties go to the lowest class (argmax).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..common.atomic import staged_outputs, write_text_atomic
from ..common.enums import Filter, Scale, Sensor
from ..common.errors import LczError
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES, STANDARD, legend_style
from ..models.model import DEFAULT_BATCH
from .inputs import TaskSpec

WORK = ".lcz-work"  # the run's scratch folder inside the output folder
RECORD_VERSION = 1


@dataclass(frozen=True)
class JobConfig:
    """The settings every task of a run shares.

    Attributes:
        model: the model file.
        model_sha256: its checksum (part of every task's key, so a new model redoes all).
        output_folder: the run's output folder (tiles/, done/, the mosaic).
        stride, batch_size, scale, filter, bands, bands_s1: as for ``classify_raster``.
        threads: TensorFlow / OpenMP / scikit-learn / ONNX Runtime threads per task.
        run_started: the run's start (``time.time()``), to tell this run's attempts.
        runtime: the engine every worker loads the model on: ``onnx`` (its ONNX graph on
            ONNX Runtime) or ``tensorflow`` (its own framework), as ``load_model`` takes
            it; the client resolves ``auto`` before the run (``run.check_model``). Part
            of every task's key: a re-run on the other engine redoes the tiles.
        offset: added to the Sentinel-2 values before the factor, as for
            ``classify_raster`` (part of the key when not 0, so older records still match).
        palette, language: the legend of every tile's colour table, category names and
            .qml (``common.legend``), the client's at planning time; part of the key
            when not the standard ones (a tile's style is part of its output).
    """

    model: str
    model_sha256: str
    output_folder: str
    stride: int = 10
    batch_size: int = DEFAULT_BATCH
    scale: str = Scale.AUTO
    filter: str = Filter.NONE
    bands: str | None = None
    bands_s1: str | None = None
    threads: int = 1
    run_started: float = 0.0
    runtime: str = "auto"
    offset: float = 0.0
    palette: str = STANDARD
    language: str = "en"

    def task_key(self, task: TaskSpec) -> str:
        """A checksum of everything the task's output depends on."""
        mine = asdict(self)
        for k in ("output_folder", "threads", "run_started"):
            mine.pop(k)
        for k, default in (("offset", 0.0), ("palette", STANDARD), ("language", "en")):
            if mine[k] == default:  # older records (without them) still match
                mine.pop(k)
        text = json.dumps([RECORD_VERSION, mine, asdict(task)], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def file_sha256(path) -> str:
    """The SHA-256 of a file, read in 16 MiB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(16 * 2**20), b""):
            h.update(block)
    return h.hexdigest()


def tile_path(folder, name: str) -> Path:
    """The tile GeoTIFF of task ``name``."""
    return Path(folder) / "tiles" / f"{name}.tif"


def record_path(folder, name: str) -> Path:
    """The success record of task ``name``."""
    return Path(folder) / "done" / f"{name}.json"


def attempts_dir(folder, name: str) -> Path:
    """The folder where each attempt of task ``name`` leaves a note (pid, host, start)."""
    return Path(folder) / WORK / "attempts" / name


def attempts_since(folder, name: str, since: float) -> list[dict]:
    """The notes of the attempts of task ``name`` started at or after ``since``."""
    notes = []
    for p in sorted(attempts_dir(folder, name).glob("*.json")):
        try:
            note = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if note.get("started", 0) >= since:
            notes.append(note)
    return notes


def _note_attempt(job: JobConfig, task: TaskSpec) -> None:
    folder = attempts_dir(job.output_folder, task.name)
    folder.mkdir(parents=True, exist_ok=True)
    note = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    write_text_atomic(folder / f"{uuid.uuid4().hex}.json", json.dumps(note))


# -- the worker's model ---------------------------------------------------------------------

_MODELS: dict = {}


THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "GDAL_NUM_THREADS")  # fmt: skip


def thread_environment(threads: int) -> dict:
    """The environment that caps a worker's TensorFlow, OpenMP, BLAS and GDAL threads at
    ``threads`` (and turns on TensorFlow's op determinism)."""
    n = str(max(1, int(threads)))
    return {**{var: n for var in THREAD_VARIABLES}, "TF_DETERMINISTIC_OPS": "1"}


def limit_threads(threads: int) -> None:
    """Cap TensorFlow's, OpenMP's, BLAS's and GDAL's thread pools for this process (before
    they start; a variable already set, e.g. by the cluster, is kept)."""
    for var, value in thread_environment(threads).items():
        os.environ.setdefault(var, value)


def _framework(job: JobConfig):
    """The ``Framework`` whose engine runs the run's model (what a worker imports), as
    ``load_model`` decides it for the run's runtime: ONNX Runtime for a file whose graph
    ``auto`` runs, else the model file's own framework."""
    from ..models.modelfile import runtime_framework

    return runtime_framework(job.model, job.runtime)


# the framework a worker imports for each engine, as the start-up progress names it
_FRAMEWORK_NAMES = {"sklearn": "scikit-learn", "keras": "TensorFlow", "onnx": "ONNX Runtime"}


def framework_name(job: JobConfig) -> str:
    """The name of what a worker imports to run the run's model (TensorFlow,
    scikit-learn, ONNX Runtime), as the start-up progress says it."""
    return _name(_framework(job))


def _name(framework) -> str:
    return _FRAMEWORK_NAMES.get(str(framework), str(framework))


def warm_worker(job: JobConfig) -> dict:
    """Ready this worker for the run's tasks: cap its threads, import the engine's
    framework (onnxruntime, TensorFlow, or scikit-learn and skops: several seconds) and the raster
    libraries, then load the model (``worker_model``). Run once per worker before the
    tasks are submitted.

    Returns:
        {pid, host, framework (its name, e.g. TensorFlow), import_s, load_s} of this worker.
    """
    t0 = time.time()
    limit_threads(job.threads)
    from ..models.engines import engine_class

    framework = _framework(job)
    for name in engine_class(framework).imports:
        importlib.import_module(name)
    import rasterio  # noqa: F401 - with GDAL's bindings: what a first task would import

    from ..classify import pipeline  # noqa: F401
    from ..raster.io import gdal

    gdal()
    t1 = time.time()
    worker_model(job)
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "framework": _name(framework),  # the manifest read once
            "import_s": round(t1 - t0, 3), "load_s": round(time.time() - t1, 3)}  # fmt: skip


def worker_model(job: JobConfig):
    """The run's model, loaded once per worker process (keyed by the model file's
    checksum and the runtime) on the run's engine (``JobConfig.runtime``) and made
    deterministic.

    Raises:
        LczError: the model cannot be loaded on that engine here (e.g. onnxruntime or
            TensorFlow is not installed on this worker: the package is named).
    """
    key = (job.model, job.model_sha256, job.threads, job.runtime)
    if key not in _MODELS:
        limit_threads(job.threads)
        from ..models.modelfile import load_model

        model = load_model(job.model, runtime=job.runtime)
        model.configure(job.threads, deterministic=True)
        _MODELS.clear()
        _MODELS[key] = model
    return _MODELS[key]


# -- one task ----------------------------------------------------------------------------------


def _window_vrt(path: str, window: tuple) -> str:
    """An in-memory VRT of ``window`` (col, row, width, height) of the raster ``path``."""
    from ..raster.io import gdal

    g = gdal()
    name = f"/vsimem/lcz-tile-{uuid.uuid4().hex}.vrt"
    ds = g.Translate(name, str(path), format="VRT", srcWin=list(window))
    if ds is None:
        raise LczError(f"cannot cut window {window} out of '{path}'")
    ds = None
    return name


def _scale_of(model, job: JobConfig, task: TaskSpec) -> str:
    """The Sentinel-2 scale a window must use: that detected on the whole raster."""
    if job.scale != Scale.AUTO or not task.sentinel2:
        return job.scale
    from ..classify.inputs import detect_scale, open_sources

    sources = open_sources(model, task.sentinel2, task.sentinel1, job.bands, job.bands_s1,
                           False, False, Feedback())  # fmt: skip
    src = next(s for s in sources if s.sensor == Sensor.SEN2)
    return Scale.REFLECTANCE if detect_scale(src, Scale.AUTO, Feedback()) == 1.0 else Scale.DN


def _windowed_inputs(task: TaskSpec) -> tuple[str | None, str | None, list[str]]:
    """(Sentinel-2, Sentinel-1, VRTs to remove) of the task's window."""
    if task.window is None:
        return task.sentinel2, task.sentinel1, []
    ref = _window_vrt(task.reference, task.window)
    made = [ref]
    s2, s1 = (ref, task.sentinel1) if task.sentinel2 else (None, ref)
    if task.sentinel2 and task.sentinel1 and _same_grid(task.sentinel2, task.sentinel1):
        s1 = _window_vrt(task.sentinel1, task.window)
        made.append(s1)
    return s2, s1, made


def _same_grid(a: str, b: str) -> bool:
    from .inputs import read_header

    ha, hb = read_header(a), read_header(b)
    return (ha.width, ha.height, ha.geotransform) == (hb.width, hb.height, hb.geotransform)


def _crop_tile(src_path: Path, crop: tuple, tile: Path) -> np.ndarray:
    """Write ``crop`` (col, row, cols, rows) of the LCZ map ``src_path`` to ``tile`` with
    the LCZ colours, category names and .qml (``raster.io.create_geotiff``, with the
    whole map's creation options; write-then-rename); returns the cells written.

    Raises:
        DiskFull: the disk filled up meanwhile (no tile, no temporary left).
    """
    import rasterio
    from rasterio.windows import Window

    from ..raster.io import (
        GTIFF_OPTIONS,
        close_raster,
        create_geotiff,
        gdal_writes,
        name_lcz_categories,
        qml_path,
        style_lcz_band,
        write_lcz_qml,
    )

    win = Window(*crop)
    with rasterio.open(src_path) as src:
        data = src.read(1, window=win)
        gt, crs, nodata = src.window_transform(win).to_gdal(), src.crs, src.nodata
    options = GTIFF_OPTIONS
    if crop[2] < 16 or crop[3] < 16:  # GeoTIFF tiles are multiples of 16: strips then
        options = [o for o in GTIFF_OPTIONS if not o.startswith("TILED=")]
    with staged_outputs() as st, gdal_writes():
        tmp = st.temp(tile)
        st.expect(tile, data.size, 0)
        ds = create_geotiff(tmp, crop[2], crop[3], 1, "uint8", gt, crs, nodata, options)
        try:
            style_lcz_band(ds)
            ds.write(data, 1)
        except BaseException:
            ds.close()
            raise
        close_raster(ds)
        name_lcz_categories(tmp)
        write_lcz_qml(st.temp(qml_path(tile)))
    return data


def _classify(model, job: JobConfig, task: TaskSpec, tile: Path) -> tuple[list, float]:
    """Classify the task's raster or window into ``tile``; (counts 0..17, cell area)."""
    from ..classify.pipeline import classify_raster

    scale = _scale_of(model, job, task) if task.window else job.scale
    if task.window is not None:
        model.prepare_many(task.raster_windows)  # eager or graph, as for the whole raster
        model = model.fixed_batch(job.batch_size)
    s2, s1, vrts = _windowed_inputs(task)
    out = tile if task.crop is None else Path(job.output_folder, WORK, "halo", tile.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        res = classify_raster(
            model, out, s2, s1, stride=job.stride, batch_size=job.batch_size,
            bands=job.bands, bands_s1=job.bands_s1, scale=scale, filter=job.filter,
            offset=job.offset,
        )  # fmt: skip
    finally:
        _unlink_vsimem(vrts)
    counts = res.counts
    if task.crop is not None:
        try:
            cells = _crop_tile(out, task.crop, tile)
        finally:  # the halo map goes, the crop written or not
            for p in (out, out.with_suffix(".qml"), Path(str(out) + ".aux.xml")):
                p.unlink(missing_ok=True)
        counts = np.bincount(cells.ravel(), minlength=N_CLASSES + 1).tolist()
    return counts, res.cell_area_m2


def _disk_full_error(task: TaskSpec, exc: BaseException) -> LczError | None:
    """A plain ``LczError`` naming the task for an exception that means the disk is full
    (``DiskFull``, ENOSPC), else None. ``DiskFull`` itself does not survive the pickling
    from a worker process to the client (its message would come back garbled)."""
    from ..common.atomic import is_disk_full

    if not is_disk_full(exc):
        return None
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return LczError(f"task {task.name}: disk full on worker {socket.gethostname()}: {text}")


def _unlink_vsimem(paths) -> None:
    if paths:
        from ..raster.io import gdal

        for p in paths:
            gdal().Unlink(p)


def run_task(task: TaskSpec, job: JobConfig) -> dict:
    """Run one task: classify, move the tile into place, write the success record.

    Args:
        task: the raster or tile.
        job: the run's settings.

    Returns:
        The success record (name, tile, counts 0..17, cell area, seconds, the worker
        process's CPU seconds meanwhile, worker, the engine that ran the model:
        ``onnx``, ``keras`` or ``sklearn``, ...).

    Raises:
        LczError: the input is missing on this worker, unreadable, or the disk is full.
    """
    t0, cpu0 = time.time(), time.process_time()
    _note_attempt(job, task)
    for path in filter(None, (task.sentinel2, task.sentinel1)):
        if not os.path.exists(path):
            raise LczError(f"task {task.name}: raster '{path}' does not exist on worker "
                           f"{socket.gethostname()} (pid {os.getpid()})")  # fmt: skip
    model = worker_model(job)
    t1 = time.time()
    tile = tile_path(job.output_folder, task.name)
    try:
        tile.parent.mkdir(parents=True, exist_ok=True)
        with legend_style(job.palette, job.language):  # the client's, in this process
            counts, cell_area = _classify(model, job, task, tile)
        return _write_record(job, task, tile, counts, cell_area, (t0, t1, cpu0),
                             str(model.runtime))  # fmt: skip
    except Exception as exc:
        full = _disk_full_error(task, exc)
        if full is None:
            raise
        raise full from None


def _write_record(job: JobConfig, task: TaskSpec, tile: Path, counts, cell_area: float,
                  times: tuple, engine: str) -> dict:  # fmt: skip
    """Write the success record of a task whose tile is in place (``engine``: what ran
    the model in this worker); returns it."""
    t0, t1, cpu0 = times
    record = {
        "name": task.name, "key": job.task_key(task), "tile": f"tiles/{tile.name}",
        "bytes": tile.stat().st_size, "counts": [int(c) for c in counts],
        "cell_area_m2": cell_area, "cells": list(task.cells), "crs": task.crs,
        "sentinel2": task.sentinel2, "sentinel1": task.sentinel1,
        "started": t0, "load_seconds": round(t1 - t0, 3),
        "seconds": round(time.time() - t0, 3), "cpu_seconds": round(time.process_time() - cpu0, 3),
        "host": socket.gethostname(), "pid": os.getpid(), "engine": engine,
    }  # fmt: skip
    record["attempts"] = len(attempts_since(job.output_folder, task.name, job.run_started))
    folder = record_path(job.output_folder, task.name).parent
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(record_path(job.output_folder, task.name), json.dumps(record, indent=1))
    return record
