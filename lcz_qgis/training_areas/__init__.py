"""Training areas: expert-digitised LCZ polygons (WUDAPT / LCZ Generator) in, checked,
and turned into So2Sat-format patches.

Public names (imported on first use, so importing the package stays cheap):
- ``read``: FIELD_NAMES, TrainingArea, detect_field, parse_lcz_code, polygon_part, read_training_areas
- ``grid``: GRID_M, GridPoints, grid_points, points_in, window_of
- ``quality``: HUGE_BUFFER_M, HUGE_M2, MIN_POLYGONS, QualityReport, Suspect, check_training_areas, suspicious_qml, window_suspects, write_suspicious_layer
- ``bootstrap``: N_SPLITS, BootstrapResult, Split, polygon_classes, polygon_splits, predictions_table, run_bootstrap
- ``workflow``: MapRequest, MapResult, map_from_training_areas, patch_feature_rows, rf_fit_predict
- ``patches``: PatchSources, TrainingPatchesResult, extract_patches, geo_path_of, open_patch_sources, training_area_patches, write_geo
"""

from ..common.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "FIELD_NAMES": "read",
        "N_SPLITS": "bootstrap",
        "BootstrapResult": "bootstrap",
        "Split": "bootstrap",
        "polygon_classes": "bootstrap",
        "polygon_splits": "bootstrap",
        "predictions_table": "bootstrap",
        "run_bootstrap": "bootstrap",
        "MapRequest": "workflow",
        "MapResult": "workflow",
        "map_from_training_areas": "workflow",
        "patch_feature_rows": "workflow",
        "rf_fit_predict": "workflow",
        "TrainingArea": "read",
        "detect_field": "read",
        "parse_lcz_code": "read",
        "polygon_part": "read",
        "read_training_areas": "read",
        "GRID_M": "grid",
        "GridPoints": "grid",
        "grid_points": "grid",
        "points_in": "grid",
        "window_of": "grid",
        "HUGE_BUFFER_M": "quality",
        "HUGE_M2": "quality",
        "MIN_POLYGONS": "quality",
        "QualityReport": "quality",
        "Suspect": "quality",
        "check_training_areas": "quality",
        "suspicious_qml": "quality",
        "window_suspects": "quality",
        "write_suspicious_layer": "quality",
        "PatchSources": "patches",
        "TrainingPatchesResult": "patches",
        "extract_patches": "patches",
        "geo_path_of": "patches",
        "open_patch_sources": "patches",
        "training_area_patches": "patches",
        "write_geo": "patches",
    },
)
