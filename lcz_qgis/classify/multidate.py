"""Several Sentinel-2 dates of one place classified onto one grid, their class
probabilities fused by the mean, as the So2Sat LCZ42 global production fused its dates.

Flow: open the first date (``SENTINEL2``) as ``classify`` does (it sets the grid: CRS,
transform, size; REPROJECT / RESAMPLE apply to it), then every other date (``DATES``),
warped on the fly onto that grid (bilinear ``WarpedVRT``) when it is on another one.
Every date must hold the same bands as the first (the band mapping applies to all), and
each gets its own scale detection. Per block of output rows, each date is predicted as
``classify`` predicts one raster (its own reader thread; one block of probabilities per
date in memory), then the blocks are fused: at each cell the mean of the probabilities
of the dates whose window there is valid (free of nodata: a cloud masked as nodata in
one date is filled by the others). A cell valid in no date stays 0. The fused
probabilities then go through the same writers and post-filter as one date's.

Extra outputs: AGREEMENT (the share of the dates seen whose own most probable class is
the map's class) and DATE_COUNT (the dates with a valid window at the cell). With a
post-filter the map's class is the filtered one; each date's own class is kept beside
the fused probabilities in the filter's temporary, so the agreement is with the map.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..common.atomic import staged_outputs
from ..common.enums import Sensor
from ..common.errors import LczError, param
from ..common.feedback import Feedback, RecordingFeedback
from ..common.legend import N_CLASSES
from ..models.model import DEFAULT_BATCH
from ..raster.io import gdal_writes, open_raster
from .cell_mask import CellMask
from .inputs import (
    InputSource,
    _looks_like_s2_product,
    _onto_grid,
    _same_grid,
    open_sources,
)
from .options import DEFAULT_STRIDE, ClassifyOptions
from .pipeline import (
    PROBA_BLOCK_BYTES,
    ClassifyResult,
    _BlockPlan,
    _new_result,
    _pass1_feedback,
    _plan_space,
    _predict_blocks,
    _rows_per_block,
    _set_scales,
    _warn_if_empty,
    _write_area_and_image,
    _write_blocks,
    _write_styles,
    stride_for,
)
from .sliding_window import output_grid

FEW_CELLS = 0.01  # a date valid at under this share of the cells classified: a note


def fuse_block(probas: list, valids: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean of the dates' probabilities over the dates valid at each cell.

    Args:
        probas: per date, (rows, cols, 17) class probabilities.
        valids: per date, (rows, cols) bool, the cells whose window is valid that date.

    Returns:
        (fused probabilities float32 (rows, cols, 17), 0 where no date is valid; valid
        (rows, cols) bool, valid in at least one date; each date's own class (rows,
        cols, dates) uint8, the argmax + 1 (lowest code on a tie), 0 where not valid).
    """
    shape = valids[0].shape
    total = np.zeros((*shape, N_CLASSES), np.float64)
    count = np.zeros(shape, np.int32)
    date_codes = np.zeros((*shape, len(probas)), np.uint8)
    for d, (p, v) in enumerate(zip(probas, valids)):
        total += np.where(v[..., None], p, 0.0)
        count += v
        date_codes[..., d] = np.where(v, np.argmax(p, axis=-1) + 1, 0)
    fused = (total / np.maximum(count, 1)[..., None]).astype(np.float32)
    return fused, count > 0, date_codes


class _MeanProgress:
    """Each date's progress kept apart; the parent is told their mean."""

    def __init__(self, parent: Feedback, n: int):
        self.parent, self.done = parent, [0.0] * n

    def date(self, k: int) -> Feedback:
        """The feedback of date ``k`` (its progress counts 1 / n of the parent's)."""
        outer = self

        class _Date(Feedback):
            def progress(self, percent: float) -> None:
                outer.done[k] = percent
                outer.parent.progress(sum(outer.done) / len(outer.done))

            def info(self, message: str) -> None:
                outer.parent.info(message)

            def warning(self, message: str) -> None:
                outer.parent.warning(message)

            def is_cancelled(self) -> bool:
                return outer.parent.is_cancelled()

        return _Date()


