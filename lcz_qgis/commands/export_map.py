"""``lcz export-map`` / lcz:exportmap: an LCZ map as UMEP (SUEWS) or WRF (W2W) read it,
or as a KMZ for Google Earth."""

from __future__ import annotations

from ..analysis.export import export_map
from ..analysis.kmz import MAX_SIDE
from ..analysis.wgs84_grid import M_PER_DEGREE
from ..common.legend import lcz_class
from .params import PALETTE_HELP, language_param, legend_values, palette_param
from .spec import ENUM, EXTENT, FILE_DEST, RASTER, Command, Param

FORMATS = (
    ("umep", "UMEP (LCZ Converter): codes 1-10 and 101-107, the map's CRS and grid"),
    ("wrf", "WRF (W2W): codes 1-17, EPSG:4326, nearest neighbour"),
    ("kmz", "Google Earth (KMZ): a coloured overlay in EPSG:4326 with a legend"),
)


def _run(values: dict, feedback, given=None) -> dict:
    with legend_values(values):  # the style's (and the KMZ's) colours and class names
        result = export_map(values["MAP"], values["OUTPUT"], values["FORMAT"],
                            domain=values["DOMAIN"], feedback=feedback)  # fmt: skip
    return {"OUTPUT": result["output"], "_result": result}


def _report(values: dict, outputs: dict) -> str:
    r = outputs["_result"]
    classes = " ".join(lcz_class(c).letter for c in r["classes"])
    note = f"; {r['note']}" if r.get("note") else ""
    return (f"{r['format']}: {r['output']} ({r['crs']}, {r['width']} x {r['height']} cells; "
            f"LCZ {classes}){note}")  # fmt: skip


COMMAND = Command(
    name="export-map",
    algorithm="exportmap",
    display_name="Export LCZ map for UMEP, WRF or Google Earth",
    group="analysis",
    order=63,
    summary="an LCZ map as UMEP's LCZ Converter (codes 101-107) or WRF's W2W (codes 1-17, "
    "EPSG:4326) read it, or a KMZ for Google Earth",
    help=(
        "Writes an LCZ map (any: codes 1-17 or 101-107, any nodata, any CRS, float or "
        "integer) as an urban-climate model's preprocessor reads it: a GeoTIFF with nodata "
        "0 and an LCZ style (.qml) beside it.<br>"
        "<b>UMEP</b> (the LCZ Converter, for SUEWS): LCZ 1-10 as 1-10 and LCZ A-G as "
        "101-107, the codes UMEP hard-codes (given 11-17 it silently read water as paved, "
        "UMEP issue 442); 8-bit integers; the map's own CRS and grid, cell for cell. UMEP "
        "grids are usually in metres: reproject a map in degrees first (nearest "
        "neighbour).<br>"
        "<b>WRF</b> (W2W, Demuzere et al. 2022): codes 1-17 in EPSG:4326. Each cell takes "
        "the code under its centre (nearest neighbour, exact coordinate transforms; class "
        "codes are never interpolated). <b>Grid</b>: a regular latitude/longitude grid "
        "whose cells are about the map's: a map in degrees keeps its cell size; otherwise "
        "the side of the map's cells in metres divided by "
        f"{M_PER_DEGREE:,.0f} m per degree (100 m gives 0.000898 degrees). It spans the "
        "map's extent, or the <b>domain</b> W,S,E,N in degrees when given (its edges are "
        "the grid's edges). W2W needs the LCZ map to cover the WRF domain and a margin "
        "around it: give the domain with that margin. A domain the map does not cover is "
        "refused: an export cannot add data beyond the map.<br>"
        "<b>KMZ</b> (Google Earth): the map as a coloured overlay (GroundOverlay) in "
        "EPSG:4326 on the WRF export's grid (nearest neighbour from any CRS; its LatLonBox "
        "is that grid's bounds), in the LCZ legend colours with no-data cells transparent, "
        f"and a legend (ScreenOverlay: code, name and colour of each class present). Google "
        f"Earth shows overlays up to about {MAX_SIDE} pixels a side: a larger map is "
        "downsampled (each pixel the class at its centre) and the log says so. The output "
        "is a .kmz; no style file.<br>"
        "Demuzere, M. et al. (2022), W2W: A Python package that injects WUDAPT's Local "
        "Climate Zone information in WRF, JOSS 7(76), 4432. Lindberg, F. et al. (2018), "
        "UMEP, Environmental Modelling and Software 99, 70-87."
    ),
    params=[
        Param("MAP", RASTER, "LCZ map", "The LCZ map (band 1 holds the classes)."),
        Param("FORMAT", ENUM, "Export for", "The model whose preprocessor reads the export.",
              choices=FORMATS, default="umep"),
        Param("DOMAIN", EXTENT, "Domain (WRF, degrees)",
              "WRF only: the domain W,S,E,N in degrees (EPSG:4326) with W2W's margin; the "
              "map must cover it (default: the map's extent).", optional=True),
        palette_param(help=PALETTE_HELP + " The GeoTIFF's style (.qml) or the KMZ "
                      "overlay and legend."),
        language_param(),
        Param("OUTPUT", FILE_DEST, "Exported LCZ map",
              "The GeoTIFF to write (.tif), its style (.qml) beside it; for Google Earth "
              "the .kmz.", file_filter="GeoTIFF (*.tif *.tiff);;KMZ for Google Earth (*.kmz)"),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
