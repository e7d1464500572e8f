"""So2Sat LCZ42 HDF5 files: safe opening and reading by rows, geolocation files, streamed batches for training and evaluation, the dataset summary, and writing the format.

Public names (imported on first use, so importing the package stays cheap):
- ``batches``: BLOCK_ROWS, PatchReader, SHUFFLE_BLOCKS, SequentialBatches, ShuffledBatches, band_routes, copy_bands, dihedral
- ``file``: So2SatFile, check_sen2_scale
- ``geo``: So2SatGeo, check_row
- ``summary``: DEFAULT_SAMPLE, dataset_summary, summarize
- ``writer``: create_so2sat
"""

from ..common.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "BLOCK_ROWS": "batches",
        "PatchReader": "batches",
        "SHUFFLE_BLOCKS": "batches",
        "SequentialBatches": "batches",
        "ShuffledBatches": "batches",
        "band_routes": "batches",
        "copy_bands": "batches",
        "dihedral": "batches",
        "So2SatFile": "file",
        "check_sen2_scale": "file",
        "So2SatGeo": "geo",
        "check_row": "geo",
        "DEFAULT_SAMPLE": "summary",
        "dataset_summary": "summary",
        "summarize": "summary",
        "create_so2sat": "writer",
    },
)
