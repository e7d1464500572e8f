"""Raster reading and writing (GDAL, the library QGIS uses in-process) and the block reader that feeds the sliding window.

Public names (imported on first use, so importing the package stays cheap):
- ``block_reader``: block_spans, in_reader_thread, window_batches
- ``io``: PIXEL_SIZE_M, RasterInfo, check_real_bands, check_tif_name, classifier_input_options, create_geotiff, gdal, gdal_writes, info_from_dataset, open_raster, osr, pixel_validity, qml_path, read_bands, read_errors, read_lcz_map, style_lcz_band, write_lcz_qml, write_qml
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
        "write_qml": "io",
    },
)