def _fused_blocks(model, date_sources: list, plan: _BlockPlan, result, feedback):
    """Pass 1 of a multi-date run: yield (r0, fused probabilities, valid, date classes)
    per block of output rows, every date's block predicted in step with the others."""
    progress = _MeanProgress(feedback, len(date_sources))
    counters = [SimpleNamespace(windows_total=result.windows_total, windows_valid=0)
                for _ in date_sources]  # fmt: skip
    gens = [
        _predict_blocks(model, srcs, plan.grid, plan.rows_per_block, plan.batch_size,
                        plan.cell_mask, counters[k], progress.date(k))
        for k, srcs in enumerate(date_sources)
    ]  # fmt: skip
    try:
        for items in zip(*gens):
            fused, valid, date_codes = fuse_block([b[1] for b in items], [b[2] for b in items])
            result.windows_valid += int(valid.sum())
            yield items[0][0], fused, valid, date_codes
    finally:
        for g in gens:
            g.close()  # stops each date's reader thread
        result.date_windows_valid = [c.windows_valid for c in counters]


def _warn_empty_dates(
    paths: list, date_windows_valid: list, cells_classified: int, feedback: Feedback
) -> None:
    """Warn about each date that contributed nothing; note those that gave very little.

    Args:
        paths: every date's raster, the first date first.
        date_windows_valid: per date, its valid windows (``result.date_windows_valid``).
        cells_classified: the cells the fused map classifies (valid in some date).
        feedback: a warning per date with no valid window (all nodata, e.g. all cloud, in
            every window: it contributes nothing), a note per date valid at under
            ``FEW_CELLS`` of the cells classified.
    """
    for k, (path, n) in enumerate(zip(paths, date_windows_valid), 1):
        name = Path(str(path)).name
        if n == 0:
            feedback.warning(
                f"date {k} '{name}' has no valid window (nodata, e.g. cloud masked as nodata, "
                "in every window): it contributes nothing to the map or the date count"
            )
        elif n < FEW_CELLS * cells_classified:
            feedback.info(
                f"date {k} '{name}' is valid in {n} window(s), under {100 * FEW_CELLS:g}% of "
                f"the {cells_classified} cells classified: it contributes little"
            )


def _open_date(path, ref: InputSource, k: int, feedback) -> InputSource:
    """Date ``k`` (2, 3, ...) as an input on the first date's grid and bands."""
    what = f"Sentinel-2 date {k} raster"
    name = Path(str(path)).name
    if _looks_like_s2_product(str(path)):
        raise LczError(
            f"{param('DATES')}: '{name}' is a Sentinel-2 product, not a prepared raster: make "
            "the 10-band stack with Prepare Sentinel-2 product (lcz prepare-s2) first"
        )
    ds, info = open_raster(path)
    if info.count != ref.info.count:
        raise LczError(
            f"{param('DATES')}: '{name}' has {info.count} bands but the first date "
            f"{param('SENTINEL2')} '{Path(ref.info.path).name}' has {ref.info.count}; give "
            "every date the same bands in the same order (the band mapping applies to all)"
        )
    keep = [ds]
    if not _same_grid(info, ref.info):
        ds, info = _onto_grid(ds, info, ref.info, what, feedback)
        keep.append(ds)
    return InputSource(
        ds, info, list(ref.bands), Sensor.SEN2, keep=keep, channels=list(ref.channels)
    )


def open_dates(model, sentinel2, dates, bands, reproject, resample, feedback) -> list:
    """Open every date: the first as ``classify`` does, the others on its grid.

    Args:
        model: the loaded model (a Sentinel-2 one).
        sentinel2: the first date's raster (it sets the grid).
        dates: the other dates' rasters.
        bands: the band mapping, for every date.
        reproject, resample: on-the-fly warps of the first date (``classify.inputs``).
        feedback: a note for each date warped onto the first's grid.

    Returns:
        Per date, its list of ``InputSource`` (one each).

    Raises:
        LczError: not a Sentinel-2 model, a date without overlap with the first or with
            other bands (no first date and too many dates: ``ClassifyOptions.check``).
    """
    if model.sensor != Sensor.SEN2:
        raise LczError(
            f"multi-date classification takes Sentinel-2 models; this {model.model_type} "
            f"model takes {model.sensor} data"
        )
    first = open_sources(model, sentinel2, None, bands, None, reproject, resample, feedback)
    return [first] + [[_open_date(p, first[0], k, feedback)] for k, p in enumerate(dates, 2)]


