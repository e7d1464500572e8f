"""``lcz parameters`` / lcz:canopyparameters: the Stewart & Oke (2012) urban canopy
parameters of each LCZ cell (a multi-band raster) and their area-weighted means per zone."""

from __future__ import annotations

from ..analysis.canopy import MAX_CELLS, canopy_parameters
from .spec import ENUM, INT, RASTER, RASTER_DEST, VECTOR, VECTOR_DEST, Command, Param

STATISTICS = (
    ("mean", "Mean: the midpoint of each published range"),
    ("min", "Min: the lower end of each range"),
    ("max", "Max: the upper end of each range"),
)


def _run(values: dict, feedback, given=None) -> dict:
    result = canopy_parameters(
        values["MAP"], values["OUTPUT"], statistic=values["STATISTIC"],
        zones=values["ZONES"], zones_output=values["ZONES_OUTPUT"], feedback=feedback,
        cells=values["AGGREGATE"],
    )  # fmt: skip
    return {"OUTPUT": result["output"], "ZONES_OUTPUT": result["zones_output"],
            "_result": result}  # fmt: skip


def _report(values: dict, outputs: dict) -> str:
    r = outputs["_result"]
    zones = f"; {len(r['zones'])} zones: {r['zones_output']}" if r["zones"] is not None else ""
    return f"{len(r['bands'])} bands ({values['STATISTIC']}): {r['output']}{zones}"


COMMAND = Command(
    name="parameters",
    algorithm="canopyparameters",
    display_name="LCZ urban canopy parameters",
    group="analysis",
    order=64,
    summary="the Stewart & Oke (2012) property table per LCZ as a multi-band raster (sky "
    "view factor, aspect ratio, surface fractions, height, roughness, admittance, albedo, "
    "anthropogenic heat), and its area-weighted means per zone",
    help=(
        "Turns an LCZ map into the urban canopy parameters of Stewart and Oke (2012, "
        "Tables 3 and 4): one float32 band per property on the map's grid, each named "
        "with its unit: sky view factor (0-1), aspect ratio (H/W), building, impervious "
        "and pervious surface fractions (%), height of roughness elements (m), terrain "
        "roughness class (Davenport), surface admittance (J m-2 s-1/2 K-1), surface "
        "albedo (0-1) and anthropogenic heat output (W m-2).<br>"
        "<b>Statistic</b>: the paper gives ranges; each cell gets the lower end (min), "
        "the upper end (max) or the midpoint (mean) of its class's range. An open range "
        "('<10', '>0.9') is closed by the quantity's physical limit (0 and 100 %, 0 and "
        "1, class 1 and 8); where there is none ('>25' m for LCZ 1 and 4, '>2' for the "
        "aspect ratio of LCZ 1, '>1' for LCZ A, '>300' W m-2 for LCZ 10) the max and mean "
        "are nodata, as are values the paper does not give (the height of water, the "
        "admittance of dense trees). Nodata where the map has no LCZ.<br>"
        "<b>Aggregate</b> (advanced): N puts the raster on a grid of N x N map cells (a "
        "model's or WRF's grid: 10 on a 100 m map gives 1 km cells), each cell the mean "
        "of its map cells that have a value; 1 keeps the map's grid.<br>"
        "<b>Zones</b> (optional): for each polygon, the mean of each band over its cells "
        "(cells counted by their centres, as in LCZ statistics per zone), weighted by "
        "their ground area, over the cells that have a value.<br>"
        "The table is one data file (lcz_qgis/analysis/data/stewart_oke_2012.json) with "
        "the values as published. Stewart, I.D. and Oke, T.R. (2012), Local Climate Zones "
        "for urban temperature studies, Bull. Amer. Meteor. Soc. 93(12), 1879-1900."
    ),
    params=[
        Param("MAP", RASTER, "LCZ map", "The LCZ map (band 1 holds the classes)."),
        Param("STATISTIC", ENUM, "Statistic of each range",
              "Which value of each published range a cell gets.", choices=STATISTICS,
              default="mean"),
        Param("AGGREGATE", INT, "Aggregate N x N map cells into one output cell",
              "1: the map's grid; N: a grid of N x N map cells, each the mean of its cells "
              "that have a value.", default=1, minimum=1, maximum=MAX_CELLS, advanced=True,
              keyword=""),
        Param("ZONES", VECTOR, "Zones (polygons, optional)",
              "Polygons (districts, a grid; any CRS) to average the parameters over.",
              optional=True),
        Param("OUTPUT", RASTER_DEST, "Canopy parameters",
              "The GeoTIFF to write (.tif): one float32 band per property."),
        Param("ZONES_OUTPUT", VECTOR_DEST, "Zones with canopy parameters",
              "The GeoPackage (.gpkg) of the zones with the area-weighted mean of each "
              "property; needs the zones.", optional=True, create_by_default=False),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
