"""After the map: what users do with an LCZ map (any LCZ map, not only the plugin's).

Public names (imported on first use, so importing the package stays cheap):
- ``read_map``: LczMap, STRIP_CELLS, STRIP_ROWS, code_counts, iter_strips, open_lcz_map, pass_rows, raw_values, read_codes
- ``cell_area``: row_areas
- ``run_counts``: CELL_CHUNK, MIN_RUN, SAMPLE, count_keys, count_zone_codes, long_runs,
  zone_ids
- ``zone_spans``: PolygonEdges, polygon_edges, row_spans
- ``class_groups``: BUILT_CODES, IMPERVIOUS_CODES, IMPERVIOUS_TEXT, PERVIOUS_FRACTION
- ``zones``: Zone, ZoneLayer, overlap_layers, read_zones
- ``zonal_stats``: ZoneCounts, count_zone, count_zones, open_confidence, zone_window
- ``zone_fields``: stat_fields, stat_values
- ``zone_output``: table_text, write_zone_layer
- ``zone_style``: qml_majority_zones
- ``zonal``: zonal_statistics
- ``common_grid``: common_grid, on_grid_of
- ``compare``: agreement_qml, compare_maps, confidence_table_path, cross_table_text,
  figure_path
- ``compare_groups``: GROUPINGS, check_groups, group_labels, group_lut, group_matrix,
  group_scores, group_table_text
- ``compare_confidence``: Confidence, THRESHOLDS, curve_text
- ``change``: TOP, add_areas, change_table_text, top_transitions, transitions_png
- ``compare_report``: curve_png, heatmap_png, per_class_png, report_html
- ``wgs84_grid``: M_PER_DEGREE, WGS84, wgs84_wkt, wrf_grid, wrf_strips
- ``export``: FORMATS, UMEP_CODES, check_covers, check_domain, export_map, umep_qml
- ``kmz``: MAX_SIDE, export_kmz, kml_text, kmz_grid, legend_png, write_kmz, write_palette_png
- ``canopy_table``: CanopyProperty, DATA_FILE, STATISTICS, load_table, parameter_lut,
  parse_range
- ``canopy``: area_weighted, canopy_parameters, parameter_qml, write_parameter_raster
- ``feature_output``: csv_text, point_wkb, write_features
- ``stations``: StationLayer, crs_wkt_of, read_stations, to_crs
- ``station_zones``: HOMOGENEOUS_SHARE, cell_of, classify_stations, station_zones,
  window_stats
- ``heat_island``: RURAL, URBAN, Series, by_hour, heat_island_stats, read_observations,
  station_classes
- ``surface_heat``: REFERENCE, lst_by_lcz
- ``heat_report``: heat_island, hour_rows, lst_rows, lst_section, page, station_sections
"""

from ..common.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "LczMap": "read_map",
        "STRIP_CELLS": "read_map",
        "STRIP_ROWS": "read_map",
        "pass_rows": "read_map",
        "code_counts": "read_map",
        "iter_strips": "read_map",
        "open_lcz_map": "read_map",
        "raw_values": "read_map",
        "read_codes": "read_map",
        "row_areas": "cell_area",
        "CELL_CHUNK": "run_counts",
        "MIN_RUN": "run_counts",
        "SAMPLE": "run_counts",
        "count_keys": "run_counts",
        "long_runs": "run_counts",
        "count_zone_codes": "run_counts",
        "zone_ids": "run_counts",
        "PolygonEdges": "zone_spans",
        "polygon_edges": "zone_spans",
        "row_spans": "zone_spans",
        "BUILT_CODES": "class_groups",
        "IMPERVIOUS_CODES": "class_groups",
        "IMPERVIOUS_TEXT": "class_groups",
        "PERVIOUS_FRACTION": "class_groups",
        "Zone": "zones",
        "ZoneLayer": "zones",
        "read_zones": "zones",
        "overlap_layers": "zones",
        "count_zones": "zonal_stats",
        "ZoneCounts": "zonal_stats",
        "count_zone": "zonal_stats",
        "open_confidence": "zonal_stats",
        "zone_window": "zonal_stats",
        "stat_fields": "zone_fields",
        "stat_values": "zone_fields",
        "table_text": "zone_output",
        "write_zone_layer": "zone_output",
        "qml_majority_zones": "zone_style",
        "zonal_statistics": "zonal",
        "common_grid": "common_grid",
        "on_grid_of": "common_grid",
        "agreement_qml": "compare",
        "compare_maps": "compare",
        "confidence_table_path": "compare",
        "cross_table_text": "compare",
        "figure_path": "compare",
        "GROUPINGS": "compare_groups",
        "check_groups": "compare_groups",
        "group_labels": "compare_groups",
        "group_lut": "compare_groups",
        "group_matrix": "compare_groups",
        "group_scores": "compare_groups",
        "group_table_text": "compare_groups",
        "Confidence": "compare_confidence",
        "THRESHOLDS": "compare_confidence",
        "curve_text": "compare_confidence",
        "TOP": "change",
        "add_areas": "change",
        "change_table_text": "change",
        "top_transitions": "change",
        "transitions_png": "change",
        "curve_png": "compare_report",
        "heatmap_png": "compare_report",
        "per_class_png": "compare_report",
        "report_html": "compare_report",
        "M_PER_DEGREE": "wgs84_grid",
        "WGS84": "wgs84_grid",
        "wgs84_wkt": "wgs84_grid",
        "wrf_grid": "wgs84_grid",
        "wrf_strips": "wgs84_grid",
        "FORMATS": "export",
        "UMEP_CODES": "export",
        "check_covers": "export",
        "check_domain": "export",
        "export_map": "export",
        "umep_qml": "export",
        "MAX_SIDE": "kmz",
        "export_kmz": "kmz",
        "kml_text": "kmz",
        "kmz_grid": "kmz",
        "legend_png": "kmz",
        "write_kmz": "kmz",
        "write_palette_png": "kmz",
        "CanopyProperty": "canopy_table",
        "DATA_FILE": "canopy_table",
        "STATISTICS": "canopy_table",
        "load_table": "canopy_table",
        "parameter_lut": "canopy_table",
        "parse_range": "canopy_table",
        "area_weighted": "canopy",
        "canopy_parameters": "canopy",
        "parameter_qml": "canopy",
        "write_parameter_raster": "canopy",
        "csv_text": "feature_output",
        "point_wkb": "feature_output",
        "write_features": "feature_output",
        "StationLayer": "stations",
        "crs_wkt_of": "stations",
        "read_stations": "stations",
        "to_crs": "stations",
        "HOMOGENEOUS_SHARE": "station_zones",
        "cell_of": "station_zones",
        "classify_stations": "station_zones",
        "station_zones": "station_zones",
        "window_stats": "station_zones",
        "RURAL": "heat_island",
        "URBAN": "heat_island",
        "Series": "heat_island",
        "by_hour": "heat_island",
        "heat_island_stats": "heat_island",
        "read_observations": "heat_island",
        "station_classes": "heat_island",
        "heat_island": "heat_report",
        "hour_rows": "heat_report",
        "lst_rows": "heat_report",
        "lst_section": "heat_report",
        "page": "heat_report",
        "station_sections": "heat_report",
        "REFERENCE": "surface_heat",
        "lst_by_lcz": "surface_heat",
    },
)
