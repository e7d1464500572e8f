"""Raster reading and writing (rasterio, on the GDAL library QGIS uses in-process) and the block reader that feeds the sliding window.

Public names (imported on first use, so importing the package stays cheap):
- ``block_reader``: block_spans, in_reader_thread, window_batches
- ``io``: CACHE_BUDGET, PIXEL_SIZE_M, check_real_bands, check_tif_name, classifier_input_options, close_raster, closing_raster, copy_as_cog, create_geotiff, gdal, gdal_writes, info_from_dataset, name_lcz_categories, open_dataset, open_raster, open_vector, osr, pixel_validity, polygons_in, qml_path, RasterInfo, rasterize_rows, read_bands, read_errors, read_failures, read_lcz_map, read_window, rio, style_lcz_band, trim_cache, warped_vrt, write_lcz_qml, write_qml
"""

from ..common.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "block_spans": "block_reader",
        "in_reader_thread": "block_reader",
        "window_batches": "block_reader",
        "PIXEL_SIZE_M": "io",
        "RasterInfo": "io",
        "check_real_bands": "io",
        "check_tif_name": "io",
        "classifier_input_options": "io",
        "copy_as_cog": "io",
        "create_geotiff": "io",
        "gdal": "io",
        "gdal_writes": "io",
        "info_from_dataset": "io",
        "open_raster": "io",
        "osr": "io",
        "pixel_validity": "io",
        "qml_path": "io",
        "read_bands": "io",
        "read_errors": "io",
        "read_lcz_map": "io",
        "style_lcz_band": "io",
        "write_lcz_qml": "io",
        "open_dataset": "io",
        "read_failures": "io",
        "read_window": "io",
        "rio": "io",
        "warped_vrt": "io",
        "trim_cache": "io",
        "CACHE_BUDGET": "io",
        "name_lcz_categories": "io",
        "close_raster": "io",
        "closing_raster": "io",
        "open_vector": "io",
        "polygons_in": "io",
        "rasterize_rows": "io",
        "write_qml": "io",
    },
)
