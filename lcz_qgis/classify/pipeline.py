"""Classify Sentinel-1/2 rasters into an LCZ map, streaming by blocks of window rows.

Flow: open and check the inputs, detect the Sentinel-2 scale (``classify.inputs``) ->
lay out the output grid (``sliding_window.output_grid``) -> for each block of output
rows read the input rows it needs (its windows plus the 32-pixel halo), mark windows
holding nodata/NaN or outside the mask (``block_reader``, ``cell_mask``), predict the
valid windows in batches, write the block (``classify.outputs``) -> rename the finished
files into place.

With a post-filter (majority, Gaussian) the 17 class probabilities of pass 1 go to a
temporary GeoTIFF beside the output; pass 2 reads it back by blocks of rows with the
filter's halo. Either way, peak memory depends on the raster width and the block size,
never on the raster height.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.atomic import StagedOutputs, staged_outputs
from ..common.enums import Filter, Format, Framework, Sensor
from ..common.errors import LczError
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES
from ..models.model import DEFAULT_BATCH
from ..raster.block_reader import in_reader_thread, window_batches
from ..raster.io import (
    create_geotiff,
    gdal_writes,
    qml_path,
    read_window,
    trim_cache,
    write_lcz_qml,
    write_qml,
)
from ..sentinel.s1_scene_features import scene_inputs
from .cell_mask import CellMask
from .inputs import check_s1_scale, detect_scale, open_sources
from .options import DEFAULT_STRIDE, ClassifyOptions
from .outputs import (
    FLOAT_NODATA,
    LCZ_RASTERS,
    OutputRequest,
    OutputWriters,
    raster_qml,
)
from .postfilter import filter_block, halo_cells
from .sliding_window import output_grid

BLOCK_BYTES = 64 * 2**20  # input bytes read per block
PROBA_BLOCK_BYTES = 32 * 2**20  # probabilities held per block
# the filter's temporary probabilities: uncompressed (floats compress little), so the
# space it needs is known before the run starts
PROBA_TEMP_OPTIONS = ["BIGTIFF=IF_NEEDED"]  # strips: written and read by rows
MAP_IMAGE_BYTES = 10**6  # about (a 1500 x 1080 PNG), for the space estimate
MULTIDATE_ONLY = {"dates", "agreement", "date_count"}  # classify_dates' keywords


@dataclass
class ClassifyResult:
    """What a classification run wrote and counted.

    Attributes:
        output: the LCZ map written.
        grid: the output grid (``sliding_window.OutputGrid``).
        windows_total: the windows of the grid (those the model could read).
        windows_valid: the windows classified (free of nodata, inside the mask/extent).
        counts: the map's cells per value 0..17 (0 = not classified).
        seconds: the run's wall time.
        stride: the stride used, in input pixels.
        cell_area_m2: the area of one output cell.
        scale_factor: the Sentinel-2 scale applied (1.0, or 1e-4 for DN).
        outputs: output name (OUTPUT, CONFIDENCE, ...) -> path of every file written.
        date_windows_valid: a multi-date run's valid windows per date (``multidate``).
    """

    output: Path
    grid: object
    windows_total: int = 0
    windows_valid: int = 0
    counts: list = field(default_factory=lambda: [0] * (N_CLASSES + 1))  # cells per value 0..17
    seconds: float = 0.0
    stride: int = DEFAULT_STRIDE
    cell_area_m2: float = 0.0
    scale_factor: float = 1.0
    outputs: dict = field(default_factory=dict)  # name -> path of every file written
    date_windows_valid: list = field(default_factory=list)  # multi-date: per date

    @property
    def valid_cells(self) -> int:
        """The map's classified cells (values 1..17)."""
        return int(sum(self.counts[1:]))


@dataclass(frozen=True)
class _BlockPlan:
    """How a run goes through the grid: by blocks of output rows, in batches of windows."""

    grid: object
    crs_wkt: str
    rows_per_block: int
    batch_size: int
    method: str  # the post-filter, Filter.NONE for none
    cell_mask: CellMask
    extra_bands: int = 0  # per-date classes a multi-date run keeps beside the probabilities

    @property
    def cell_m(self) -> float:
        """The output cell size (metres)."""
        return abs(self.grid.geotransform[1])


# windows per model call for a scikit-learn forest at the default batch: its per-call cost
# (thread start, tree walk set-up) is paid 8x less often; its probabilities do not depend
# on the batch (engines.sklearn.forest_proba); 2048 windows of 10 bands are 80 MB
FOREST_BATCH = 2048


