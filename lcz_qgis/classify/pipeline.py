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
    gdal,
    gdal_writes,
    qml_path,
    write_lcz_qml,
    write_qml,
)
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
        return int(sum(self.counts[1:]))


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
    g = gdal()
    for r0 in range(0, grid.rows, rows_per_block):
        feedback.check_cancelled()
        r1 = min(grid.rows, r0 + rows_per_block)
        a0, a1 = max(0, r0 - halo), min(grid.rows, r1 + halo)
        p = tmp_ds.ReadAsArray(
            0, a0, grid.cols, a1 - a0, buf_type=g.GDT_Float32, interleave="pixel"
        ).reshape(a1 - a0, grid.cols, N_CLASSES)
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
    method = check_filter(filter)
    for fmt in (confidence_format, probabilities_format):
        if fmt not in FORMATS:
            raise LczError(f"unknown output format '{fmt}'; use one of {', '.join(FORMATS)}")
    if batch_size < 1:
        raise LczError(f"batch size must be at least 1; got {batch_size}")
    for p in (output, confidence, probabilities, area_table, map_image):
        if p:
            check_output_path(p)
    rasters = {"OUTPUT": output, "CONFIDENCE": confidence, "PROBABILITIES": probabilities}
    check_distinct_paths(
        {"SENTINEL2": sentinel2, "SENTINEL1": sentinel1, "MASK": mask, "MODEL": model.path},
        {**rasters, "AREA_TABLE": area_table, "MAP_IMAGE": map_image},
    )
    check_distinct_paths({}, rasters, sidecar=".qml")  # each raster gets its own .qml
    for key, p in rasters.items():
        if p:
            check_tif_name(p, key)
    sources = open_sources(
        model, sentinel2, sentinel1, bands, bands_s1, reproject, resample, feedback
    )
    info = next((s for s in sources if s.sensor == "sen2"), sources[0]).info
    if resolution:
        stride = stride_for(resolution, info.pixel_size[0])
    grid = output_grid(info.width, info.height, info.geotransform, int(stride))
    cell_m = abs(grid.geotransform[1])
    staging = StagedOutputs()
    _expect_outputs(
        staging,
        grid,
        method,
        {**rasters, "AREA_TABLE": area_table, "MAP_IMAGE": map_image},
        {"CONFIDENCE": confidence_format, "PROBABILITIES": probabilities_format},
    )
    staging.check_space()  # before any input pixel is read
    for src in sources:
        if src.sensor == "sen2":
            src.scale = detect_scale(src, scale, feedback)
        else:
            check_s1_scale(src, feedback)
    cell_mask = CellMask(grid, info.crs_wkt, mask, extent, extent_crs)
    n_channels = sum(len(s.bands) for s in sources)
    rows_per_block = max(1, BLOCK_BYTES // (info.width * n_channels * 4 * grid.stride) - 3)
    rows_per_block = min(rows_per_block, max(1, PROBA_BLOCK_BYTES // (grid.cols * N_CLASSES * 4)))
    result = ClassifyResult(Path(output), grid, stride=grid.stride)
    result.windows_total = grid.valid_rows * grid.valid_cols
    model.prepare_many(result.windows_total)
    result.cell_area_m2 = abs(grid.geotransform[1] * grid.geotransform[5])
    result.scale_factor = next((s.scale for s in sources if s.sensor == "sen2"), 1.0)
    g = gdal()
    # every file of the run is staged and moved in together at the end (atomic.py)
    with staged_outputs(feedback, staging) as st, gdal_writes():
        writers = OutputWriters(
            st,
            grid,
            info.crs_wkt,
            output,
            confidence,
            confidence_format,
            probabilities,
            probabilities_format,
        )
        blocks = _predict_blocks(
            model,
            sources,
            grid,
            rows_per_block,
            batch_size,
            cell_mask,
            result,
            feedback if method == "none" else feedback.scaled(0, 90),
        )
        try:
            if method == "none":
                for r0, proba, valid in blocks:
                    codes, conf = _argmax_block(proba, valid)
                    writers.write(r0, codes, conf, proba, valid)
            else:
                temp_path = st.scratch(output)  # map.tif.lcz-partial-<random>.tif
                temp = create_geotiff(
                    temp_path,
                    grid.cols,
                    grid.rows,
                    N_CLASSES,
                    g.GDT_Float32,
                    grid.geotransform,
                    info.crs_wkt,
                    options=PROBA_TEMP_OPTIONS,
                )
                try:
                    for r0, proba, _valid in blocks:
                        temp.WriteArray(proba, 0, r0, interleave="pixel")
                    temp.FlushCache()
                    _filter_pass(
                        temp,
                        grid,
                        rows_per_block,
                        method,
                        cell_m,
                        writers,
                        feedback.scaled(90, 100),
                    )
                finally:
                    temp = None
                st.drop(temp_path)
        finally:
            blocks.close()  # stops the reader thread
            writers.close()  # GDAL writes .aux.xml on close; it is staged with its raster
        result.counts = writers.counts.tolist()
        # the styles, staged too (a temporary named like the .qml is its own .qml)
        write_lcz_qml(st.temp(qml_path(output)))
        result.outputs["OUTPUT"] = Path(output)
        if confidence:
            qml = confidence_qml(100 if confidence_format == "byte" else 1)
            write_qml(st.temp(qml_path(confidence)), qml)
            result.outputs["CONFIDENCE"] = Path(confidence)
        if probabilities:
            qml = probabilities_qml(100 if probabilities_format == "byte" else 1)
            write_qml(st.temp(qml_path(probabilities)), qml)
            result.outputs["PROBABILITIES"] = Path(probabilities)
        if area_table:
            from .area_table import write_area_csv

            write_area_csv(st.temp(area_table), result.counts, result.cell_area_m2)
            result.outputs["AREA_TABLE"] = Path(area_table)
        if map_image:
            from .map_image import render_map_png

            render_map_png(
                st.path_of(output),
                st.temp(map_image),
                title=map_title or "Local Climate Zones",
                subtitle=f"{model.model_type} model ({model.sensor}), {cell_m:g} m cells"
                + (f", {method} filter" if method != "none" else ""),
            )
            result.outputs["MAP_IMAGE"] = Path(map_image)
        feedback.check_cancelled()
    if result.windows_valid == 0:
        feedback.warning(
            "no window was free of nodata"
            + (" inside the mask" if cell_mask.active else "")
            + ": the map is empty (all 0). Check the input's nodata value and extent."
        )
    result.seconds = time.monotonic() - t0
    return result
