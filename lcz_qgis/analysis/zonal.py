"""``zonal_statistics``: the whole zonal-statistics job, outputs staged together."""

from __future__ import annotations

from pathlib import Path

from ..common.atomic import check_distinct_paths, staged_outputs
from ..common.errors import LczError, param
from ..common.feedback import Feedback
from .read_map import open_lcz_map
from .zonal_stats import count_zones, open_confidence
from .zone_fields import stat_values
from .zone_output import table_text, write_zone_layer
from .zone_style import qml_majority_zones
from .zones import read_zones


def _check_names(output, table) -> None:
    """The layer must be a .gpkg, the table a .csv."""
    if Path(str(output)).suffix.lower() != ".gpkg":
        raise LczError(f"{param('OUTPUT')}: the zone layer is a GeoPackage; give a .gpkg name")
    if table and Path(str(table)).suffix.lower() != ".csv":
        raise LczError(f"{param('TABLE')}: the table is a CSV file; give a .csv name")


def zonal_statistics(map_path, zones, output, table=None, confidence=None,
                     feedback: Feedback | None = None) -> dict:  # fmt: skip
    """LCZ statistics per zone, written as a styled GeoPackage (and a CSV table).

    Args:
        map_path: the LCZ map (any ``open_lcz_map`` reads).
        zones: a polygon layer (any CRS; reprojected to the map's to count cells).
        output: the GeoPackage to write (with a ``.qml`` style beside it).
        table: an optional CSV of the same rows.
        confidence: an optional confidence raster on the map's grid.
        feedback: progress and cancel.

    Returns:
        {"output", "table", "zones": number of zones, "rows": the statistics per zone}.

    Raises:
        LczError: bad input (named), an output that is an input.
    """
    feedback = feedback or Feedback()
    _check_names(output, table)
    outputs = {"OUTPUT": output, "TABLE": table}
    check_distinct_paths({"MAP": map_path, "ZONES": zones, "CONFIDENCE": confidence}, outputs)
    with open_lcz_map(map_path) as lcz_map:
        layer = read_zones(zones, lcz_map.info.crs_wkt)
        conf = open_confidence(confidence, lcz_map) if confidence else None
        try:
            rows = [stat_values(c) for c in count_zones(layer.zones, lcz_map, conf, feedback)]
        finally:
            if conf is not None:
                conf.close()
    with staged_outputs(feedback) as st:
        write_zone_layer(st.temp(output), layer, rows)
        st.write_text(Path(output).with_suffix(".qml"), qml_majority_zones())
        if table:
            st.write_text(table, table_text(layer, rows))
    return {"output": str(output), "table": table and str(table), "zones": len(rows),
            "rows": rows}  # fmt: skip
