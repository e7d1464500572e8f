"""``lcz stations`` / lcz:stationzones: the LCZ under each weather station, the majority
of its surroundings and whether they are homogeneous."""

from __future__ import annotations

from ..analysis.station_zones import HOMOGENEOUS_SHARE, station_zones
from .spec import CRS, FILE, INT, OUT_NUMBER, RASTER, STRING, VECTOR_DEST, Command, Output, Param


def _run(values: dict, feedback, given=None) -> dict:
    result = station_zones(
        values["MAP"], values["STATIONS"], values["OUTPUT"], x_field=values["X_FIELD"] or None,
        y_field=values["Y_FIELD"] or None, crs=values["CRS"], window=values["WINDOW"],
        feedback=feedback,
    )  # fmt: skip
    return {"OUTPUT": result["output"], "STATIONS_COUNT": result["stations"],
            "ON_MAP": result["on_map"], "HOMOGENEOUS": result["homogeneous"]}  # fmt: skip


def _report(values: dict, outputs: dict) -> str:
    return (f"{outputs['STATIONS_COUNT']} stations ({outputs['ON_MAP']} on the map, "
            f"{outputs['HOMOGENEOUS']} homogeneous): {outputs['OUTPUT']}")  # fmt: skip


COMMAND = Command(
    name="stations",
    algorithm="stationzones",
    display_name="LCZ of weather stations",
    group="analysis",
    order=65,
    summary="the LCZ under each weather station, the majority LCZ around it and its share, "
    "with a homogeneity flag",
    help=(
        "For each weather station: the LCZ of the map cell it stands in, and in a square "
        "window of cells centred on that cell (5 x 5 by default, clipped at the map's "
        "edges) the majority LCZ (the lowest code on a tie) and its share of the window's "
        "cells that hold an LCZ. A station is <b>homogeneous</b> when that share is at "
        f"least {HOMOGENEOUS_SHARE:.0%} (as LCZ4r, Anjos et al. 2025). Class codes are "
        "read, never interpolated.<br>"
        "<b>Stations</b>: a CSV with a header row and coordinate columns (x/lon/longitude "
        "and y/lat/latitude are found by name, or name them), in EPSG:4326 unless a CRS "
        "is given; or a point layer (GeoPackage, shapefile, GeoJSON) in its own CRS. They "
        "are reprojected to the map's CRS to find their cells.<br>"
        "<b>Output</b>: a GeoPackage of the stations (their CRS and fields) with on_map, "
        "lcz, lcz_name, majority, majority_name, majority_share, window_lcz_cells and "
        "homogeneous. Stations off the map are kept (on_map = 0, no LCZ), not dropped.<br>"
        "Stewart, I.D. and Oke, T.R. (2012), Bull. Amer. Meteor. Soc. 93, 1879-1900. "
        "Anjos, M. et al. (2025), LCZ4r, Scientific Reports."
    ),
    params=[
        Param("MAP", RASTER, "LCZ map", "The LCZ map (band 1 holds the classes)."),
        Param("STATIONS", FILE, "Weather stations",
              "A CSV with coordinate columns, or a point layer (GeoPackage, shapefile, "
              "GeoJSON).", file_filter="Stations (*.csv *.gpkg *.shp *.geojson);;All files (*)"),
        Param("X_FIELD", STRING, "X / longitude column (CSV)",
              "The CSV's x or longitude column (default: x, lon or longitude).",
              optional=True, advanced=True),
        Param("Y_FIELD", STRING, "Y / latitude column (CSV)",
              "The CSV's y or latitude column (default: y, lat or latitude).",
              optional=True, advanced=True),
        Param("CRS", CRS, "Stations' CRS (CSV)",
              "The CRS of a CSV's coordinates, or of a layer without one (default: "
              "EPSG:4326).", optional=True, advanced=True),
        Param("WINDOW", INT, "Window (cells)",
              "The side of the square window around each station, in cells (odd).",
              default=5, minimum=1, maximum=101),
        Param("OUTPUT", VECTOR_DEST, "Stations with their LCZ",
              "The GeoPackage to write (.gpkg): the stations with their LCZ."),
    ],
    outputs=[Output("STATIONS_COUNT", OUT_NUMBER, "Stations"),
             Output("ON_MAP", OUT_NUMBER, "Stations on the map"),
             Output("HOMOGENEOUS", OUT_NUMBER, "Homogeneous stations")],
    run=_run,
    report=_report,
)  # fmt: skip
