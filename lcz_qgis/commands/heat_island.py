"""``lcz heat-island`` / lcz:heatisland: air temperature by LCZ from station series, and
the urban-minus-rural heat-island intensity by hour of day."""

from __future__ import annotations

from ..analysis.heat_report import heat_island
from .spec import FILE, FILE_DEST, RASTER, STRING, Command, Param


def _run(values: dict, feedback, given=None) -> dict:
    result = heat_island(
        values["STATIONS"], values["OBSERVATIONS"], values["OUTPUT"], table=values["TABLE"],
        id_field=values["ID_FIELD"], lcz_field=values["LCZ_FIELD"], lcz_map=values["MAP"],
        lst=values["LST"], mask=values["MASK"], lst_table=values["LST_TABLE"],
        feedback=feedback,
    )  # fmt: skip
    return {"OUTPUT": result["output"], "TABLE": result["table"],
            "LST_TABLE": result["lst_table"], "_result": result}  # fmt: skip


def _report(values: dict, outputs: dict) -> str:
    r = outputs["_result"]
    parts = []
    if r["stats"] is not None:
        parts.append(f"{r['urban']} urban and {r['rural']} rural stations; intensity at most "
                     f"{r['max_intensity']:.2f} (hour {r['max_hour']})")  # fmt: skip
    if r["lst"] is not None:
        parts.append(f"LST: {r['lst']['used']} pixels, {r['lst']['masked']} masked")
    files = [f for f in (outputs["OUTPUT"], outputs.get("TABLE"), outputs.get("LST_TABLE")) if f]
    return "; ".join(parts) + ": " + " and ".join(files)


COMMAND = Command(
    name="heat-island",
    algorithm="heatisland",
    display_name="Heat island from weather stations",
    group="analysis",
    order=66,
    summary="air temperature by LCZ and hour of day, anomalies per station and the "
    "urban-minus-rural heat-island intensity, from station time series; land-surface "
    "temperature by LCZ",
    help=(
        "From weather stations with their LCZ (the output of <i>LCZ of weather "
        "stations</i>) and their observations (a CSV with the columns time, station and "
        "value: ISO 8601 times, the stations' ids, air temperatures), an HTML report "
        "(plots embedded) and, on request, a CSV table by hour of day.<br>"
        "<b>Mean by LCZ and hour</b>: each station's mean per hour of day, averaged over "
        "the LCZ's stations (each station counts once). <b>Anomaly per station</b>: at "
        "each time, the station's value minus the mean of all stations with a value "
        "then, averaged. <b>Intensity</b>: at each time with an urban and a rural value, "
        "the mean of the urban stations (LCZ 1-10) minus that of the rural ones (LCZ "
        "A-F), averaged per hour of day; water (LCZ G) and stations without an LCZ take "
        "no part. Hours are those of the times as written (no time-zone conversion).<br>"
        "<b>Surface heat island</b> (with an LST raster and the LCZ map): each LST pixel "
        "takes the LCZ under its centre (codes never interpolated, LST never resampled); "
        "per LCZ the pixels, mean and standard deviation of the LST and the difference of "
        "the mean to LCZ D's (low plants), in the raster's unit. Pixels flagged (non-zero) "
        "in the cloud mask, a raster on the LST's grid, are left out: unmasked clouds are "
        "cold pixels that fake a heat island.<br>"
        "Stewart, I.D. and Oke, T.R. (2012), Bull. Amer. Meteor. Soc. 93, 1879-1900. "
        "Anjos, M. et al. (2025), LCZ4r, Scientific Reports."
    ),
    params=[
        Param("STATIONS", FILE, "Stations with their LCZ",
              "The stations layer with an id and an LCZ field (GeoPackage, or a CSV with "
              "coordinates).", optional=True,
              file_filter="Stations (*.gpkg *.csv *.shp *.geojson);;All files (*)"),
        Param("OBSERVATIONS", FILE, "Observations (CSV)",
              "A CSV with the columns time, station and value (with the stations).",
              optional=True, file_filter="CSV files (*.csv)"),
        Param("MAP", RASTER, "LCZ map (for the LST)",
              "The LCZ map the land-surface temperature is summarised by.", optional=True),
        Param("LST", RASTER, "Land-surface temperature",
              "A land-surface-temperature raster (any CRS and grid; with the LCZ map).",
              optional=True),
        Param("MASK", RASTER, "Cloud mask (LST)",
              "A raster on the LST's grid whose non-zero pixels are left out (clouds).",
              optional=True),
        Param("ID_FIELD", STRING, "Station id field",
              "The stations' field holding the ids used in the observations.",
              default="station", advanced=True),
        Param("LCZ_FIELD", STRING, "LCZ field",
              "The stations' field holding their LCZ code (1-17): lcz (the cell) or "
              "majority (the window's majority).", default="lcz", advanced=True),
        Param("OUTPUT", FILE_DEST, "Report (HTML)", "The HTML report to write (.html).",
              file_filter="HTML files (*.html)"),
        Param("TABLE", FILE_DEST, "Table by hour (CSV)",
              "The intensity and the means per LCZ by hour of day, as a CSV table.",
              optional=True, create_by_default=False, file_filter="CSV files (*.csv)"),
        Param("LST_TABLE", FILE_DEST, "LST by LCZ (CSV)",
              "The LST's pixels, mean, standard deviation and difference to LCZ D per LCZ, "
              "as a CSV table.", optional=True, create_by_default=False,
              file_filter="CSV files (*.csv)"),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
