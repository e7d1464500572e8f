"""Classify Sentinel-1/2 rasters into an LCZ map, streaming by blocks of window rows.

Flow: check the inputs (CRS, ~10 m pixels, size, band count) -> lay out the output grid
(``sliding_window.output_grid``) -> for each block of output rows, read the input rows it
needs (its windows plus the 32-pixel halo), mark windows holding nodata/NaN, predict the
valid windows in batches, write the block -> rename the finished file into place.
Peak memory depends on the raster width and the block size, not on the raster height.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_output
from .bands import sensor_channels
from .errors import LczError
from .feedback import Feedback
from .raster_io import (
    create_geotiff,
    gdal,
    open_raster,
    read_bands,
    style_lcz_band,
    write_lcz_qml,
)
from .sliding_window import WINDOW, gather, output_grid, window_validity, windows

DEFAULT_STRIDE = 10
DEFAULT_BATCH = 256
BLOCK_BYTES = 64 * 2**20  # input bytes read per block


@dataclass
class ClassifyResult:
    output: Path
    grid: object
    windows_total: int = 0
    windows_valid: int = 0
    counts: list = field(default_factory=lambda: [0] * 18)  # cells per value 0..17
    seconds: float = 0.0


@dataclass
class _Source:
    ds: object
    info: object
    bands: list  # 0-based raster bands to read, in model channel order


def _sources(model, sentinel2, sentinel1) -> list[_Source]:
    """Which rasters and bands feed the model's channels, in the model's channel order."""
    sensor, want = model.sensor, model.bands
    need = {"sen2": ["sen2"], "sen1": ["sen1"], "fusion": ["sen1", "sen2"]}[sensor]
    paths = {"sen2": sentinel2, "sen1": sentinel1}
    label = {"sen2": "Sentinel-2", "sen1": "Sentinel-1"}
    sources = []
    offset = 0
    for s in need:
        n_full = len(sensor_channels(s))
        # the model's channels that come from this sensor, as indices into the sensor
        mine = [b - offset for b in want if offset <= b < offset + n_full]
        offset += n_full
        if not mine:
            continue
        if not paths[s]:
            raise LczError(
                f"this {model.model_type} model uses {label[s]} data "
                f"({', '.join(model.manifest['band_names'])}); give a {label[s]} raster"
            )
        ds, info = open_raster(paths[s])
        info.check_for_classification(f"{label[s]} raster")
        if info.count == n_full:
            bands = mine
        elif info.count == len(mine):
            bands = list(range(len(mine)))
        else:
            raise LczError(
                f"{label[s]} raster '{Path(info.path).name}' has {info.count} bands; the model "
                f"needs {len(mine)} ({', '.join(sensor_channels(s)[m] for m in mine)}), either "
                f"alone in that order or within the full So2Sat {s} stack of {n_full}"
            )
        sources.append(_Source(ds, info, bands))
    if not sources:
        raise LczError("the model uses no input channels")
    ref = sources[0].info
    for src in sources[1:]:
        if (src.info.width, src.info.height) != (ref.width, ref.height) or not np.allclose(
            src.info.geotransform, ref.geotransform
        ):
            raise LczError(
                "the Sentinel-1 and Sentinel-2 rasters are not on the same grid; "
                "resample Sentinel-1 onto the Sentinel-2 grid first"
            )
    return sources


def _read_block(sources: list[_Source], row0: int, nrows: int) -> tuple[np.ndarray, np.ndarray]:
    """Input rows as (nrows, W, C) float32 and the pixel validity mask (nrows, W)."""
    parts, valid = [], None
    for src in sources:
        x = read_bands(src.ds, src.bands, row0, nrows)
        ok = np.isfinite(x).all(axis=-1)
        for k, b in enumerate(src.bands):
            nd = src.info.nodata[b]
            if nd is not None and not np.isnan(nd):
                ok &= x[..., k] != nd
        valid = ok if valid is None else valid & ok
        parts.append(x)
    x = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
    return x, valid


def _classify_blocks(
    model, sources, grid, datasets, rows_per_block, batch_size, result, feedback
) -> None:
    stride = grid.stride
    done = 0
    counts = np.zeros(18, np.int64)
    for r0 in range(0, grid.rows, rows_per_block):
        r1 = min(grid.rows, r0 + rows_per_block)
        codes = np.zeros((r1 - r0, grid.cols), np.uint8)
        conf = np.full((r1 - r0, grid.cols), -1, np.float32)
        vr1 = min(r1, grid.valid_rows)
        if r0 < vr1:
            in0 = r0 * stride
            x, valid = _read_block(sources, in0, (vr1 - 1) * stride + WINDOW - in0)
            view = windows(x, stride)[:, : grid.valid_cols]
            ok = window_validity(valid, stride)[:, : grid.valid_cols]
            rr, cc = np.nonzero(ok)
            for b0 in range(0, len(rr), batch_size):
                feedback.check_cancelled()
                br, bc = rr[b0 : b0 + batch_size], cc[b0 : b0 + batch_size]
                proba = model.predict_proba(gather(view, br, bc), batch_size=batch_size)
                codes[br, bc] = np.argmax(proba, axis=1) + 1
                conf[br, bc] = proba.max(axis=1)
                feedback.progress(100.0 * (done + b0 + len(br)) / max(result.windows_total, 1))
            result.windows_valid += len(rr)
            done += ok.size
        datasets[0].GetRasterBand(1).WriteArray(codes, 0, r0)
        if len(datasets) > 1:
            datasets[1].GetRasterBand(1).WriteArray(conf, 0, r0)
        counts += np.bincount(codes.ravel(), minlength=18)
        feedback.progress(100.0 * done / max(result.windows_total, 1))
    result.counts = counts.tolist()


def classify_raster(
    model,
    output,
    sentinel2=None,
    sentinel1=None,
    stride: int = DEFAULT_STRIDE,
    batch_size: int = DEFAULT_BATCH,
    confidence=None,
    feedback: Feedback | None = None,
) -> ClassifyResult:
    """Write an LCZ map (uint8, 1-17, nodata 0, colour table, .qml) of the input rasters.

    ``model`` is a loaded model (``lcz_qgis.load_model``). ``confidence``, if given, is a
    float32 raster of the winning class's probability (nodata -1).
    """
    feedback = feedback or Feedback()
    t0 = time.monotonic()
    sources = _sources(model, sentinel2, sentinel1)
    info = sources[0].info
    grid = output_grid(info.width, info.height, info.geotransform, stride)
    n_channels = sum(len(s.bands) for s in sources)
    rows_per_block = max(1, BLOCK_BYTES // (info.width * n_channels * 4 * stride) - 3)
    result = ClassifyResult(Path(output), grid)
    result.windows_total = grid.valid_rows * grid.valid_cols
    g = gdal()
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_output(output, (".aux.xml",)))
        datasets = [
            create_geotiff(
                tmp, grid.cols, grid.rows, 1, g.GDT_Byte, grid.geotransform, info.crs_wkt, nodata=0
            )
        ]
        style_lcz_band(datasets[0].GetRasterBand(1))
        if confidence:
            conf_tmp = stack.enter_context(atomic_output(confidence, (".aux.xml",)))
            datasets.append(
                create_geotiff(
                    conf_tmp,
                    grid.cols,
                    grid.rows,
                    1,
                    g.GDT_Float32,
                    grid.geotransform,
                    info.crs_wkt,
                    nodata=-1,
                )
            )
            datasets[1].GetRasterBand(1).SetDescription("LCZ confidence (max probability)")
        try:
            _classify_blocks(
                model, sources, grid, datasets, rows_per_block, batch_size, result, feedback
            )
        finally:
            # close before the temporary files are renamed or removed (GDAL writes .aux.xml
            # on close)
            for ds in datasets:
                ds.FlushCache()
            datasets.clear()
    write_lcz_qml(output)
    if result.windows_valid == 0:
        feedback.warning(
            "no window was free of nodata: the map is empty (all 0). Check the input's "
            "nodata value and extent."
        )
    result.seconds = time.monotonic() - t0
    return result
