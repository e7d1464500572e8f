"""Sentinel products to classifier inputs: the Sentinel-2 reflectance stack, Sentinel-1 backscatter on its grid, and the Lee speckle filter.

Public names (imported on first use, so importing the package stays cheap):
- ``prepare_s1``: INPUT_SCALES, detect_db, prepare_sentinel1
- ``prepare_s2``: NODATA, RESAMPLING, find_product, prepare_sentinel2
- ``composite``: METHODS, composite_sentinel2, count_path
- ``speckle``: DEFAULT_ENL, DEFAULT_WINDOW, lee_filter
- ``s1_scene_features``: SO2SAT_S1_FEATURES, raw_features, scene_stats, scene_inputs
"""

from ..common.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "INPUT_SCALES": "prepare_s1",
        "detect_db": "prepare_s1",
        "prepare_sentinel1": "prepare_s1",
        "NODATA": "prepare_s2",
        "RESAMPLING": "prepare_s2",
        "find_product": "prepare_s2",
        "prepare_sentinel2": "prepare_s2",
        "METHODS": "composite",
        "composite_sentinel2": "composite",
        "count_path": "composite",
        "DEFAULT_ENL": "speckle",
        "DEFAULT_WINDOW": "speckle",
        "lee_filter": "speckle",
        "SO2SAT_S1_FEATURES": "s1_scene_features",
        "raw_features": "s1_scene_features",
        "scene_stats": "s1_scene_features",
        "scene_inputs": "s1_scene_features",
    },
)
