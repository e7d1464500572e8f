"""Classification of rasters into LCZ maps: the pipeline, the 32x32 sliding window, inputs, cell masks, outputs, multi-date fusion, post-filters, area table and map image.

Public names (imported on first use, so importing the package stays cheap):
- ``area_table``: read_area_csv
- ``cell_mask``: CellMask
- ``inputs``: InputSource, SCALES
- ``map_image``: render_map_png
- ``multidate``: classify_dates, classify_fused, fuse_block
- ``options``: ClassifyOptions, DEFAULT_STRIDE, MAX_DATES
- ``outputs``: FORMATS, OutputRequest, OutputWriters, date_agreement, runner_up
- ``pipeline``: classify, classify_raster
- ``postfilter``: FILTERS, GAUSSIAN_KERNELS_M, filter_block, gaussian_kernel_1d, halo_cells
- ``sliding_window``: WINDOW, gather, output_grid, window_validity, windows
"""

from ..common.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "read_area_csv": "area_table",
        "CellMask": "cell_mask",
        "InputSource": "inputs",
        "SCALES": "inputs",
        "render_map_png": "map_image",
        "classify_dates": "multidate",
        "classify_fused": "multidate",
        "fuse_block": "multidate",
        "FORMATS": "outputs",
        "OutputRequest": "outputs",
        "OutputWriters": "outputs",
        "date_agreement": "outputs",
        "runner_up": "outputs",
        "ClassifyOptions": "options",
        "DEFAULT_STRIDE": "options",
        "MAX_DATES": "options",
        "classify": "pipeline",
        "classify_raster": "pipeline",
        "FILTERS": "postfilter",
        "GAUSSIAN_KERNELS_M": "postfilter",
        "filter_block": "postfilter",
        "gaussian_kernel_1d": "postfilter",
        "halo_cells": "postfilter",
        "WINDOW": "sliding_window",
        "gather": "sliding_window",
        "output_grid": "sliding_window",
        "window_validity": "sliding_window",
        "windows": "sliding_window",
    },
)