def _read_batch(model, batch_size: int) -> int:
    """Windows per model call: ``batch_size``, or ``FOREST_BATCH`` for a random forest
    (on scikit-learn, or on ONNX Runtime with whole votes) at the default batch size."""
    forest = getattr(model, "framework", None) == Framework.SKLEARN
    if forest and model.batch_invariant and batch_size == DEFAULT_BATCH:
        return max(batch_size, FOREST_BATCH)
    return batch_size


def _predict_blocks(model, sources, grid, rows_per_block, batch_size, mask, result, feedback):
    """Pass 1: yield (r0, probabilities (R, cols, 17), valid (R, cols)) per block of rows."""
    done = 0
    total = max(result.windows_total, 1)
    proba = valid = None
    in_block = 0
    for item in in_reader_thread(window_batches, sources, grid, rows_per_block, batch_size, mask):
        kind = item[0]
        if kind == "block":
            feedback.check_cancelled()
            _, r0, r1, ok = item
            proba = np.zeros((r1 - r0, grid.cols, N_CLASSES), np.float32)
            valid = np.zeros((r1 - r0, grid.cols), bool)
            in_block = 0
        elif kind == "batch":
            feedback.check_cancelled()
            _, br, bc, batch = item
            proba[br, bc] = model.predict_proba(batch, batch_size=batch_size)
            in_block += len(br)
            feedback.progress(100.0 * (done + in_block) / total)
        else:
            _, r0, r1, ok = item
            if ok is not None:
                valid[: ok.shape[0], : grid.valid_cols] = ok
                result.windows_valid += int(ok.sum())
                done += ok.size
            feedback.progress(100.0 * done / total)
            yield r0, proba, valid


def _argmax_block(proba, valid):
    codes = np.where(valid, np.argmax(proba, axis=-1) + 1, 0).astype(np.uint8)
    conf = np.where(valid, proba.max(axis=-1), FLOAT_NODATA).astype(np.float32)
    return codes, conf


def _filter_pass(tmp_ds, grid, rows_per_block, method, cell_m, writers, feedback):
    """Pass 2: read the temporary probabilities by blocks with a halo, filter, write."""
    halo = halo_cells(method, cell_m)
    for r0 in range(0, grid.rows, rows_per_block):
        feedback.check_cancelled()
        r1 = min(grid.rows, r0 + rows_per_block)
        a0, a1 = max(0, r0 - halo), min(grid.rows, r1 + halo)
        p = read_window(tmp_ds, range(tmp_ds.count), 0, a0, grid.cols, a1 - a0)
        extra = p[..., N_CLASSES:].astype(np.uint8) if p.shape[-1] > N_CLASSES else None
        p = p[..., :N_CLASSES]
        valid = p.sum(axis=-1) > 0
        codes, conf, proba = filter_block(method, p, valid, cell_m)
        s = slice(r0 - a0, r0 - a0 + (r1 - r0))
        more = () if extra is None else (extra[s],)
        writers.write(r0, codes[s], conf[s], proba[s], valid[s], *more)
        feedback.progress(100.0 * r1 / grid.rows)


def _expect_outputs(staging, grid, method, request: OutputRequest, extra_bands=0) -> None:
    """Record the bytes each output needs (uncompressed; the filter's temporary surely)."""
    cells = grid.cols * grid.rows
    bands, formats = request.bands, request.formats
    for key, path in request.files.items():
        if not path:
            continue
        if key in bands:
            size = 4 if formats[key] == Format.FLOAT else 1
            staging.expect(path, cells * bands[key] * size)
        elif key == "AREA_TABLE":
            staging.expect(path, 4096)
        elif key == "MAP_IMAGE":
            staging.expect(path, MAP_IMAGE_BYTES)
    if method != Filter.NONE:
        temp = cells * (N_CLASSES + extra_bands) * 4
        staging.expect(request.output, temp, surely=temp)


# -- the steps of a run ----------------------------------------------------------------------


def _reference_info(sources):
    """The raster whose grid the map follows: the Sentinel-2 input, else the first."""
    return next((s for s in sources if s.sensor == Sensor.SEN2), sources[0]).info


def _plan_space(grid, method: str, request: OutputRequest, extra_bands=0) -> StagedOutputs:
    """Stage the outputs and check the disk has room for them, before any pixel is read.

    Args:
        grid: the output grid.
        method: the post-filter (its temporary probabilities need room too).
        request: the outputs asked for.
        extra_bands: bands the filter's temporary holds besides the probabilities.

    Returns:
        The staging of the run's outputs (``atomic.StagedOutputs``).

    Raises:
        DiskFull: the outputs (or the filter's temporary) do not fit.
    """
    staging = StagedOutputs()
    _expect_outputs(staging, grid, method, request, extra_bands)
    staging.check_space()  # before any input pixel is read
    return staging


