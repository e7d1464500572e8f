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

from ..common.atomic import StagedOutputs, check_distinct_paths, check_output_path, staged_outputs
from ..common.errors import LczError
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES
from ..raster.block_reader import in_reader_thread, window_batches
from ..raster.io import (
    check_tif_name,
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
from .outputs import FLOAT_NODATA, FORMATS, OutputWriters, confidence_qml, probabilities_qml
from .postfilter import check_filter, filter_block, halo_cells
from .sliding_window import output_grid

DEFAULT_STRIDE = 10
DEFAULT_BATCH = 256
BLOCK_BYTES = 64 * 2**20  # input bytes read per block
PROBA_BLOCK_BYTES = 32 * 2**20  # probabilities held per block
# the filter's temporary probabilities: uncompressed (floats compress little), so the
# space it needs is known before the run starts
PROBA_TEMP_OPTIONS = ["BIGTIFF=IF_NEEDED"]  # strips: written and read by rows
MAP_IMAGE_BYTES = 10**6  # about (a 1500 x 1080 PNG), for the space estimate


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
    """

    output: Path
    grid: object
    windows_total: int = 0
    windows_valid: int = 0
    counts: list = field(default_factory=lambda: [0] * 18)  # cells per value 0..17
    seconds: float = 0.0
    stride: int = DEFAULT_STRIDE
    cell_area_m2: float = 0.0
    scale_factor: float = 1.0
    outputs: dict = field(default_factory=dict)  # name -> path of every file written

    @property
    def valid_cells(self) -> int:
        """The map's classified cells (values 1..17)."""
        return int(sum(self.counts[1:]))


@dataclass(frozen=True)
class OutputRequest:
    """The files a classification run is asked to write, and their formats.

    Attributes:
        output: the LCZ map (GeoTIFF).
        confidence: the confidence raster, or None.
        confidence_format: ``float`` or ``byte`` (``outputs.FORMATS``).
        probabilities: the 17-band probability raster, or None.
        probabilities_format: ``float`` or ``byte``.
        area_table: the area table (CSV), or None.
        map_image: the map image (PNG), or None.
        map_title: the map image's title; None for the default.
    """

    output: object
    confidence: object = None
    confidence_format: str = "float"
    probabilities: object = None
    probabilities_format: str = "float"
    area_table: object = None
    map_image: object = None
    map_title: str | None = None

    @property
    def rasters(self) -> dict:
        """The raster outputs by parameter name (OUTPUT, CONFIDENCE, PROBABILITIES)."""
        return {
            "OUTPUT": self.output,
            "CONFIDENCE": self.confidence,
            "PROBABILITIES": self.probabilities,
        }

    @property
    def files(self) -> dict:
        """Every output by parameter name: the rasters, AREA_TABLE and MAP_IMAGE."""
        return {**self.rasters, "AREA_TABLE": self.area_table, "MAP_IMAGE": self.map_image}

    @property
    def formats(self) -> dict:
        """The format of each optional raster output (CONFIDENCE, PROBABILITIES)."""
        return {"CONFIDENCE": self.confidence_format, "PROBABILITIES": self.probabilities_format}


@dataclass(frozen=True)
class _BlockPlan:
    """How a run goes through the grid: by blocks of output rows, in batches of windows."""

    grid: object
    crs_wkt: str
    rows_per_block: int
    batch_size: int
    method: str  # the post-filter, "none" for none
    cell_mask: CellMask

    @property
    def cell_m(self) -> float:
        """The output cell size (metres)."""
        return abs(self.grid.geotransform[1])


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
        p = read_window(tmp_ds, range(N_CLASSES), 0, a0, grid.cols, a1 - a0)
        valid = p.sum(axis=-1) > 0
        codes, conf, proba = filter_block(method, p, valid, cell_m)
        s = slice(r0 - a0, r0 - a0 + (r1 - r0))
        writers.write(r0, codes[s], conf[s], proba[s], valid[s])
        feedback.progress(100.0 * r1 / grid.rows)


def _expect_outputs(staging, grid, method, outputs, formats) -> None:
    """Record the bytes each output needs (uncompressed; the filter's temporary surely)."""
    cells = grid.cols * grid.rows
    bands = {"OUTPUT": 1, "CONFIDENCE": 1, "PROBABILITIES": N_CLASSES}
    for key, path in outputs.items():
        if not path:
            continue
        if key in bands:
            size = 4 if formats.get(key, "byte") == "float" else 1
            staging.expect(path, cells * bands[key] * size)
        elif key == "AREA_TABLE":
            staging.expect(path, 4096)
        elif key == "MAP_IMAGE":
            staging.expect(path, MAP_IMAGE_BYTES)
    if method != "none":
        temp = cells * N_CLASSES * 4
        staging.expect(outputs["OUTPUT"], temp, surely=temp)


# -- the steps of a run ----------------------------------------------------------------------


def _check_request(model, request: OutputRequest, inputs: dict, filter_name, batch_size) -> str:
    """Check the options and output paths before anything is opened.

    Args:
        model: the loaded model (its file must not be overwritten).
        request: the outputs asked for.
        inputs: the input files by parameter name (SENTINEL2, SENTINEL1, MASK).
        filter_name: the post-filter asked for.
        batch_size: the windows predicted at once.

    Returns:
        The post-filter's canonical name (``postfilter.check_filter``).

    Raises:
        LczError: an unknown filter or format, a batch size below 1, an output that
            cannot be written, two outputs (or an output and an input, or two rasters'
            .qml) on the same file, a raster output not named .tif/.tiff.
    """
    method = check_filter(filter_name)
    for fmt in (request.confidence_format, request.probabilities_format):
        if fmt not in FORMATS:
            raise LczError(f"unknown output format '{fmt}'; use one of {', '.join(FORMATS)}")
    if batch_size < 1:
        raise LczError(f"batch size must be at least 1; got {batch_size}")
    for p in request.files.values():
        if p:
            check_output_path(p)
    rasters = request.rasters
    check_distinct_paths({**inputs, "MODEL": model.path}, request.files)
    check_distinct_paths({}, rasters, sidecar=".qml")  # each raster gets its own .qml
    for key, p in rasters.items():
        if p:
            check_tif_name(p, key)
    return method


def _reference_info(sources):
    """The raster whose grid the map follows: the Sentinel-2 input, else the first."""
    return next((s for s in sources if s.sensor == "sen2"), sources[0]).info


def _plan_space(grid, method: str, request: OutputRequest) -> StagedOutputs:
    """Stage the outputs and check the disk has room for them, before any pixel is read.

    Args:
        grid: the output grid.
        method: the post-filter (its temporary probabilities need room too).
        request: the outputs asked for.

    Returns:
        The staging of the run's outputs (``atomic.StagedOutputs``).

    Raises:
        DiskFull: the outputs (or the filter's temporary) do not fit.
    """
    staging = StagedOutputs()
    _expect_outputs(staging, grid, method, request.files, request.formats)
    staging.check_space()  # before any input pixel is read
    return staging


def _set_scales(sources, scale: str, feedback) -> None:
    """Detect (or check) the Sentinel-2 scale and check the Sentinel-1 values.

    Args:
        sources: the opened inputs (``inputs.InputSource``); each Sentinel-2 source's
            ``scale`` is set.
        scale: auto|reflectance|dn.
        feedback: warnings about a scale that looks wrong go here.
    """
    for src in sources:
        if src.sensor == "sen2":
            src.scale = detect_scale(src, scale, feedback)
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
    result.scale_factor = next((s.scale for s in sources if s.sensor == "sen2"), 1.0)
    return result


def _write_rasters(st, model, sources, plan: _BlockPlan, request, result, feedback) -> None:
    """Predict the grid block by block and write the map, confidence and probabilities.

    Without a post-filter each block is written as it is predicted; with one, pass 1
    writes the probabilities to a temporary beside the map and pass 2 filters them
    (progress 0-90 % and 90-100 %). The reader thread is stopped and every dataset
    closed, also on failure or cancel.

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
    writers = OutputWriters(
        st,
        grid,
        plan.crs_wkt,
        request.output,
        request.confidence,
        request.confidence_format,
        request.probabilities,
        request.probabilities_format,
    )
    blocks = _predict_blocks(
        model,
        sources,
        grid,
        plan.rows_per_block,
        plan.batch_size,
        plan.cell_mask,
        result,
        feedback if plan.method == "none" else feedback.scaled(0, 90),
    )
    try:
        if plan.method == "none":
            for r0, proba, valid in blocks:
                codes, conf = _argmax_block(proba, valid)
                writers.write(r0, codes, conf, proba, valid)
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
        N_CLASSES,
        "float32",
        grid.geotransform,
        plan.crs_wkt,
        options=PROBA_TEMP_OPTIONS,
        readable=True,
    )
    with temp:
        for r0, proba, _valid in blocks:
            rows, cols = proba.shape[:2]
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
        result: its ``outputs`` gets OUTPUT, CONFIDENCE, PROBABILITIES.
    """
    write_lcz_qml(st.temp(qml_path(request.output)))
    result.outputs["OUTPUT"] = Path(request.output)
    if request.confidence:
        qml = confidence_qml(100 if request.confidence_format == "byte" else 1)
        write_qml(st.temp(qml_path(request.confidence)), qml)
        result.outputs["CONFIDENCE"] = Path(request.confidence)
    if request.probabilities:
        qml = probabilities_qml(100 if request.probabilities_format == "byte" else 1)
        write_qml(st.temp(qml_path(request.probabilities)), qml)
        result.outputs["PROBABILITIES"] = Path(request.probabilities)


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
        from .map_image import render_map_png

        method = plan.method
        render_map_png(
            st.path_of(request.output),
            st.temp(request.map_image),
            title=request.map_title or "Local Climate Zones",
            subtitle=f"{model.model_type} model ({model.sensor}), {plan.cell_m:g} m cells"
            + (f", {method} filter" if method != "none" else ""),
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
    *,
    bands=None,
    bands_s1=None,
    scale: str = "auto",
    resolution: float | None = None,
    mask=None,
    extent=None,
    extent_crs: str | None = None,
    filter: str = "none",  # noqa: A002 - the Processing parameter's name
    confidence_format: str = "float",
    probabilities=None,
    probabilities_format: str = "float",
    area_table=None,
    map_image=None,
    map_title: str | None = None,
    reproject: bool = False,
    resample: bool = False,
) -> ClassifyResult:
    """Write an LCZ map (uint8, 1-17, nodata 0, colour table, .qml) of the input rasters.

    ``model`` is a loaded model (``lcz_qgis.load_model``). Optional outputs:
    ``confidence`` (winning class's probability, float32 with nodata -1, or byte percent
    with nodata 255), ``probabilities`` (17 bands, same formats), ``area_table`` (CSV),
    ``map_image`` (PNG). ``bands``/``bands_s1`` map raster bands to So2Sat channels;
    ``scale`` is auto|reflectance|dn; ``resolution`` (m) overrides ``stride``; ``mask``
    (polygon vector file) and ``extent`` (xmin, ymin, xmax, ymax in ``extent_crs``, by
    default the CRS of the grid the model reads, after any REPROJECT warp) set
    the cells to classify; ``filter`` is none|majority|gaussian.
    """
    feedback = feedback or Feedback()
    t0 = time.monotonic()
    request = OutputRequest(
        output,
        confidence,
        confidence_format,
        probabilities,
        probabilities_format,
        area_table,
        map_image,
        map_title,
    )
    inputs = {"SENTINEL2": sentinel2, "SENTINEL1": sentinel1, "MASK": mask}
    method = _check_request(model, request, inputs, filter, batch_size)
    sources = open_sources(
        model, sentinel2, sentinel1, bands, bands_s1, reproject, resample, feedback
    )
    info = _reference_info(sources)
    if resolution:
        stride = stride_for(resolution, info.pixel_size[0])
    grid = output_grid(info.width, info.height, info.geotransform, int(stride))
    staging = _plan_space(grid, method, request)
    _set_scales(sources, scale, feedback)
    cell_mask = CellMask(grid, info.crs_wkt, mask, extent, extent_crs)
    plan = _BlockPlan(
        grid, info.crs_wkt, _rows_per_block(info, grid, sources), batch_size, method, cell_mask
    )
    result = _new_result(model, output, grid, sources)
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