def _detect_scales(date_sources: list, scale: str, feedback: Feedback, offset=0.0) -> None:
    """Each date's scale detection (a few small reads, decoded by GDAL without the GIL),
    the dates side by side in threads, each on its own datasets; their warnings are
    then reported in date order, as a sequential run would report them. Every date
    takes the same factor and ``offset``."""
    from concurrent.futures import ThreadPoolExecutor

    records = [RecordingFeedback() for _ in date_sources]
    workers = max(1, min(len(date_sources), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        done = pool.map(_set_scales, date_sources, [scale] * len(records), records,
                        [offset] * len(records))  # fmt: skip
        list(done)  # re-raises the first date's error
    for rec in records:
        for message in rec.warnings:
            feedback.warning(message)
        for message in rec.messages:
            feedback.info(message)


def _plan(date_sources, o: ClassifyOptions, request, feedback) -> tuple:
    """(grid, staging, plan) of a multi-date run: the first date's grid, blocks small
    enough for every date's block, the outputs' space checked."""
    info = date_sources[0][0].info
    stride = stride_for(o.resolution, info.pixel_size[0]) if o.resolution else o.stride
    grid = output_grid(info.width, info.height, info.geotransform, int(stride))
    n = len(date_sources)
    staging = _plan_space(grid, o.filter, request, extra_bands=n)
    _detect_scales(date_sources, o.scale, feedback, o.offset)
    cell_mask = CellMask(grid, info.crs_wkt, o.mask, o.extent, o.extent_crs)
    flat = [s for srcs in date_sources for s in srcs]  # every date's input block fits
    rows = min(
        _rows_per_block(info, grid, flat),
        max(1, PROBA_BLOCK_BYTES // (grid.cols * N_CLASSES * 4 * (n + 1))),
    )
    plan = _BlockPlan(grid, info.crs_wkt, rows, o.batch_size, o.filter, cell_mask, n)
    return grid, staging, plan


def classify_dates(
    model,
    output,
    sentinel2,
    dates=(),
    stride: int = DEFAULT_STRIDE,
    batch_size: int = DEFAULT_BATCH,
    confidence=None,
    feedback: Feedback | None = None,
    **options,
) -> ClassifyResult:
    """Write the LCZ map of several Sentinel-2 dates of one place, fused by the mean.

    The keyword form of ``classify_fused`` for Python callers: the arguments are the
    fields of ``options.ClassifyOptions``. ``sentinel2`` is the first date (it sets the
    grid), ``dates`` the others (warped onto its grid when on another one). The options
    and outputs are those of ``pipeline.classify_raster`` (without Sentinel-1), plus
    ``agreement`` (share of the dates seen that vote the map's class, in the
    confidence's format) and ``date_count`` (byte: dates with a valid window at the
    cell).
    """
    refused = options.keys() & {"sentinel1", "bands_s1"}
    if refused:
        raise TypeError(f"classify_dates() got an unexpected keyword argument {min(refused)!r}")
    request = ClassifyOptions(
        output, sentinel2, dates=tuple(dates or ()), stride=stride, batch_size=batch_size,
        confidence=confidence, **options,
    )  # fmt: skip
    return classify_fused(model, request, feedback)


def classify_fused(model, options: ClassifyOptions, feedback: Feedback | None = None):
    """Write the fused LCZ map and the other outputs ``options`` asks for (``options.dates``
    not None); ``options`` is checked first (``check``: once).

    Args:
        model: a loaded Sentinel-2 model.
        options: the request: ``sentinel2`` the first date, ``dates`` the others.
        feedback: progress, messages and cancel.

    Returns:
        A ``ClassifyResult``: ``date_windows_valid`` holds each date's valid windows,
        ``windows_valid`` the cells classified. A date with no valid window (e.g. all
        cloud masked as nodata) contributes nothing: a warning names it.
    """
    if not options.multidate:
        raise ValueError("one raster: use pipeline.classify")
    feedback = feedback or Feedback()
    t0 = time.monotonic()
    o = options.check(model.path)
    request = o.request()
    date_sources = open_dates(
        model, o.sentinel2, list(o.dates), o.bands, o.reproject, o.resample, feedback
    )
    grid, staging, plan = _plan(date_sources, o, request, feedback)
    result = _new_result(model, o.output, grid, date_sources[0])
    model.prepare_many(result.windows_total * len(date_sources))
    with staged_outputs(feedback, staging) as st, gdal_writes():
        blocks = _fused_blocks(model, date_sources, plan, result, _pass1_feedback(plan, feedback))
        _write_blocks(st, blocks, plan, request, result, feedback)
        _write_styles(st, request, result)
        _write_area_and_image(st, request, model, plan, result)
        feedback.check_cancelled()
    _warn_empty_dates(
        [o.sentinel2, *o.dates], result.date_windows_valid, result.windows_valid, feedback
    )
    _warn_if_empty(result, plan.cell_mask, feedback)
    result.seconds = time.monotonic() - t0
    return result