def _set_scales(sources, scale: str, feedback, offset: float = 0.0) -> None:
    """Detect (or check) the Sentinel-2 scale and check the Sentinel-1 values.

    Args:
        sources: the opened inputs (``inputs.InputSource``); each Sentinel-2 source's
            ``scale`` and ``offset`` are set.
        scale: auto|reflectance|dn or a factor.
        feedback: warnings about a scale that looks wrong go here.
        offset: added to the Sentinel-2 values before the factor (``inputs.parse_offset``).
    """
    for src in sources:
        if src.sensor == Sensor.SEN2:
            src.scale = detect_scale(src, scale, feedback, offset)
        else:
            check_s1_scale(src, feedback)


def _rows_per_block(info, grid, sources) -> int:
    """Output rows per block: the input rows read and the probabilities held fit a budget.

    Args:
        info: the reference input raster's ``RasterInfo``.
        grid: the output grid.
        sources: the opened inputs (their bands are read).

    Returns:
        At least 1: the input read per block stays within ``BLOCK_BYTES`` and the block's
        probabilities within ``PROBA_BLOCK_BYTES``.
    """
    n_channels = sum(len(s.bands) for s in sources)
    rows = max(1, BLOCK_BYTES // (info.width * n_channels * 4 * grid.stride) - 3)
    return min(rows, max(1, PROBA_BLOCK_BYTES // (grid.cols * N_CLASSES * 4)))


def _new_result(model, output, grid, sources) -> ClassifyResult:
    """The run's result before any block, with the model prepared for its windows.

    Args:
        model: the loaded model (``prepare_many`` is told how many windows come).
        output: the LCZ map's path.
        grid: the output grid.
        sources: the opened inputs (the Sentinel-2 scale is reported).

    Returns:
        A ``ClassifyResult`` with the totals, cell area and scale filled in.
    """
    result = ClassifyResult(Path(output), grid, stride=grid.stride)
    result.windows_total = grid.valid_rows * grid.valid_cols
    model.prepare_many(result.windows_total)
    result.cell_area_m2 = abs(grid.geotransform[1] * grid.geotransform[5])
    result.scale_factor = next((s.scale for s in sources if s.sensor == Sensor.SEN2), 1.0)
    return result


def _pass1_feedback(plan: _BlockPlan, feedback):
    """Pass 1's feedback: all of it without a post-filter, else 0-90 %."""
    return feedback if plan.method == Filter.NONE else feedback.scaled(0, 90)


def _write_rasters(st, model, sources, plan: _BlockPlan, request, result, feedback) -> None:
    """Predict the grid block by block and write the raster outputs (``_write_blocks``).

    Args:
        st: the run's staging (``atomic.StagedOutputs``, entered).
        model: the loaded model.
        sources: the opened inputs, their scales set.
        plan: the grid, block height, batch size, filter and cell mask.
        request: the outputs asked for.
        result: gets ``windows_valid`` and ``counts``.
        feedback: progress and cancel.
    """
    grid = plan.grid
    blocks = _predict_blocks(
        model,
        sources,
        grid,
        plan.rows_per_block,
        plan.batch_size,
        plan.cell_mask,
        result,
        _pass1_feedback(plan, feedback),
    )
    _write_blocks(st, blocks, plan, request, result, feedback)


def _write_blocks(st, blocks, plan: _BlockPlan, request, result, feedback) -> None:
    """Write the raster outputs of pass 1's blocks, through the post-filter if any.

    Without a post-filter each block is written as it comes; with one, pass 1 writes the
    probabilities (and any extra bands) to a temporary beside the map and pass 2 filters
    them (progress 0-90 % and 90-100 %). ``blocks`` is closed (its reader threads stop)
    and every dataset closed, also on failure or cancel.

    Args:
        st: the run's staging (``atomic.StagedOutputs``, entered).
        blocks: pass 1's blocks: (r0, probabilities (R, cols, 17), valid (R, cols)), plus
            each date's classes (R, cols, dates) in a multi-date run.
        plan: the grid, block height, filter and extra bands.
        request: the outputs asked for.
        result: gets ``counts``.
        feedback: progress and cancel.
    """
    try:
        writers = OutputWriters(st, plan.grid, plan.crs_wkt, request)
    except BaseException:
        blocks.close()
        raise
    try:
        if plan.method == Filter.NONE:
            for r0, proba, valid, *extra in blocks:
                codes, conf = _argmax_block(proba, valid)
                writers.write(r0, codes, conf, proba, valid, *extra)
        else:
            _filter_through_temporary(st, blocks, plan, request.output, writers, feedback)
    finally:
        blocks.close()  # stops the reader thread
        writers.close()  # GDAL writes .aux.xml on close; it is staged with its raster
    result.counts = writers.counts.tolist()


def _filter_through_temporary(st, blocks, plan: _BlockPlan, output, writers, feedback) -> None:
    """Write pass 1's probabilities to a temporary GeoTIFF, then filter them (pass 2).

    Args:
        st: the run's staging; the temporary is one of its scratch files, dropped after.
        blocks: pass 1's blocks (``_predict_blocks``).
        plan: the grid, block height and filter.
        output: the LCZ map's path (the temporary is named after it).
        writers: the run's ``OutputWriters``.
        feedback: progress 90-100 % and cancel for pass 2.
    """
    from rasterio.windows import Window

    grid = plan.grid
    temp_path = st.scratch(output)  # map.tif.lcz-partial-<random>.tif
    temp = create_geotiff(
        temp_path,
        grid.cols,
        grid.rows,
        N_CLASSES + plan.extra_bands,
        "float32",
        grid.geotransform,
        plan.crs_wkt,
        options=PROBA_TEMP_OPTIONS,
        readable=True,
    )
    with temp:
        for r0, proba, _valid, *extra in blocks:
            rows, cols = proba.shape[:2]
            if extra:  # a multi-date run's per-date classes, after the probabilities
                proba = np.concatenate([proba, extra[0].astype(np.float32)], axis=-1)
            temp.write(proba.transpose(2, 0, 1), window=Window(0, r0, cols, rows))
        trim_cache()
        _filter_pass(
            temp,
            grid,
            plan.rows_per_block,
            plan.method,
            plan.cell_m,
            writers,
            feedback.scaled(90, 100),
        )
    st.drop(temp_path)


def _write_styles(st, request: OutputRequest, result: ClassifyResult) -> None:
    """Stage each raster's .qml style and record the rasters in ``result.outputs``.

    Args:
        st: the run's staging (a temporary named like the .qml is its own .qml).
        request: the outputs asked for (the byte formats get percent ramps).
        result: its ``outputs`` gets each raster written (OUTPUT, CONFIDENCE, ...).
    """
    formats = request.formats
    for key, path in request.rasters.items():
        if not path:
            continue
        if key in LCZ_RASTERS:  # the map and the second class: the LCZ legend
            write_lcz_qml(st.temp(qml_path(path)))
        else:
            write_qml(st.temp(qml_path(path)), raster_qml(key, formats[key], request.n_dates))
        result.outputs[key] = Path(path)


def _write_area_and_image(st, request, model, plan: _BlockPlan, result) -> None:
    """Stage the area table and the map image, when asked, from the finished map.

    Args:
        st: the run's staging (the map image is drawn from the staged map).
        request: the outputs asked for, with the map image's title.
        model: the loaded model (named in the map image's subtitle).
        plan: the cell size and filter (in the subtitle).
        result: the counts and cell area; its ``outputs`` gets AREA_TABLE, MAP_IMAGE.
    """
    if request.area_table:
        from .area_table import write_area_csv

        write_area_csv(st.temp(request.area_table), result.counts, result.cell_area_m2)
        result.outputs["AREA_TABLE"] = Path(request.area_table)
    if request.map_image:
        from .map_image import manifest_accuracy, map_subtitle, render_map_png

        accuracy = manifest_accuracy(model.manifest)  # the scores the model file records
        render_map_png(
            st.path_of(request.output),
            st.temp(request.map_image),
            title=request.map_title or "Local Climate Zones",
            subtitle=map_subtitle(
                model.model_type, model.sensor, plan.cell_m, plan.method, accuracy
            ),
        )
        result.outputs["MAP_IMAGE"] = Path(request.map_image)


def _warn_if_empty(result: ClassifyResult, cell_mask: CellMask, feedback) -> None:
    """Warn when no window was classified: the map holds only nodata (0)."""
    if result.windows_valid == 0:
        feedback.warning(
            "no window was free of nodata"
            + (" inside the mask" if cell_mask.active else "")
            + ": the map is empty (all 0). Check the input's nodata value and extent."
        )


# -- the entry point -------------------------------------------------------------------------


def stride_for(resolution, pixel_size: float) -> int:
    """The stride (input pixels) giving an output pixel of ``resolution`` metres."""
    if not np.isfinite(float(resolution)):
        raise LczError(f"resolution must be a number of metres; got {resolution}")
    ratio = float(resolution) / pixel_size
    stride = int(round(ratio))
    if stride < 1 or abs(ratio - stride) > 1e-3:
        raise LczError(
            f"resolution {float(resolution):g} m is not a multiple of the input pixel size "
            f"({pixel_size:g} m); use e.g. {pixel_size * 10:g} m"
        )
    return stride


def classify_raster(
    model,
    output,
    sentinel2=None,
    sentinel1=None,
    stride: int = DEFAULT_STRIDE,
    batch_size: int = DEFAULT_BATCH,
    confidence=None,
    feedback: Feedback | None = None,
    **options,
) -> ClassifyResult:
    """Write an LCZ map (uint8, 1-17, nodata 0, colour table, .qml) of the input rasters.

    The keyword form of ``classify`` for Python callers: the arguments are the fields of
    ``options.ClassifyOptions``. ``model`` is a loaded model (``lcz_qgis.load_model``).
    Optional outputs: ``confidence`` (winning class's probability, float32 with nodata
    -1, or byte percent with nodata 255), ``probabilities`` (17 bands, same formats),
    ``area_table`` (CSV), ``map_image`` (PNG), ``second_class`` (the runner-up class,
    coded and styled like the map) and ``margin`` (highest minus second highest
    probability, in the confidence's format; ``outputs`` says how ties and filters
    count). ``bands``/``bands_s1`` map raster bands to So2Sat channels in the BANDS
    grammar (``inputs.parse_band_map``: numbers in So2Sat order, names in the raster's
    order, or NAME=NUMBER); ``scale`` is auto|reflectance|dn or a factor, ``offset`` the
    number added to the Sentinel-2 values before it (dn or a factor only);
    ``resolution`` (m) overrides ``stride``; ``mask`` (polygon vector file) and
    ``extent`` (xmin, ymin, xmax, ymax in ``extent_crs``, by default the CRS of the grid
    the model reads, after any REPROJECT warp) set the cells to classify; ``filter`` is
    none|majority|gaussian.
    """
    refused = options.keys() & MULTIDATE_ONLY
    if refused:
        raise TypeError(f"classify_raster() got an unexpected keyword argument {min(refused)!r}")
    request = ClassifyOptions(
        output, sentinel2, sentinel1, stride=stride, batch_size=batch_size,
        confidence=confidence, **options,
    )  # fmt: skip
    return classify(model, request, feedback)


def classify(model, options: ClassifyOptions, feedback: Feedback | None = None) -> ClassifyResult:
    """Write the LCZ map and the other outputs ``options`` asks for, of one raster (or a
    Sentinel-2 and a Sentinel-1 raster); ``options`` is checked first (``check``: once).

    Args:
        model: a loaded model (``lcz_qgis.load_model``).
        options: the request (``ClassifyOptions`` without ``dates``).
        feedback: progress, messages and cancel.

    Returns:
        What was written and counted (``ClassifyResult``).
    """
    if options.multidate:
        raise ValueError("several dates: use multidate.classify_fused")
    feedback = feedback or Feedback()
    t0 = time.monotonic()
    o = options.check(model.path)
    request = o.request()
    sources = open_sources(
        model, o.sentinel2, o.sentinel1, o.bands, o.bands_s1, o.reproject, o.resample, feedback
    )
    info = _reference_info(sources)
    stride = stride_for(o.resolution, info.pixel_size[0]) if o.resolution else o.stride
    grid = output_grid(info.width, info.height, info.geotransform, int(stride))
    staging = _plan_space(grid, o.filter, request)
    _set_scales(sources, o.scale, feedback, o.offset)
    cell_mask = CellMask(grid, info.crs_wkt, o.mask, o.extent, o.extent_crs)
    rows = _rows_per_block(info, grid, sources)
    plan = _BlockPlan(
        grid, info.crs_wkt, rows, _read_batch(model, o.batch_size), o.filter, cell_mask
    )
    result = _new_result(model, o.output, grid, sources)
    # every file of the run is staged and moved in together at the end (atomic.py)
    with staged_outputs(feedback, staging) as st, gdal_writes():
        # So2Sat S1 ResNet-20: its features computed on the whole scene (s1_scene_features)
        run = scene_inputs(st, model, sources, request.output, feedback)
        _write_rasters(st, *run, plan, request, result, feedback)
        del run  # the features' temporary is closed before it is removed
        _write_styles(st, request, result)
        _write_area_and_image(st, request, model, plan, result)
        feedback.check_cancelled()
    _warn_if_empty(result, cell_mask, feedback)
    result.seconds = time.monotonic() - t0
    return result
