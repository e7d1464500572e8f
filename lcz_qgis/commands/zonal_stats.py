"""``lcz zonal-stats`` / lcz:zonalstatistics: LCZ area and shares per zone (districts, a
grid), the majority class, built and impervious-dominated shares."""

from __future__ import annotations

from ..analysis.class_groups import IMPERVIOUS_TEXT
from ..analysis.zonal import zonal_statistics
from .params import PALETTE_HELP, language_param, legend_values, palette_param
from .spec import FILE_DEST, OUT_NUMBER, RASTER, VECTOR, VECTOR_DEST, Command, Output, Param


def _run(values: dict, feedback, given=None) -> dict:
    with legend_values(values):  # the majority style's colours and class names
        result = zonal_statistics(
            values["MAP"], values["ZONES"], values["OUTPUT"], table=values["TABLE"],
            confidence=values["CONFIDENCE"], feedback=feedback,
        )  # fmt: skip
    return {"OUTPUT": result["output"], "TABLE": result["table"], "ZONES_COUNT": result["zones"]}


def _report(values: dict, outputs: dict) -> str:
    table = f" and {outputs['TABLE']}" if outputs.get("TABLE") else ""
    return f"{outputs['ZONES_COUNT']} zones: {outputs['OUTPUT']}{table}"


COMMAND = Command(
    name="zonal-stats",
    algorithm="zonalstatistics",
    display_name="LCZ statistics per zone",
    group="analysis",
    order=60,
    summary="area and share of each LCZ per polygon (districts, a grid), majority LCZ, "
    "built and impervious-dominated shares",
    help=(
        "For each polygon of a zone layer (districts, a grid; any CRS), the area and the "
        "share of each LCZ on a map, its majority LCZ, the built share and the "
        "impervious-dominated share, and the mean confidence when a confidence raster is "
        "given.<br>"
        "<b>How cells are counted</b>: by cell centres. A cell belongs to a zone when its "
        "centre lies inside the polygon (the zones are reprojected to the map's CRS), so a "
        "cell counts whole or not at all, and zones that tile an area share its cells "
        "without overlap. Shares are fractions (0-1) of the zone's cells that hold an LCZ; "
        "nodata cells are counted apart (nodata_cells). Areas are ground areas in m\u00b2 "
        "(a map in degrees gets each cell's area on the authalic sphere).<br>"
        "<b>Built share</b>: LCZ 1-10. <b>Impervious-dominated share</b>: "
        f"{IMPERVIOUS_TEXT}. Stewart, I.D. and Oke, T.R. (2012), Local Climate Zones for "
        "urban temperature studies, Bull. Amer. Meteor. Soc. 93, 1879-1900.<br>"
        "<b>Map</b>: any LCZ map (codes 1-17 or 101-107 for A-G, nodata 0, 255 or "
        "negative; band 1 of an LCZ Generator file), read once, by strips.<br>"
        "<b>Output</b>: a GeoPackage of the zones in their own CRS with their attributes "
        "and the statistics, styled by the majority LCZ's colour (.qml beside it); the "
        "same rows as a CSV table on request."
    ),
    params=[
        Param("MAP", RASTER, "LCZ map", "The LCZ map (band 1 holds the classes)."),
        Param("ZONES", VECTOR, "Zones (polygons)",
              "The polygons to summarise (districts, a grid), in any CRS."),
        Param("CONFIDENCE", RASTER, "Confidence raster (optional)",
              "A confidence raster on the map's grid (the classifier's confidence output); "
              "its mean over each zone's LCZ cells is reported.", optional=True),
        palette_param(help=PALETTE_HELP + " The zones' style (majority LCZ colours)."),
        language_param(),
        Param("OUTPUT", VECTOR_DEST, "Zones with LCZ statistics",
              "The GeoPackage to write (.gpkg): the zones with their LCZ statistics."),
        Param("TABLE", FILE_DEST, "Table (CSV)",
              "The same statistics as a CSV table, one row per zone.", optional=True,
              create_by_default=False, file_filter="CSV files (*.csv)"),
    ],
    outputs=[Output("ZONES_COUNT", OUT_NUMBER, "Zones")],
    run=_run,
    report=_report,
)  # fmt: skip
